-- Resources are documents (Kubernetes-style objects) keyed by kind and name; labels are kept beside the
-- document for selector queries. Every write appends an event with the new resourceVersion: watches replay
-- events after the resourceVersion of the list they follow, so that none is lost between the two.
create sequence resource_version_seq;

create table resources (
  kind text not null,
  name text not null,
  resource_version bigint not null,
  labels jsonb not null default '{}'::jsonb,
  object jsonb not null,
  primary key (kind, name)
);
create index resources_labels on resources using gin (labels);

create table resource_events (
  resource_version bigint primary key,
  kind text not null,
  name text not null,
  type text not null check (type in ('ADDED', 'MODIFIED', 'DELETED')),
  object jsonb not null,
  recorded_at timestamptz not null default now()
);
create index resource_events_kind on resource_events (kind, resource_version);

create table store_settings (
  key text primary key,
  value text not null
);
