/**
 * What the fleet cost over a window, grouped as asked (issue 14): each cluster-hour of the usage ledger's hourly
 * rows is priced at the PriceBooks of its Location as they held at that hour (core/metering/price-book.ts), divided
 * by the allocation rules (core/metering/allocation.ts, docs/metering.md), and the rows are summed per group.
 * Money stays in integer micro-units of the books' currency; a group never mixes currencies. A cluster-hour with
 * a node no book prices is not billed: it is listed in `unpriced` with the reason.
 *
 * `pricedAllocations` gives the priced cluster-hours themselves, row by row, for the FOCUS export (cost-export.ts).
 *
 * Computed when asked, from the hourly rows: the window reaches back as far as they are kept (35 days by
 * default, usage-rollup.ts).
 */
import {
  type Allocation,
  type AllocationRow,
  allocate,
  defaultAllocationRules,
  groupClusterHours,
  payerName,
} from "../../core/metering/allocation.ts";
import { hourPrices } from "../../core/metering/hour-prices.ts";
import { type PriceBookLike, priceAt } from "../../core/metering/price-book.ts";
import type { NodeHour, WorkloadHour } from "../../core/metering/usage.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";
import { dimension, impliedAggregation, type UsageDimension } from "./usage-query.ts";
import { parseUsageWindow, type UsageWindow } from "./usage-window.ts";

export interface CostQuery {
  window: string;
  /** Usage dimensions (usage-query.ts) and `payer`: who pays, by the allocation rules. */
  aggregate: readonly string[];
  /** `separate` (idle as rows of its own, namespace `__idle__`) or `share` (spread over the workloads). */
  idle?: string;
  /** Only these clusters (all when absent or empty). */
  clusters?: readonly string[];
}

export type CostDimension = UsageDimension | "payer";

export interface CostGroup {
  keys: Record<string, string | null>;
  currency: string;
  /** Micro-units of `currency`. */
  cost: { cpu: number; memory: number; gpu: number; storage: number; loadBalancer: number; total: number };
  /** Of `cost.total`: idle shared onto the group (idle `share`), and idle rows' own cost (idle `separate`). */
  idle: number;
  /** usage ÷ request of the group's workloads; null when nothing was requested. */
  efficiency: { cpu: number | null; memory: number | null };
}

export interface CostReport {
  window: { start: string; end: string };
  aggregate: CostDimension[];
  idle: "separate" | "share";
  /** Cluster-hours priced and divided. */
  hours: number;
  groups: CostGroup[];
  /** Cluster-hours left out for want of a price, with why. */
  unpriced: Array<{ cluster: string; hour: string; node: string; reason: string }>;
}

interface Checked {
  window: UsageWindow;
  aggregate: CostDimension[];
  idle: "separate" | "share";
}

const allowedText = "location, region, cluster, business, environment, namespace, workload, payer, label:KEY";

/** Checks a cost query whole; one `UserError` lists every problem with its field. */
export function checkCostQuery(query: CostQuery, now: Date): Checked {
  const problems: Problem[] = [];
  let window: UsageWindow | undefined;
  try {
    window = parseUsageWindow(query.window, now);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    problems.push(...error.problems);
  }
  const asked: CostDimension[] = [];
  for (const [i, text] of query.aggregate.entries()) {
    if (text === "payer") {
      if (asked.includes("payer"))
        problems.push({ path: `aggregate[${i}]`, message: "payer is listed twice" });
      else asked.push("payer");
      continue;
    }
    const read = dimension(text);
    if (!read.ok)
      problems.push({
        path: `aggregate[${i}]`,
        message: read.message.replace(/allowed: .*$/, `allowed: ${allowedText}`),
      });
    else if (asked.includes(read.value))
      problems.push({ path: `aggregate[${i}]`, message: `${text} is listed twice` });
    else asked.push(read.value);
  }
  const idle = query.idle ?? "separate";
  if (idle !== "separate" && idle !== "share")
    problems.push({ path: "idle", message: `must be separate or share, got ${JSON.stringify(idle)}` });
  if (problems.length > 0 || !window)
    throw new UserError("BadRequest", "the cost query is not valid", {
      problems,
      hint: `aggregate by ${allowedText}; a window is 7d, 24h or 2026-11-01/2026-12-01; idle is separate or share`,
    });
  const payerAt = asked.indexOf("payer");
  const applied: CostDimension[] = impliedAggregation(
    asked.filter((d): d is UsageDimension => d !== "payer"),
  );
  if (payerAt >= 0) applied.splice(Math.min(payerAt, applied.length), 0, "payer");
  return { window, aggregate: applied, idle: idle as "separate" | "share" };
}

interface WorkloadRow {
  cluster: string;
  location: string;
  region: string | null;
  business: string;
  environment: string;
  namespace: string;
  workload: string;
  labels: Record<string, string> | string;
  hour: Date | string;
  samples: number;
  cpu_request: string;
  cpu_usage: string;
  cpu_allocated: string;
  memory_request: string;
  memory_usage: string;
  memory_allocated: string;
  gpu_request: string;
  gpu_usage: string;
  gpu_allocated: string;
  storage: Record<string, number | string> | string;
  load_balancers: string;
}

interface NodeRow {
  cluster: string;
  location: string;
  region: string | null;
  business: string;
  environment: string;
  node: string;
  instance_type: string | null;
  hour: Date | string;
  samples: number;
  cpu_allocatable: string;
  memory_allocatable: string;
  gpu_allocatable: string;
}

/** `2026-12-03T14:00:00Z`, as the usage contract writes an hour. */
function hourOf(value: Date | string): string {
  return `${new Date(value).toISOString().slice(0, 13)}:00:00Z`;
}

const json = <T>(value: T | string): T => (typeof value === "string" ? (JSON.parse(value) as T) : value);

/** Where a cluster is: its Location, Region, and the business and environment that own it. */
export interface ClusterPlace {
  cluster: string;
  location: string;
  region: string | null;
  business: string;
  environment: string;
}

/** One cluster-hour priced at the books that held then and divided by the allocation rules. */
export interface PricedClusterHour {
  place: ClusterPlace;
  /** The books' currency: every figure of `allocation` is in micro-units of it. */
  currency: string;
  allocation: Allocation;
}

/** A cluster-hour left out for want of a price (or refused by the allocation), with why. */
export interface UnpricedClusterHour {
  cluster: string;
  hour: string;
  node: string;
  reason: string;
}

/** The ledger's cluster-hours of a window, priced and divided, in cluster then hour order. */
export interface PricedAllocations {
  hours: PricedClusterHour[];
  unpriced: UnpricedClusterHour[];
}

/**
 * Prices and divides every cluster-hour of the ledger's hourly rows in `window` (of the `clusters` named, or of
 * all when none are): each at the PriceBooks of its Location as they held at that hour, by the default allocation
 * rules with the idle mode given. The cost query sums these rows per group; the FOCUS export writes them one by
 * one (cost-export.ts).
 */
export async function pricedAllocations(
  sql: Sql,
  books: readonly PriceBookLike[],
  window: UsageWindow,
  idle: "separate" | "share",
  clusters: readonly string[] = [],
): Promise<PricedAllocations> {
  const range = [window.start.toISOString(), window.end.toISOString(), ...clusters];
  const only =
    clusters.length > 0 ? ` and cluster in (${clusters.map((_, i) => `$${i + 3}`).join(", ")})` : "";
  const [workloadRows, nodeRows] = await Promise.all([
    sql.query<WorkloadRow>(`select * from usage_workload_hours where hour >= $1 and hour < $2${only}`, range),
    sql.query<NodeRow>(`select * from usage_node_hours where hour >= $1 and hour < $2${only}`, range),
  ]);
  const places = new Map<string, ClusterPlace>();
  const placeOf = (r: WorkloadRow | NodeRow): ClusterPlace => ({
    cluster: r.cluster,
    location: r.location,
    region: r.region,
    business: r.business,
    environment: r.environment,
  });
  const workloads: WorkloadHour[] = workloadRows.map((r) => {
    places.set(r.cluster, placeOf(r));
    const storage = json<Record<string, number | string>>(r.storage);
    return {
      cluster: r.cluster,
      hour: hourOf(r.hour),
      namespace: r.namespace,
      workload: r.workload,
      labels: json<Record<string, string>>(r.labels),
      samples: Number(r.samples),
      cpu: { request: Number(r.cpu_request), usage: Number(r.cpu_usage), allocated: Number(r.cpu_allocated) },
      memory: {
        request: Number(r.memory_request),
        usage: Number(r.memory_usage),
        allocated: Number(r.memory_allocated),
      },
      gpu: { request: Number(r.gpu_request), usage: Number(r.gpu_usage), allocated: Number(r.gpu_allocated) },
      storage: Object.fromEntries(Object.entries(storage).map(([k, v]) => [k, Number(v)])),
      loadBalancers: Number(r.load_balancers),
    };
  });
  const nodes: NodeHour[] = nodeRows.map((r) => {
    places.set(r.cluster, placeOf(r));
    return {
      cluster: r.cluster,
      hour: hourOf(r.hour),
      node: r.node,
      ...(r.instance_type ? { instanceType: r.instance_type } : {}),
      samples: Number(r.samples),
      allocatable: {
        cpu: Number(r.cpu_allocatable),
        memory: Number(r.memory_allocatable),
        gpu: Number(r.gpu_allocatable),
      },
    };
  });

  const result: PricedAllocations = { hours: [], unpriced: [] };
  for (const hour of groupClusterHours(nodes, workloads)) {
    const place = places.get(hour.cluster)!;
    const priced = hourPrices(priceAt(books, place.location, hour.hour), hour.nodes);
    if (!priced.ok) {
      const unpriced =
        priced.unpriced.length > 0 ? priced.unpriced : [{ node: "*", reason: "no node reported" }];
      for (const u of unpriced) result.unpriced.push({ cluster: hour.cluster, hour: hour.hour, ...u });
      continue;
    }
    const allocation = allocate({
      cluster: { name: hour.cluster, business: place.business, environment: place.environment },
      hour: hour.hour,
      nodes: hour.nodes,
      workloads: hour.workloads,
      prices: priced.prices,
      rules: { ...defaultAllocationRules, idle },
    });
    if (!allocation.ok) {
      const problem = allocation.problems[0]!;
      result.unpriced.push({
        cluster: hour.cluster,
        hour: hour.hour,
        node: "*",
        reason: `${problem.path}: ${problem.message}`,
      });
      continue;
    }
    result.hours.push({ place, currency: priced.currency, allocation: allocation.value });
  }
  return result;
}

/** Runs a cost query over the ledger's hourly rows with the given PriceBooks; bad input throws a `UserError`. */
export async function queryCost(
  sql: Sql,
  books: readonly PriceBookLike[],
  query: CostQuery,
  now: Date,
): Promise<CostReport> {
  const checked = checkCostQuery(query, now);
  const priced = await pricedAllocations(sql, books, checked.window, checked.idle, query.clusters ?? []);
  const report: CostReport = {
    window: { start: checked.window.start.toISOString(), end: checked.window.end.toISOString() },
    aggregate: checked.aggregate,
    idle: checked.idle,
    hours: priced.hours.length,
    groups: [],
    unpriced: priced.unpriced,
  };
  const groups = new Map<
    string,
    CostGroup & { requested: { cpu: number; memory: number }; used: { cpu: number; memory: number } }
  >();
  for (const { place, currency, allocation } of priced.hours) {
    for (const row of allocation.rows) {
      const keys = keysOf(checked.aggregate, row, place);
      const id = `${currency}\u0000${JSON.stringify(keys)}`;
      let group = groups.get(id);
      if (!group) {
        group = {
          keys,
          currency,
          cost: { cpu: 0, memory: 0, gpu: 0, storage: 0, loadBalancer: 0, total: 0 },
          idle: 0,
          efficiency: { cpu: null, memory: null },
          requested: { cpu: 0, memory: 0 },
          used: { cpu: 0, memory: 0 },
        };
        groups.set(id, group);
      }
      group.cost.cpu += row.cpuCost;
      group.cost.memory += row.memoryCost;
      group.cost.gpu += row.gpuCost;
      group.cost.storage += row.storageCost;
      group.cost.loadBalancer += row.loadBalancerCost;
      group.cost.total += row.totalCost;
      group.idle += row.kind === "idle" ? row.totalCost : row.idleIncluded;
      group.requested.cpu += row.cpu.request;
      group.requested.memory += row.memory.request;
      group.used.cpu += row.cpu.usage;
      group.used.memory += row.memory.usage;
    }
  }
  report.groups = [...groups.values()]
    .map(({ requested, used, ...group }) => ({
      ...group,
      efficiency: {
        cpu: requested.cpu > 0 ? used.cpu / requested.cpu : null,
        memory: requested.memory > 0 ? used.memory / requested.memory : null,
      },
    }))
    .sort(
      (a, b) => b.cost.total - a.cost.total || JSON.stringify(a.keys).localeCompare(JSON.stringify(b.keys)),
    );
  return report;
}

/** A row's value of each dimension; idle rows have namespace `__idle__`, the resource as workload, payer `__idle__`. */
function keysOf(
  aggregate: readonly CostDimension[],
  row: AllocationRow,
  place: ClusterPlace,
): Record<string, string | null> {
  const keys: Record<string, string | null> = {};
  for (const d of aggregate) {
    if (d === "payer") keys[d] = row.kind === "idle" ? "__idle__" : payerName(row.payer);
    else if (d === "cluster") keys[d] = row.cluster;
    else if (d === "namespace") keys[d] = row.namespace;
    else if (d === "workload") keys[d] = row.workload;
    else if (d.startsWith("label:")) keys[d] = row.labels[d.slice("label:".length)] ?? null;
    else keys[d] = (place as unknown as Record<string, string | null>)[d] ?? null;
  }
  return keys;
}
