/**
 * A lower bound on the nodes of any valid packing of a target's pods onto a supply (issue 16), over all its pods at
 * once, in every resource, with the supply's limits: owned nodes are counted once each, catalog shapes without
 * limit. Each bound below holds for every packing the packer could make, so their largest is reported, with what
 * binds it in words.
 *
 * What a node can hold of resource r, for these bounds: its usable capacity (allocatable less headroom), or, on a
 * kind where some pod may run alone over its usable capacity (the solo rule), that pod's request when larger.
 *
 * - Cover, per resource: the fewest nodes whose capacities add up to the total request, the largest first.
 * - Classes of pods only some nodes admit (GPU pods, pods pinned to a model, nodes reserved for a resource): for
 *   each set of node kinds that admit some item, the items admitted only there need the fewest nodes of those
 *   kinds that cover their requests; pods that may only run alone need a node each.
 * - Combined: when the pods only kinds A admit need n nodes of A, every packing has n nodes of A, at best the n
 *   largest in r, and the rest of the request in r needs the largest of the other nodes (or more of A).
 * - Anti-affinity: an item with at most m pods per node needs ⌈count / m⌉ nodes.
 * - Zones: a node is in one zone, so the nodes each zone needs for the pods it must hold (`podsEachZoneMustHold`)
 *   add up.
 *
 * The per-pool bounds of the per-pool planner (`lower-bound.ts` on one shape per pool) are given beside it, for
 * comparison.
 */
import { lowerBound } from "./lower-bound.ts";
import { formatAmount, formatNodes, formatNumber } from "./resource-amounts.ts";
import { alone, describeSupplyProblem, type Supply, type SupplyProblem, sharing } from "./supply-problem.ts";
import type { SupplyBound, SupplyItem, SupplyOptions, SupplyPoolBound } from "./supply-types.ts";
import { podsEachZoneMustHold } from "./zone-spread.ts";

/** The bound of a supply packing; items that fit no node of the supply are left out of it. */
export function supplyBound(
  items: readonly SupplyItem[],
  supply: Supply,
  options: SupplyOptions,
): SupplyBound {
  return supplyBoundOf(describeSupplyProblem(items, supply, options).problem);
}

interface Bound {
  nodes: number;
  binding: () => string;
}

/** Nodes of one kind as the bounds see them: a capacity in one resource, and how many there are. */
interface Stock {
  kind: number;
  cap: number;
  count: number;
}

const epsilon = 1e-9;

export function supplyBoundOf(problem: SupplyProblem): SupplyBound {
  const live = problem.items
    .map((_, i) => i)
    .filter((i) => problem.items[i]!.count > 0 && problem.shared[i]!.length + problem.solo[i]!.length > 0);
  const pools = poolBounds(problem, live);
  if (live.length === 0) return { nodes: 0, binding: "no pods to place", pools };
  const caps = capacities(problem, live);
  const measures = measuresOf(problem);
  const parts = componentsOf(problem, live).map((component, _, all) =>
    componentBound(problem, caps, measures, component, all.length === 1),
  );
  const sum = parts.reduce((n, part) => n + part.nodes, 0);
  const summed: Bound = {
    nodes: sum,
    binding: () =>
      parts.length === 1
        ? parts[0]!.binding()
        : `pods that no node kind admits together need nodes apart, which add up: ${parts
            .map((part) => `${formatNodes(part.nodes)} (${part.binding()})`)
            .join("; ")}`,
  };
  const bounds = [summed, antiAffinityBound(problem, live), zoneBound(problem, caps, measures, live)];
  let best = bounds[0]!;
  for (const b of bounds) if (b.nodes > best.nodes) best = b;
  return { nodes: best.nodes, binding: best.binding(), pools };
}

/** Items and the kinds that admit them, split where no item is admitted on both sides. */
interface Component {
  kinds: Set<number>;
  items: number[];
}

function admitting(problem: SupplyProblem, item: number): number[] {
  return [...problem.shared[item]!, ...problem.solo[item]!];
}

/** The connected parts of "item i may run on kind k": their nodes are disjoint in any packing. */
function componentsOf(problem: SupplyProblem, live: readonly number[]): Component[] {
  const parent = problem.kinds.map((_, k) => k);
  const root = (k: number): number => {
    while (parent[k] !== k) {
      parent[k] = parent[parent[k]!]!;
      k = parent[k]!;
    }
    return k;
  };
  for (const i of live) {
    const [first, ...others] = admitting(problem, i);
    for (const k of others) parent[root(k)] = root(first!);
  }
  const byRoot = new Map<number, Component>();
  for (const i of live) {
    const r = root(admitting(problem, i)[0]!);
    let component = byRoot.get(r);
    if (!component) {
      component = { kinds: new Set(), items: [] };
      byRoot.set(r, component);
    }
    component.items.push(i);
    for (const k of admitting(problem, i)) component.kinds.add(k);
  }
  return [...byRoot.values()];
}

/**
 * One component's bound: cover of all its pods; for each set of kinds admitting some item, the items admitted only
 * there, alone and with the rest of the pods beside them; the disjoint such sets forced together; anti-affinity.
 */
function componentBound(
  problem: SupplyProblem,
  caps: readonly Float64Array[],
  measures: readonly Measure[],
  component: Component,
  only: boolean,
): Bound {
  const name = only ? "all pods" : `pods on ${describeKinds(problem, component.kinds)}`;
  const bounds: Bound[] = [
    classBound(problem, caps, measures, component.items, component.kinds, name),
    antiAffinityBound(problem, component.items),
  ];
  const sets = new Map<string, Set<number>>();
  for (const i of component.items) {
    const kinds = admitting(problem, i).sort((a, b) => a - b);
    if (kinds.length < component.kinds.size) sets.set(kinds.join(","), new Set(kinds));
  }
  const classes: Forced[] = [];
  for (const kinds of sets.values()) {
    const members = component.items.filter((i) => admitting(problem, i).every((k) => kinds.has(k)));
    const className = `pods only ${describeKinds(problem, kinds)} admit`;
    const own = classBound(problem, caps, measures, members, kinds, className);
    bounds.push(own);
    if (own.nodes > 0) {
      classes.push({ kinds, own, name: className });
      bounds.push(...combinedBounds(problem, caps, measures, component, [{ kinds, own, name: className }]));
    }
  }
  // Disjoint classes, the narrowest first, forced together.
  const family: Forced[] = [];
  for (const c of [...classes].sort((a, b) => a.kinds.size - b.kinds.size || a.name.localeCompare(b.name)))
    if (family.every((f) => [...c.kinds].every((k) => !f.kinds.has(k)))) family.push(c);
  if (family.length > 1) bounds.push(...combinedBounds(problem, caps, measures, component, family));
  let best = bounds[0]!;
  for (const b of bounds) if (b.nodes > best.nodes) best = b;
  return best;
}

/** Nodes of some kinds that any packing has, for the pods only they admit. */
interface Forced {
  kinds: ReadonlySet<number>;
  own: Bound;
  name: string;
}

/**
 * Per kind and resource, what one node may hold: its usable capacity with tolerance, or the largest request of a
 * pod that may run on it alone, when larger.
 */
function capacities(problem: SupplyProblem, live: readonly number[]): Float64Array[] {
  const kinds = problem.kinds.length;
  return problem.kinds.map((kind, k) => {
    const cap = Float64Array.from(kind.limit);
    for (const i of live)
      if (problem.mode[i * kinds + k] === alone)
        for (let r = 0; r < cap.length; r++) cap[r] = Math.max(cap[r]!, problem.demand[i]![r]!);
    return cap;
  });
}

/**
 * A way to measure pods and nodes in one number: a weighted sum of resources, each weighed against the largest
 * node's usable amount of it. A node's pods never measure more than the node, whatever the weights, so every
 * measure gives a cover bound; one resource alone is the plain volume bound, and mixtures (cpu with memory, …)
 * catch nodes large in one resource and small in another.
 */
interface Measure {
  weights: Float64Array;
  /** The resource, for a measure of one resource alone. */
  resource?: string;
  /** In words (built only when a binding is worded). */
  name: () => string;
}

function measuresOf(problem: SupplyProblem): Measure[] {
  const dims = problem.resources.length;
  const unit = (r: number) => 1 / (problem.reference[r]! > 0 ? problem.reference[r]! : 1);
  const measures: Measure[] = problem.resources.map((resource, r) => {
    const weights = new Float64Array(dims);
    weights[r] = 1;
    return { weights, resource, name: () => resource };
  });
  const mix = (parts: [number, number][]) => {
    const weights = new Float64Array(dims);
    for (const [r, share] of parts) weights[r] = share * unit(r);
    const name = () =>
      `${parts.map(([r, share]) => `${formatNumber(share * 100)}% ${problem.resources[r]}`).join(" + ")} ` +
      "(each as a share of the largest node's)";
    measures.push({ weights, name });
  };
  for (let a = 0; a < dims; a++)
    for (let b = a + 1; b < dims; b++)
      for (let step = 1; step < 10; step++)
        mix([
          [a, step / 10],
          [b, 1 - step / 10],
        ]);
  if (dims <= 5)
    for (let a = 0; a < dims; a++)
      for (let b = a + 1; b < dims; b++)
        for (let c = b + 1; c < dims; c++)
          for (const [x, y] of [
            [0.2, 0.2],
            [0.2, 0.4],
            [0.4, 0.2],
            [0.2, 0.6],
            [0.6, 0.2],
            [0.4, 0.4],
          ] as const)
            mix([
              [a, x],
              [b, y],
              [c, 1 - x - y],
            ]);
  return measures;
}

/** What one pod of the item measures. */
function measured(problem: SupplyProblem, item: number, measure: Measure): number {
  const demand = problem.demand[item]!;
  let sum = 0;
  for (let r = 0; r < demand.length; r++) sum += measure.weights[r]! * demand[r]!;
  return sum;
}

/** The nodes of the kinds, largest by the measure first. */
function stocks(
  problem: SupplyProblem,
  caps: readonly Float64Array[],
  kinds: Iterable<number>,
  measure: Measure,
): Stock[] {
  return [...kinds]
    .map((kind) => {
      let cap = 0;
      for (let r = 0; r < measure.weights.length; r++) cap += measure.weights[r]! * caps[kind]![r]!;
      return { kind, cap, count: problem.kinds[kind]!.count };
    })
    .filter((s) => s.cap > 0 && s.count > 0)
    .sort((a, b) => b.cap - a.cap || a.kind - b.kind);
}

/** An amount by the measure, in words. */
function amountOf(measure: Measure, value: number): string {
  return measure.resource !== undefined
    ? formatAmount(measure.resource, value)
    : `${formatNumber(value)} node-equivalents`;
}

/** The fewest nodes of the stocks (largest first, used in place) whose capacities cover `demand`; Infinity if none do. */
function cover(demand: number, stock: readonly Stock[], taken?: Map<number, number>): number {
  let rest = demand;
  let nodes = 0;
  let last = 0;
  for (const s of stock) {
    // What is left within rounding of a node is left out: the bound may only err low.
    if (rest <= epsilon * s.cap) return nodes;
    const available = s.count - (taken?.get(s.kind) ?? 0);
    if (available <= 0) continue;
    const use = Math.min(Math.max(1, Math.ceil(rest / s.cap - epsilon)), available);
    nodes += use;
    rest -= use * s.cap;
    last = s.cap;
  }
  return rest <= epsilon * Math.max(last, demand) ? nodes : Number.POSITIVE_INFINITY;
}

/** What the items' pods measure in all. */
function totalOf(problem: SupplyProblem, items: readonly number[], measure: Measure): number {
  let total = 0;
  for (const i of items) total += problem.items[i]!.count * measured(problem, i, measure);
  return total;
}

/**
 * The items' pods on the kinds' nodes: pods that may only run alone take a node each, and the others need the
 * nodes that cover them, by each measure; the largest over the measures.
 */
function classBound(
  problem: SupplyProblem,
  caps: readonly Float64Array[],
  measures: readonly Measure[],
  items: readonly number[],
  kinds: ReadonlySet<number>,
  name: string,
): Bound {
  const loners = items.filter((i) => problem.shared[i]!.length === 0);
  const lonerPods = loners.reduce((n, i) => n + problem.items[i]!.count, 0);
  const sharers = items.filter((i) => problem.shared[i]!.length > 0);
  let best: Bound = {
    nodes: lonerPods,
    binding: () => `${name}: ${formatNumber(lonerPods)} pods too large to share a node need one each`,
  };
  for (const measure of measures) {
    const total = totalOf(problem, sharers, measure);
    if (total <= 0) continue;
    const nodes = lonerPods + finite(cover(total, stocks(problem, caps, kinds, measure)), problem);
    if (nodes > best.nodes)
      best = {
        nodes,
        binding: () =>
          `${name}: ${measure.name()}, ${amountOf(measure, total)} requested, need ${formatNodes(nodes - lonerPods)}, the largest first` +
          (lonerPods > 0 ? `, beside ${formatNumber(lonerPods)} pods too large to share a node` : ""),
      };
  }
  return best;
}

/** An uncoverable demand means no packing exists; the bound then counts every node of the supply. */
function finite(nodes: number, problem: SupplyProblem): number {
  if (Number.isFinite(nodes)) return nodes;
  return problem.kinds.reduce((n, k) => n + (Number.isFinite(k.count) ? k.count : 0), 0);
}

/**
 * With the nodes each class of pods needs on the kinds only it may use (classes on disjoint kinds): by each
 * measure, those nodes hold at most the largest of their kinds, and the rest of the component's pods need more
 * nodes, the largest first.
 */
function combinedBounds(
  problem: SupplyProblem,
  caps: readonly Float64Array[],
  measures: readonly Measure[],
  component: Component,
  family: readonly Forced[],
): Bound[] {
  const forcedNodes = family.reduce((n, f) => n + f.own.nodes, 0);
  const bounds: Bound[] = [];
  for (const measure of measures) {
    const total = totalOf(problem, component.items, measure);
    if (total <= 0) continue;
    const taken = new Map<number, number>();
    let held = 0;
    for (const f of family) {
      let forced = f.own.nodes;
      for (const s of stocks(problem, caps, f.kinds, measure)) {
        if (forced === 0) break;
        const use = Math.min(forced, s.count);
        taken.set(s.kind, use);
        held += use * s.cap;
        forced -= use;
      }
    }
    if (held >= total) continue;
    const more = finite(cover(total - held, stocks(problem, caps, component.kinds, measure), taken), problem);
    const nodes = forcedNodes + more;
    bounds.push({
      nodes,
      binding: () =>
        `${family.map((f) => `${f.name} need ${formatNodes(f.own.nodes)} (${f.own.binding()})`).join("; ")}; ` +
        `by ${measure.name()}, the pods request ${amountOf(measure, total)}, at most ${amountOf(measure, held)} ` +
        `of it on those nodes, the rest on ${formatNodes(more)} more`,
    });
  }
  return bounds;
}

function antiAffinityBound(problem: SupplyProblem, live: readonly number[]): Bound {
  let best: Bound = { nodes: 0, binding: () => "no anti-affinity" };
  for (const i of live) {
    const item = problem.items[i]!;
    if (item.maxPerNode === undefined) continue;
    const nodes = Math.ceil(item.count / item.maxPerNode);
    if (nodes > best.nodes)
      best = {
        nodes,
        binding: () =>
          `anti-affinity: ${item.id} needs ${formatNodes(nodes)} (${formatNumber(item.count)} pods, at most ${item.maxPerNode} per node)`,
      };
  }
  return best;
}

/** Per zone, the nodes for the pods it must hold (cover per resource, anti-affinity); added over the zones. */
function zoneBound(
  problem: SupplyProblem,
  caps: readonly Float64Array[],
  measures: readonly Measure[],
  live: readonly number[],
): Bound {
  const bound = live.filter((i) => problem.zoneBound[i]);
  if (bound.length === 0) return { nodes: 0, binding: () => "no zone-bound pods" };
  const perZone: { zone: string; nodes: number }[] = [];
  problem.zones.forEach((zone, z) => {
    const forced = new Map<number, number>();
    for (const i of bound) {
      const zones = problem.itemZones[i]!;
      if (!zones.includes(z)) continue;
      const pods = podsEachZoneMustHold(problem.items[i]!, zones.length);
      if (pods > 0) forced.set(i, pods);
    }
    if (forced.size === 0) return;
    const kinds = new Set(
      [...forced.keys()]
        .flatMap((i) => [...problem.shared[i]!, ...problem.solo[i]!])
        .filter((k) => (problem.kinds[k]!.owned ? problem.kinds[k]!.zone === z : z < problem.newNodeZones)),
    );
    let nodes = 0;
    for (const [i, pods] of forced) {
      const most = problem.items[i]!.maxPerNode;
      if (most !== undefined) nodes = Math.max(nodes, Math.ceil(pods / most));
    }
    for (const measure of measures) {
      let total = 0;
      for (const [i, pods] of forced) total += pods * measured(problem, i, measure);
      if (total > 0)
        nodes = Math.max(nodes, finite(cover(total, stocks(problem, caps, kinds, measure)), problem));
    }
    if (nodes > 0) perZone.push({ zone, nodes });
  });
  const nodes = perZone.reduce((n, z) => n + z.nodes, 0);
  return {
    nodes,
    binding: () =>
      `zones must hold their share of zone-bound pods: ${perZone.map((z) => `${z.zone} ${formatNodes(z.nodes)}`).join(", ")}`,
  };
}

/** "new m6.4xlarge, owned g5.12xlarge (3 zones)": the kinds' shapes, owned or new. */
function describeKinds(problem: SupplyProblem, kinds: ReadonlySet<number>): string {
  const names = new Set<string>();
  for (const k of kinds) {
    const kind = problem.kinds[k]!;
    names.add(`${kind.owned ? "owned" : "new"} ${kind.shape}`);
  }
  return `${[...names].sort().join(", ")} nodes`;
}

/**
 * Per pool (items admitted by the same node kinds), the single-shape bound of `lower-bound.ts` on the kind of the
 * pool that all its items share whose bound is lowest.
 */
function poolBounds(problem: SupplyProblem, live: readonly number[]): SupplyPoolBound[] {
  const pools = new Map<string, number[]>();
  for (const i of live) {
    const key = [...problem.shared[i]!, ...problem.solo[i]!].sort((a, b) => a - b).join(",");
    pools.set(key, [...(pools.get(key) ?? []), i]);
  }
  const kindCount = problem.kinds.length;
  const result: SupplyPoolBound[] = [];
  for (const members of pools.values()) {
    const items = members.map((i) => problem.items[i]!);
    const zones = [...new Set(members.flatMap((i) => problem.itemZones[i]!))]
      .sort((a, b) => a - b)
      .map((z) => problem.zones[z]!);
    let best: SupplyPoolBound | undefined;
    const tried = new Set<string>();
    for (const k of problem.shared[members[0]!]!) {
      if (!members.every((i) => problem.mode[i * kindCount + k] === sharing)) continue;
      const kind = problem.kinds[k]!;
      if (tried.has(kind.shape)) continue;
      tried.add(kind.shape);
      const allocatable = Object.fromEntries(problem.resources.map((r, d) => [r, kind.allocatable[d]!]));
      const nodes = lowerBound(
        items,
        { name: kind.shape, allocatable, monthlyPrice: kind.price },
        { zones, headroomPercent: problem.options.headroomPercent },
      ).nodes;
      if (!best || nodes < best.nodes) best = { items: members, shape: kind.shape, nodes };
    }
    if (best) result.push(best);
  }
  return result;
}
