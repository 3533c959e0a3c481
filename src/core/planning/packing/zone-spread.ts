/**
 * Zone rules of a workload: zone anti-affinity (`maxPerZone`) and zone topology spread (`zoneMaxSkew`), and how
 * its pods are dealt over the zones.
 */
import type { PackItem } from "./packing-types.ts";

/** Whether an item's pods are bound to zones: it limits its pods per zone or spreads them over the zones. */
export function isZoneBound(item: PackItem): boolean {
  return item.maxPerZone !== undefined || item.zoneMaxSkew !== undefined;
}

/**
 * The fewest pods of an item that every zone must hold in any valid placement. With at most `m` per zone, the
 * other Z − 1 zones hold at most (Z − 1)·m, so each zone holds at least count − (Z − 1)·m. With a largest skew
 * `s`, if the emptiest zone holds `a` pods the others hold at most a + s each, so count ≤ a + (Z − 1)(a + s):
 * every zone holds at least ⌈(count − (Z − 1)·s) / Z⌉. A single zone holds every pod.
 */
export function podsEachZoneMustHold(item: PackItem, zoneCount: number): number {
  if (zoneCount === 1) return item.count;
  const others = zoneCount - 1;
  let least = 0;
  if (item.maxPerZone !== undefined) least = Math.max(least, item.count - others * item.maxPerZone);
  if (item.zoneMaxSkew !== undefined)
    least = Math.max(least, Math.ceil((item.count - others * item.zoneMaxSkew) / zoneCount));
  return Math.min(item.count, least);
}

/**
 * Deals `count` pods over the zones as evenly as possible: every zone gets ⌊count / Z⌋ and the zones first in
 * `preference` (zone indices) one more each for the remainder. Even dealing meets any skew ≥ 1 and any per-zone
 * limit that can be met at all.
 */
export function dealEvenly(count: number, preference: readonly number[]): Int32Array {
  const zoneCount = preference.length;
  const perZone = new Int32Array(zoneCount).fill(Math.floor(count / zoneCount));
  const remainder = count % zoneCount;
  for (let k = 0; k < remainder; k++) perZone[preference[k]!]! += 1;
  return perZone;
}
