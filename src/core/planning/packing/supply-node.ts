/**
 * A node of a supply packing while it is built: its kind (owned group or catalog shape), its zone (a new node's
 * stays open until a zone-bound pod lands on it), what its pods use and which pods it holds. A node holding a pod
 * over its usable capacity (the solo rule, `supply-problem.ts`) holds that pod alone.
 */
import { alone, openZone, type SupplyProblem, sharing } from "./supply-problem.ts";
import type { SupplyNodePlan } from "./supply-types.ts";

export interface SupplyWorkingNode {
  kind: number;
  /** Zone index; `openZone` for a new node no zone-bound pod has pinned yet. */
  zone: number;
  used: Float64Array;
  /** Pods by item index. */
  pods: Map<number, number>;
  podCount: number;
  zoneBoundPods: number;
  /** Scarcity-weighted share of its usable capacity in use. */
  load: number;
  /** Whether it holds one pod over its usable capacity, which no other pod may join. */
  solo: boolean;
}

/** Pods of one item that go together to one zone (`openZone`: any zone). */
export interface SupplyUnit {
  item: number;
  zone: number;
  count: number;
}

export function newNode(problem: SupplyProblem, kind: number, zone: number): SupplyWorkingNode {
  const k = problem.kinds[kind]!;
  return {
    kind,
    zone: k.owned ? k.zone : zone,
    used: new Float64Array(problem.resources.length),
    pods: new Map(),
    podCount: 0,
    zoneBoundPods: 0,
    load: 0,
    solo: false,
  };
}

/** Whether pods bound to `zone` (or free, `openZone`) may go on the node. */
export function acceptsZone(problem: SupplyProblem, node: SupplyWorkingNode, zone: number): boolean {
  if (zone === openZone || node.zone === zone) return true;
  return node.zone === openZone && zone < problem.newNodeZones;
}

/** How many more pods of the item may share the node (0 on a solo node or a kind it may not share). */
export function copiesThatFit(problem: SupplyProblem, node: SupplyWorkingNode, item: number): number {
  if (node.solo || problem.mode[item * problem.kinds.length + node.kind] !== sharing) return 0;
  const perNode = problem.maxPerNode[item]!;
  let copies = perNode === 0 ? Number.POSITIVE_INFINITY : perNode - (node.pods.get(item) ?? 0);
  const demand = problem.demand[item]!;
  const limit = problem.kinds[node.kind]!.limit;
  for (let r = 0; r < demand.length; r++) {
    const d = demand[r]!;
    if (d > 0) copies = Math.min(copies, Math.floor((limit[r]! - node.used[r]!) / d));
  }
  return Math.max(0, copies);
}

/** Whether one pod of the item may run alone on an empty node of the kind (it may not share it). */
export function runsAlone(problem: SupplyProblem, kind: number, item: number): boolean {
  return problem.mode[item * problem.kinds.length + kind] === alone;
}

/** Puts `count` pods of the item on the node; zone-bound pods pin a new node to `zone`. */
export function addPods(
  problem: SupplyProblem,
  node: SupplyWorkingNode,
  item: number,
  zone: number,
  count: number,
): void {
  const demand = problem.demand[item]!;
  const weight = problem.kinds[node.kind]!.loadWeight;
  let load = 0;
  for (let r = 0; r < demand.length; r++) {
    node.used[r]! += count * demand[r]!;
    load += demand[r]! * weight[r]!;
  }
  if (node.podCount === 0 && runsAlone(problem, node.kind, item)) node.solo = true;
  node.pods.set(item, (node.pods.get(item) ?? 0) + count);
  node.podCount += count;
  node.load += count * load;
  if (problem.zoneBound[item]) {
    node.zoneBoundPods += count;
    if (zone !== openZone) node.zone = zone;
  }
}

/** Takes `count` pods of the item off the node; a new node left without zone-bound pods is free to move zone. */
export function removePods(
  problem: SupplyProblem,
  node: SupplyWorkingNode,
  item: number,
  count: number,
): void {
  const demand = problem.demand[item]!;
  const weight = problem.kinds[node.kind]!.loadWeight;
  let load = 0;
  for (let r = 0; r < demand.length; r++) {
    node.used[r]! -= count * demand[r]!;
    load += demand[r]! * weight[r]!;
  }
  const left = (node.pods.get(item) ?? 0) - count;
  if (left > 0) node.pods.set(item, left);
  else node.pods.delete(item);
  node.podCount -= count;
  node.load -= count * load;
  if (node.podCount === 0) {
    node.solo = false;
    node.load = 0;
    node.used.fill(0);
  }
  if (problem.zoneBound[item]) {
    node.zoneBoundPods -= count;
    if (node.zoneBoundPods === 0 && !problem.kinds[node.kind]!.owned) node.zone = openZone;
  }
}

/**
 * The nodes as a packing reports them. Owned nodes take the names of their kind in supply order; a new node still
 * free of zone-bound pods goes to the zone of `options.zones` with the fewest nodes (ties: the zone listed first).
 * Owned nodes come first, in supply order, then new nodes by zone, shape and order of opening; pods by item; `used`
 * is summed afresh from the pods.
 */
export function plannedNodes(
  problem: SupplyProblem,
  nodes: readonly SupplyWorkingNode[],
  ownedOrder: ReadonlyMap<string, number>,
): SupplyNodePlan[] {
  const perZone = new Array<number>(problem.zones.length).fill(0);
  for (const node of nodes) if (node.zone !== openZone) perZone[node.zone]! += 1;
  const nextName = new Int32Array(problem.kinds.length);
  const placed = nodes.map((node, index) => {
    const kind = problem.kinds[node.kind]!;
    let zone = node.zone;
    if (zone === openZone) {
      zone = 0;
      for (let z = 1; z < problem.newNodeZones; z++) if (perZone[z]! < perZone[zone]!) zone = z;
      perZone[zone]! += 1;
    }
    const owned = kind.owned ? kind.names[nextName[node.kind]!++] : undefined;
    return { node, index, zone, owned };
  });
  placed.sort((a, b) => {
    if (a.owned !== undefined || b.owned !== undefined) {
      if (a.owned === undefined) return 1;
      if (b.owned === undefined) return -1;
      return ownedOrder.get(a.owned)! - ownedOrder.get(b.owned)!;
    }
    const shapeA = problem.kinds[a.node.kind]!.shape;
    const shapeB = problem.kinds[b.node.kind]!.shape;
    return a.zone - b.zone || (shapeA < shapeB ? -1 : shapeA > shapeB ? 1 : 0) || a.index - b.index;
  });
  return placed.map(({ node, zone, owned }) => {
    const pods = [...node.pods.entries()].sort(([a], [b]) => a - b).map(([item, count]) => ({ item, count }));
    const used: Record<string, number> = {};
    problem.resources.forEach((resource, r) => {
      let sum = 0;
      for (const { item, count } of pods) sum += count * problem.demand[item]![r]!;
      used[resource] = sum;
    });
    return {
      ...(owned !== undefined ? { owned } : {}),
      shape: problem.kinds[node.kind]!.shape,
      zone: problem.zones[zone]!,
      pods,
      used,
    };
  });
}

/**
 * What a node's pods hold in all, measured against the largest node (scarcity-weighted shares of its usable
 * capacity): the least of it is the easiest to move, and small nodes come before large ones at equal load.
 */
export function contentOf(problem: SupplyProblem, node: SupplyWorkingNode): number {
  const weight = problem.kindWeight[node.kind]!;
  let content = 0;
  for (let r = 0; r < node.used.length; r++) content += weight[r]! * node.used[r]!;
  return content;
}
