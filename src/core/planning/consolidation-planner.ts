/**
 * The consolidation planner: which clusters to merge into which, and how many nodes of which shape each target
 * needs. `planConsolidation(fleet, policy)` is pure and deterministic; every merge made or refused is a decision
 * with the rule and the numbers behind it (`unitfleet explain plan`).
 *
 * How: clusters are partitioned by what may never share a cluster (Location; Region when the policy's scope is
 * Region; environment group; isolated business). Within a partition, clusters are taken largest first; each joins
 * the first target that can absorb it — the version rule and the size limit, estimated from volume — or becomes a
 * target itself. Each target's workloads are then packed onto node shapes (multi-dimensional bin packing, per pool
 * of node-type constraints); a target whose packing breaks the size limit gives back its last-absorbed sources.
 */

import { podRangeShortfall } from "../network/pod-range-fit.ts";
import { environmentClass, type PlanningShape, type ResolvedPolicy } from "./consolidation-policy.ts";
import { businessLoads, type ClusterLoad, clusterLoad, type Figures, figuresOf } from "./figures.ts";
import type { Fleet, FleetCluster, FleetWorkload } from "./fleet-snapshot.ts";
import { packedResource, shapesOf } from "./node-shapes.ts";
import {
  firstFitDecreasing,
  lowerBound,
  type NodeShape,
  type PackItem,
  type PackOptions,
  type PackOutcome,
  packCheapest,
} from "./packing/bin-packing.ts";
import { compareVersions, minorSteps } from "./versions.ts";

export { shapesOf };

/** The rules a plan obeys, by the names plans and explanations use. */
export const planRules = {
  location: "never-cross-locations",
  region: "same-region",
  environments: "isolated-environments",
  businesses: "isolated-businesses",
  size: "max-cluster-size",
  version: "target-not-older",
  shapes: "fits-node-shapes",
  podRange: "fits-pod-range",
} as const;
export type PlanRule = (typeof planRules)[keyof typeof planRules];

/** One decision of the planner about a cluster, with the rule and the numbers behind it. */
export interface Decision {
  cluster: string;
  /** The target it joined, or the one it was refused by. */
  target: string;
  verdict: "target" | "merged" | "refused";
  rule?: PlanRule;
  message: string;
}

/** Nodes of one shape for one pool of a target: its workloads with the same node-type constraints. */
export interface PlannedPool {
  /** `general`, or the constraint: `nodeSelector unitfleet.io/accelerator=gpu`, `nvidia.com/gpu`. */
  name: string;
  shape: string;
  nodes: number;
  lowerBound: number;
  /** Which bound binds, in words. */
  binding: string;
  pods: number;
  /** Each node with the pods it runs (workload id → count) and what they request; only with `keepNodes`. */
  nodeList?: { zone: string; pods: Record<string, number>; used: Record<string, number> }[];
}

export interface PlannedTarget {
  /** The existing cluster that receives the others (the largest of its group). */
  name: string;
  location: string;
  region?: string;
  /** The clusters merged into it, the target first. */
  sources: string[];
  environments: string[];
  businesses: string[];
  zones: string[];
  pools: PlannedPool[];
  nodes: number;
  lowerBound: number;
  /** nodes ÷ lowerBound (1 when both are 0). */
  ratio: number;
  /** The target's version and the upgrades it needs to be at least as new as every source. */
  version: { from: string; to: string; steps: string[] };
  before: Figures;
  after: Figures;
  /** Namespaces that more than one source uses: they meet in the target. */
  conflicts: string[];
  /** Why the cluster could not be planned (kept as it is), if so. */
  unplanned?: string;
}

export interface LocationPlan {
  location: string;
  before: Figures;
  after: Figures;
  merges: number;
  upgrades: number;
}

export interface ConsolidationPlan {
  targets: PlannedTarget[];
  locations: LocationPlan[];
  decisions: Decision[];
}

interface Group {
  partition: string;
  target: FleetCluster;
  sources: FleetCluster[];
  volume: Record<string, number>;
  pods: number;
  version: string;
}

/** Options of a planning run; `onProgress` hears of each target packed (for long plans over big fleets). */
export interface PlanOptions {
  onProgress?: (packed: number, targets: number) => void;
  /** Keep every node of every pool in the plan (for checks; large fleets make this large). */
  keepNodes?: boolean;
  /** The packer: the planner's own (default), or first-fit-decreasing, the baseline benchmarks compare with. */
  packer?: Packer;
}

export type Packer = "planner" | "first-fit-decreasing";

/** Plans the consolidation of a fleet under a policy. */
export function planConsolidation(
  fleet: Fleet,
  policy: ResolvedPolicy,
  options: PlanOptions = {},
): ConsolidationPlan {
  const decisions: Decision[] = [];
  const shapesByLocation = new Map(fleet.locations.map((l) => [l.name, shapesOf(fleet, policy, l.name)]));
  const partitions = new Map<string, FleetCluster[]>();
  for (const cluster of fleet.clusters) {
    const key = partitionOf(policy, cluster);
    partitions.set(key, [...(partitions.get(key) ?? []), cluster]);
  }

  const groups: Group[] = [];
  for (const key of [...partitions.keys()].sort()) {
    const members = (partitions.get(key) ?? []).slice().sort(largestFirst);
    const inPartition: Group[] = [];
    for (const cluster of members) {
      const shapes = shapesByLocation.get(cluster.location) ?? [];
      const joined = inPartition.find((group) => {
        const refusal = refusalToAbsorb(policy, group, cluster, shapes);
        if (refusal)
          decisions.push({
            cluster: cluster.name,
            target: group.target.name,
            verdict: "refused",
            ...refusal,
          });
        return !refusal;
      });
      if (joined) absorb(joined, cluster);
      else inPartition.push(newGroup(key, cluster));
    }
    groups.push(...inPartition);
  }

  const targets: PlannedTarget[] = [];
  const afterLoads = new Map<string, ClusterLoad>();
  const queue = [...groups];
  while (queue.length > 0) {
    const group = queue.shift() as Group;
    const planned = planTarget(
      fleet,
      policy,
      group,
      shapesByLocation.get(group.target.location) ?? [],
      options,
    );
    const overSize =
      planned.unplanned === undefined && sizeProblem(policy, planned.nodes, planned.after.pods);
    const outgrown =
      planned.unplanned === undefined && !overSize && group.sources.length > 1
        ? podRangeProblem(group.target, planned.nodes)
        : undefined;
    if ((overSize || planned.unplanned || outgrown) && group.sources.length > 1) {
      const last = group.sources.pop() as FleetCluster;
      decisions.push({
        cluster: last.name,
        target: group.target.name,
        verdict: "refused",
        rule: overSize ? planRules.size : outgrown ? planRules.podRange : planRules.shapes,
        message: overSize
          ? `with it, ${group.target.name} would need ${counted(planned.nodes, "node")} and ${counted(planned.after.pods, "pod")}: ${overSize}`
          : outgrown
            ? `with it, ${group.target.name} would need ${counted(planned.nodes, "node")}: ${outgrown}`
            : `with it, ${group.target.name} cannot be packed: ${planned.unplanned}`,
      });
      queue.unshift(recomputed(group), newGroup(group.partition, last));
      continue;
    }
    const { afterLoad, ...plannedTarget } = planned;
    targets.push(plannedTarget);
    options.onProgress?.(targets.length, targets.length + queue.length);
    afterLoads.set(planned.name, afterLoad);
  }
  targets.sort((a, b) => a.location.localeCompare(b.location) || a.name.localeCompare(b.name));

  for (const t of targets)
    t.sources.forEach((source, i) => {
      decisions.push({
        cluster: source,
        target: t.name,
        verdict: i === 0 ? "target" : "merged",
        message:
          i === 0
            ? t.sources.length > 1
              ? `largest of its group: receives ${t.sources.slice(1).join(", ")}`
              : "nothing to merge it with: kept, resized to its workloads"
            : `same Location${policy.scope === "Region" ? " and Region" : ""}, environment group and business class as ${t.name}; the merged cluster needs ${counted(t.nodes, "node")} (limit ${policy.maxClusterSize.nodes}) and ${counted(t.after.pods, "pod")} (limit ${policy.maxClusterSize.pods})`,
      });
    });
  decisions.push(...crossPartitionRefusals(fleet, policy, targets));
  decisions.sort(
    (a, b) =>
      a.cluster.localeCompare(b.cluster) ||
      verdictOrder[a.verdict] - verdictOrder[b.verdict] ||
      a.target.localeCompare(b.target),
  );

  return { targets, locations: locationPlans(fleet, shapesByLocation, targets, afterLoads), decisions };
}

/** "1 node", "3 nodes". */
export const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

const verdictOrder = { target: 0, merged: 1, refused: 2 } as const;

function largestFirst(a: FleetCluster, b: FleetCluster): number {
  return (
    b.nodes.length - a.nodes.length ||
    podsOf(b.workloads) - podsOf(a.workloads) ||
    a.name.localeCompare(b.name)
  );
}

const podsOf = (workloads: readonly FleetWorkload[]) => workloads.reduce((n, w) => n + w.replicas, 0);

function partitionOf(policy: ResolvedPolicy, cluster: FleetCluster): string {
  const region = policy.scope === "Region" ? (cluster.region ?? "-") : "";
  const business = policy.isolation.businesses.includes(cluster.business)
    ? `only-${cluster.business}`
    : "shared";
  return [cluster.location, region, environmentClass(policy, cluster.environment), business].join("|");
}

function newGroup(partition: string, cluster: FleetCluster): Group {
  const group: Group = {
    partition,
    target: cluster,
    sources: [],
    volume: {},
    pods: 0,
    version: cluster.kubernetesVersion,
  };
  absorb(group, cluster);
  return group;
}

function recomputed(group: Group): Group {
  const [first, ...rest] = group.sources as [FleetCluster, ...FleetCluster[]];
  const fresh = newGroup(group.partition, first);
  for (const source of rest) absorb(fresh, source);
  return fresh;
}

function absorb(group: Group, cluster: FleetCluster): void {
  group.sources.push(cluster);
  for (const w of cluster.workloads) {
    if (w.kind === "DaemonSet") continue;
    group.pods += w.replicas;
    for (const [resource, value] of Object.entries(w.podRequests))
      if (packedResource(resource))
        group.volume[resource] = (group.volume[resource] ?? 0) + value * w.replicas;
  }
  if (compareVersions(cluster.kubernetesVersion, group.version) > 0)
    group.version = cluster.kubernetesVersion;
}

/** Why `group` may not absorb `cluster`, by the version rule or the size limit (estimated from volume). */
function refusalToAbsorb(
  policy: ResolvedPolicy,
  group: Group,
  cluster: FleetCluster,
  shapes: readonly PlanningShape[],
): { rule: PlanRule; message: string } | undefined {
  if (
    !policy.versions.upgradeTargets &&
    compareVersions(cluster.kubernetesVersion, group.target.kubernetesVersion) > 0
  )
    return {
      rule: planRules.version,
      message: `${cluster.name} runs ${cluster.kubernetesVersion}, newer than ${group.target.name} (${group.target.kubernetesVersion}): its workloads would move to an older version, and versions.upgradeTargets is false`,
    };
  const pods = group.pods + podsOf(cluster.workloads.filter((w) => w.kind !== "DaemonSet"));
  const volume = { ...group.volume };
  for (const w of cluster.workloads) {
    if (w.kind === "DaemonSet") continue;
    for (const [resource, value] of Object.entries(w.podRequests))
      if (packedResource(resource)) volume[resource] = (volume[resource] ?? 0) + value * w.replicas;
  }
  const nodes = volumeEstimate(volume, shapes, policy.headroomPercent);
  const problem = sizeProblem(policy, nodes, pods);
  if (problem)
    return {
      rule: planRules.size,
      message: `with it, ${group.target.name} would need at least ${counted(nodes, "node")} and ${counted(pods, "pod")}: ${problem}`,
    };
  const outgrown = podRangeProblem(group.target, nodes);
  return outgrown
    ? {
        rule: planRules.podRange,
        message: `with it, ${group.target.name} would need at least ${counted(nodes, "node")}: ${outgrown}`,
      }
    : undefined;
}

/**
 * Why the target's pod range cannot hold `nodes` nodes, with the range it would need; undefined when it can or the
 * target states no range. A pod range cannot grow in place (docs/network-plan.md).
 */
function podRangeProblem(target: FleetCluster, nodes: number): string | undefined {
  if (!target.network) return undefined;
  const shortfall = podRangeShortfall(target.network, nodes);
  if (!shortfall) return undefined;
  const source = target.network.source === "observed" ? "declared by the cluster" : "from the network plan";
  return `its pod range ${shortfall.range.join(",")} (${shortfall.family}, ${source}) holds ${counted(shortfall.holds, "node")} at /${shortfall.nodeMask} per node: it would need a /${shortfall.needsPrefix}`;
}

/** The fewest nodes of the largest general shape that hold a volume of requests (a lower estimate). */
function volumeEstimate(
  volume: Record<string, number>,
  shapes: readonly PlanningShape[],
  headroomPercent: number,
): number {
  const general = shapes.filter((s) => !Object.keys(s.allocatable).some((r) => r.includes("/")));
  const shape = [...(general.length > 0 ? general : shapes)].sort(
    (a, b) => (b.allocatable.cpu ?? 0) - (a.allocatable.cpu ?? 0) || a.name.localeCompare(b.name),
  )[0];
  if (!shape) return 0;
  let nodes = 0;
  for (const resource of ["cpu", "memory", "pods"]) {
    const usable = (shape.allocatable[resource] ?? 0) * (1 - headroomPercent / 100);
    if (usable > 0) nodes = Math.max(nodes, Math.ceil((volume[resource] ?? 0) / usable - 1e-9));
  }
  return nodes;
}

function sizeProblem(policy: ResolvedPolicy, nodes: number, pods: number): string | undefined {
  const limit = policy.maxClusterSize;
  if (nodes > limit.nodes)
    return `more than the ${limit.nodes} nodes the policy allows (maxClusterSize.nodes)`;
  if (pods > limit.pods) return `more than the ${limit.pods} pods the policy allows (maxClusterSize.pods)`;
  return undefined;
}

/** A pool: workloads with the same node-type constraints, and the shapes that may carry them. */
interface Pool {
  name: string;
  items: PackItem[];
  shapes: PlanningShape[];
}

function poolsOf(
  workloads: readonly { cluster: string; w: FleetWorkload }[],
  shapes: readonly PlanningShape[],
): Pool[] {
  const pools = new Map<string, Pool>();
  for (const { cluster, w } of workloads) {
    const extended = Object.keys(w.podRequests)
      .filter((r) => r.includes("/") && (w.podRequests[r] ?? 0) > 0)
      .sort();
    const selector = Object.entries(w.nodeSelector ?? {}).sort(([a], [b]) => a.localeCompare(b));
    const name =
      [
        ...(selector.length > 0 ? [`nodeSelector ${selector.map(([k, v]) => `${k}=${v}`).join(",")}`] : []),
        ...extended,
      ].join(" ") || "general";
    let pool = pools.get(name);
    if (!pool) {
      const matching = shapes.filter(
        (s) =>
          selector.every(([k, v]) => s.labels[k] === v) && extended.every((r) => (s.allocatable[r] ?? 0) > 0),
      );
      const plain = matching.filter((s) => !Object.keys(s.allocatable).some((r) => r.includes("/")));
      pool = { name, items: [], shapes: extended.length === 0 && plain.length > 0 ? plain : matching };
      pools.set(name, pool);
    }
    pool.items.push({
      id: `${cluster}/${w.namespace}/${w.kind}/${w.name}`,
      count: w.replicas,
      demand: Object.fromEntries(Object.entries(w.podRequests).filter(([r]) => packedResource(r))),
      ...(w.antiAffinity === "hostname" ? { maxPerNode: 1 } : {}),
      ...(w.antiAffinity === "zone" ? { maxPerZone: 1 } : {}),
      ...(w.zoneMaxSkew !== undefined ? { zoneMaxSkew: w.zoneMaxSkew } : {}),
    });
  }
  return [...pools.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Per-node requests of the DaemonSets of a set of clusters (one per namespace/name, the largest requests). */
export function daemonOverhead(sources: readonly FleetCluster[]): {
  perNode: Record<string, number>;
  daemons: FleetWorkload[];
} {
  const daemons = new Map<string, FleetWorkload>();
  for (const c of sources)
    for (const w of c.workloads) {
      if (w.kind !== "DaemonSet") continue;
      const key = `${w.namespace}/${w.name}`;
      const held = daemons.get(key);
      const merged: Record<string, number> = { ...(held?.podRequests ?? {}) };
      for (const [r, v] of Object.entries(w.podRequests)) merged[r] = Math.max(merged[r] ?? 0, v);
      daemons.set(key, { ...w, podRequests: merged });
    }
  const perNode: Record<string, number> = {};
  for (const d of daemons.values())
    for (const [r, v] of Object.entries(d.podRequests))
      if (packedResource(r)) perNode[r] = (perNode[r] ?? 0) + v;
  return { perNode, daemons: [...daemons.values()] };
}

function planTarget(
  fleet: Fleet,
  policy: ResolvedPolicy,
  group: Group,
  shapes: readonly PlanningShape[],
  options: PlanOptions,
): PlannedTarget & { afterLoad: ClusterLoad } {
  const target = group.target;
  const sources = group.sources;
  const location = fleet.locations.find((l) => l.name === target.location);
  const zones = [...new Set(sources.flatMap((s) => s.zones))].sort();
  const planZones =
    zones.length > 0 ? zones : location && location.zones.length > 0 ? location.zones : ["default"];
  const workloads = sources.flatMap((c) =>
    c.workloads.filter((w) => w.kind !== "DaemonSet" && w.replicas > 0).map((w) => ({ cluster: c.name, w })),
  );
  const { perNode, daemons } = daemonOverhead(sources);
  const packed = packWorkloads(
    workloads,
    shapes,
    perNode,
    planZones,
    policy.headroomPercent,
    target.location,
    options,
  );
  const pools = packed.ok ? packed.pools : [];
  const unplanned = packed.ok ? undefined : packed.reason;
  const totals = locationBusinessTotals(fleet, target.location);
  const price = priceBook(shapes);
  const before = figuresOf(
    sources.map((s) => clusterLoad(s, (_, type) => price(type))),
    totals,
  );
  const nodes = pools.reduce((n, p) => n + p.nodes, 0);
  const lowerBound = pools.reduce((n, p) => n + p.lowerBound, 0);
  const afterLoad: ClusterLoad = unplanned
    ? { ...clusterLoad(target, (_, type) => price(type)), name: target.name }
    : {
        name: target.name,
        location: target.location,
        nodes,
        allocatable: packed.ok ? packed.allocatable : { cpu: 0, memory: 0 },
        ...(packed.ok && packed.monthlyCost !== undefined ? { monthlyCost: packed.monthlyCost } : {}),
        businesses: businessLoads([
          ...workloads.map(({ w }) => w),
          ...daemons.map((d) => ({ ...d, replicas: nodes })),
        ]),
      };
  const versionTo = policy.versions.upgradeTargets ? group.version : target.kubernetesVersion;
  return {
    name: target.name,
    location: target.location,
    ...(target.region ? { region: target.region } : {}),
    sources: sources.map((s) => s.name),
    environments: [...new Set(sources.map((s) => s.environment))].sort(),
    businesses: [
      ...new Set(sources.flatMap((s) => [s.business, ...s.workloads.map((w) => w.business)])),
    ].sort(),
    zones: planZones,
    pools,
    nodes: unplanned ? target.nodes.length : nodes,
    lowerBound: unplanned ? target.nodes.length : lowerBound,
    ratio: unplanned || lowerBound === 0 ? 1 : nodes / lowerBound,
    version: {
      from: target.kubernetesVersion,
      to: versionTo,
      steps: minorSteps(target.kubernetesVersion, versionTo),
    },
    before,
    after: figuresOf([afterLoad], totals),
    conflicts: namespaceConflicts(sources),
    ...(unplanned ? { unplanned } : {}),
    afterLoad,
  };
}

/** Workloads packed into pools of nodes, with what the nodes offer and cost; or why they cannot be. */
export type PackedWorkloads =
  | {
      ok: true;
      pools: PlannedPool[];
      allocatable: { cpu: number; memory: number };
      /** Absent when a shape in use has no price. */
      monthlyCost?: number;
    }
  | { ok: false; reason: string };

/**
 * Packs workloads (with the cluster each comes from) onto the cheapest shapes, one pool per node-type
 * constraint; every node also carries `perNode` (the DaemonSets) and keeps the headroom free.
 */
export function packWorkloads(
  workloads: readonly { cluster: string; w: FleetWorkload }[],
  shapes: readonly PlanningShape[],
  perNode: Readonly<Record<string, number>>,
  zones: readonly string[],
  headroomPercent: number,
  location: string,
  options: Pick<PlanOptions, "keepNodes" | "packer"> = {},
): PackedWorkloads {
  const keepNodes = options.keepNodes ?? false;
  const cheapest = options.packer === "first-fit-decreasing" ? cheapestFirstFit : packCheapest;
  const pools: PlannedPool[] = [];
  const allocatable = { cpu: 0, memory: 0 };
  let cost: number | undefined = 0;
  for (const pool of poolsOf(workloads, shapes)) {
    const packShapes: NodeShape[] = pool.shapes.flatMap((s) => {
      const left: Record<string, number> = { ...s.allocatable };
      for (const [r, v] of Object.entries(perNode)) left[r] = (left[r] ?? 0) - v;
      return Object.values(left).some((v) => v < 0)
        ? []
        : [{ name: s.name, allocatable: left, monthlyPrice: s.monthlyPrice ?? nominalPrice(s) }];
    });
    if (packShapes.length === 0)
      return {
        ok: false,
        reason: `no node shape offered in ${location} can carry the ${pool.name} pool${pool.name === "general" ? "" : " (node-type constraint)"}`,
      };
    const outcome = cheapest(pool.items, packShapes, { zones, headroomPercent });
    if (!outcome.ok) {
      const first = outcome.unfit[0];
      return {
        ok: false,
        reason: `${pool.items[first?.item ?? 0]?.id ?? pool.name}: ${first?.reason ?? "does not fit"}`,
      };
    }
    const packing = outcome.packing;
    const shape = shapes.find((s) => s.name === packing.shape) as PlanningShape;
    const nodes = packing.nodes.length;
    pools.push({
      name: pool.name,
      shape: packing.shape,
      nodes,
      lowerBound: packing.lowerBound.nodes,
      binding: packing.lowerBound.binding,
      pods: pool.items.reduce((n, i) => n + i.count, 0),
      ...(keepNodes
        ? {
            nodeList: packing.nodes.map((node) => ({
              zone: node.zone,
              pods: Object.fromEntries(node.pods.map((p) => [pool.items[p.item]?.id ?? "", p.count])),
              used: node.used,
            })),
          }
        : {}),
    });
    allocatable.cpu += nodes * (shape.allocatable.cpu ?? 0);
    allocatable.memory += nodes * (shape.allocatable.memory ?? 0);
    // In whole micro-units, as showback divides it (figures.ts sums the same way).
    cost =
      shape.monthlyPrice === undefined || cost === undefined
        ? undefined
        : cost + nodes * Math.round(shape.monthlyPrice * 1_000_000);
  }
  return { ok: true, pools, allocatable, ...(cost !== undefined ? { monthlyCost: cost / 1_000_000 } : {}) };
}

/**
 * The baseline: first-fit-decreasing on the shape whose lower bound costs least (the shape the planner's own
 * packer nearly always ends on), so that node counts compare.
 */
function cheapestFirstFit(
  items: readonly PackItem[],
  shapes: readonly NodeShape[],
  options: PackOptions,
): PackOutcome {
  const byBoundCost = shapes
    .map((shape) => ({ shape, cost: lowerBound(items, shape, options).nodes * shape.monthlyPrice }))
    .sort((a, b) => a.cost - b.cost || a.shape.name.localeCompare(b.shape.name));
  for (const { shape } of byBoundCost) {
    const outcome = firstFitDecreasing(items, shape, options);
    if (outcome.ok) return outcome;
  }
  return packCheapest(items, shapes, options);
}

/**
 * What an unpriced shape costs when shapes are compared: its capacity, a core weighing as much as 4 GiB (the
 * usual ratio of cloud prices) and a unit of an extended resource (a GPU) as much as 10 cores. Only used to
 * choose between shapes; plans show unpriced shapes as unpriced.
 */
function nominalPrice(shape: PlanningShape): number {
  let price = (shape.allocatable.cpu ?? 0) + (shape.allocatable.memory ?? 0) / 2 ** 32;
  for (const [resource, amount] of Object.entries(shape.allocatable))
    if (resource.includes("/")) price += 10 * amount;
  return price;
}

/** Price per node by shape name, from the shapes offered (undefined when unpriced or unknown). */
export function priceBook(
  shapes: readonly PlanningShape[],
): (instanceType: string | undefined) => number | undefined {
  const prices = new Map(shapes.map((s) => [s.name, s.monthlyPrice]));
  return (type) => (type === undefined ? undefined : prices.get(type));
}

function locationBusinessTotals(fleet: Fleet, location: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const c of fleet.clusters)
    if (c.location === location)
      for (const w of c.workloads)
        if (w.kind !== "DaemonSet") totals.set(w.business, (totals.get(w.business) ?? 0) + w.replicas);
  return totals;
}

/** Workloads a team deploys itself: not DaemonSets (every cluster runs its own), not in kube-* namespaces. */
const placedByTheTeam = (w: FleetWorkload) => w.kind !== "DaemonSet" && !w.namespace.startsWith("kube-");

function namespaceConflicts(sources: readonly FleetCluster[]): string[] {
  const owners = new Map<string, string[]>();
  for (const s of sources)
    for (const ns of new Set(s.workloads.filter(placedByTheTeam).map((w) => w.namespace)))
      owners.set(ns, [...(owners.get(ns) ?? []), s.name]);
  return [...owners.entries()]
    .filter(([, clusters]) => clusters.length > 1)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ns, clusters]) => `namespace ${ns} is used in ${clusters.join(" and ")}`);
}

/**
 * Refusals between a cluster and the targets of other partitions: in its Location, the rule that keeps them
 * apart; across Locations, for a cluster left on its own, the targets it would otherwise have joined.
 */
function crossPartitionRefusals(
  fleet: Fleet,
  policy: ResolvedPolicy,
  targets: readonly PlannedTarget[],
): Decision[] {
  const clusters = new Map(fleet.clusters.map((c) => [c.name, c]));
  const partitionOfTarget = new Map(
    targets.map((t) => [t.name, partitionOf(policy, clusters.get(t.name) as FleetCluster)]),
  );
  const groupOf = new Map(targets.flatMap((t) => t.sources.map((s) => [s, t.name] as const)));
  const out: Decision[] = [];
  for (const cluster of fleet.clusters) {
    const own = partitionOf(policy, cluster);
    const alone = targets.some((t) => t.name === cluster.name && t.sources.length === 1);
    for (const t of targets) {
      if (groupOf.get(cluster.name) === t.name || partitionOfTarget.get(t.name) === own) continue;
      const target = clusters.get(t.name) as FleetCluster;
      const sameLocation = target.location === cluster.location;
      if (!sameLocation) {
        const otherwiseSame =
          environmentClass(policy, target.environment) === environmentClass(policy, cluster.environment) &&
          partitionOf(policy, { ...target, location: cluster.location, region: cluster.region }) === own;
        if (alone && otherwiseSame)
          out.push({
            cluster: cluster.name,
            target: t.name,
            verdict: "refused",
            rule: planRules.location,
            message: `${cluster.name} is in ${cluster.location}, ${t.name} in ${target.location}: merges never cross Locations (user data stays in its Location)`,
          });
        continue;
      }
      out.push({
        cluster: cluster.name,
        target: t.name,
        verdict: "refused",
        ...partitionRefusal(policy, cluster, target),
      });
    }
  }
  return out;
}

function partitionRefusal(
  policy: ResolvedPolicy,
  cluster: FleetCluster,
  target: FleetCluster,
): { rule: PlanRule; message: string } {
  if (policy.scope === "Region" && (cluster.region ?? "-") !== (target.region ?? "-"))
    return {
      rule: planRules.region,
      message: `${cluster.name} is in Region ${cluster.region ?? "(none)"}, ${target.name} in ${target.region ?? "(none)"}, and the policy's scope is Region`,
    };
  if (environmentClass(policy, cluster.environment) !== environmentClass(policy, target.environment)) {
    const group = policy.isolation.environmentGroups.find(
      (g) => g.includes(cluster.environment) || g.includes(target.environment),
    );
    return {
      rule: planRules.environments,
      message: `${cluster.name} is ${cluster.environment}, ${target.name} is ${target.environment}: ${group?.join("/") ?? "these environments"} never share a cluster with other environments`,
    };
  }
  const isolated = [cluster.business, target.business].find((b) => policy.isolation.businesses.includes(b));
  return {
    rule: planRules.businesses,
    message: `${cluster.name} serves ${cluster.business}, ${target.name} serves ${target.business}: business ${isolated ?? cluster.business} never shares a cluster with another business`,
  };
}

function locationPlans(
  fleet: Fleet,
  shapesByLocation: ReadonlyMap<string, PlanningShape[]>,
  targets: readonly PlannedTarget[],
  afterLoads: ReadonlyMap<string, ClusterLoad>,
): LocationPlan[] {
  return fleet.locations.map((l) => {
    const price = priceBook(shapesByLocation.get(l.name) ?? []);
    const mine = targets.filter((t) => t.location === l.name);
    return {
      location: l.name,
      before: figuresOf(
        fleet.clusters
          .filter((c) => c.location === l.name)
          .map((c) => clusterLoad(c, (_, type) => price(type))),
      ),
      after: figuresOf(mine.flatMap((t) => afterLoads.get(t.name) ?? [])),
      merges: mine.reduce((n, t) => n + t.sources.length - 1, 0),
      upgrades: mine.filter((t) => t.version.steps.length > 0).length,
    };
  });
}
