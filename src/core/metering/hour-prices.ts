/**
 * The prices of one cluster-hour for the allocation (allocation.ts), from the prices that held in its Location
 * at that hour (price-book.ts `priceAt`): each node by its instance type's whole-node price, else at the unit
 * prices; storage classes and LoadBalancers as the books give them. A node that neither form prices makes the
 * hour unpriced, with the reason: a bill with a node left out would be wrong, so the hour is not billed and the
 * caller says why.
 */
import type { HourPrices } from "./allocation.ts";
import { nodePrice, type ResolvedPrices } from "./price-book.ts";
import type { NodeHour } from "./usage.ts";

export type PricedHour =
  | { ok: true; currency: string; prices: HourPrices }
  | { ok: false; unpriced: Array<{ node: string; reason: string }> };

/** Prices the hour's nodes; `prices` undefined when no PriceBook of the Location holds a price then. */
export function hourPrices(prices: ResolvedPrices | undefined, nodes: readonly NodeHour[]): PricedHour {
  const unpriced: Array<{ node: string; reason: string }> = [];
  const priced: Record<string, HourPrices["nodes"][string]> = {};
  for (const node of nodes) {
    const samples = Math.max(1, node.samples);
    const price = nodePrice(prices, {
      ...(node.instanceType ? { instanceType: node.instanceType } : {}),
      // What the node offered at one moment: its allocatable averaged over the minutes it was there.
      allocatable: {
        cpu: node.allocatable.cpu / samples,
        memory: node.allocatable.memory / samples,
        gpu: node.allocatable.gpu / samples,
      },
    });
    if (price.basis === undefined) unpriced.push({ node: node.node, reason: price.reason });
    else if (price.basis === "instanceType") priced[node.node] = { total: price.perHour };
    else
      priced[node.node] = {
        cpuPerCoreHour: prices!.units!.cpuPerCoreHour,
        memoryPerGiBHour: prices!.units!.memoryPerGiBHour,
        gpuPerDeviceHour: prices!.units!.gpuPerDeviceHour ?? 0,
      };
  }
  if (unpriced.length > 0 || !prices) return { ok: false, unpriced };
  return {
    ok: true,
    currency: prices.currency,
    prices: {
      nodes: priced,
      storagePerGiBMonth: { ...prices.storagePerGiBMonth },
      loadBalancerPerHour: prices.loadBalancerPerHour ?? 0,
    },
  };
}
