-- Works: what each cluster should run of each Application (rendered manifests, with its share of replicas and
-- its overrides), written by the delivery controller and sent to the cluster's agent; and how it is doing
-- there, from the agent's reports. A row whose Application left the cluster stays as a tombstone
-- (removed = true) until the agent confirms it holds nothing of it.
create table works (
  application text not null,
  cluster text not null,
  location text not null,
  generation int not null,
  manifests jsonb not null,
  hash text not null,
  removed boolean not null default false,
  updated_at timestamptz not null default now(),
  status jsonb,
  status_at timestamptz,
  -- Drift the agent put back (objects changed or deleted outside unitfleet), newest last, the last 20.
  drift jsonb not null default '[]'::jsonb,
  primary key (application, cluster)
);
create index works_cluster on works (cluster);
