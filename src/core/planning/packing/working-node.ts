/**
 * A node while a packing is being built: what its pods use, which pods it holds, and its zone, which stays open
 * (−1) until a zone-bound pod lands on it.
 */

import type { PackingProblem } from "./packing-problem.ts";
import type { PackedNode } from "./packing-types.ts";

/** Zone index of a node that no zone-bound pod has pinned yet, or of pods free to go to any zone. */
export const anyZone = -1;

export interface WorkingNode {
  /** Zone index, or `anyZone` while only pods free of zone rules run on it. */
  zone: number;
  /** What its pods request, per resource of the problem. */
  used: Float64Array;
  /** Pods by item index. */
  pods: Map<number, number>;
  /** How many of its pods are zone-bound (they pin its zone). */
  zoneBoundPods: number;
  /** Its load: the scarcity-weighted sum of its pods' shares of a node. */
  load: number;
}

/** Pods of one item that go together to one zone (or to any zone). */
export interface PlacementUnit {
  item: number;
  zone: number;
  count: number;
}

export function emptyNode(problem: PackingProblem, zone = anyZone): WorkingNode {
  return {
    zone,
    used: new Float64Array(problem.resources.length),
    pods: new Map(),
    zoneBoundPods: 0,
    load: 0,
  };
}

/** Whether pods bound to `zone` (or free, `anyZone`) may go on the node. */
export function acceptsZone(node: WorkingNode, zone: number): boolean {
  return zone === anyZone || node.zone === anyZone || node.zone === zone;
}

/** How many more pods of the item fit on the node, by capacity and by its per-node limit (Infinity if unlimited). */
export function copiesThatFit(problem: PackingProblem, node: WorkingNode, item: number): number {
  const limitPerNode = problem.items[item]!.maxPerNode;
  let copies =
    limitPerNode === undefined ? Number.POSITIVE_INFINITY : limitPerNode - (node.pods.get(item) ?? 0);
  const demand = problem.demand[item]!;
  for (let r = 0; r < demand.length; r++) {
    const d = demand[r]!;
    if (d > 0) copies = Math.min(copies, Math.floor((problem.limit[r]! - node.used[r]!) / d));
  }
  return Math.max(0, copies);
}

/**
 * Whether one more pod of the item fits on the node. A node's load plus the pod's weighted share cannot pass 1
 * when the pod fits in every resource (scarcity weights sum to 1), which rules most full nodes out at once.
 */
export function fitsOne(problem: PackingProblem, node: WorkingNode, item: number): boolean {
  if (node.load + problem.weightedShare[item]! > 1 + loadSlack) return false;
  const demand = problem.demand[item]!;
  const used = node.used;
  const limit = problem.limit;
  for (let r = 0; r < demand.length; r++) if (used[r]! + demand[r]! > limit[r]!) return false;
  const limitPerNode = problem.maxPerNode[item]!;
  return limitPerNode === 0 || (node.pods.get(item) ?? 0) < limitPerNode;
}

/** Slack on the load test of `fitsOne`, far above the rounding a load accumulates and the capacity tolerance. */
export const loadSlack = 1e-6;

/** Puts `count` pods of the item on the node; zone-bound pods pin the node to `zone`. */
export function addPods(
  problem: PackingProblem,
  node: WorkingNode,
  item: number,
  zone: number,
  count: number,
): void {
  const demand = problem.demand[item]!;
  for (let r = 0; r < demand.length; r++) node.used[r]! += count * demand[r]!;
  node.pods.set(item, (node.pods.get(item) ?? 0) + count);
  node.load += count * problem.weightedShare[item]!;
  if (problem.zoneBound[item]) {
    node.zoneBoundPods += count;
    node.zone = zone;
  }
}

/** Takes `count` pods of the item off the node; a node left without zone-bound pods is free to move zone again. */
export function removePods(problem: PackingProblem, node: WorkingNode, item: number, count: number): void {
  const demand = problem.demand[item]!;
  for (let r = 0; r < demand.length; r++) node.used[r]! -= count * demand[r]!;
  const left = (node.pods.get(item) ?? 0) - count;
  if (left > 0) node.pods.set(item, left);
  else node.pods.delete(item);
  node.load -= count * problem.weightedShare[item]!;
  if (problem.zoneBound[item]) {
    node.zoneBoundPods -= count;
    if (node.zoneBoundPods === 0) node.zone = anyZone;
  }
}

/**
 * The nodes as a packing reports them: nodes still free of zone-bound pods are dealt to the zones with the fewest
 * nodes (ties: the zone listed first), nodes are listed zone by zone, pods by item, and `used` is summed afresh
 * from the pods.
 */
export function packedNodes(problem: PackingProblem, nodes: readonly WorkingNode[]): PackedNode[] {
  const zoneCount = problem.zones.length;
  const nodesPerZone = new Array<number>(zoneCount).fill(0);
  for (const node of nodes) if (node.zone !== anyZone) nodesPerZone[node.zone]! += 1;
  const zoneOf = nodes.map((node) => {
    if (node.zone !== anyZone) return node.zone;
    const zone = nodesPerZone.indexOf(Math.min(...nodesPerZone));
    nodesPerZone[zone]! += 1;
    return zone;
  });
  return nodes
    .map((node, index) => ({ node, zone: zoneOf[index]! }))
    .sort((a, b) => a.zone - b.zone)
    .map(({ node, zone }) => {
      const pods = [...node.pods.entries()]
        .sort(([a], [b]) => a - b)
        .map(([item, count]) => ({ item, count }));
      return { zone: problem.zones[zone]!, pods, used: usedBy(problem, pods) };
    });
}

function usedBy(
  problem: PackingProblem,
  pods: readonly { item: number; count: number }[],
): Record<string, number> {
  const used: Record<string, number> = Object.fromEntries(problem.resources.map((r) => [r, 0]));
  for (const { item, count } of pods)
    problem.resources.forEach((resource, r) => {
      used[resource]! += count * problem.demand[item]![r]!;
    });
  return used;
}
