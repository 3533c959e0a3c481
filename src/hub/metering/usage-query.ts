/**
 * Usage queries over the metering ledger (issue 14): for a window (usage-window.ts) and an aggregation —
 * `location`, `region`, `cluster`, `business`, `environment`, `namespace`, `workload`, `label:KEY`, several at
 * once — with filters on the same dimensions, the request, usage and allocated sums of each resource per group,
 * and efficiency (usage ÷ request). Whole days are read from the daily rollups (plus any hourly rows not rolled
 * up yet), partial days from hourly rows, in one statement: one consistent snapshot. Hourly rows are kept for the
 * retention (usage-rollup.ts), so a window that starts or ends inside a day older than that counts only what the
 * rollups hold of whole days. No money here: prices and allocation (core/metering) turn these figures into cost.
 *
 * Namespaces and workloads belong to a cluster: grouped by `namespace` alone, the same namespace in two clusters
 * is two groups (the cluster is added to the aggregation). It is one group only when the aggregation says which
 * level above the cluster to sum at (`business,namespace`, `location,namespace`…). A workload is named within
 * its namespace, so `workload` brings `namespace` with it.
 */

import { labelKeyProblem } from "../../core/validation/names.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";
import { parseUsageWindow, type UsageWindow } from "./usage-window.ts";

/** The dimensions a query can group and filter by, besides `label:KEY`. */
export const usageDimensions = [
  "location",
  "region",
  "cluster",
  "business",
  "environment",
  "namespace",
  "workload",
] as const;
export type UsageDimension = (typeof usageDimensions)[number] | `label:${string}`;

/** Dimensions at the cluster's level or above: one of them in an aggregation says where namespaces are summed. */
const clusterOrAbove = new Set<string>(["location", "region", "cluster", "business", "environment"]);

export interface UsageQuery {
  /** `7d`, `24h`, `2026-11-01/2026-12-01`… (usage-window.ts). */
  window: string;
  /** The dimensions to group by, in the order the groups' keys are listed; empty for one total. */
  aggregate: readonly string[];
  /** Only records whose dimension has one of the values: `{ business: ["shop"], "label:team": ["a", "b"] }`. */
  filters?: Readonly<Record<string, readonly string[]>>;
}

/** Sums over a window of one resource's minute samples: millicore-, byte- or device-minutes. */
export interface UsageTotals {
  request: bigint;
  usage: bigint;
  allocated: bigint;
}

export interface UsageGroup {
  /** The group's value of each dimension of the aggregation (null: a label not set, a Cluster without Region). */
  keys: Record<string, string | null>;
  cpu: UsageTotals;
  memory: UsageTotals;
  gpu: UsageTotals;
  /** Requested volume size per storage class, byte-minutes. */
  storage: Record<string, bigint>;
  /** LoadBalancer Services, service-minutes. */
  loadBalancers: bigint;
  /** Minute samples of the group's workloads (a workload running a whole hour adds 60). */
  samples: bigint;
  /** usage ÷ request per resource; null when nothing was requested. */
  efficiency: { cpu: number | null; memory: number | null; gpu: number | null };
}

export interface UsageReport {
  window: { start: string; end: string };
  /** The aggregation applied: as asked, with `cluster` and `namespace` added where they are implied. */
  aggregate: UsageDimension[];
  groups: UsageGroup[];
}

/** A query checked whole: its window, its aggregation as applied, and its filters. */
export interface CheckedUsageQuery {
  window: UsageWindow;
  aggregate: UsageDimension[];
  filters: Array<{ dimension: UsageDimension; values: string[] }>;
}

const allowedText = `${usageDimensions.join(", ")}, label:KEY`;

/** Reads a dimension name; returns it, or the problem with it. */
export function dimension(
  text: string,
): { ok: true; value: UsageDimension } | { ok: false; message: string } {
  if ((usageDimensions as readonly string[]).includes(text))
    return { ok: true, value: text as UsageDimension };
  if (text.startsWith("label:")) {
    const key = text.slice("label:".length);
    const problem = labelKeyProblem(key);
    return problem
      ? { ok: false, message: `label key ${JSON.stringify(key)}: ${problem}` }
      : { ok: true, value: `label:${key}` };
  }
  return { ok: false, message: `unknown dimension ${JSON.stringify(text)}; allowed: ${allowedText}` };
}

/**
 * Checks a query whole (window, every aggregation entry, every filter) and throws one `UserError` listing every
 * problem with its field path (`window`, `aggregate[1]`, `filters["label:"]`).
 */
export function checkUsageQuery(query: UsageQuery, now: Date): CheckedUsageQuery {
  const problems: Problem[] = [];
  let window: UsageWindow | undefined;
  try {
    window = parseUsageWindow(query.window, now);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    problems.push(...error.problems);
  }
  const aggregate: UsageDimension[] = [];
  for (const [i, text] of query.aggregate.entries()) {
    const read = dimension(text);
    if (!read.ok) problems.push({ path: `aggregate[${i}]`, message: read.message });
    else if (aggregate.includes(read.value))
      problems.push({ path: `aggregate[${i}]`, message: `${text} is listed twice` });
    else aggregate.push(read.value);
  }
  const filters: CheckedUsageQuery["filters"] = [];
  for (const [key, values] of Object.entries(query.filters ?? {})) {
    const path = /^[a-z]+$/.test(key) ? `filters.${key}` : `filters[${JSON.stringify(key)}]`;
    const read = dimension(key);
    if (!read.ok) problems.push({ path, message: read.message });
    else if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== "string"))
      problems.push({ path, message: "must list one or more values" });
    else filters.push({ dimension: read.value, values: [...values] });
  }
  if (problems.length > 0 || !window)
    throw new UserError("BadRequest", "the usage query is not valid", {
      problems,
      hint: `aggregate and filter by ${allowedText}; a window is 7d, 24h or 2026-11-01/2026-12-01`,
    });
  return { window, aggregate: impliedAggregation(aggregate), filters };
}

/** Adds what an aggregation implies: a workload's namespace, and a namespace's cluster unless a level above is named. */
export function impliedAggregation(asked: UsageDimension[]): UsageDimension[] {
  const applied = [...asked];
  const at = applied.indexOf("workload");
  if (at >= 0 && !applied.includes("namespace")) applied.splice(at, 0, "namespace");
  const first = applied.findIndex((d) => d === "namespace" || d === "workload");
  if (first >= 0 && !applied.some((d) => clusterOrAbove.has(d))) applied.splice(first, 0, "cluster");
  return applied;
}

const dayMs = 86_400_000;
const resources = ["cpu", "memory", "gpu"] as const;
const measures = ["request", "usage", "allocated"] as const;
const sumColumns = [
  ...resources.flatMap((r) => measures.map((m) => `${r}_${m}`)),
  "load_balancers",
  "samples",
];

/** Runs a usage query. `now` ends relative windows (`7d`); bad input throws a `UserError` (checkUsageQuery). */
export async function queryUsage(sql: Sql, query: UsageQuery, now: Date): Promise<UsageReport> {
  const checked = checkUsageQuery(query, now);
  const { start, end } = checked.window;
  // Whole UTC days inside the window come from the rollups; with none, every hour comes from hourly rows.
  let firstDay = Math.ceil(start.getTime() / dayMs) * dayMs;
  let endDay = Math.floor(end.getTime() / dayMs) * dayMs;
  if (endDay <= firstDay) firstDay = endDay = start.getTime();
  const params: unknown[] = [
    start.toISOString(),
    end.toISOString(),
    new Date(firstDay).toISOString(),
    new Date(endDay).toISOString(),
  ];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const expression = (d: UsageDimension): string =>
    d.startsWith("label:")
      ? `labels ->> ${param(d.slice("label:".length))}`
      : d === "region"
        ? "nullif(region, '')"
        : d;
  const dims = checked.aggregate.map((d, i) => `${expression(d)} as d${i}`);
  const groupBy =
    checked.aggregate.length > 0 ? `group by ${checked.aggregate.map((_, i) => i + 1).join(", ")}` : "";
  const where = checked.filters.map((f) => `${expression(f.dimension)} = any(${param(f.values)}::text[])`);
  const columns = `cluster, location, region, business, environment, namespace, workload, labels, storage, ${sumColumns.join(", ")}`;
  const ledger = `(
       select cluster, location, coalesce(region, '') as region, business, environment, namespace, workload, labels,
         storage, ${sumColumns.map((c) => `${c}::numeric as ${c}`).join(", ")}
       from usage_workload_hours
       where hour >= $1::timestamptz and hour < $2::timestamptz
         and (hour < $3::timestamptz or hour >= $4::timestamptz or not rolled)
       union all
       select ${columns} from usage_workload_days
       where day >= ($3::timestamptz at time zone 'UTC')::date and day < ($4::timestamptz at time zone 'UTC')::date
     ) as ledger`;
  const filtered = (more: string[] = []) =>
    [...where, ...more].length > 0 ? `where ${[...where, ...more].join(" and ")}` : "";
  // Two statements in one snapshot (repeatable read): the sums, and storage per class, each grouped by plain
  // columns — several times faster than one statement grouping by a composite key.
  const [sums, storage] = await sql.transaction(async (tx) => {
    await tx.query("set transaction isolation level repeatable read");
    const sums = await tx.query<Record<string, string | null>>(
      `select ${[...dims, ...sumColumns.map((c) => `sum(${c})::text as ${c}`)].join(", ")}
       from ${ledger} ${filtered()} ${groupBy} having count(*) > 0`,
      params,
    );
    const storage = await tx.query<Record<string, string | null>>(
      `select ${[...dims, "e.key as storage_class", "sum(e.value::numeric)::text as amount"].join(", ")}
       from ${ledger}, jsonb_each_text(ledger.storage) as e ${filtered(["ledger.storage <> '{}'::jsonb"])}
       group by ${[...checked.aggregate.map((_, i) => i + 1), checked.aggregate.length + 1].join(", ")}`,
      params,
    );
    return [sums, storage];
  });
  const keyOf = (row: Record<string, string | null>) => checked.aggregate.map((_, i) => row[`d${i}`] ?? null);
  const storageOf = new Map<string, Record<string, bigint>>();
  for (const row of storage) {
    const key = JSON.stringify(keyOf(row));
    const classes = storageOf.get(key) ?? {};
    classes[row.storage_class ?? ""] = BigInt(row.amount ?? 0);
    storageOf.set(key, classes);
  }
  const number = (text: string | null | undefined) => BigInt(text ?? 0);
  const groups = sums.map((row): UsageGroup => {
    const totals = (r: (typeof resources)[number]): UsageTotals => ({
      request: number(row[`${r}_request`]),
      usage: number(row[`${r}_usage`]),
      allocated: number(row[`${r}_allocated`]),
    });
    const [cpu, memory, gpu] = resources.map(totals) as [UsageTotals, UsageTotals, UsageTotals];
    const ratio = (t: UsageTotals) => (t.request === 0n ? null : Number(t.usage) / Number(t.request));
    const key = keyOf(row);
    return {
      keys: Object.fromEntries(checked.aggregate.map((d, i) => [d, key[i] ?? null])),
      cpu,
      memory,
      gpu,
      storage: storageOf.get(JSON.stringify(key)) ?? {},
      loadBalancers: number(row.load_balancers),
      samples: number(row.samples),
      efficiency: { cpu: ratio(cpu), memory: ratio(memory), gpu: ratio(gpu) },
    };
  });
  // Ordered here, not by the database: the same on both drivers whatever their collation, unset values last.
  groups.sort((a, b) => compareKeys(Object.values(a.keys), Object.values(b.keys)));
  return {
    window: { start: start.toISOString(), end: end.toISOString() },
    aggregate: checked.aggregate,
    groups,
  };
}

/** Orders group keys value by value, in code-unit order, a null (unset) value after every name. */
function compareKeys(a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null) return 1;
    if (y === null) return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}
