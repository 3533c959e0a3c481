/**
 * The metering ledger's ingest (issue 14): a `usage.hours` message from a cluster's agent becomes hourly rows,
 * one per record's idempotency key (core/metering/usage.ts), inserted with `on conflict do nothing` — so a record
 * sent again after a relay outage, a hub restart or to another replica counts exactly once. The Cluster's
 * Location, Region, business and environment are copied into each row as they are when the record arrives.
 * The cluster-hours that got new rows are marked for the cost ledger to price again (cost-ledger.ts): records sent
 * again change nothing, so they cost no pricing either.
 * Tables: store/migrations/0009-usage-ledger.sql; daily rollups and retention: usage-rollup.ts; queries:
 * usage-query.ts.
 */
import {
  type NodeHour,
  nodeHourKey,
  type UsageSource,
  type WorkloadHour,
  workloadHourKey,
} from "../../core/metering/usage.ts";
import type { ClusterSpec } from "../../core/resources/kinds.ts";
import type { Sql } from "../../store/sql.ts";

/** What the ledger copies from the Cluster into each row: where it runs and who owns it. */
export type ClusterPlacement = Pick<ClusterSpec, "location" | "region" | "business" | "environment">;

/** How many of a message's records were new (the rest were already in the ledger). */
export interface IngestOutcome {
  workloads: number;
  nodes: number;
}

/**
 * A `usage.hours` body (protocol/messages.ts) in the contract's own types: the tunnel hands the decoded body
 * over as it is, so the compiler checks that the protocol's schema yields the contract's records.
 */
export interface UsageHours {
  cluster: string;
  source: UsageSource;
  workloads: WorkloadHour[];
  nodes: NodeHour[];
}

/**
 * Records a cluster's metered hours. `body` was checked by the protocol (every record names `body.cluster`);
 * `placement` is that Cluster's spec. Returns how many records were new.
 */
export function recordUsageHours(
  sql: Sql,
  placement: ClusterPlacement,
  body: UsageHours,
): Promise<IngestOutcome> {
  // One transaction: rows and the mark that they need pricing land together or not at all.
  return sql.transaction((tx) => record(tx, placement, body));
}

async function record(sql: Sql, placement: ClusterPlacement, body: UsageHours): Promise<IngestOutcome> {
  const cluster = [body.cluster, placement.location, placement.region ?? null, placement.business];
  const outcome: IngestOutcome = { workloads: 0, nodes: 0 };
  let workloadHours: Array<Date | string> = [];
  let nodeHours: Array<Date | string> = [];
  if (body.workloads.length > 0) {
    const rows = body.workloads.map((w) => ({
      key: workloadHourKey(w),
      namespace: w.namespace,
      workload: w.workload,
      labels: w.labels,
      hour: w.hour,
      samples: w.samples,
      cpu_request: w.cpu.request,
      cpu_usage: w.cpu.usage,
      cpu_allocated: w.cpu.allocated,
      memory_request: w.memory.request,
      memory_usage: w.memory.usage,
      memory_allocated: w.memory.allocated,
      gpu_request: w.gpu.request,
      gpu_usage: w.gpu.usage,
      gpu_allocated: w.gpu.allocated,
      storage: w.storage,
      load_balancers: w.loadBalancers,
    }));
    const inserted = await sql.query<{ hour: Date | string }>(
      `insert into usage_workload_hours (key, cluster, location, region, business, environment, source,
         namespace, workload, labels, hour, samples, cpu_request, cpu_usage, cpu_allocated, memory_request,
         memory_usage, memory_allocated, gpu_request, gpu_usage, gpu_allocated, storage, load_balancers)
       select r.key, $1, $2, $3, $4, $5, $6, r.namespace, r.workload, r.labels, r.hour, r.samples, r.cpu_request,
         r.cpu_usage, r.cpu_allocated, r.memory_request, r.memory_usage, r.memory_allocated, r.gpu_request,
         r.gpu_usage, r.gpu_allocated, r.storage, r.load_balancers
       from jsonb_to_recordset($7::jsonb) as r(key text, namespace text, workload text, labels jsonb,
         hour timestamptz, samples int, cpu_request bigint, cpu_usage bigint, cpu_allocated bigint,
         memory_request bigint, memory_usage bigint, memory_allocated bigint, gpu_request bigint,
         gpu_usage bigint, gpu_allocated bigint, storage jsonb, load_balancers bigint)
       on conflict (key) do nothing
       returning hour`,
      [...cluster, placement.environment, body.source, JSON.stringify(rows)],
    );
    outcome.workloads = inserted.length;
    workloadHours = inserted.map((r) => r.hour);
  }
  if (body.nodes.length > 0) {
    const rows = body.nodes.map((n) => ({
      key: nodeHourKey(n),
      node: n.node,
      instance_type: n.instanceType ?? null,
      hour: n.hour,
      samples: n.samples,
      cpu_allocatable: n.allocatable.cpu,
      memory_allocatable: n.allocatable.memory,
      gpu_allocatable: n.allocatable.gpu,
    }));
    const inserted = await sql.query<{ hour: Date | string }>(
      `insert into usage_node_hours (key, cluster, location, region, business, environment, source, node,
         instance_type, hour, samples, cpu_allocatable, memory_allocatable, gpu_allocatable)
       select r.key, $1, $2, $3, $4, $5, $6, r.node, r.instance_type, r.hour, r.samples, r.cpu_allocatable,
         r.memory_allocatable, r.gpu_allocatable
       from jsonb_to_recordset($7::jsonb) as r(key text, node text, instance_type text, hour timestamptz,
         samples int, cpu_allocatable bigint, memory_allocatable bigint, gpu_allocatable bigint)
       on conflict (key) do nothing
       returning hour`,
      [...cluster, placement.environment, body.source, JSON.stringify(rows)],
    );
    outcome.nodes = inserted.length;
    nodeHours = inserted.map((r) => r.hour);
  }
  await markHoursToPrice(sql, body.cluster, placement.location, [...workloadHours, ...nodeHours]);
  return outcome;
}

/**
 * Raises the version of each cluster-hour that got new usage rows (creating it at version 1), so that the cost
 * ledger's pricing pass prices it (again).
 */
async function markHoursToPrice(
  sql: Sql,
  cluster: string,
  location: string,
  hours: ReadonlyArray<Date | string>,
): Promise<void> {
  const distinct = [...new Set(hours.map((h) => new Date(h).toISOString()))];
  if (distinct.length === 0) return;
  await sql.query(
    `insert into cost_cluster_hours (cluster, hour, location)
     select $1, h::timestamptz, $2 from jsonb_array_elements_text($3::jsonb) as h
     on conflict (cluster, hour) do update set version = cost_cluster_hours.version + 1`,
    [cluster, location, JSON.stringify(distinct)],
  );
}
