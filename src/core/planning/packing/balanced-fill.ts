/**
 * Balanced fill of a fixed number of nodes: each pod goes where it adds least to the node's squared, scarcity-
 * weighted load, so that nodes fill alike and pods that need different resources end up side by side.
 */
import { placeOpeningNodes } from "./best-fit.ts";
import { MinHeap } from "./min-heap.ts";
import type { PackingProblem } from "./packing-problem.ts";
import {
  addPods,
  anyZone,
  copiesThatFit,
  emptyNode,
  fitsOne,
  loadSlack,
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
  // Only the count + 1 nodes of least key can matter: each pop places at least one pod, and a node is popped
  // only once every node of smaller key has been, so at most `count` distinct nodes are popped, and the next one
  // (whose key bounds the runs) is always among the count + 1 smallest. `kept` holds them, largest on top (keys
  // and ids negated).
  const kept = keptHeap;
  kept.clear();
  const keep = unit.count + 1;
  const demand = problem.demand[item]!;
  const { limit, usable } = problem;
  const dimensions = demand.length;
  const loadLimit = 1 + loadSlack - problem.weightedShare[item]!;
  const perNode = problem.maxPerNode[item]!;
  // The test of `fitsOne` and the key of `alignment`, inlined: this loop runs once per unit and node.
  for (let j = 0; j < nodes.length; j++) {
    const node = nodes[j]!;
    if (node.load > loadLimit) continue;
    if (zone !== anyZone && node.zone !== anyZone && node.zone !== zone) continue;
    const used = node.used;
    let fits = true;
    for (let r = 0; r < dimensions; r++)
      if (used[r]! + demand[r]! > limit[r]!) {
        fits = false;
        break;
      }
    if (!fits || (perNode !== 0 && (node.pods.get(item) ?? 0) >= perNode)) continue;
    let key = 0;
    for (let r = 0; r < dimensions; r++) key += (weighted[r]! * used[r]!) / usable[r]!;
    if (kept.size < keep) kept.push(-key, -j);
    else if (-key > kept.peekKey() || (-key === kept.peekKey() && -j > kept.peekId()))
      kept.replaceTop(-key, -j);
  }
  const heap = sharedHeap;
  heap.clear();
  while (kept.size > 0) {
    heap.append(-kept.peekKey(), -kept.peekId());
    kept.pop();
  }
  heap.heapify();
  let left = unit.count;
  while (left > 0 && heap.size > 0) {
    const key = heap.peekKey();
    const id = heap.peekId();
    heap.pop();
    const node = nodes[id]!;
    const run = step > 0 ? Math.floor((heap.peekKey() - key) / step) + 1 : left;
    const copies = Math.min(left, run, copiesThatFit(problem, node, item));
    addPods(problem, node, item, zone, copies);
    left -= copies;
    if (fitsOne(problem, node, item)) heap.push(key + copies * step, id);
  }
  return left;
}

/** One heap for every spread: it is emptied before each use, and nothing here runs concurrently. */
const sharedHeap = new MinHeap();
const keptHeap = new MinHeap();

/** Per resource: the pod's share of a node, weighted by the resource's scarcity. */
function weightedDemand(problem: PackingProblem, item: number): Float64Array {
  return problem.share[item]!.map((share, r) => problem.scarcity[r]! * share);
}
