/**
 * The planner's packing strategy: several constructions, each improved by emptying nodes, the smallest kept.
 */
import { balancedFill } from "./balanced-fill.ts";
import { bestFitDecreasing } from "./best-fit.ts";
import { eliminateNodes } from "./node-elimination.ts";
import { repairToFewerNodes } from "./overload-repair.ts";
import type { PackingProblem } from "./packing-problem.ts";
import { evenlyDealtUnits, heaviestFirst, largestFirst } from "./placement-units.ts";
import type { PlacementUnit, WorkingNode } from "./working-node.ts";

/**
 * Work allowed for the constructions after the first two, counted as units × nodes (each construction looks at
 * about every node for every unit): small problems get many tries, the biggest only the first ones.
 */
const extraWork = 2_000_000;

/**
 * Packs the problem's pods (which must all fit a node) onto as few nodes as it can. Constructions, each followed
 * by node elimination: a balanced fill of exactly `lowerBound` nodes, kept at once when it reaches the bound (or,
 * on a big problem, one node over it); best-fit decreasing with pods ordered by their largest share of a node;
 * then, while work allows and the bound is not reached, best-fit decreasing with pods
 * ordered by their scarcity-weighted size and balanced fills of more nodes (the bound plus one, plus two, then
 * steps across the gap to the best packing so far). The packing with the fewest nodes wins (ties: best fit,
 * then the first). `repairPacking` then closes what more it can. `quick` keeps the balanced fill of `lowerBound`
 * nodes alone: a cheap estimate, to compare node shapes by; `balancedAlready` is that fill, when it was made.
 */
export function packNodes(
  problem: PackingProblem,
  lowerBound: number,
  quick = false,
  balancedAlready?: WorkingNode[],
): WorkingNode[] {
  const units = evenlyDealtUnits(problem, largestFirst(problem));
  if (units.length === 0) return [];
  // The balanced fill of `lowerBound` nodes usually wins; when it reaches the bound, nothing can beat it and best
  // fit is not needed; on a big problem (work over the budget of the extra constructions), one node over the bound
  // is kept too, as best fit would then rarely do better and costs as much as the fill. Otherwise best fit is
  // built too, and wins ties, as it comes first in the order above.
  const balanced =
    balancedAlready ?? eliminateNodes(problem, balancedFill(problem, units, lowerBound), lowerBound);
  const big = units.length * lowerBound > extraWork;
  if (balanced.length <= lowerBound || (big && balanced.length <= lowerBound + 1)) return balanced;
  if (quick) return balanced;
  let best = eliminateNodes(problem, bestFitDecreasing(problem, units), lowerBound);
  const consider = (nodes: WorkingNode[]) => {
    const improved = eliminateNodes(problem, nodes, lowerBound);
    if (improved.length < best.length) best = improved;
  };
  if (balanced.length < best.length) best = balanced;
  let spent = 0;
  const affordable = (work: number) => best.length > lowerBound && spent + work <= extraWork;
  const work = (someUnits: readonly PlacementUnit[], nodes: number) => someUnits.length * nodes;
  const weightedUnits = evenlyDealtUnits(problem, heaviestFirst(problem));
  if (affordable(work(weightedUnits, best.length))) {
    spent += work(weightedUnits, best.length);
    consider(bestFitDecreasing(problem, weightedUnits));
  }
  for (
    let nodeCount = lowerBound + 1;
    nodeCount < best.length;
    nodeCount += fillStep(nodeCount, lowerBound, best.length)
  ) {
    if (!affordable(work(units, nodeCount))) break;
    spent += work(units, nodeCount);
    consider(balancedFill(problem, units, nodeCount));
  }
  return best;
}

/**
 * Closes what nodes it can of a packing above its lower bound (see `repairToFewerNodes`), with work in
 * proportion to the pods, so that its time grows with the problem as the constructions' does, up to a ceiling.
 */
export function repairPacking(
  problem: PackingProblem,
  nodes: WorkingNode[],
  lowerBound: number,
): WorkingNode[] {
  if (nodes.length <= lowerBound) return nodes;
  let pods = 0;
  for (const item of problem.items) pods += item.count;
  return repairToFewerNodes(problem, nodes, lowerBound, Math.min(repairWorkCeiling, pods * repairWorkPerPod));
}

/** Moves and swaps the repair may look at, per pod packed and at most. */
const repairWorkPerPod = 300;
const repairWorkCeiling = 20_000_000;
/** Node counts to fill: the bound plus one and plus two, then about six steps across what is left of the gap. */
function fillStep(nodeCount: number, lowerBound: number, best: number): number {
  return nodeCount < lowerBound + 2 ? 1 : Math.max(1, Math.floor((best - lowerBound) / 6));
}
