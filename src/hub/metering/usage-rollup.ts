/**
 * Daily rollups and retention of the metering ledger (issue 14; tables in store/migrations/0009-usage-ledger.sql).
 * A pass adds every hourly row not yet rolled into its day's row and marks it rolled, in one statement per batch,
 * so a row is in a day's sums exactly once: a record that arrives late (a relay cut off for a day) is added by the
 * next pass, whatever day it belongs to. Then rolled hourly rows older than the retention are removed: a query
 * reads whole days from the rollups, so only partial days older than the retention lose their hourly detail.
 * Runs on the leader only (`usageRollup`, a Runnable for the hub's Manager).
 */
import { type Clock, systemClock } from "../../runtime/clock.ts";
import { periodic } from "../../runtime/periodic.ts";
import type { Log, Runnable } from "../../runtime/runnable.ts";
import type { Sql } from "../../store/sql.ts";

const dayMs = 86_400_000;
/** Hourly rows rolled (or removed) per statement: keeps each transaction short however large the backlog. */
const defaultBatch = 20_000;

export interface RollupOptions {
  /** Hourly rows are kept this many whole days (UTC) before today once rolled up. */
  retentionDays: number;
  now: Date;
  /** Rows per statement (tests use small batches). */
  batch?: number;
  signal?: AbortSignal;
}

export interface RollupOutcome {
  workloadHoursRolled: number;
  nodeHoursRolled: number;
  workloadHoursRemoved: number;
  nodeHoursRemoved: number;
}

const workloadSums = [
  "cpu_request",
  "cpu_usage",
  "cpu_allocated",
  "memory_request",
  "memory_usage",
  "memory_allocated",
  "gpu_request",
  "gpu_usage",
  "gpu_allocated",
  "load_balancers",
];
const nodeSums = ["cpu_allocatable", "memory_allocatable", "gpu_allocatable"];

/** Adds a jsonb map of numbers into another, key by key (storage byte-minutes per class). */
const addMaps = (a: string, b: string) =>
  `(select coalesce(jsonb_object_agg(k, v), '{}'::jsonb) from (select k, sum(v::numeric) as v from (
     select key as k, value as v from jsonb_each_text(${a}) union all select key, value from jsonb_each_text(${b})
   ) as both_maps group by k) as added)`;

/** Rolls one batch of workload hours into days; returns how many hourly rows it took. */
async function rollWorkloadBatch(sql: Sql, batch: number): Promise<number> {
  const identity = "day, cluster, namespace, workload, location, region, business, environment, labels";
  const rows = await sql.query<{ taken: number }>(
    `with taken as (
       update usage_workload_hours set rolled = true
       where not rolled and key in (select key from usage_workload_hours where not rolled order by hour limit $1 for update skip locked)
       returning (hour at time zone 'UTC')::date as day, cluster, namespace, workload, location,
         coalesce(region, '') as region, business, environment, labels, samples, storage,
         ${workloadSums.join(", ")}
     ),
     keyed as (select jsonb_build_array(${identity}) as gk, * from taken),
     sums as (
       select gk, ${identity}, count(*)::int as hours, sum(samples) as samples,
         ${workloadSums.map((c) => `sum(${c}) as ${c}`).join(", ")}
       from keyed group by gk, ${identity}
     ),
     storage as (
       select gk, jsonb_object_agg(k, v) as storage from (
         select gk, e.key as k, sum(e.value::numeric) as v from keyed, jsonb_each_text(keyed.storage) as e
         group by gk, e.key
       ) as per_class group by gk
     ),
     written as (
       insert into usage_workload_days (${identity}, hours, samples, ${workloadSums.join(", ")}, storage)
       select ${identity}, hours, samples, ${workloadSums.join(", ")}, coalesce(storage.storage, '{}'::jsonb)
       from sums left join storage using (gk)
       on conflict (${identity}) do update set
         hours = usage_workload_days.hours + excluded.hours,
         samples = usage_workload_days.samples + excluded.samples,
         ${workloadSums.map((c) => `${c} = usage_workload_days.${c} + excluded.${c}`).join(", ")},
         storage = ${addMaps("usage_workload_days.storage", "excluded.storage")}
       returning 1
     )
     select (select count(*) from taken)::int as taken, (select count(*) from written)::int as written`,
    [batch],
  );
  return rows[0]?.taken ?? 0;
}

/** Rolls one batch of node hours into days; returns how many hourly rows it took. */
async function rollNodeBatch(sql: Sql, batch: number): Promise<number> {
  const identity = "day, cluster, node, location, region, business, environment, instance_type";
  const rows = await sql.query<{ taken: number }>(
    `with taken as (
       update usage_node_hours set rolled = true
       where not rolled and key in (select key from usage_node_hours where not rolled order by hour limit $1 for update skip locked)
       returning (hour at time zone 'UTC')::date as day, cluster, node, location, coalesce(region, '') as region,
         business, environment, coalesce(instance_type, '') as instance_type, samples, ${nodeSums.join(", ")}
     ),
     written as (
       insert into usage_node_days (${identity}, hours, samples, ${nodeSums.join(", ")})
       select ${identity}, count(*)::int, sum(samples), ${nodeSums.map((c) => `sum(${c})`).join(", ")}
       from taken group by ${identity}
       on conflict (${identity}) do update set
         hours = usage_node_days.hours + excluded.hours,
         samples = usage_node_days.samples + excluded.samples,
         ${nodeSums.map((c) => `${c} = usage_node_days.${c} + excluded.${c}`).join(", ")}
       returning 1
     )
     select (select count(*) from taken)::int as taken, (select count(*) from written)::int as written`,
    [batch],
  );
  return rows[0]?.taken ?? 0;
}

/** Removes one batch of rolled hourly rows older than `cutoff`; returns how many. */
async function removeBatch(sql: Sql, table: string, cutoff: Date, batch: number): Promise<number> {
  const rows = await sql.query<{ removed: number }>(
    `with gone as (
       delete from ${table} where key in (
         select key from ${table} where rolled and hour < $1::timestamptz limit $2 for update skip locked)
       returning 1
     ) select count(*)::int as removed from gone`,
    [cutoff.toISOString(), batch],
  );
  return rows[0]?.removed ?? 0;
}

/**
 * One pass: roll every hourly row not yet rolled into its day, then remove rolled hourly rows from before the
 * retention (whole UTC days before today's). Safe to run again at any time, and beside ingest.
 */
export async function rollUpUsage(sql: Sql, options: RollupOptions): Promise<RollupOutcome> {
  const batch = options.batch ?? defaultBatch;
  const outcome: RollupOutcome = {
    workloadHoursRolled: 0,
    nodeHoursRolled: 0,
    workloadHoursRemoved: 0,
    nodeHoursRemoved: 0,
  };
  const repeat = async (step: () => Promise<number>): Promise<number> => {
    let total = 0;
    for (;;) {
      const done = await step();
      total += done;
      if (done < batch || options.signal?.aborted) return total;
    }
  };
  outcome.workloadHoursRolled = await repeat(() => rollWorkloadBatch(sql, batch));
  outcome.nodeHoursRolled = await repeat(() => rollNodeBatch(sql, batch));
  const today = Math.floor(options.now.getTime() / dayMs) * dayMs;
  const cutoff = new Date(today - options.retentionDays * dayMs);
  outcome.workloadHoursRemoved = await repeat(() => removeBatch(sql, "usage_workload_hours", cutoff, batch));
  outcome.nodeHoursRemoved = await repeat(() => removeBatch(sql, "usage_node_hours", cutoff, batch));
  return outcome;
}

export interface UsageRollupOptions {
  sql: Sql;
  log: Log;
  /** Days of hourly rows kept after they are rolled up (default 35: a month's partial days stay exact). */
  retentionDays?: number;
  /** How often a pass runs (default every 10 minutes). */
  everyMs?: number;
  clock?: Clock;
}

/** The rollup and retention pass as a leader-only runnable, for the hub's Manager. */
export function usageRollup(options: UsageRollupOptions): Runnable {
  const clock = options.clock ?? systemClock;
  return periodic({
    name: "usage-rollup",
    leaderOnly: true,
    everyMs: options.everyMs ?? 600_000,
    log: options.log,
    clock,
    work: async (signal) => {
      const outcome = await rollUpUsage(options.sql, {
        retentionDays: options.retentionDays ?? 35,
        now: new Date(clock.now()),
        signal,
      });
      if (Object.values(outcome).some((n) => n > 0))
        options.log({ level: "info", msg: "usage rolled up", ...outcome });
    },
  });
}
