/**
 * What a node costs for one hour, split into its cpu, memory and gpu parts, in integer micro-units. A node is
 * priced either as a whole (by instance type) or from unit prices; the PriceBook resolves one `NodePrice` per
 * node and hour. A whole-node price is split in proportion to what the node offers, weighted by default relative
 * unit prices (OpenCost's defaults, below), the way OpenCost splits a node whose price it knows only as a total.
 */
import { divideByLargestRemainder, divideRoundHalfUp } from "./money.ts";
import type { NodeHour } from "./usage.ts";

/**
 * A node's price for one hour, in micro-units of the PriceBook's currency (1 EUR = 1,000,000), already resolved
 * for the hour being allocated:
 * - `{ total }`: the whole node for a full hour (by instance type); a node present for fewer minutes pays
 *   `total × samples ÷ 60`.
 * - `{ cpuPerCoreHour, memoryPerGiBHour, gpuPerDeviceHour }`: unit prices, applied to what the node offered
 *   (its allocatable summed over the minutes it was there).
 * Every figure is a non-negative safe integer.
 */
export type NodePrice =
  | { total: number }
  | { cpuPerCoreHour: number; memoryPerGiBHour: number; gpuPerDeviceHour: number };

/** A node's cost for the hour and its split, in micro-units; `cpu + memory + gpu = total`. */
export interface NodeCost {
  cpu: bigint;
  memory: bigint;
  gpu: bigint;
  total: bigint;
}

/**
 * Relative weights used to split a whole-node price: OpenCost's default prices (its `configs/default.json`,
 * "Default prices based on GCP us-central1"): 0.031611 per core-hour, 0.004237 per GiB-hour and 0.95 per
 * gpu-hour, here in micro-units. Only their ratios matter (a core weighs about 7.46 GiB, a gpu about 224 GiB).
 */
export const defaultSplitWeights = Object.freeze({
  cpuPerCoreHour: 31_611,
  memoryPerGiBHour: 4_237,
  gpuPerDeviceHour: 950_000,
});

export const minutesPerHour = 60;
export const millicoresPerCore = 1000;
export const bytesPerGiB = 2 ** 30;

const minutes = BigInt(minutesPerHour);
const millicores = BigInt(millicoresPerCore);
const gib = BigInt(bytesPerGiB);

/**
 * The node's cost for the hour and its parts.
 * - Unit prices: each part is its allocatable × its unit price, rounded half up to a micro-unit
 *   (cpu: millicore-minutes × price ÷ 60,000; memory: byte-minutes × price ÷ (2³⁰ × 60); gpu: device-minutes ×
 *   price ÷ 60); the total is their sum.
 * - Whole price: total = price × samples ÷ 60 (rounded half up), split by largest remainder in proportion to
 *   allocatable × default weight of each resource. A node that offered nothing (all allocatable 0) puts its
 *   whole cost in its cpu part: nothing can use it, so it ends up idle unless the cluster is over-allocated.
 */
export function nodeCost(node: NodeHour, price: NodePrice): NodeCost {
  if ("total" in price) {
    const total = divideRoundHalfUp(BigInt(price.total) * BigInt(node.samples), minutes);
    // Weights in micro-units per (millicore · byte · device)-minute, all scaled by 1000 × 2³⁰ × 60 to stay whole.
    const weights = [
      {
        key: "cpu",
        weight: BigInt(node.allocatable.cpu) * BigInt(defaultSplitWeights.cpuPerCoreHour) * gib,
      },
      {
        key: "gpu",
        weight:
          BigInt(node.allocatable.gpu) * BigInt(defaultSplitWeights.gpuPerDeviceHour) * millicores * gib,
      },
      {
        key: "memory",
        weight: BigInt(node.allocatable.memory) * BigInt(defaultSplitWeights.memoryPerGiBHour) * millicores,
      },
    ];
    const [cpu, gpu, memory] = divideByLargestRemainder(total, weights) ?? [total, 0n, 0n];
    return { cpu: cpu!, memory: memory!, gpu: gpu!, total };
  }
  const cpu = divideRoundHalfUp(
    BigInt(node.allocatable.cpu) * BigInt(price.cpuPerCoreHour),
    millicores * minutes,
  );
  const memory = divideRoundHalfUp(
    BigInt(node.allocatable.memory) * BigInt(price.memoryPerGiBHour),
    gib * minutes,
  );
  const gpu = divideRoundHalfUp(BigInt(node.allocatable.gpu) * BigInt(price.gpuPerDeviceHour), minutes);
  return { cpu, memory, gpu, total: cpu + memory + gpu };
}
