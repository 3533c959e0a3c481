/**
 * A packing onto a supply (issue 16) in the form the algorithms work on: the resources that matter as numbered
 * dimensions, the supply as node kinds (each catalog shape is one kind, bought in any number; owned nodes alike in
 * shape, zone, allocatable, labels, taints and price form one kind with a count), and, per item, the kinds that
 * admit its pods. Shared by the packer, its first-fit-decreasing baseline and the lower bound.
 *
 * Admission of an item's pods on a kind: `admits` (labels, node affinity, taints); the policy's `reserve` (a node
 * with a positive amount of a reserved extended resource runs only pods that request every such resource it has);
 * and resources. A pod that fits a kind's usable capacity (allocatable less the headroom on cpu, memory and pods)
 * shares its nodes with other pods. A pod within the allocatable but over the usable capacity may still run on such
 * a node, alone: headroom never makes a pod unplaceable on a node it fits (the "solo" rule).
 *
 * Zones: owned nodes stay in their zone; new nodes go in `options.zones`. A zone-bound item (zone anti-affinity,
 * zone spread) counts its pods over the zones where some kind admits it, as kube-scheduler counts topology domains
 * over the nodes that match a pod's node affinity.
 */
import type { Resources } from "../fleet-snapshot.ts";
import { type AdmittingNode, refusalOf } from "../node-admission.ts";
import { capacityTolerance, keepsHeadroom } from "./packing-problem.ts";
import { formatAmount } from "./resource-amounts.ts";
import type { CatalogShape, OwnedNode, SupplyItem, SupplyOptions } from "./supply-types.ts";
import { isZoneBound } from "./zone-spread.ts";

/** Zone of a new node that no zone-bound pod has pinned yet. */
export const openZone = -1;

/** Nodes of one kind: an owned group (limited) or a catalog shape (unlimited). */
export interface SupplyKind {
  /** The shape's name (owned nodes: their shape key). */
  shape: string;
  owned: boolean;
  /** Owned nodes of this kind, in supply order; empty for a catalog shape. */
  names: readonly string[];
  /** How many nodes of the kind exist: Infinity for a catalog shape. */
  count: number;
  /** Zone index for owned nodes; `openZone` for a catalog shape (any of `options.zones`). */
  zone: number;
  /** Monthly price of one node (0 when unpriced) and whether it is priced. */
  price: number;
  priced: boolean;
  /** Per dimension: what pods may request, usable capacity (headroom off), and the limits with tolerance. */
  allocatable: Float64Array;
  usable: Float64Array;
  /** What pods sharing a node may use: usable, with the rounding tolerance on cpu, memory and pods. */
  limit: Float64Array;
  /** What one pod alone may use: allocatable, with the same tolerance. */
  soloLimit: Float64Array;
  /** Per dimension: scarcity weight / usable, so that a node's load is Σ used × loadWeight. */
  loadWeight: Float64Array;
  /** Reserved extended resources the kind has. */
  reserved: readonly string[];
  /** Whether it offers any extended resource (names with a "/"). */
  extended: boolean;
  /** What admission reads. */
  node: AdmittingNode;
}

export interface SupplyProblem {
  readonly items: readonly SupplyItem[];
  readonly options: SupplyOptions;
  /** Resources some pod requests: the dimensions. */
  readonly resources: readonly string[];
  /** `options.zones`, then the zones of owned nodes not among them (in name order). */
  readonly zones: readonly string[];
  /** How many of `zones` new nodes may go in (the first ones). */
  readonly newNodeZones: number;
  readonly kinds: readonly SupplyKind[];
  /** Per item, one pod's demand per dimension. */
  readonly demand: readonly Float64Array[];
  /** Per item, kinds whose nodes it may share (fits the usable capacity), in kind order. */
  readonly shared: readonly number[][];
  /** Per item, kinds it may run on only alone (over usable, within allocatable). */
  readonly solo: readonly number[][];
  /** Per item, the zones where some kind admits it (zone indices, ascending). */
  readonly itemZones: readonly number[][];
  readonly zoneBound: readonly boolean[];
  /** Per item, most pods per node, or 0 when unlimited. */
  readonly maxPerNode: Int32Array;
  /** Per dimension, how much of it all pods need relative to the largest node's usable capacity, summing to 1. */
  readonly scarcity: Float64Array;
  /** Per item, one pod's scarcity-weighted share of the largest node: its size. */
  readonly size: Float64Array;
  /** Per item, one pod's largest share of the largest node in any dimension (first-fit decreasing's size). */
  readonly dominant: Float64Array;
  /** Per dimension, the largest usable capacity of any kind: what shares are taken of. */
  readonly reference: Float64Array;
  /**
   * Per item and per kind, the weights that measure pods and nodes in one number (Σ weight × amount): per resource,
   * its scarcity over the pods of the item's (kind's) component — the items and kinds linked by admission — divided
   * by the largest usable amount among that component's kinds. GPU nodes tainted for GPU pods thus do not skew
   * how cpu and memory are weighed among CPU nodes.
   */
  readonly itemWeight: readonly Float64Array[];
  readonly kindWeight: readonly Float64Array[];
  /** How item i may run on kind k, at `i × kinds + k`: 0 not at all, `sharing`, or `alone`. */
  readonly mode: Uint8Array;
}

/** `mode` values: the item's pods may share nodes of the kind, or run there only one per node, alone. */
export const sharing = 1;
export const alone = 2;

/** The supply given to a packing. */
export interface Supply {
  owned: readonly OwnedNode[];
  catalog: readonly CatalogShape[];
}

/** Items that cannot be placed at all, each with the reason; empty when every item fits some kind. */
export type Unfit = { item: number; reason: string }[];

/** Builds the problem; items that fit no kind of the supply are listed in `unfit` with the reasons. */
export function describeSupplyProblem(
  items: readonly SupplyItem[],
  supply: Supply,
  options: SupplyOptions,
): { problem: SupplyProblem; unfit: Unfit } {
  const resources = requestedResources(items);
  const zones = [
    ...options.zones,
    ...[...new Set(supply.owned.map((n) => n.zone))].filter((z) => !options.zones.includes(z)).sort(),
  ];
  const kinds = kindsOf(supply, options, resources, zones);
  const demand = items.map((item) => Float64Array.from(resources, (r) => item.demand[r] ?? 0));
  const largest = Float64Array.from(resources, (_, r) => Math.max(0, ...kinds.map((k) => k.usable[r]!)));
  const share = demand.map((d) =>
    d.map((amount, r) => (amount > 0 && largest[r]! > 0 ? amount / largest[r]! : 0)),
  );
  const scarcity = new Float64Array(resources.length);
  items.forEach((item, i) => {
    for (let r = 0; r < resources.length; r++) scarcity[r]! += Math.max(0, item.count) * share[i]![r]!;
  });
  const total = scarcity.reduce((a, b) => a + b, 0);
  if (total > 0) for (let r = 0; r < resources.length; r++) scarcity[r]! /= total;
  else scarcity.fill(1 / Math.max(1, resources.length));
  const shared: number[][] = [];
  const solo: number[][] = [];
  const itemZones: number[][] = [];
  const unfit: Unfit = [];
  items.forEach((item, i) => {
    const sharedKinds: number[] = [];
    const soloKinds: number[] = [];
    const refusals: string[] = [];
    const malformed = malformedItemProblem(item);
    if (malformed === undefined)
      kinds.forEach((kind, k) => {
        if (kind.owned ? false : options.zones.length === 0) {
          refusals.push(`${kindLabel(kind)}: no zone is given for new nodes`);
          return;
        }
        const refusal = admissionRefusal(kind, item, resources, demand[i]!);
        if (refusal !== undefined) refusals.push(`${kindLabel(kind)}: ${refusal}`);
        else if (fitsWithin(demand[i]!, kind.limit)) sharedKinds.push(k);
        else soloKinds.push(k);
      });
    const zonesOf = [
      ...new Set(
        [...sharedKinds, ...soloKinds].flatMap((k) =>
          kinds[k]!.owned ? [kinds[k]!.zone] : options.zones.map((_, z) => z),
        ),
      ),
    ].sort((a, b) => a - b);
    shared.push(sharedKinds);
    solo.push(soloKinds);
    itemZones.push(zonesOf);
    if (item.count === 0 && malformed === undefined) return;
    if (malformed !== undefined) unfit.push({ item: i, reason: malformed });
    else if (sharedKinds.length + soloKinds.length === 0)
      unfit.push({
        item: i,
        reason: kinds.length === 0 ? "the supply has no nodes" : [...new Set(refusals)].join("; "),
      });
    else if (item.maxPerZone !== undefined && item.count > item.maxPerZone * zonesOf.length)
      unfit.push({
        item: i,
        reason:
          `has ${item.count} pods but at most ${item.maxPerZone} per zone may run, ` +
          `${item.maxPerZone * zonesOf.length} over the ${zonesOf.length} ${zonesOf.length === 1 ? "zone" : "zones"} where nodes admit it`,
      });
  });
  const dominant = Float64Array.from(share, (s) => Math.max(0, ...s));
  const { itemWeight, kindWeight, kindShares } = weightsByComponent(
    items,
    kinds,
    demand,
    shared,
    solo,
    resources.length,
  );
  kinds.forEach((kind, k) => {
    for (let r = 0; r < resources.length; r++)
      kind.loadWeight[r] = kind.usable[r]! > 0 ? kindShares[k]![r]! / kind.usable[r]! : 0;
  });
  const size = Float64Array.from(demand, (d, i) => d.reduce((sum, x, r) => sum + x * itemWeight[i]![r]!, 0));
  return {
    problem: {
      items,
      options,
      resources,
      zones,
      newNodeZones: options.zones.length,
      kinds,
      demand,
      shared,
      solo,
      itemZones,
      zoneBound: items.map(isZoneBound),
      maxPerNode: Int32Array.from(items, (item) => item.maxPerNode ?? 0),
      scarcity,
      size,
      dominant,
      reference: largest,
      itemWeight,
      kindWeight,
      mode: modeTable(items.length, kinds.length, shared, solo),
    },
    unfit,
  };
}

/** See `SupplyProblem.itemWeight`. */
function weightsByComponent(
  items: readonly SupplyItem[],
  kinds: readonly SupplyKind[],
  demand: readonly Float64Array[],
  shared: readonly number[][],
  solo: readonly number[][],
  dims: number,
): { itemWeight: Float64Array[]; kindWeight: Float64Array[]; kindShares: Float64Array[] } {
  const parent = kinds.map((_, k) => k);
  const root = (k: number): number => {
    while (parent[k] !== k) {
      parent[k] = parent[parent[k]!]!;
      k = parent[k]!;
    }
    return k;
  };
  const admitting = items.map((_, i) => [...shared[i]!, ...solo[i]!]);
  for (const list of admitting) for (const k of list.slice(1)) parent[root(k)] = root(list[0]!);
  const weights = new Map<number, { weight: Float64Array; shares: Float64Array }>();
  const weightOf = (component: number) => {
    const known = weights.get(component);
    if (known) return known;
    const reference = new Float64Array(dims);
    kinds.forEach((kind, k) => {
      if (root(k) !== component) return;
      for (let r = 0; r < dims; r++) reference[r] = Math.max(reference[r]!, kind.usable[r]!);
    });
    const scarcity = new Float64Array(dims);
    items.forEach((item, i) => {
      if (admitting[i]!.length === 0 || root(admitting[i]![0]!) !== component) return;
      for (let r = 0; r < dims; r++)
        if (reference[r]! > 0) scarcity[r]! += (Math.max(0, item.count) * demand[i]![r]!) / reference[r]!;
    });
    const total = scarcity.reduce((a, b) => a + b, 0);
    const weight = new Float64Array(dims);
    const shares = new Float64Array(dims);
    for (let r = 0; r < dims; r++) {
      shares[r] = total > 0 ? scarcity[r]! / total : 1 / dims;
      weight[r] = reference[r]! > 0 ? shares[r]! / reference[r]! : 0;
    }
    const made = { weight, shares };
    weights.set(component, made);
    return made;
  };
  return {
    itemWeight: items.map((_, i) =>
      admitting[i]!.length > 0 ? weightOf(root(admitting[i]![0]!)).weight : new Float64Array(dims),
    ),
    kindWeight: kinds.map((_, k) => weightOf(root(k)).weight),
    kindShares: kinds.map((_, k) => weightOf(root(k)).shares),
  };
}

function modeTable(
  items: number,
  kinds: number,
  shared: readonly number[][],
  solo: readonly number[][],
): Uint8Array {
  const mode = new Uint8Array(items * kinds);
  for (let i = 0; i < items; i++) {
    for (const k of shared[i]!) mode[i * kinds + k] = sharing;
    for (const k of solo[i]!) mode[i * kinds + k] = alone;
  }
  return mode;
}

/** The resources some pod of some item requests (a positive amount), in name order. */
function requestedResources(items: readonly SupplyItem[]): string[] {
  const names = new Set<string>();
  for (const item of items)
    if (item.count > 0)
      for (const [resource, amount] of Object.entries(item.demand)) if (amount > 0) names.add(resource);
  return [...names].sort();
}

/** Whether a demand stays within the limits in every dimension. */
export function fitsWithin(demand: Float64Array, limit: Float64Array): boolean {
  for (let r = 0; r < demand.length; r++) if (demand[r]! > limit[r]!) return false;
  return true;
}

/** "m6.4xlarge", or "owned m6.4xlarge in z1". */
export function kindLabel(kind: SupplyKind, zones?: readonly string[]): string {
  if (!kind.owned) return `a new ${kind.shape} node`;
  return zones ? `owned ${kind.shape} nodes in ${zones[kind.zone]}` : `owned ${kind.shape} nodes`;
}

function kindsOf(
  supply: Supply,
  options: SupplyOptions,
  resources: readonly string[],
  zones: readonly string[],
): SupplyKind[] {
  const make = (
    shape: string,
    allocatable: Resources,
    node: AdmittingNode,
    price: number | undefined,
    owned: boolean,
    zone: number,
  ): SupplyKind => {
    const keep = 1 - options.headroomPercent / 100;
    const alloc = Float64Array.from(resources, (r) => allocatable[r] ?? 0);
    const usable = alloc.map((a, r) => (keepsHeadroom(resources[r]!) ? a * keep : a));
    const tolerate = (values: Float64Array) =>
      values.map((v, r) => (keepsHeadroom(resources[r]!) ? v * (1 + capacityTolerance) : v));
    return {
      shape,
      owned,
      names: [],
      count: owned ? 0 : Number.POSITIVE_INFINITY,
      zone,
      price: price ?? 0,
      priced: price !== undefined,
      allocatable: alloc,
      usable,
      limit: tolerate(usable),
      soloLimit: tolerate(alloc),
      loadWeight: new Float64Array(resources.length),
      reserved: options.reserve.filter((r) => (allocatable[r] ?? 0) > 0),
      extended: Object.entries(allocatable).some(([r, a]) => r.includes("/") && a > 0),
      node,
    };
  };
  const byKey = new Map<string, SupplyKind & { names: string[] }>();
  for (const node of supply.owned) {
    const key = JSON.stringify([
      node.shape,
      node.zone,
      sortedEntries(node.allocatable),
      sortedEntries(node.labels),
      node.taints ?? [],
      node.monthlyPrice ?? null,
    ]);
    let kind = byKey.get(key);
    if (!kind) {
      kind = make(
        node.shape,
        node.allocatable,
        { labels: node.labels, ...(node.taints ? { taints: node.taints } : {}) },
        node.monthlyPrice,
        true,
        zones.indexOf(node.zone),
      ) as SupplyKind & { names: string[] };
      byKey.set(key, kind);
    }
    kind.names.push(node.name);
    kind.count += 1;
  }
  const catalog = supply.catalog.map((shape) =>
    make(
      shape.name,
      shape.allocatable,
      { labels: shape.labels, ...(shape.taints ? { taints: shape.taints } : {}) },
      shape.monthlyPrice,
      false,
      openZone,
    ),
  );
  return [...byKey.values(), ...catalog];
}

function sortedEntries(record: Readonly<Record<string, unknown>>): [string, unknown][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Why a kind refuses an item's pods whatever else runs there; undefined when one pod may run there (alone, at worst). */
function admissionRefusal(
  kind: SupplyKind,
  item: SupplyItem,
  resources: readonly string[],
  demand: Float64Array,
): string | undefined {
  const refusal = refusalOf(kind.node, item);
  if (refusal !== undefined) return refusal;
  for (const reserved of kind.reserved)
    if (!((item.demand[reserved] ?? 0) > 0))
      return `its ${reserved} is reserved for pods that request it (policy reserve)`;
  for (let r = 0; r < resources.length; r++) {
    const amount = demand[r]!;
    if (amount <= kind.soloLimit[r]!) continue;
    const resource = resources[r]!;
    const has = kind.allocatable[r]!;
    return has <= 0
      ? `requests ${formatAmount(resource, amount)} per pod, but the node has no ${resource}`
      : `requests ${formatAmount(resource, amount)} per pod, more than the ${formatAmount(resource, has)} allocatable`;
  }
  return undefined;
}

function malformedItemProblem(item: SupplyItem): string | undefined {
  if (!Number.isInteger(item.count) || item.count < 0)
    return `count must be a whole number ≥ 0, not ${item.count}`;
  for (const [name, value] of [
    ["maxPerNode", item.maxPerNode],
    ["maxPerZone", item.maxPerZone],
    ["zoneMaxSkew", item.zoneMaxSkew],
  ] as const)
    if (value !== undefined && (!Number.isInteger(value) || value < 1))
      return `${name} must be a whole number ≥ 1, not ${value}`;
  for (const [resource, amount] of Object.entries(item.demand)) {
    if (!Number.isFinite(amount) || amount < 0)
      return `requests ${amount} ${resource} per pod: a request must be a finite number ≥ 0`;
    if (!keepsHeadroom(resource) && !Number.isInteger(amount))
      return `requests ${amount} ${resource} per pod: an extended resource is a whole number of devices`;
  }
  return undefined;
}
