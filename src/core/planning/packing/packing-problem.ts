/**
 * A packing problem in the form the algorithms work on: the resources that matter as numbered dimensions, each
 * pod's demand as numbers and as a share of a node, and the checks that tell which items cannot be packed at all.
 */
import type { NodeShape, PackItem, PackOptions } from "./packing-types.ts";
import { formatAmount, formatNumber } from "./resource-amounts.ts";
import { isZoneBound } from "./zone-spread.ts";

/**
 * Relative slack allowed over a node's usable capacity, so that rounding (3 × 0.1 cores is a hair more than
 * 0.3 cores in floating point) does not refuse a pod that fits exactly.
 */
export const capacityTolerance = 1e-9;

/**
 * Whether the headroom applies to a resource. It is kept free for autoscaling of cpu, memory and pod count;
 * extended resources (names with a "/", such as `nvidia.com/gpu`) are whole devices and count in full.
 */
export function keepsHeadroom(resource: string): boolean {
  return !resource.includes("/");
}

/**
 * What pods may request on one node of the shape: allocatable × (1 − headroom/100) for cpu, memory, pods and
 * other plain resources; the whole allocatable for extended resources (see `keepsHeadroom`).
 */
export function usableCapacity(shape: NodeShape, headroomPercent: number): Record<string, number> {
  const keep = 1 - headroomPercent / 100;
  return Object.fromEntries(
    Object.entries(shape.allocatable).map(([resource, amount]) => [
      resource,
      keepsHeadroom(resource) ? amount * keep : amount,
    ]),
  );
}

/** The numbers the packing algorithms work on; resources are numbered in name order. */
export interface PackingProblem {
  readonly items: readonly PackItem[];
  /** The resources some pod requests: the dimensions of the packing. */
  readonly resources: readonly string[];
  /** Usable capacity of one node, per resource. */
  readonly usable: Float64Array;
  /** What one node may carry, per resource: usable capacity with the rounding tolerance. */
  readonly limit: Float64Array;
  /** Per item, what one pod requests, per resource. */
  readonly demand: readonly Float64Array[];
  /** Per item, one pod's demand as a fraction of a node's usable capacity, per resource. */
  readonly share: readonly Float64Array[];
  /** Per resource, how much of it all pods need in nodes' worth, normalised to sum to 1: how scarce it is. */
  readonly scarcity: Float64Array;
  /** Per item, one pod's shares weighted by scarcity and summed: how much of a node it takes. */
  readonly weightedShare: Float64Array;
  /** Per item, its most pods per node, or 0 when unlimited. */
  readonly maxPerNode: Int32Array;
  /** Per item, whether its pods are bound to zones (zone anti-affinity or zone spread). */
  readonly zoneBound: readonly boolean[];
  readonly zones: readonly string[];
}

/** Turns items, shape and options into the numbers the algorithms use; the items must all fit (`unfitItems`). */
export function describeProblem(
  items: readonly PackItem[],
  shape: NodeShape,
  options: PackOptions,
): PackingProblem {
  const resources = requestedResources(items);
  const usableByName = usableCapacity(shape, options.headroomPercent);
  const usable = Float64Array.from(resources, (r) => usableByName[r] ?? 0);
  const limit = usable.map((u) => u * (1 + capacityTolerance));
  const demand = items.map((item) => Float64Array.from(resources, (r) => item.demand[r] ?? 0));
  const share = demand.map((d) => d.map((amount, r) => (amount === 0 ? 0 : amount / usable[r]!)));
  const scarcity = scarcityOf(items, share, resources.length);
  const weightedShare = Float64Array.from(share, (s) => s.reduce((sum, x, r) => sum + x * scarcity[r]!, 0));
  return {
    items,
    resources,
    usable,
    limit,
    demand,
    share,
    scarcity,
    weightedShare,
    maxPerNode: Int32Array.from(items, (item) => item.maxPerNode ?? 0),
    zoneBound: items.map(isZoneBound),
    zones: options.zones,
  };
}

/** The resources some pod of some item requests (a positive amount), in name order. */
export function requestedResources(items: readonly PackItem[]): string[] {
  const names = new Set<string>();
  for (const item of items)
    if (item.count > 0)
      for (const [resource, amount] of Object.entries(item.demand)) if (amount > 0) names.add(resource);
  return [...names].sort();
}

function scarcityOf(
  items: readonly PackItem[],
  share: readonly Float64Array[],
  dimensions: number,
): Float64Array {
  const total = new Float64Array(dimensions);
  items.forEach((item, i) => {
    for (let r = 0; r < dimensions; r++) total[r]! += item.count * share[i]![r]!;
  });
  const sum = total.reduce((a, b) => a + b, 0);
  return sum > 0 ? total.map((t) => t / sum) : total.fill(1 / Math.max(1, dimensions));
}

/** Items that cannot be packed on this shape at all, each with the reason (naming the resource and the amounts). */
export function unfitItems(
  items: readonly PackItem[],
  shape: NodeShape,
  options: PackOptions,
): { item: number; reason: string }[] {
  const usable = usableCapacity(shape, options.headroomPercent);
  const unfit: { item: number; reason: string }[] = [];
  items.forEach((item, index) => {
    if (item.count > 0 && looksFitting(item, usable, options)) return;
    const reason =
      malformedItemProblem(item) ??
      (item.count === 0 ? undefined : unfitReason(item, shape, usable, options));
    if (reason !== undefined) unfit.push({ item: index, reason });
  });
  return unfit;
}

/**
 * A quick check, without building any text, that a well-formed item with pods fits: true only when `unfitItems`
 * has nothing to say about it. Most items pass it; the others get the full, worded check.
 */
function looksFitting(
  item: PackItem,
  usable: Readonly<Record<string, number>>,
  options: PackOptions,
): boolean {
  if (!Number.isInteger(item.count) || options.zones.length === 0) return false;
  for (const value of [item.maxPerNode, item.maxPerZone, item.zoneMaxSkew])
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) return false;
  for (const resource in item.demand) {
    const amount = item.demand[resource]!;
    if (!Number.isFinite(amount) || amount < 0) return false;
    if (amount > 0 && !(amount <= (usable[resource] ?? 0) * (1 + capacityTolerance))) return false;
  }
  return item.maxPerZone === undefined || item.count <= item.maxPerZone * options.zones.length;
}

function malformedItemProblem(item: PackItem): string | undefined {
  if (!Number.isInteger(item.count) || item.count < 0)
    return `count must be a whole number ≥ 0, not ${item.count}`;
  for (const [name, value] of [
    ["maxPerNode", item.maxPerNode],
    ["maxPerZone", item.maxPerZone],
    ["zoneMaxSkew", item.zoneMaxSkew],
  ] as const)
    if (value !== undefined && (!Number.isInteger(value) || value < 1))
      return `${name} must be a whole number ≥ 1, not ${value}`;
  for (const [resource, amount] of Object.entries(item.demand))
    if (!Number.isFinite(amount) || amount < 0)
      return `requests ${amount} ${resource} per pod: a request must be a finite number ≥ 0`;
  return undefined;
}

function unfitReason(
  item: PackItem,
  shape: NodeShape,
  usable: Readonly<Record<string, number>>,
  options: PackOptions,
): string | undefined {
  if (options.zones.length === 0) return "no zone is given to place its pods in";
  for (const [resource, amount] of Object.entries(item.demand).sort(([a], [b]) => a.localeCompare(b))) {
    if (amount <= 0) continue;
    const allocatable = shape.allocatable[resource] ?? 0;
    const room = (usable[resource] ?? 0) * (1 + capacityTolerance);
    if (allocatable <= 0)
      return `requests ${formatAmount(resource, amount)} per pod, but a ${shape.name} node has no ${resource}`;
    if (amount > room)
      return keepsHeadroom(resource)
        ? `requests ${formatAmount(resource, amount)} per pod, more than the ${formatAmount(resource, usable[resource]!)} ` +
            `usable on a ${shape.name} node (${formatAmount(resource, allocatable)} allocatable less ` +
            `${formatNumber(options.headroomPercent)}% headroom)`
        : `requests ${formatAmount(resource, amount)} per pod, more than the ${formatAmount(resource, allocatable)} ` +
            `a ${shape.name} node has (an extended resource counts whole devices, without headroom)`;
  }
  const zoneCount = options.zones.length;
  if (item.maxPerZone !== undefined && item.count > item.maxPerZone * zoneCount)
    return (
      `has ${item.count} pods but at most ${item.maxPerZone} per zone may run, ` +
      `${item.maxPerZone * zoneCount} over its ${zoneCount} ${zoneCount === 1 ? "zone" : "zones"}`
    );
  return undefined;
}
