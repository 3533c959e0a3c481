-- The cost ledger (issue 14, src/hub/metering/cost-ledger.ts): what each cluster-hour cost, priced once by the
-- leader from the usage ledger's hourly rows and the PriceBooks, so that a query over a month reads sums instead
-- of pricing 20 million rows again.
--
-- cost_cluster_hours: one row per cluster-hour the usage ledger has. Ingest raises `version` whenever new usage
-- rows of the hour arrive (a late record after a relay outage); a PriceBook change of the Location raises it for
-- every retained hour. The pricing pass prices the hours whose `priced_version` is behind and records the version
-- it read: an ingest that lands meanwhile leaves the hour behind again, never lost.
create table cost_cluster_hours (
  cluster text not null,
  hour timestamptz not null,
  location text not null,
  version bigint not null default 1,
  priced_version bigint not null default 0,
  priced_at timestamptz,
  -- Why the hour is not billed ([{node, reason}]), or null when it is.
  unpriced jsonb,
  primary key (cluster, hour)
);
create index cost_cluster_hours_behind on cost_cluster_hours (hour) where version <> priced_version;
create index cost_cluster_hours_by_location on cost_cluster_hours (location, hour);
-- Retention and the query's counts of a window read by hour.
create index cost_cluster_hours_by_hour on cost_cluster_hours (hour);

-- The books' content each Location's hours were last priced with (a digest): a change marks them to price again.
create table cost_books (
  location text primary key,
  digest text not null
);

-- cost_rows: the bill, append-only. A cluster-hour's first pricing writes one row per allocation row (workload,
-- shared or idle); pricing it again (late usage, a price corrected) writes only the differences, as new rows with
-- their own `written_at`. The sum of a cluster-hour's rows is always its cost as last priced; the sum of those
-- written before a time is its cost as billed then (the FOCUS export's corrections, cost-export.ts). Money in integer
-- micro-units of `currency`; `sep_*` as divided with idle separate, `shr_*` with idle shared (`shr_idle`: the
-- idle shared in). Amounts of request and usage (millicore- and byte-minutes) are kept for efficiency.
create table cost_rows (
  cluster text not null,
  hour timestamptz not null,
  location text not null,
  region text not null,
  business text not null,
  environment text not null,
  currency text not null,
  kind text not null,
  payer text not null,
  namespace text not null,
  workload text not null,
  labels jsonb not null,
  written_at timestamptz not null default now(),
  sep_cpu bigint not null,
  sep_memory bigint not null,
  sep_gpu bigint not null,
  sep_storage bigint not null,
  sep_load_balancer bigint not null,
  sep_total bigint not null,
  shr_cpu bigint not null,
  shr_memory bigint not null,
  shr_gpu bigint not null,
  shr_storage bigint not null,
  shr_load_balancer bigint not null,
  shr_total bigint not null,
  shr_idle bigint not null,
  cpu_request bigint not null,
  cpu_usage bigint not null,
  memory_request bigint not null,
  memory_usage bigint not null,
  -- What the FOCUS export writes of each row besides money (core/metering/focus.ts): the amounts allocated, the
  -- idle amount of an idle row, and what of the cost came from or went to shared namespaces, per idle mode.
  cpu_allocated bigint not null,
  memory_allocated bigint not null,
  gpu_request bigint not null,
  gpu_usage bigint not null,
  gpu_allocated bigint not null,
  storage_amount bigint not null,
  load_balancers bigint not null,
  unallocated bigint not null,
  sep_shared_included bigint not null,
  sep_shared_spread bigint not null,
  shr_shared_included bigint not null,
  shr_shared_spread bigint not null
);
create index cost_rows_by_cluster_hour on cost_rows (cluster, hour);
create index cost_rows_by_hour on cost_rows (hour);
create index cost_rows_by_written on cost_rows (written_at);

-- Sums of cost_rows, kept in the same transaction as the rows: per day at full detail (kept for ever), and per
-- hour and per day by payer only (no namespace, workload or labels) — the levels a query by location, region,
-- cluster, business, environment or payer reads, some 30 times fewer rows on a fleet of 30 namespaces a cluster.
-- Region is '' for a Cluster without one (unique indexes do not match nulls).
create table cost_days (
  day date not null,
  cluster text not null,
  location text not null,
  region text not null,
  business text not null,
  environment text not null,
  currency text not null,
  kind text not null,
  payer text not null,
  namespace text not null,
  workload text not null,
  labels jsonb not null,
  sep_cpu numeric not null,
  sep_memory numeric not null,
  sep_gpu numeric not null,
  sep_storage numeric not null,
  sep_load_balancer numeric not null,
  sep_total numeric not null,
  shr_cpu numeric not null,
  shr_memory numeric not null,
  shr_gpu numeric not null,
  shr_storage numeric not null,
  shr_load_balancer numeric not null,
  shr_total numeric not null,
  shr_idle numeric not null,
  cpu_request numeric not null,
  cpu_usage numeric not null,
  memory_request numeric not null,
  memory_usage numeric not null
);
create unique index cost_days_identity on cost_days
  (day, cluster, namespace, workload, kind, payer, currency, location, region, business, environment, labels);

create table cost_payer_hours (
  hour timestamptz not null,
  cluster text not null,
  location text not null,
  region text not null,
  business text not null,
  environment text not null,
  currency text not null,
  kind text not null,
  payer text not null,
  sep_cpu numeric not null,
  sep_memory numeric not null,
  sep_gpu numeric not null,
  sep_storage numeric not null,
  sep_load_balancer numeric not null,
  sep_total numeric not null,
  shr_cpu numeric not null,
  shr_memory numeric not null,
  shr_gpu numeric not null,
  shr_storage numeric not null,
  shr_load_balancer numeric not null,
  shr_total numeric not null,
  shr_idle numeric not null,
  cpu_request numeric not null,
  cpu_usage numeric not null,
  memory_request numeric not null,
  memory_usage numeric not null
);
create unique index cost_payer_hours_identity on cost_payer_hours
  (hour, cluster, kind, payer, currency, location, region, business, environment);

create table cost_payer_days (
  day date not null,
  cluster text not null,
  location text not null,
  region text not null,
  business text not null,
  environment text not null,
  currency text not null,
  kind text not null,
  payer text not null,
  sep_cpu numeric not null,
  sep_memory numeric not null,
  sep_gpu numeric not null,
  sep_storage numeric not null,
  sep_load_balancer numeric not null,
  sep_total numeric not null,
  shr_cpu numeric not null,
  shr_memory numeric not null,
  shr_gpu numeric not null,
  shr_storage numeric not null,
  shr_load_balancer numeric not null,
  shr_total numeric not null,
  shr_idle numeric not null,
  cpu_request numeric not null,
  cpu_usage numeric not null,
  memory_request numeric not null,
  memory_usage numeric not null
);
create unique index cost_payer_days_identity on cost_payer_days
  (day, cluster, kind, payer, currency, location, region, business, environment);

-- Hours already in the usage ledger are priced by the first pass.
insert into cost_cluster_hours (cluster, hour, location)
  select cluster, hour, min(location) from (
    select cluster, hour, location from usage_workload_hours
    union all select cluster, hour, location from usage_node_hours
  ) as known group by cluster, hour;
