/** The baseline packer: classic first-fit decreasing, zones honoured the simplest valid way. */
import type { PackingProblem } from "./packing-problem.ts";
import { largestFirst, roundRobinUnits } from "./placement-units.ts";
import { acceptsZone, addPods, anyZone, copiesThatFit, emptyNode, type WorkingNode } from "./working-node.ts";

/**
 * Pods largest first, each on the first node (in opening order) that holds it. Zone-bound pods are dealt
 * round-robin over the zones and go only on nodes of their zone; every node gets its zone when it opens: a
 * zone-bound pod's, or else the zone with the fewest nodes.
 */
export function firstFitPacking(problem: PackingProblem): WorkingNode[] {
  const nodes: WorkingNode[] = [];
  const nodesPerZone = new Array<number>(problem.zones.length).fill(0);
  for (const { item, zone, count } of roundRobinUnits(problem, largestFirst(problem))) {
    let left = count;
    for (const node of nodes) {
      if (left === 0) break;
      if (!acceptsZone(node, zone)) continue;
      const copies = Math.min(left, copiesThatFit(problem, node, item));
      if (copies > 0) {
        addPods(problem, node, item, node.zone, copies);
        left -= copies;
      }
    }
    while (left > 0) {
      const nodeZone = zone !== anyZone ? zone : nodesPerZone.indexOf(Math.min(...nodesPerZone));
      const node = emptyNode(problem, nodeZone);
      const copies = Math.min(left, copiesThatFit(problem, node, item));
      if (copies === 0) throw new Error(`first-fit: item ${item} does not fit an empty node`);
      addPods(problem, node, item, nodeZone, copies);
      nodesPerZone[nodeZone]! += 1;
      nodes.push(node);
      left -= copies;
    }
  }
  return nodes;
}
