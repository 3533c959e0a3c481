/**
 * The order pods are placed in (largest first) and how zone-bound items' pods are dealt over the zones before
 * any node is chosen.
 */
import type { PackingProblem } from "./packing-problem.ts";
import { anyZone, type PlacementUnit } from "./working-node.ts";
import { dealEvenly } from "./zone-spread.ts";

/** A pod's largest share of a node over all resources: its size, as first-fit decreasing sorts by. */
export function dominantShare(problem: PackingProblem, item: number): number {
  return Math.max(0, ...problem.share[item]!);
}

/** Item indices, largest pods first (by dominant share, then by total share, then by index). */
export function largestFirst(problem: PackingProblem): number[] {
  const dominant = problem.items.map((_, i) => dominantShare(problem, i));
  const total = problem.share.map((s) => s.reduce((a, b) => a + b, 0));
  return problem.items
    .map((_, i) => i)
    .sort((a, b) => dominant[b]! - dominant[a]! || total[b]! - total[a]! || a - b);
}

/** Item indices, heaviest pods first: by scarcity-weighted share of a node, then by index. */
export function heaviestFirst(problem: PackingProblem): number[] {
  return problem.items
    .map((_, i) => i)
    .sort((a, b) => problem.weightedShare[b]! - problem.weightedShare[a]! || a - b);
}

/**
 * Units in the given item order; a zone-bound item becomes one unit per zone, dealt evenly, the remainder going to
 * the zones that so far hold the least load (ties: the zone listed first), so that zones fill alike.
 */
export function evenlyDealtUnits(problem: PackingProblem, order: readonly number[]): PlacementUnit[] {
  const zoneLoad = new Array<number>(problem.zones.length).fill(0);
  const byLoad = () => zoneLoad.map((_, z) => z).sort((a, b) => zoneLoad[a]! - zoneLoad[b]! || a - b);
  return unitsOf(problem, order, byLoad, (zone, pods, item) => {
    zoneLoad[zone]! += pods * problem.weightedShare[item]!;
  });
}

/** Units in the given item order; a zone-bound item's remainder goes to the zones in the order listed. */
export function roundRobinUnits(problem: PackingProblem, order: readonly number[]): PlacementUnit[] {
  const listed = problem.zones.map((_, z) => z);
  return unitsOf(
    problem,
    order,
    () => listed,
    () => {},
  );
}

function unitsOf(
  problem: PackingProblem,
  order: readonly number[],
  preference: () => readonly number[],
  dealt: (zone: number, pods: number, item: number) => void,
): PlacementUnit[] {
  return order.flatMap((item) => {
    const count = problem.items[item]!.count;
    if (count === 0) return [];
    if (!problem.zoneBound[item]) return [{ item, zone: anyZone, count }];
    const perZone = dealEvenly(count, preference());
    return [...perZone].flatMap((pods, zone) => {
      dealt(zone, pods, item);
      return pods > 0 ? [{ item, zone, count: pods }] : [];
    });
  });
}
