/**
 * Pricing usage rows (issue 14): the usage ledger's hourly rows of some cluster-hours, priced at the PriceBooks of
 * their Location as they held at each hour (core/metering/price-book.ts) and divided by the allocation rules
 * (core/metering/allocation.ts, docs/metering.md). The cost ledger's pricing pass (cost-ledger.ts) prices what
 * agents sent this way, once; the FOCUS export (cost-export.ts) prices a month of rows when asked.
 */
import {
  type Allocation,
  allocate,
  defaultAllocationRules,
  groupClusterHours,
} from "../../core/metering/allocation.ts";
import { hourPrices } from "../../core/metering/hour-prices.ts";
import { type PriceBookLike, priceAt } from "../../core/metering/price-book.ts";
import type { NodeHour, WorkloadHour } from "../../core/metering/usage.ts";
import type { Sql } from "../../store/sql.ts";
import type { UsageWindow } from "./usage-window.ts";

export interface WorkloadRow {
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

export interface NodeRow {
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
 * rules with the idle mode given. The FOCUS export writes them one by one (cost-export.ts).
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
  return priceUsageRows(workloadRows, nodeRows, books, idle);
}

/** Prices and divides the cluster-hours of some usage rows (every row of each cluster-hour must be given). */
export function priceUsageRows(
  workloadRows: readonly WorkloadRow[],
  nodeRows: readonly NodeRow[],
  books: readonly PriceBookLike[],
  idle: "separate" | "share",
): PricedAllocations {
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
