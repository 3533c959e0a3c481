-- The metering ledger (issue 14, src/hub/metering/). Hourly rows as the agents send them, one per idempotency key
-- (core/metering/usage.ts: `cluster/hour/workload/NS/KIND/NAME`, `cluster/hour/node/NAME`), inserted with
-- `on conflict do nothing`: a record sent again after a relay outage, a hub restart or by another replica counts
-- once. The Cluster's location, region, business and environment are copied in at ingest, so that a query needs
-- no join and a Cluster moved later keeps its past where it was. Amounts are sums over minute samples
-- (millicore-minutes, byte-minutes, device-minutes, service-minutes).
--
-- Daily rollups are filled incrementally by the leader (rollup.ts): hourly rows not yet rolled are added into
-- their day's row and marked `rolled`, in one statement, so that a record arriving late — even for a day rolled
-- long ago — is added, never lost or counted twice. Rolled hourly rows older than the retention are removed.
create table usage_workload_hours (
  key text primary key,
  cluster text not null,
  location text not null,
  region text,
  business text not null,
  environment text not null,
  namespace text not null,
  workload text not null,
  labels jsonb not null,
  hour timestamptz not null,
  source text not null,
  samples int not null,
  cpu_request bigint not null,
  cpu_usage bigint not null,
  cpu_allocated bigint not null,
  memory_request bigint not null,
  memory_usage bigint not null,
  memory_allocated bigint not null,
  gpu_request bigint not null,
  gpu_usage bigint not null,
  gpu_allocated bigint not null,
  -- Requested volume size per storage class, byte-minutes: {"standard": 644245094400}.
  storage jsonb not null,
  load_balancers bigint not null,
  received_at timestamptz not null default now(),
  rolled boolean not null default false
);
create index usage_workload_hours_by_hour on usage_workload_hours (hour);
create index usage_workload_hours_unrolled on usage_workload_hours (hour) where not rolled;

create table usage_node_hours (
  key text primary key,
  cluster text not null,
  location text not null,
  region text,
  business text not null,
  environment text not null,
  node text not null,
  instance_type text,
  hour timestamptz not null,
  source text not null,
  samples int not null,
  cpu_allocatable bigint not null,
  memory_allocatable bigint not null,
  gpu_allocatable bigint not null,
  received_at timestamptz not null default now(),
  rolled boolean not null default false
);
create index usage_node_hours_by_hour on usage_node_hours (hour);
create index usage_node_hours_unrolled on usage_node_hours (hour) where not rolled;

-- One row per day (UTC) and everything a query groups or filters by; sums as numeric (a month of a large
-- workload's byte-minutes passes what a bigint holds only in theory, but the sum must never wrap).
create table usage_workload_days (
  day date not null,
  cluster text not null,
  location text not null,
  region text not null,
  business text not null,
  environment text not null,
  namespace text not null,
  workload text not null,
  labels jsonb not null,
  hours int not null,
  samples bigint not null,
  cpu_request numeric not null,
  cpu_usage numeric not null,
  cpu_allocated numeric not null,
  memory_request numeric not null,
  memory_usage numeric not null,
  memory_allocated numeric not null,
  gpu_request numeric not null,
  gpu_usage numeric not null,
  gpu_allocated numeric not null,
  storage jsonb not null,
  load_balancers numeric not null
);
-- The rollup's conflict target. Region is '' here for a Cluster without one (a unique index does not match
-- nulls), and null again when read.
create unique index usage_workload_days_identity on usage_workload_days
  (day, cluster, namespace, workload, location, region, business, environment, labels);

create table usage_node_days (
  day date not null,
  cluster text not null,
  location text not null,
  region text not null,
  business text not null,
  environment text not null,
  node text not null,
  instance_type text not null,
  hours int not null,
  samples bigint not null,
  cpu_allocatable numeric not null,
  memory_allocatable numeric not null,
  gpu_allocatable numeric not null
);
create unique index usage_node_days_identity on usage_node_days
  (day, cluster, node, location, region, business, environment, instance_type);
