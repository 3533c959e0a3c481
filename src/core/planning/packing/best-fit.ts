/** Best fit: each pod goes on the fullest node that still holds it. */
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

/** Pods put on a node, so that a tentative move can be undone. */
export interface Placed {
  node: number;
  item: number;
  count: number;
}

/**
 * Puts up to `count` pods of the item on the fullest nodes (highest load; ties: the first) that hold them and
 * accept the zone, skipping nodes marked in `closed`; as many as fit go on each node in turn. Returns the pods
 * left over; every placement is appended to `placed`.
 */
export function placeOnFullest(
  problem: PackingProblem,
  nodes: readonly WorkingNode[],
  unit: PlacementUnit,
  closed?: Uint8Array,
  placed?: Placed[],
): number {
  const { item, zone } = unit;
  let left = unit.count;
  while (left > 0) {
    let best = -1;
    let bestLoad = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < nodes.length; j++) {
      const node = nodes[j]!;
      if (node.load <= bestLoad || closed?.[j] || !acceptsZone(node, zone) || !fitsOne(problem, node, item))
        continue;
      best = j;
      bestLoad = node.load;
    }
    if (best < 0) return left;
    const copies = Math.min(left, copiesThatFit(problem, nodes[best]!, item));
    addPods(problem, nodes[best]!, item, zone, copies);
    placed?.push({ node: best, item, count: copies });
    left -= copies;
  }
  return 0;
}

/** Places the unit's pods by best fit, opening new nodes for those no open node holds. */
export function placeOpeningNodes(problem: PackingProblem, nodes: WorkingNode[], unit: PlacementUnit): void {
  let left = placeOnFullest(problem, nodes, unit);
  while (left > 0) {
    const node = emptyNode(problem);
    const copies = Math.min(left, copiesThatFit(problem, node, unit.item));
    if (copies === 0) throw new Error(`best fit: item ${unit.item} does not fit an empty node`);
    addPods(problem, node, unit.item, unit.zone, copies);
    nodes.push(node);
    left -= copies;
  }
}

/** Best-fit decreasing: the units in their order (largest first), each by best fit. */
export function bestFitDecreasing(problem: PackingProblem, units: readonly PlacementUnit[]): WorkingNode[] {
  const nodes: WorkingNode[] = [];
  for (const unit of units) placeOpeningNodes(problem, nodes, unit);
  return nodes;
}
