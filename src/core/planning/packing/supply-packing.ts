/**
 * One packing of all a target's pods onto a supply (issue 16): nodes the team owns, each used at most once in its
 * own zone, and catalog shapes bought in any number in any of `options.zones`. A pod may go on any node that admits
 * it (`supply-problem.ts`: labels, node affinity, taints, the policy's `reserve`, every resource), so pods without
 * GPUs use the spare cpu and memory of GPU nodes unless the policy reserves them.
 *
 * Headroom: cpu, memory and pods keep `headroomPercent` of every node free; extended resources count whole (and are
 * whole numbers: a pod's GPUs are on one node). The rule that keeps headroom from making a pod unplaceable: a pod
 * larger than a node's usable capacity but within its allocatable may run on that node alone (headroom yields to
 * it; no other pod joins that node). The packer opens such a node only for pods that share no node of the supply
 * that is left. Time-sliced GPUs and MIG profiles are whatever the node advertises (`nvidia.com/gpu: 32` for 8
 * devices × 4 replicas, `nvidia.com/mig-1g.10gb: 7`), counted like any extended resource.
 *
 * Objective and tie-breaks. In both objectives the packing buys as few new nodes as it can (an owned node is
 * already there); then `nodes` means fewest nodes, cost breaking ties, and `cost` the cheapest total, node count
 * breaking ties. Owned nodes count at their price; an unpriced node (owned or catalog) costs 0 here, as the plan
 * cannot count what it does not know, so it is taken before priced ones. The constructions put pods on owned nodes
 * while owned nodes that admit them are left, and only then on new nodes, which are never opened later; so a
 * packing that must buy n nodes may free owned nodes that n larger new nodes make unneeded. A node is opened of the
 * kind with the most usable capacity in the resources the pod requests (weighted by how scarce each resource is
 * among the pods and nodes it shares admission with), or under `cost` the most per unit of price; ties go to the
 * kind without extended resources, then the cheaper, then the kind listed first. At the end each node moves to a
 * better kind that is left and holds its pods: an owned kind for a new node, then a cheaper one.
 *
 * How: pods are taken by item, the items that the fewest node kinds admit first (GPU pods, pods pinned to a
 * model), then those with anti-affinity (they need distinct nodes while nodes have room), then the heaviest.
 * Zone-bound items are dealt evenly over the zones that admit them. Constructions: best fit (each item's pods on
 * the fullest open nodes that take them, then on new nodes), and balanced fills of the kinds of its fullest nodes
 * cut to the lower bound and halfway to it (`supply-construction.ts`); each has its least-filled nodes emptied into
 * the others where they can be, and the best (by the objective above) is repaired by moves and swaps of pods
 * (`supply-repair.ts`) with work in proportion to its pods. Everything is pure and deterministic.
 *
 * `firstFitDecreasingOnSupply` is the classic baseline on the same supply (`supply-first-fit.ts`); the lower bound
 * is `supply-bound.ts`.
 */

import { supplyBoundOf } from "./supply-bound.ts";
import { balancedConstruct, construct, placeOnFullest } from "./supply-construction.ts";
import { addPods, contentOf, plannedNodes, removePods, type SupplyWorkingNode } from "./supply-node.ts";
import {
  alone,
  describeSupplyProblem,
  fitsWithin,
  kindLabel,
  openZone,
  type Supply,
  type SupplyProblem,
  sharing,
} from "./supply-problem.ts";
import { repairSupplyPacking } from "./supply-repair.ts";
import type { SupplyItem, SupplyOptions, SupplyOutcome } from "./supply-types.ts";

export { supplyBound } from "./supply-bound.ts";
export { firstFitDecreasingOnSupply } from "./supply-first-fit.ts";
export type { Supply } from "./supply-problem.ts";

/** Packs every pod of the items onto the supply; or says which items cannot be placed, and why. */
export function packOnSupply(
  items: readonly SupplyItem[],
  supply: Supply,
  options: SupplyOptions,
): SupplyOutcome {
  const { problem, unfit } = describeSupplyProblem(items, supply, options);
  if (unfit.length > 0) return { ok: false, unfit };
  const bound = supplyBoundOf(problem);
  const greedy = finished(problem, construct(problem, fullSupply(problem)));
  let best = greedy;
  // Balanced fills of fewer nodes than best fit found: the kinds of its fullest nodes, down to the bound.
  const fullestFirst = greedy.nodes
    .map((node, j) => ({ node, j }))
    .sort((a, b) => b.node.load - a.node.load || a.j - b.j)
    .map(({ node }) => node.kind);
  const targets = [...new Set([bound.nodes, Math.round((bound.nodes + greedy.nodes.length) / 2)])];
  for (const target of targets) {
    if (target >= greedy.nodes.length || target <= 0) continue;
    const kinds = fullestFirst.slice(0, target);
    const left = fullSupply(problem);
    for (const k of kinds) left[k]! -= 1;
    const balanced = finished(problem, balancedConstruct(problem, kinds, left), left);
    if (better(problem, balanced, best)) best = balanced;
  }
  if (best.exhausted.size > 0) return { ok: false, unfit: exhaustedItems(problem, best.exhausted) };
  let nodes = best.nodes;
  if (nodes.length > bound.nodes) {
    let pods = 0;
    for (const item of problem.items) pods += item.count;
    nodes = repairSupplyPacking(
      problem,
      nodes,
      bound.nodes,
      Math.min(repairWorkCeiling, pods * repairWorkPerPod),
    );
  }
  rekind(problem, nodes, supplyLeft(problem, nodes));
  return { ok: true, nodes: plannedNodes(problem, nodes, ownedOrderOf(supply)), bound };
}

/** A construction finished: its nodes emptied where they can be. */
interface Finished {
  nodes: SupplyWorkingNode[];
  exhausted: Map<number, number>;
}

/** Moves and swaps the repair may look at, per pod packed and at most. */
const repairWorkPerPod = 100;
const repairWorkCeiling = 5_000_000;

function fullSupply(problem: SupplyProblem): Float64Array {
  return Float64Array.from(problem.kinds, (k) => k.count);
}

function finished(
  problem: SupplyProblem,
  built: { nodes: SupplyWorkingNode[]; exhausted: Map<number, number> },
  left?: Float64Array,
): Finished {
  const remaining = left ?? supplyLeft(problem, built.nodes);
  if (built.exhausted.size > 0) return built;
  return { nodes: eliminateNodes(problem, built.nodes, remaining), exhausted: built.exhausted };
}

function supplyLeft(problem: SupplyProblem, nodes: readonly SupplyWorkingNode[]): Float64Array {
  const left = fullSupply(problem);
  for (const node of nodes) left[node.kind]! -= 1;
  return left;
}

/**
 * Whether packing a is better than b: a complete packing beats one that ran out of supply (fewer pods left out,
 * when both did); then fewer new nodes; then, by the objective, fewer nodes or a lower cost, the other one
 * breaking ties. A tie keeps b.
 */
function better(problem: SupplyProblem, a: Finished, b: Finished): boolean {
  const missing = (f: Finished) => [...f.exhausted.values()].reduce((n, c) => n + c, 0);
  if (missing(a) !== missing(b)) return missing(a) < missing(b);
  const figures = (f: Finished) => {
    let bought = 0;
    let cost = 0;
    for (const node of f.nodes) {
      const kind = problem.kinds[node.kind]!;
      if (!kind.owned) bought += 1;
      cost += kind.price;
    }
    return { bought, cost, nodes: f.nodes.length };
  };
  const x = figures(a);
  const y = figures(b);
  if (x.bought !== y.bought) return x.bought < y.bought;
  const [first, second] =
    problem.options.objective === "cost" ? (["cost", "nodes"] as const) : (["nodes", "cost"] as const);
  if (x[first] !== y[first]) return x[first] < y[first];
  return x[second] < y[second];
}

/** Owned node names → their place in the supply. */
export function ownedOrderOf(supply: Supply): Map<string, number> {
  return new Map(supply.owned.map((node, i) => [node.name, i]));
}

/** The pods each item could not place for want of supply, as a refusal. */
export function exhaustedItems(
  problem: SupplyProblem,
  exhausted: ReadonlyMap<number, number>,
): { item: number; reason: string }[] {
  return [...exhausted.entries()]
    .sort(([a], [b]) => a - b)
    .map(([item, pods]) => {
      const kinds = [...problem.shared[item]!, ...problem.solo[item]!].map((k) => problem.kinds[k]!);
      const shapes = [...new Set(kinds.map((k) => k.shape))].sort().join(", ");
      return {
        item,
        reason:
          `supply exhausted: ${pods} of its ${problem.items[item]!.count} pods could not be placed; ` +
          `the nodes that admit it (${kinds.map((k) => kindLabel(k, problem.zones)).length} kinds: ${shapes}) are all in use`,
      };
    });
}

/** How many nodes in a row may resist emptying before a pass gives up, and how many passes. */
const failuresBeforeGivingUp = 24;
const passes = 3;

/**
 * Empties what nodes it can, least loaded first (ties: the dearer, then the later), by moving all their pods onto
 * the other nodes by best fit; a node whose pods cannot all move keeps them. Returns the nodes left.
 */
function eliminateNodes(
  problem: SupplyProblem,
  nodes: SupplyWorkingNode[],
  left: Float64Array,
): SupplyWorkingNode[] {
  for (let pass = 0; pass < passes; pass++) {
    const order = nodes
      .map((_, j) => j)
      .filter((j) => nodes[j]!.podCount > 0)
      .sort(
        (a, b) =>
          contentOf(problem, nodes[a]!) - contentOf(problem, nodes[b]!) ||
          problem.kinds[nodes[b]!.kind]!.price - problem.kinds[nodes[a]!.kind]!.price ||
          b - a,
      );
    let emptied = 0;
    let failuresInRow = 0;
    for (const j of order) {
      if (tryToEmpty(problem, nodes, j)) {
        emptied += 1;
        left[nodes[j]!.kind]! += 1;
        failuresInRow = 0;
      } else if (++failuresInRow >= failuresBeforeGivingUp) break;
    }
    if (emptied === 0) break;
  }
  return nodes.filter((node) => node.podCount > 0);
}

function tryToEmpty(problem: SupplyProblem, nodes: readonly SupplyWorkingNode[], j: number): boolean {
  const node = nodes[j]!;
  const leaving = [...node.pods.entries()].sort(([a], [b]) => problem.size[b]! - problem.size[a]! || a - b);
  const moves: { item: number; node: number; count: number }[] = [];
  for (const [item, count] of leaving) {
    const zone = problem.zoneBound[item] ? node.zone : openZone;
    const placed: { node: number; count: number }[] = [];
    const rest = placeOnFullest(problem, nodes, { item, zone, count }, j, placed);
    for (const p of placed) moves.push({ item, ...p });
    if (rest > 0) {
      for (let m = moves.length - 1; m >= 0; m--)
        removePods(problem, nodes[moves[m]!.node]!, moves[m]!.item, moves[m]!.count);
      return false;
    }
  }
  for (const [item, count] of leaving) removePods(problem, node, item, count);
  return true;
}

/**
 * Moves each node to a better kind that is left and holds its pods in its zone: an owned kind for a new node, then
 * a cheaper kind (priced at 0 when unpriced). Changes the nodes and `left` in place.
 */
function rekind(problem: SupplyProblem, nodes: readonly SupplyWorkingNode[], left: Float64Array): void {
  const kinds = problem.kinds.length;
  for (const node of nodes) {
    const current = problem.kinds[node.kind]!;
    let best = -1;
    for (let k = 0; k < kinds; k++) {
      if (k === node.kind || left[k]! <= 0) continue;
      const kind = problem.kinds[k]!;
      const better =
        (kind.owned && !current.owned) || (kind.owned === current.owned && kind.price < current.price);
      if (!better) continue;
      if (best >= 0) {
        const b = problem.kinds[best]!;
        if (b.owned && !kind.owned) continue;
        if (b.owned === kind.owned && b.price <= kind.price) continue;
      }
      if (holds(problem, node, k)) best = k;
    }
    if (best < 0) continue;
    left[node.kind]! += 1;
    left[best]! -= 1;
    const pods = [...node.pods.entries()];
    const pinned = node.zoneBoundPods > 0 ? node.zone : openZone;
    for (const [item, count] of pods) removePods(problem, node, item, count);
    node.kind = best;
    node.zone = problem.kinds[best]!.owned ? problem.kinds[best]!.zone : pinned;
    for (const [item, count] of pods)
      addPods(problem, node, item, problem.zoneBound[item] ? pinned : openZone, count);
  }
}

/** Whether a node of kind k could hold this node's pods where they are. */
function holds(problem: SupplyProblem, node: SupplyWorkingNode, k: number): boolean {
  const kind = problem.kinds[k]!;
  if (node.zoneBoundPods > 0) {
    if (kind.owned ? kind.zone !== node.zone : node.zone >= problem.newNodeZones) return false;
  }
  const single = node.podCount === 1;
  for (const item of node.pods.keys()) {
    const mode = problem.mode[item * problem.kinds.length + k];
    if (mode !== sharing && !(single && mode === alone)) return false;
  }
  return fitsWithin(node.used, single ? kind.soloLimit : kind.limit);
}
