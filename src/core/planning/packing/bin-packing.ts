/**
 * Multi-dimensional bin packing for the consolidation planner: how many nodes of a shape carry a set of workloads,
 * and which pods go on which node. A pod fits a node when, in every resource it requests (cpu, memory, pods,
 * extended resources), the node's usable capacity (allocatable less the headroom) still holds it. Workloads may
 * limit their pods per node (hostname anti-affinity) and per zone (zone anti-affinity), and spread them over the
 * zones with a largest skew (topology spread, DoNotSchedule).
 *
 * `pack` is the planner's packer; `firstFitDecreasing` is the classic baseline it is measured against;
 * `lowerBound` says how few nodes any valid packing needs, and why. Everything here is pure and deterministic.
 */
import { firstFitPacking } from "./first-fit-decreasing.ts";
import { type Bound, lowerBound, strongestBound } from "./lower-bound.ts";
import { packNodes, repairPacking } from "./packer.ts";
import { describeProblem, type PackingProblem, unfitItems } from "./packing-problem.ts";
import type { NodeShape, PackItem, Packing, PackOptions, PackOutcome } from "./packing-types.ts";
import { packedNodes, type WorkingNode } from "./working-node.ts";

export { lowerBound } from "./lower-bound.ts";
export { capacityTolerance, keepsHeadroom, usableCapacity } from "./packing-problem.ts";
export type {
  LowerBound,
  NodeShape,
  PackedNode,
  PackItem,
  Packing,
  PackOptions,
  PackOutcome,
} from "./packing-types.ts";

/**
 * The planner's packer. Zone-bound pods are first spread evenly over the zones; then several constructions
 * (best fit with the largest pods first, and balanced fills of a fixed number of nodes starting at the lower
 * bound) are tried and the smallest is improved by emptying its least-loaded nodes into the others.
 */
export function pack(items: readonly PackItem[], shape: NodeShape, options: PackOptions): PackOutcome {
  const unfit = unfitItems(items, shape, options);
  if (unfit.length > 0) return { ok: false, unfit };
  return { ok: true, packing: packFitting(items, shape, options) };
}

/** `pack` for items known to fit the shape; `strongest` is their lower bound on it, when already known. */
function packFitting(
  items: readonly PackItem[],
  shape: NodeShape,
  options: PackOptions,
  strongest: Bound = strongestBound(items, shape, options),
): Packing {
  return repaired(constructed(items, shape, options, strongest));
}

/** A packing by the constructions alone, not yet repaired; `quick`: by the first construction only. */
interface Constructed {
  shape: NodeShape;
  problem: PackingProblem;
  nodes: WorkingNode[];
  bound: Bound;
}

function constructed(
  items: readonly PackItem[],
  shape: NodeShape,
  options: PackOptions,
  bound: Bound,
  quick = false,
): Constructed {
  const problem = describeProblem(items, shape, options);
  return { shape, problem, nodes: packNodes(problem, bound.nodes, quick), bound };
}

function repaired({ shape, problem, nodes, bound }: Constructed): Packing {
  const fewer = repairPacking(problem, nodes, bound.nodes);
  return {
    shape: shape.name,
    nodes: packedNodes(problem, fewer),
    lowerBound: { nodes: bound.nodes, binding: bound.binding() },
  };
}

/**
 * The baseline: classic first-fit decreasing. Pods are taken largest first (by their largest share of a node in
 * any resource) and each goes on the first node, in opening order, that holds it; a zone-bound workload's pods
 * are dealt round-robin over the zones and go only on nodes of their zone; a new node opens in the zone with the
 * fewest nodes.
 */
export function firstFitDecreasing(
  items: readonly PackItem[],
  shape: NodeShape,
  options: PackOptions,
): PackOutcome {
  const unfit = unfitItems(items, shape, options);
  if (unfit.length > 0) return { ok: false, unfit };
  const problem = describeProblem(items, shape, options);
  const bound = lowerBound(items, shape, options);
  const nodes = firstFitPacking(problem);
  return { ok: true, packing: { shape: shape.name, nodes: packedNodes(problem, nodes), lowerBound: bound } };
}

/**
 * Packs onto each shape that fits every item and keeps the cheapest packing (nodes × monthly price; on a tie the
 * fewer nodes, then the shape's name). A shape whose lower bound already costs more than the best packing found is
 * not packed. When no shape fits every item, the unfit list names the items that fit no shape (with each shape's
 * reason), or else those of the shape that fails the fewest items. To save time, shapes are first compared by a
 * quick construction (the balanced fill of their lower bound); then, cheapest first, each is packed in full and
 * repaired while its lower bound could still beat the best packing so far — usually the first alone.
 */
export function packCheapest(
  items: readonly PackItem[],
  shapes: readonly NodeShape[],
  options: PackOptions,
): PackOutcome {
  const fitting = shapes.filter((shape) => unfitItems(items, shape, options).length === 0);
  if (fitting.length === 0) return { ok: false, unfit: unfitOnEveryShape(items, shapes, options) };
  const candidates = fitting
    .map((shape) => {
      const bound = strongestBound(items, shape, options);
      return { shape, bound, cheapest: bound.nodes * shape.monthlyPrice };
    })
    .sort((a, b) => a.cheapest - b.cheapest || a.shape.name.localeCompare(b.shape.name));
  const [only] = candidates;
  if (candidates.length === 1 && only)
    return { ok: true, packing: repaired(constructed(items, only.shape, options, only.bound)) };
  // A quick construction of each shape that may be cheapest (its bound costs no more than the best so far)…
  let bestQuick: { built: Constructed; cost: number } | undefined;
  const quick: { built: Constructed; cost: number; cheapest: number }[] = [];
  for (const { shape, bound, cheapest } of candidates) {
    if (bestQuick && cheapest > bestQuick.cost) break;
    const built = constructed(items, shape, options, bound, true);
    const entry = { built, cost: built.nodes.length * shape.monthlyPrice, cheapest };
    quick.push(entry);
    if (!bestQuick || isCheaper(entry, bestQuick)) bestQuick = entry;
  }
  // …then, cheapest first, the full packing and repair of each, until no shape left can beat the best: a
  // shape's packing never costs less than its lower bound. A shape left out above has a bound that costs more
  // than the best quick packing, and the full packing of that quick packing's shape can only cost less.
  quick.sort((a, b) => (isCheaper(a, b) ? -1 : isCheaper(b, a) ? 1 : 0));
  let best: { packing: Packing; cost: number; nodes: number; name: string } | undefined;
  for (const { built, cheapest } of quick) {
    if (best && cheapest > best.cost) continue;
    const full = { ...built, nodes: packNodes(built.problem, built.bound.nodes, false, built.nodes) };
    const packing = repaired(full);
    const cost = packing.nodes.length * built.shape.monthlyPrice;
    const candidate = { packing, cost, nodes: packing.nodes.length, name: built.shape.name };
    if (!best || cheaperPacking(candidate, best)) best = candidate;
  }
  return { ok: true, packing: best!.packing };
}

function cheaperPacking(
  a: { cost: number; nodes: number; name: string },
  b: { cost: number; nodes: number; name: string },
): boolean {
  if (a.cost !== b.cost) return a.cost < b.cost;
  if (a.nodes !== b.nodes) return a.nodes < b.nodes;
  return a.name.localeCompare(b.name) < 0;
}

function isCheaper(
  a: { built: Constructed; cost: number },
  b: { built: Constructed; cost: number },
): boolean {
  return cheaperPacking(
    { cost: a.cost, nodes: a.built.nodes.length, name: a.built.shape.name },
    { cost: b.cost, nodes: b.built.nodes.length, name: b.built.shape.name },
  );
}

function unfitOnEveryShape(
  items: readonly PackItem[],
  shapes: readonly NodeShape[],
  options: PackOptions,
): { item: number; reason: string }[] {
  if (shapes.length === 0)
    return items.flatMap((item, index) =>
      item.count > 0 ? [{ item: index, reason: "no node shape is offered" }] : [],
    );
  const perShape = shapes
    .map((shape) => ({ shape, unfit: unfitItems(items, shape, options) }))
    .sort((a, b) => a.unfit.length - b.unfit.length || a.shape.name.localeCompare(b.shape.name));
  const reasons = new Map<number, string[]>();
  for (const { unfit } of perShape)
    for (const { item, reason } of unfit) reasons.set(item, [...(reasons.get(item) ?? []), reason]);
  const nowhere = [...reasons.entries()]
    .filter(([, list]) => list.length === shapes.length)
    .sort(([a], [b]) => a - b)
    .map(([item, list]) => ({ item, reason: list.join("; ") }));
  return nowhere.length > 0 ? nowhere : (perShape[0]?.unfit ?? []);
}
