/**
 * Local search after a construction: try to empty the least-loaded nodes by moving all their pods, by best fit,
 * onto the other nodes; a node whose pods cannot all move keeps them.
 */
import { type Placed, placeOnFullest } from "./best-fit.ts";
import type { PackingProblem } from "./packing-problem.ts";
import { anyZone, removePods, type WorkingNode } from "./working-node.ts";

/** How many nodes in a row may resist emptying before a pass gives up. */
const failuresBeforeGivingUp = 24;
const passes = 3;

/**
 * Empties what nodes it can, least loaded first, in a few passes; returns the nodes left. Nodes are changed in
 * place. It stops once only `lowerBound` nodes are left, since no packing has fewer.
 */
export function eliminateNodes(
  problem: PackingProblem,
  nodes: readonly WorkingNode[],
  lowerBound = 0,
): WorkingNode[] {
  const closed = new Uint8Array(nodes.length);
  let open = nodes.length;
  for (let pass = 0; pass < passes && open > lowerBound; pass++) {
    const order = nodes
      .map((_, j) => j)
      .filter((j) => !closed[j])
      .sort((a, b) => nodes[a]!.load - nodes[b]!.load || a - b);
    let emptied = 0;
    let failuresInRow = 0;
    for (const j of order) {
      if (open <= lowerBound) break;
      if (tryToEmpty(problem, nodes, j, closed)) {
        emptied += 1;
        open -= 1;
        failuresInRow = 0;
      } else if (++failuresInRow >= failuresBeforeGivingUp) break;
    }
    if (emptied === 0) break;
  }
  return nodes.filter((_, j) => !closed[j]);
}

/** Moves every pod of node j elsewhere and closes it, or leaves everything as it was and returns false. */
function tryToEmpty(
  problem: PackingProblem,
  nodes: readonly WorkingNode[],
  j: number,
  closed: Uint8Array,
): boolean {
  const node = nodes[j]!;
  const leaving = [...node.pods.entries()].sort(
    ([a], [b]) => problem.weightedShare[b]! - problem.weightedShare[a]! || a - b,
  );
  closed[j] = 1;
  const moves: Placed[] = [];
  for (const [item, count] of leaving) {
    const zone = problem.zoneBound[item] ? node.zone : anyZone;
    if (placeOnFullest(problem, nodes, { item, zone, count }, closed, moves) > 0) {
      undo(problem, nodes, moves);
      closed[j] = 0;
      return false;
    }
  }
  for (const [item, count] of leaving) removePods(problem, node, item, count);
  return true;
}

/** Undoes the moves, last first. */
function undo(problem: PackingProblem, nodes: readonly WorkingNode[], moves: readonly Placed[]): void {
  for (let m = moves.length - 1; m >= 0; m--) {
    const move = moves[m]!;
    removePods(problem, nodes[move.node]!, move.item, move.count);
  }
}
