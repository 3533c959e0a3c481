-- What the hub sees of multi-cluster services (issue 15, docs/multi-cluster-services.md "What the hub sees";
-- src/hub/services/service-export-summaries.ts): the latest summary each Location's relay sent, one row per export.
-- A Location's rows are replaced together, in one transaction, when every page of a summary has arrived.
create table service_exports (
  location text not null,
  cluster text not null,
  namespace text not null,
  name text not null,
  -- The export as summarised (the protocol's services.summary export): type, ports, endpoints, conditions.
  summary jsonb not null,
  valid_status text not null,
  valid_reason text not null,
  primary key (location, cluster, namespace, name)
);
create index service_exports_by_cluster on service_exports (cluster);
create index service_exports_by_namespace on service_exports (namespace);

-- Which summary each Location's rows come from, and when it arrived.
create table service_export_summaries (
  location text primary key,
  summary text not null,
  received_at timestamptz not null,
  exports_omitted int not null default 0
);
