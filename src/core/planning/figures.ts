/**
 * The figures a plan sets side by side before and after: clusters, nodes, what they offer and what is requested,
 * utilisation, monthly cost, headroom and blast radius. Pure sums over clusters or planned targets.
 */
import type { FleetCluster, FleetWorkload } from "./fleet-snapshot.ts";

/** Figures of a set of clusters (or of one). */
export interface Figures {
  clusters: number;
  nodes: number;
  /** Cores and bytes the nodes offer to pods. */
  allocatable: { cpu: number; memory: number };
  /** Cores and bytes requested by the pods. */
  requested: { cpu: number; memory: number };
  pods: number;
  /** requested ÷ allocatable, 0–1. */
  utilization: { cpu: number; memory: number };
  /** Share of cpu and memory left free, whichever is smaller, 0–1. */
  headroom: number;
  /** Per month; absent when a node shape in use has no price. */
  monthlyCost?: number;
  /** The largest share of one business's pods (in its Location) that one cluster holds; DaemonSets aside. */
  blastRadius: { business: string; share: number; cluster: string };
  /** The most businesses one cluster serves. */
  businessesPerCluster: number;
}

/** What one cluster (existing or planned) holds, for figures. */
export interface ClusterLoad {
  name: string;
  location: string;
  nodes: number;
  allocatable: { cpu: number; memory: number };
  monthlyCost?: number;
  /** Pods and requests per business. */
  businesses: Map<string, BusinessLoad>;
}

const microPerUnit = 1_000_000;
/** A price in whole micro-units of its currency: prices are summed in these, exactly, and divided back at the end. */
const toMicro = (price: number) => Math.round(price * microPerUnit);

/** The load of an existing cluster, priced by instance type (`price` returns undefined when unknown). */
export function clusterLoad(
  cluster: FleetCluster,
  price: (location: string, instanceType: string | undefined) => number | undefined,
): ClusterLoad {
  let cpu = 0;
  let memory = 0;
  // Summed in whole micro-units: a float sum of prices drifts from what showback divides (to the micro-unit).
  let costMicro: number | undefined = 0;
  for (const node of cluster.nodes) {
    cpu += node.allocatable.cpu ?? 0;
    memory += node.allocatable.memory ?? 0;
    const p = price(cluster.location, node.instanceType);
    costMicro = p === undefined || costMicro === undefined ? undefined : costMicro + toMicro(p);
  }
  const cost = costMicro === undefined ? undefined : costMicro / microPerUnit;
  return {
    name: cluster.name,
    location: cluster.location,
    nodes: cluster.nodes.length,
    allocatable: { cpu, memory },
    ...(cost !== undefined ? { monthlyCost: cost } : {}),
    businesses: businessLoads(cluster.workloads),
  };
}

/**
 * A business's pods and requests in one cluster; `placedPods` leaves out DaemonSets' pods, which every node runs
 * whatever the plan (blast radius counts placed pods only).
 */
export interface BusinessLoad {
  pods: number;
  placedPods: number;
  cpu: number;
  memory: number;
}

/** Pods and requests of workloads per business (replicas × per-pod requests). */
export function businessLoads(
  workloads: Iterable<Pick<FleetWorkload, "business" | "replicas" | "podRequests" | "kind">>,
): Map<string, BusinessLoad> {
  const out = new Map<string, BusinessLoad>();
  for (const w of workloads) {
    const load = out.get(w.business) ?? { pods: 0, placedPods: 0, cpu: 0, memory: 0 };
    load.pods += w.replicas;
    if (w.kind !== "DaemonSet") load.placedPods += w.replicas;
    load.cpu += w.replicas * (w.podRequests.cpu ?? 0);
    load.memory += w.replicas * (w.podRequests.memory ?? 0);
    out.set(w.business, load);
  }
  return out;
}

/**
 * Sums loads into figures. Blast radius is measured against each business's pods in `businessTotals` (by
 * default, over the loads given; pass the Location's totals to measure one target against its Location).
 */
export function figuresOf(
  loads: readonly ClusterLoad[],
  businessTotals?: ReadonlyMap<string, number>,
): Figures {
  const allocatable = { cpu: 0, memory: 0 };
  const requested = { cpu: 0, memory: 0 };
  let nodes = 0;
  let pods = 0;
  let costMicro: number | undefined = 0;
  const totals = new Map<string, number>();
  let businessesPerCluster = 0;
  for (const load of loads) {
    nodes += load.nodes;
    allocatable.cpu += load.allocatable.cpu;
    allocatable.memory += load.allocatable.memory;
    costMicro =
      load.monthlyCost === undefined || costMicro === undefined
        ? undefined
        : costMicro + toMicro(load.monthlyCost);
    businessesPerCluster = Math.max(businessesPerCluster, load.businesses.size);
    for (const [business, b] of load.businesses) {
      pods += b.pods;
      requested.cpu += b.cpu;
      requested.memory += b.memory;
      totals.set(business, (totals.get(business) ?? 0) + b.placedPods);
    }
  }
  let blastRadius = { business: "", share: 0, cluster: "" };
  for (const load of loads)
    for (const [business, b] of load.businesses) {
      const total = (businessTotals ?? totals).get(business) ?? 0;
      const share = total > 0 ? b.placedPods / total : 0;
      const candidate = { business, share, cluster: load.name };
      if (largerBlast(candidate, blastRadius)) blastRadius = candidate;
    }
  const utilization = {
    cpu: allocatable.cpu > 0 ? requested.cpu / allocatable.cpu : 0,
    memory: allocatable.memory > 0 ? requested.memory / allocatable.memory : 0,
  };
  return {
    clusters: loads.length,
    nodes,
    allocatable,
    requested,
    pods,
    utilization,
    headroom: Math.max(0, 1 - Math.max(utilization.cpu, utilization.memory)),
    ...(costMicro !== undefined ? { monthlyCost: costMicro / microPerUnit } : {}),
    blastRadius,
    businessesPerCluster,
  };
}

/** Orders blast radii: the larger share; on a tie, the first business and cluster by name (deterministic). */
function largerBlast(a: Figures["blastRadius"], b: Figures["blastRadius"]): boolean {
  if (!b.business) return true;
  if (a.share !== b.share) return a.share > b.share;
  return (
    a.business.localeCompare(b.business) < 0 ||
    (a.business === b.business && a.cluster.localeCompare(b.cluster) < 0)
  );
}
