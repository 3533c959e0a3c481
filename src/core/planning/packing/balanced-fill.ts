/**
 * Balanced fill of a fixed number of nodes: each pod goes where it adds least to the node's squared, scarcity-
 * weighted load, so that nodes fill alike and pods that need different resources end up side by side.
 */
import { placeOpeningNodes } from "./best-fit.ts";
import { MinHeap } from "./min-heap.ts";
import type { PackingProblem } from "./packing-problem.ts";
import {
  acceptsZone,
  addPods,
  copiesThatFit,
  emptyNode,
  fitsOne,
  type PlacementUnit,
  type WorkingNode,
} from "./working-node.ts";

/**
 * Fills `nodeCount` nodes with the units in their order (largest first), spreading each unit's pods over the
 * nodes so as to keep their weighted load vectors short; pods that no node holds go by best fit onto new nodes.
 * Returns the nodes that got pods.
 */
export function balancedFill(
  problem: PackingProblem,
  units: readonly PlacementUnit[],
  nodeCount: number,
): WorkingNode[] {
  const nodes = Array.from({ length: nodeCount }, () => emptyNode(problem));
  for (const unit of units) {
    const left = spreadOver(problem, nodes, unit);
    if (left > 0) placeOpeningNodes(problem, nodes, { ...unit, count: left });
  }
  return nodes.filter((node) => node.pods.size > 0);
}

/**
 * Spreads the unit's pods over the nodes that hold them. Adding a pod of demand d to a node of load L grows
 * Σ_r w_r (L_r + d_r)² by 2 Σ_r w_r d_r L_r + Σ_r w_r d_r²: the pod goes where Σ_r w_r d_r L_r, its alignment with
 * the node's load, is least. Each pod raises its node's alignment by the same step, so pods go in runs: as many
 * as keep that node lowest. Returns the pods that fit nowhere.
 */
function spreadOver(problem: PackingProblem, nodes: readonly WorkingNode[], unit: PlacementUnit): number {
  const { item, zone } = unit;
  const weighted = weightedDemand(problem, item);
  const step = weighted.reduce((sum, w, r) => sum + w * problem.share[item]![r]!, 0);
  const keys: number[] = [];
  const ids: number[] = [];
  nodes.forEach((node, j) => {
    if (!acceptsZone(node, zone) || !fitsOne(problem, node, item)) return;
    keys.push(alignment(weighted, node, problem));
    ids.push(j);
  });
  const heap = MinHeap.of(keys, ids);
  let left = unit.count;
  while (left > 0 && heap.size > 0) {
    const { key, id } = heap.pop()!;
    const node = nodes[id]!;
    const run = step > 0 ? Math.floor((heap.peekKey() - key) / step) + 1 : left;
    const copies = Math.min(left, run, copiesThatFit(problem, node, item));
    addPods(problem, node, item, zone, copies);
    left -= copies;
    if (fitsOne(problem, node, item)) heap.push(key + copies * step, id);
  }
  return left;
}

/** Per resource: the pod's share of a node, weighted by the resource's scarcity. */
function weightedDemand(problem: PackingProblem, item: number): Float64Array {
  return problem.share[item]!.map((share, r) => problem.scarcity[r]! * share);
}

function alignment(weighted: Float64Array, node: WorkingNode, problem: PackingProblem): number {
  let sum = 0;
  for (let r = 0; r < weighted.length; r++) sum += (weighted[r]! * node.used[r]!) / problem.usable[r]!;
  return sum;
}
