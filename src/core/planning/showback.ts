/**
 * Showback for a consolidation plan (issue 14, item 7): what each business pays per month for its share of the
 * nodes, today and after the plan, by one rule applied to both sides, so that "who saves what" is in the plan.
 *
 * The rule, for each cluster today and each planned target after: its monthly node cost (the policy's prices,
 * as the plan's figures count them) is split into cpu, memory and gpu parts the way metering splits a node's
 * price (`core/metering/node-cost.ts`, node by node); each part is divided among businesses in proportion to
 * what their pods allocate of it — max(request, usage) × replicas, as metering charges — leaving out shared
 * namespaces (kube-system, monitoring…), whose part thereby spreads over the rest in the same proportion, as does
 * idle. A part nothing claims goes to the shared namespaces' businesses in proportion, else to the cluster's own
 * business. Money is integer micro-units divided by largest remainder, so the businesses of a cluster, a target
 * and a Location add up exactly to its cost in the plan's figures.
 *
 * Pure: the fleet, the policy and the plan come in; nothing is read or written.
 */
import { defaultSharedNamespaces } from "../metering/allocation.ts";
import {
  type Claim,
  compareKeys,
  divideByLargestRemainder,
  divideRoundHalfUp,
  toSafeNumber,
} from "../metering/money.ts";
import { millicoresPerCore, minutesPerHour, nodeCost } from "../metering/node-cost.ts";
import { microUnits } from "../metering/usage.ts";
import {
  type ConsolidationPlan,
  daemonOverhead,
  type PlannedTarget,
  shapesOf,
} from "./consolidation-planner.ts";
import type { PlanningShape, ResolvedPolicy } from "./consolidation-policy.ts";
import type { Fleet, FleetCluster, FleetWorkload, Resources } from "./fleet-snapshot.ts";

/** The rule in one sentence, for plans to print beside the table (docs/planning.md, "Showback"). */
export const showbackRule =
  "each cluster's (today) and target's (after) monthly node cost is split into cpu, memory and gpu like a node's price in metering, and each part divided among businesses by what their pods request (or use, if more); idle goes along, and shared namespaces (kube-system, monitoring…) are spread over the rest";

/** The extended resource metered as gpu. */
export const gpuResource = "nvidia.com/gpu";

/** What one business allocates and pays in a cluster, a target or a Location, on one side of the plan. */
export interface BusinessShowback {
  business: string;
  /**
   * What the rule weighs, shared namespaces aside: max(request, usage) × replicas, summed — cpu in millicores,
   * memory in bytes, gpu in devices (exact below 2⁵³; for shares, not money).
   */
  allocated: { cpu: number; memory: number; gpu: number };
  /** Per month, in micro-units of the policy's currency (1 = 1,000,000); absent when the side is unpriced. */
  monthlyCostMicro?: number;
}

/** One side (today or after the plan) of a cluster, target or Location. */
export interface ShowbackSide {
  /** Per month, in micro-units: the sum of `businesses`, and the plan's figure; absent when unpriced. */
  monthlyCostMicro?: number;
  /** The node types or shapes in use that have no price (why the side is unpriced), sorted. */
  unpriced: string[];
  /** By business name. */
  businesses: BusinessShowback[];
}

/** A planned target or a Location, today and after the plan. */
export interface ShowbackScope {
  name: string;
  location: string;
  today: ShowbackSide;
  after: ShowbackSide;
}

export interface Showback {
  rule: string;
  /** Per Location (each in its own currency), in the plan's order. */
  locations: ShowbackScope[];
  /** Per planned target, in the plan's order: today is the sum of the clusters it absorbs. */
  targets: ShowbackScope[];
}

/** A side being summed: bigints per business until the end. */
interface Tally {
  cost: bigint | undefined;
  unpriced: Set<string>;
  businesses: Map<string, { cpu: bigint; memory: bigint; gpu: bigint; cost: bigint }>;
}

/** A node (or `count` alike) with what it offers and its monthly price, if it has one. */
interface PricedNodes {
  type: string;
  count: number;
  allocatable: Resources;
  monthlyPrice: number | undefined;
}

/** The showback of a plan made of `fleet` under `policy`; `plan` is `planConsolidation(fleet, policy)`. */
export function showback(fleet: Fleet, policy: ResolvedPolicy, plan: ConsolidationPlan): Showback {
  const clusters = new Map(fleet.clusters.map((c) => [c.name, c]));
  const shapes = new Map<string, PlanningShape[]>();
  const shapesIn = (location: string) => {
    let offered = shapes.get(location);
    if (!offered) {
      offered = shapesOf(fleet, policy, location);
      shapes.set(location, offered);
    }
    return offered;
  };
  const targetTallies = plan.targets.map((t) => {
    const offered = shapesIn(t.location);
    const sources = t.sources.map((name) => {
      const cluster = clusters.get(name);
      if (!cluster)
        throw new RangeError(`showback: the plan names cluster ${name}, which is not in the fleet`);
      return cluster;
    });
    const today = sum(sources.map((c) => clusterTally(c, offered)));
    const after = t.unplanned
      ? clusterTally(sources[0] as FleetCluster, offered)
      : targetTally(t, sources, offered);
    return { target: t, today, after };
  });
  const locations = plan.locations.map((l) => {
    const mine = targetTallies.filter((x) => x.target.location === l.location);
    return {
      name: l.location,
      location: l.location,
      today: sideOf(sum(mine.map((x) => x.today))),
      after: sideOf(sum(mine.map((x) => x.after))),
    };
  });
  const targets = targetTallies.map(({ target, today, after }) => ({
    name: target.name,
    location: target.location,
    today: sideOf(today),
    after: sideOf(after),
  }));
  return { rule: showbackRule, locations, targets };
}

/** A cluster as it is: its nodes priced by instance type, its workloads as they run. */
function clusterTally(cluster: FleetCluster, shapes: readonly PlanningShape[]): Tally {
  const prices = new Map(shapes.map((s) => [s.name, s.monthlyPrice]));
  const nodes = cluster.nodes.map(
    (n): PricedNodes => ({
      type: n.instanceType ?? "(no instance type)",
      count: 1,
      allocatable: n.allocatable,
      monthlyPrice: n.instanceType === undefined ? undefined : prices.get(n.instanceType),
    }),
  );
  return unitTally(cluster.business, nodes, cluster.workloads);
}

/**
 * A planned target: its pools' shapes and counts, the workloads of every cluster it absorbs, and their
 * DaemonSets once per node — the same workloads the planner's figures count.
 */
function targetTally(
  target: PlannedTarget,
  sources: readonly FleetCluster[],
  shapes: readonly PlanningShape[],
): Tally {
  const nodes = target.pools.map((pool): PricedNodes => {
    const shape = shapes.find((s) => s.name === pool.shape);
    return {
      type: pool.shape,
      count: pool.nodes,
      allocatable: shape?.allocatable ?? {},
      monthlyPrice: shape?.monthlyPrice,
    };
  });
  // A DaemonSet several sources run is one in the target, on every node: it belongs to the first source (the
  // target itself, if it runs it) that runs it.
  const firstOwner = new Map<string, string>();
  for (const c of sources)
    for (const w of c.workloads)
      if (w.kind === "DaemonSet" && !firstOwner.has(`${w.namespace}/${w.name}`))
        firstOwner.set(`${w.namespace}/${w.name}`, w.business);
  const { daemons } = daemonOverhead(sources);
  const workloads = [
    ...sources.flatMap((c) => c.workloads.filter((w) => w.kind !== "DaemonSet")),
    ...daemons.map((d) => ({
      ...d,
      replicas: target.nodes,
      business: firstOwner.get(`${d.namespace}/${d.name}`) ?? d.business,
    })),
  ];
  return unitTally(sources[0]?.business ?? "", nodes, workloads);
}

const shared = new Set(defaultSharedNamespaces);
const resources = ["cpu", "memory", "gpu"] as const;
type Resource = (typeof resources)[number];

/** One cluster's (or target's) cost divided among businesses by the rule. */
function unitTally(owner: string, nodes: readonly PricedNodes[], workloads: readonly FleetWorkload[]): Tally {
  const unpriced = new Set(nodes.filter((n) => n.monthlyPrice === undefined).map((n) => n.type));
  const parts = { cpu: 0n, memory: 0n, gpu: 0n };
  for (const n of nodes) {
    if (n.monthlyPrice === undefined || n.count === 0) continue;
    const split = nodeCost(
      {
        cluster: "",
        hour: "",
        node: n.type,
        samples: minutesPerHour,
        allocatable: {
          cpu: Math.round((n.allocatable.cpu ?? 0) * millicoresPerCore) * minutesPerHour,
          memory: Math.round(n.allocatable.memory ?? 0) * minutesPerHour,
          gpu: Math.round(n.allocatable[gpuResource] ?? 0) * minutesPerHour,
        },
      },
      { total: toMicro(n.monthlyPrice) },
    );
    const count = BigInt(n.count);
    parts.cpu += split.cpu * count;
    parts.memory += split.memory * count;
    parts.gpu += split.gpu * count;
  }

  const own = new Map<string, Record<Resource, bigint>>();
  const inShared = new Map<string, Record<Resource, bigint>>();
  for (const w of workloads) {
    if (w.replicas <= 0) continue;
    const into = shared.has(w.namespace) ? inShared : own;
    const held = into.get(w.business) ?? { cpu: 0n, memory: 0n, gpu: 0n };
    const replicas = BigInt(w.replicas);
    held.cpu += BigInt(Math.round(allocatedPerPod(w, "cpu") * millicoresPerCore)) * replicas;
    held.memory += BigInt(Math.round(allocatedPerPod(w, "memory"))) * replicas;
    held.gpu += BigInt(Math.round(allocatedPerPod(w, gpuResource))) * replicas;
    into.set(w.business, held);
  }

  const tally: Tally = { cost: unpriced.size > 0 ? undefined : 0n, unpriced, businesses: new Map() };
  const entry = (business: string) => {
    let e = tally.businesses.get(business);
    if (!e) {
      e = { cpu: 0n, memory: 0n, gpu: 0n, cost: 0n };
      tally.businesses.set(business, e);
    }
    return e;
  };
  for (const [business, held] of own) Object.assign(entry(business), held);
  if (tally.cost === undefined) return tally;
  for (const resource of resources) {
    const part = parts[resource];
    if (part === 0n) continue;
    const claims = claimsOn(own, resource) ?? claimsOn(inShared, resource) ?? [{ key: owner, weight: 1n }];
    const divided = divideByLargestRemainder(part, claims) as bigint[];
    claims.forEach((c, i) => {
      entry(c.key).cost += divided[i] as bigint;
    });
    tally.cost += part;
  }
  return tally;
}

/** max(request, usage) of one pod, where the snapshot carries usage. */
function allocatedPerPod(w: FleetWorkload, resource: string): number {
  return Math.max(w.podRequests[resource] ?? 0, w.podUsage?.[resource] ?? 0);
}

/** Claims on a resource by business (sorted), or undefined when nobody claims any of it. */
function claimsOn(weights: ReadonlyMap<string, Record<Resource, bigint>>, resource: Resource) {
  const claims: Claim[] = [...weights.entries()]
    .map(([key, held]) => ({ key, weight: held[resource] }))
    .filter((c) => c.weight > 0n)
    .sort((a, b) => compareKeys(a.key, b.key));
  return claims.length > 0 ? claims : undefined;
}

/** The policy's monthly price in micro-units (prices are taken to six decimals, halves up). */
export function toMicro(price: number): number {
  const micro = Math.round(price * microUnits);
  if (!Number.isSafeInteger(micro) || micro < 0)
    throw new RangeError(`showback: price ${price} is beyond what micro-units can hold`);
  return micro;
}

function sum(tallies: readonly Tally[]): Tally {
  const out: Tally = { cost: 0n, unpriced: new Set(), businesses: new Map() };
  for (const t of tallies) {
    out.cost = t.cost === undefined || out.cost === undefined ? undefined : out.cost + t.cost;
    for (const type of t.unpriced) out.unpriced.add(type);
    for (const [business, e] of t.businesses) {
      const held = out.businesses.get(business) ?? { cpu: 0n, memory: 0n, gpu: 0n, cost: 0n };
      held.cpu += e.cpu;
      held.memory += e.memory;
      held.gpu += e.gpu;
      held.cost += e.cost;
      out.businesses.set(business, held);
    }
  }
  return out;
}

function sideOf(tally: Tally): ShowbackSide {
  const priced = tally.cost !== undefined;
  return {
    ...(priced ? { monthlyCostMicro: toSafeNumber(tally.cost as bigint) } : {}),
    unpriced: [...tally.unpriced].sort(compareKeys),
    businesses: [...tally.businesses.entries()]
      .sort(([a], [b]) => compareKeys(a, b))
      .map(([business, e]) => ({
        business,
        allocated: { cpu: Number(e.cpu), memory: Number(e.memory), gpu: Number(e.gpu) },
        ...(priced ? { monthlyCostMicro: toSafeNumber(e.cost) } : {}),
      })),
  };
}

/**
 * A priced side in whole currency units, for a table: the total rounded half up, and the businesses' costs
 * divided by largest remainder so that they add up to that total exactly (each within a unit and a half of its
 * exact cost). Undefined when the side is unpriced.
 */
export function inWholeUnits(
  side: ShowbackSide,
): { total: number; businesses: Map<string, number> } | undefined {
  if (side.monthlyCostMicro === undefined) return undefined;
  const units = BigInt(microUnits);
  const total = divideRoundHalfUp(BigInt(side.monthlyCostMicro), units);
  const claims = side.businesses.map((b) => ({ key: b.business, weight: BigInt(b.monthlyCostMicro ?? 0) }));
  const parts = divideByLargestRemainder(total, claims) ?? claims.map(() => 0n);
  return {
    total: toSafeNumber(total),
    businesses: new Map(claims.map((c, i) => [c.key, toSafeNumber(parts[i] as bigint)])),
  };
}
