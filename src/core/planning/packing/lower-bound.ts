/**
 * Lower bounds on the nodes of any valid packing, each with its reason in words. The bound reported is the largest
 * of: per resource, the volume bound and the big-pods bound; the anti-affinity bound; and the zone bound.
 */

import { capacityTolerance, requestedResources, usableCapacity } from "./packing-problem.ts";
import type { LowerBound, NodeShape, PackItem, PackOptions } from "./packing-types.ts";
import { formatAmount, formatNodes, formatNumber } from "./resource-amounts.ts";
import { isZoneBound, podsEachZoneMustHold } from "./zone-spread.ts";

/**
 * How few nodes of `shape` any valid packing of `items` needs. It is the largest of these bounds, each true of
 * every packing that respects usable capacity, anti-affinity and zone rules:
 * - volume, per resource: ⌈total request / usable per node⌉;
 * - big pods, per resource (Martello and Toth's L2): pods over half a node cannot share one, and pods too big to
 *   join them fill the rest;
 * - anti-affinity: an item with at most m pods per node needs ⌈count / m⌉ nodes;
 * - zones: each zone must hold a share of every zone-bound item (see `podsEachZoneMustHold`), and the nodes those
 *   pods need in one zone, by the bounds above, are needed in every zone.
 * `binding` names the bound that decides, with its figures. Resources the shape lacks are left out (a pod that
 * requests one cannot be packed at all).
 */
export function lowerBound(items: readonly PackItem[], shape: NodeShape, options: PackOptions): LowerBound {
  const best = strongestBound(items, shape, options);
  return { nodes: best.nodes, binding: best.binding() };
}

/** A bound whose reason is only worded when asked for: most bounds computed are never reported. */
export interface Bound {
  nodes: number;
  binding: () => string;
}

const noPods: Bound = { nodes: 0, binding: () => "no pods to place" };

/** The largest bound, as `lowerBound` reports it, with its reason not yet worded. */
export function strongestBound(items: readonly PackItem[], shape: NodeShape, options: PackOptions): Bound {
  const live = items.filter((item) => item.count > 0);
  if (live.length === 0) return noPods;
  const usable = usableCapacity(shape, options.headroomPercent);
  return largest([...placementBounds(live, usable), zoneBound(live, usable, options.zones)]);
}

/** Bounds that hold for any set of pods, wherever they run: volume and big pods per resource, anti-affinity. */
function placementBounds(items: readonly PackItem[], usable: Readonly<Record<string, number>>): Bound[] {
  const perResource = requestedResources(items)
    .filter((resource) => (usable[resource] ?? 0) > 0)
    .flatMap((resource) => resourceBounds(items, resource, usable[resource]!));
  return [...perResource, antiAffinityBound(items)];
}

function largest(bounds: readonly Bound[]): Bound {
  let best = noPods;
  for (const bound of bounds) if (bound.nodes > best.nodes) best = bound;
  return best;
}

function resourceBounds(items: readonly PackItem[], resource: string, usable: number): Bound[] {
  const capacity = usable * (1 + capacityTolerance);
  const sizes = items.map((item) => ({ size: item.demand[resource] ?? 0, count: item.count }));
  let total = 0;
  for (const s of sizes) total += s.size * s.count;
  const volume: Bound = {
    nodes: Math.ceil(total / capacity),
    binding: () =>
      `${resource}: ${formatAmount(resource, total)} requested / ${formatAmount(resource, usable)} usable per node`,
  };
  const big = bigPodsBound(sizes, capacity);
  const bigPods: Bound = {
    nodes: big.nodes,
    binding: () =>
      `${resource}: ${formatNumber(big.bigPods)} pods request more than half of the ` +
      `${formatAmount(resource, usable)} usable per node, so no two share a node` +
      (big.nodes > big.bigPods ? `; with the other pods, at least ${formatNodes(big.nodes)}` : ""),
  };
  return [volume, bigPods];
}

/** Pods of one size, in one resource. */
interface SizeGroup {
  size: number;
  count: number;
}

/**
 * Martello and Toth's L2 bound in one resource, for pods grouped by size. For a threshold K ≤ C/2: pods over
 * C − K (J1) and pods over C/2 (J2) each need their own node, no pod of at least K fits beside a J1 pod, and the
 * pods from K to C/2 (J3) fill what J2's nodes leave before needing nodes of their own:
 * L(K) = |J1| + |J2| + max(0, ⌈(size(J3) − (|J2|·C − size(J2))) / C⌉). The bound is the largest L(K) over K = 0
 * and the sizes up to C/2.
 */
export function bigPodsBound(
  groups: readonly SizeGroup[],
  capacity: number,
): { nodes: number; bigPods: number } {
  const sorted = groups.filter((g) => g.count > 0).sort((a, b) => b.size - a.size);
  const pods = [0];
  const amount = [0];
  for (const g of sorted) {
    pods.push(pods.at(-1)! + g.count);
    amount.push(amount.at(-1)! + g.size * g.count);
  }
  /** How many groups are larger than x (or, with `orEqual`, at least x): sorted is largest first. */
  const groupsAbove = (x: number, orEqual = false) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const size = sorted[mid]!.size;
      if (size > x || (orEqual && size === x)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const half = capacity / 2;
  const overHalf = groupsAbove(half);
  const thresholds = [0, ...sorted.slice(overHalf).map((g) => g.size)];
  let best = { nodes: 0, bigPods: pods[overHalf]! };
  for (const k of thresholds) {
    const tooBig = groupsAbove(capacity - k);
    const ownNode = pods[overHalf]!;
    const leftBeside = (pods[overHalf]! - pods[tooBig]!) * capacity - (amount[overHalf]! - amount[tooBig]!);
    const fillers = amount[groupsAbove(k, true)]! - amount[overHalf]!;
    const nodes = ownNode + Math.max(0, Math.ceil((fillers - leftBeside) / capacity));
    if (nodes > best.nodes) best = { nodes, bigPods: ownNode };
  }
  return best;
}

function antiAffinityBound(items: readonly PackItem[]): Bound {
  let best: Bound = { nodes: 0, binding: () => "no anti-affinity" };
  for (const item of items) {
    const most = item.maxPerNode;
    if (most === undefined) continue;
    const nodes = Math.ceil(item.count / most);
    if (nodes > best.nodes)
      best = {
        nodes,
        binding: () =>
          `anti-affinity: ${item.id} needs ${formatNodes(nodes)} (${formatNumber(item.count)} pods, at most ${most} per node)`,
      };
  }
  return best;
}

/**
 * Every zone must hold its share of each zone-bound item; the nodes that share needs in one zone (by the bounds
 * that hold anywhere) are needed in each zone, since a node is in one zone.
 */
function zoneBound(
  items: readonly PackItem[],
  usable: Readonly<Record<string, number>>,
  zones: readonly string[],
): Bound {
  if (zones.length === 0) return { nodes: 0, binding: () => "no zones" };
  const forced = items
    .filter(isZoneBound)
    .map((item) => ({ ...item, count: podsEachZoneMustHold(item, zones.length) }))
    .filter((item) => item.count > 0);
  if (forced.length === 0) return { nodes: 0, binding: () => "no zone-bound pods" };
  const perZone = largest(placementBounds(forced, usable));
  const where = zones.length === 1 ? `zone ${zones[0]}` : `zones ${zones.join(", ")}: each`;
  return {
    nodes: perZone.nodes * zones.length,
    binding: () =>
      `${where} must hold zone-bound pods needing ${formatNodes(perZone.nodes)} (${perZone.binding()})`,
  };
}
