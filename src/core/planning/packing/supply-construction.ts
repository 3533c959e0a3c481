/**
 * How a supply packing is built (see `supply-packing.ts` for the rules): the order pods are placed in, the kinds
 * new nodes are opened of, and the greedy construction: each item's pods by best fit on the open nodes that take
 * them, then on new nodes of the preferred kind.
 */

import { MinHeap } from "./min-heap.ts";
import {
  acceptsZone,
  addPods,
  copiesThatFit,
  newNode,
  type SupplyUnit,
  type SupplyWorkingNode,
} from "./supply-node.ts";
import { openZone, type SupplyProblem, sharing } from "./supply-problem.ts";
import { dealEvenly } from "./zone-spread.ts";

/** Item indices in placing order: the fewest admitting kinds first, then the heaviest pods, then by index. */
export function placingOrder(problem: SupplyProblem): number[] {
  const kindsAdmitting = problem.items.map((_, i) => problem.shared[i]!.length + problem.solo[i]!.length);
  // Items with anti-affinity need that many distinct nodes: placed first, while nodes still have room.
  const spread = problem.items.map((item) => (item.maxPerNode ? Math.ceil(item.count / item.maxPerNode) : 0));
  return problem.items
    .map((_, i) => i)
    .filter((i) => problem.items[i]!.count > 0)
    .sort(
      (a, b) =>
        kindsAdmitting[a]! - kindsAdmitting[b]! ||
        spread[b]! - spread[a]! ||
        problem.size[b]! - problem.size[a]! ||
        a - b,
    );
}

/**
 * Per item, the kinds to open nodes of, best first (see the module comment), the kinds it shares first, then
 * those it may only run on alone.
 */
export function openingPreference(problem: SupplyProblem, item: number): number[] {
  const demand = problem.demand[item]!;
  const weight = problem.itemWeight[item]!;
  const value = (k: number) => {
    const kind = problem.kinds[k]!;
    let v = 0;
    for (let r = 0; r < demand.length; r++) if (demand[r]! > 0) v += weight[r]! * kind.usable[r]!;
    return v;
  };
  const cost = problem.options.objective === "cost";
  const order = (list: readonly number[]) =>
    [...list].sort((a, b) => {
      const ka = problem.kinds[a]!;
      const kb = problem.kinds[b]!;
      if (ka.owned !== kb.owned) return ka.owned ? -1 : 1;
      if (cost) {
        const pa = ka.price > 0 ? value(a) / ka.price : Number.POSITIVE_INFINITY;
        const pb = kb.price > 0 ? value(b) / kb.price : Number.POSITIVE_INFINITY;
        if (pa !== pb) return pb - pa;
      }
      return value(b) - value(a) || Number(ka.extended) - Number(kb.extended) || ka.price - kb.price || a - b;
    });
  return [...order(problem.shared[item]!), ...order(problem.solo[item]!)];
}

/** Whether a new node of the kind may take pods bound to `zone`. */
export function kindTakesZone(problem: SupplyProblem, kind: number, zone: number): boolean {
  const k = problem.kinds[kind]!;
  if (zone === openZone) return true;
  return k.owned ? k.zone === zone : zone < problem.newNodeZones;
}

/** The units of an item: all its pods, or for a zone-bound item its pods dealt evenly over its zones. */
export function unitsOf(problem: SupplyProblem, item: number, zoneLoad: Float64Array): SupplyUnit[] {
  const count = problem.items[item]!.count;
  if (!problem.zoneBound[item]) return [{ item, zone: openZone, count }];
  const zones = problem.itemZones[item]!;
  const preference = zones
    .map((_, p) => p)
    .sort((a, b) => zoneLoad[zones[a]!]! - zoneLoad[zones[b]!]! || a - b);
  const perZone = dealEvenly(count, preference);
  const units: SupplyUnit[] = [];
  perZone.forEach((pods, p) => {
    zoneLoad[zones[p]!]! += pods * problem.size[item]!;
    if (pods > 0) units.push({ item, zone: zones[p]!, count: pods });
  });
  return units;
}

export function construct(
  problem: SupplyProblem,
  left: Float64Array,
): { nodes: SupplyWorkingNode[]; exhausted: Map<number, number> } {
  const nodes: SupplyWorkingNode[] = [];
  const exhausted = new Map<number, number>();
  const zoneLoad = new Float64Array(problem.zones.length);
  for (const item of placingOrder(problem)) {
    const preference = openingPreference(problem, item);
    for (const unit of unitsOf(problem, item, zoneLoad)) {
      const remaining = placeOnFullest(problem, nodes, unit, -1);
      const still = openNodesFor(problem, nodes, { ...unit, count: remaining }, preference, left);
      if (still > 0) exhausted.set(item, (exhausted.get(item) ?? 0) + still);
    }
  }
  return { nodes, exhausted };
}

/**
 * Puts the unit's pods on the fullest open nodes that take them (highest load first; ties: the first), as many on
 * each as fit, skipping node `skip`. Returns the pods left; `moved`, when given, records each placement.
 */
export function placeOnFullest(
  problem: SupplyProblem,
  nodes: readonly SupplyWorkingNode[],
  unit: SupplyUnit,
  skip: number,
  moved?: { node: number; count: number }[],
): number {
  let left = unit.count;
  if (left === 0) return 0;
  const candidates: number[] = [];
  for (let j = 0; j < nodes.length; j++) {
    if (j === skip) continue;
    const node = nodes[j]!;
    if (node.podCount === 0 || !acceptsZone(problem, node, unit.zone)) continue;
    if (copiesThatFit(problem, node, unit.item) > 0) candidates.push(j);
  }
  candidates.sort((a, b) => nodes[b]!.load - nodes[a]!.load || a - b);
  for (const j of candidates) {
    const node = nodes[j]!;
    const copies = Math.min(left, copiesThatFit(problem, node, unit.item));
    if (copies <= 0) continue;
    addPods(problem, node, unit.item, unit.zone, copies);
    moved?.push({ node: j, count: copies });
    left -= copies;
    if (left === 0) break;
  }
  return left;
}

/** Opens nodes for the unit's pods, of the kinds in `preference` that are left; returns the pods that found none. */
export function openNodesFor(
  problem: SupplyProblem,
  nodes: SupplyWorkingNode[],
  unit: SupplyUnit,
  preference: readonly number[],
  left: Float64Array,
): number {
  let pods = unit.count;
  const kinds = problem.kinds.length;
  for (const k of preference) {
    if (pods === 0) break;
    if (!kindTakesZone(problem, k, unit.zone)) continue;
    while (pods > 0 && left[k]! > 0) {
      const node = newNode(problem, k, unit.zone);
      const copies =
        problem.mode[unit.item * kinds + k] === sharing
          ? Math.min(pods, copiesThatFit(problem, node, unit.item))
          : 1;
      if (copies <= 0) break;
      addPods(problem, node, unit.item, unit.zone, copies);
      nodes.push(node);
      left[k]! -= 1;
      pods -= copies;
    }
  }
  return pods;
}

/**
 * Balanced fill of nodes opened beforehand (one per entry of `kinds`, which the caller has taken off `left`): each
 * item's pods, in placing order, are spread over the nodes that take them so that each pod goes where it aligns
 * least with the node's load (Σ over resources of the pod's weighted share × the node's used share of its own
 * capacity), as `balanced-fill.ts` does on one shape; pods big in cpu so land beside pods big in memory. Pods no
 * such node takes go by best fit, then on new nodes. Nodes left empty are dropped and given back to `left`.
 */
export function balancedConstruct(
  problem: SupplyProblem,
  kinds: readonly number[],
  left: Float64Array,
): { nodes: SupplyWorkingNode[]; exhausted: Map<number, number> } {
  const nodes = kinds.map((k) => newNode(problem, k, openZone));
  const exhausted = new Map<number, number>();
  const zoneLoad = new Float64Array(problem.zones.length);
  for (const item of placingOrder(problem)) {
    const preference = openingPreference(problem, item);
    for (const unit of unitsOf(problem, item, zoneLoad)) {
      const spreadLeft = spreadOver(problem, nodes, unit);
      const remaining = placeOnFullest(problem, nodes, { ...unit, count: spreadLeft }, -1);
      const still = openNodesFor(problem, nodes, { ...unit, count: remaining }, preference, left);
      if (still > 0) exhausted.set(item, (exhausted.get(item) ?? 0) + still);
    }
  }
  const used = nodes.filter((node) => {
    if (node.podCount > 0) return true;
    left[node.kind]! += 1;
    return false;
  });
  return { nodes: used, exhausted };
}

const spreadHeap = new MinHeap();

/** Spreads the unit's pods over the nodes that take them, least aligned first; returns the pods left. */
function spreadOver(problem: SupplyProblem, nodes: readonly SupplyWorkingNode[], unit: SupplyUnit): number {
  const { item, zone } = unit;
  const demand = problem.demand[item]!;
  const dims = demand.length;
  const weighted = new Float64Array(dims);
  for (let r = 0; r < dims; r++) weighted[r] = problem.itemWeight[item]![r]! * demand[r]!;
  const steps = new Float64Array(nodes.length);
  const heap = spreadHeap;
  heap.clear();
  for (let j = 0; j < nodes.length; j++) {
    const node = nodes[j]!;
    if (!acceptsZone(problem, node, zone) || copiesThatFit(problem, node, item) <= 0) continue;
    const usable = problem.kinds[node.kind]!.usable;
    let key = 0;
    let step = 0;
    for (let r = 0; r < dims; r++) {
      if (weighted[r] === 0 || usable[r]! <= 0) continue;
      key += (weighted[r]! * node.used[r]!) / usable[r]!;
      step += (weighted[r]! * demand[r]!) / usable[r]!;
    }
    steps[j] = step;
    heap.append(key, j);
  }
  heap.heapify();
  let left = unit.count;
  while (left > 0 && heap.size > 0) {
    const key = heap.peekKey();
    const j = heap.peekId();
    heap.pop();
    const node = nodes[j]!;
    const step = steps[j]!;
    const run = step > 0 ? Math.floor((heap.peekKey() - key) / step) + 1 : left;
    const copies = Math.min(left, run, copiesThatFit(problem, node, item));
    if (copies <= 0) continue;
    addPods(problem, node, item, zone, copies);
    left -= copies;
    if (copiesThatFit(problem, node, item) > 0) heap.push(key + copies * step, j);
  }
  return left;
}
