/**
 * Invariants of every allocation, on random cluster-hours (nodes with whole or unit prices, nodes that offer
 * nothing or are absent part of the hour, no workloads, workloads above what the nodes offer, shared namespaces
 * only, volumes and LoadBalancers) in both idle modes and every shared split: money is conserved exactly, per
 * resource and in total; no cost is negative; the same records give the same rows in any order.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Allocation,
  type AllocationRow,
  allocate,
  type ClusterHourInput,
  defaultSharedNamespaces,
} from "./allocation.ts";
import type { NodePrice } from "./node-cost.ts";
import type { NodeHour, WorkloadHour } from "./usage.ts";

const hour = "2026-12-03T14:00:00Z";
const gib = 2 ** 30;

const nodePrice: fc.Arbitrary<NodePrice> = fc.oneof(
  fc.record({ total: fc.integer({ min: 0, max: 20_000_000 }) }),
  fc.record({
    cpuPerCoreHour: fc.integer({ min: 0, max: 200_000 }),
    memoryPerGiBHour: fc.integer({ min: 0, max: 50_000 }),
    gpuPerDeviceHour: fc.integer({ min: 0, max: 4_000_000 }),
  }),
);

const nodeSketch = fc.record({
  samples: fc.constantFrom(0, 1, 30, 59, 60, 60, 60),
  // Per minute: 0 (a node that offers nothing) up to 64 cores, 512 GiB, 8 gpus.
  cores: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64_000 })),
  memory: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 512 * gib })),
  gpus: fc.constantFrom(0, 0, 0, 1, 8),
  price: nodePrice,
});

const resourceSketch = fc.record({
  request: fc.nat({ max: 40_000 }), // per minute, in the resource's unit scaled below
  usage: fc.nat({ max: 80_000 }), // may exceed request and the nodes
});

const workloadSketch = fc.record({
  namespace: fc.constantFrom("shop", "search", "payments", "kube-system", "monitoring"),
  name: fc.constantFrom("Deployment/web", "Deployment/api", "StatefulSet/db", "DaemonSet/agent", "Pod/x"),
  samples: fc.integer({ min: 1, max: 60 }),
  cpu: resourceSketch,
  memory: resourceSketch,
  gpu: fc.record({ request: fc.constantFrom(0, 0, 1, 2), usage: fc.constantFrom(0, 0, 1, 3) }),
  labels: fc.dictionary(
    fc.constantFrom("team", "business", "app"),
    fc.constantFrom("", "checkout", "search"),
  ),
  storage: fc.dictionary(fc.constantFrom("standard", "fast", "archive"), fc.nat({ max: 2000 })),
  loadBalancers: fc.constantFrom(0, 0, 30, 60, 120),
});

const clusterHourArbitrary = fc
  .record({
    nodes: fc.array(nodeSketch, { maxLength: 5 }),
    workloads: fc.uniqueArray(workloadSketch, { maxLength: 8, selector: (w) => `${w.namespace}/${w.name}` }),
    idle: fc.constantFrom("separate" as const, "share" as const),
    sharedSplit: fc.constantFrom("weighted" as const, "even" as const, "none" as const),
    sharedNamespaces: fc.constantFrom(
      defaultSharedNamespaces,
      ["shop", "search", "payments", "kube-system"],
      [],
    ),
    payerLabels: fc.constantFrom(["business", "team"], ["team"], []),
    storagePrices: fc.record({ standard: fc.nat({ max: 200_000 }), "*": fc.nat({ max: 500_000 }) }),
    loadBalancerPerHour: fc.nat({ max: 100_000 }),
  })
  .map((s): ClusterHourInput => {
    const nodes: NodeHour[] = s.nodes.map((n, i) => ({
      cluster: "c1",
      hour,
      node: `n${i}`,
      samples: n.samples,
      allocatable: { cpu: n.cores * n.samples, memory: n.memory * n.samples, gpu: n.gpus * n.samples },
    }));
    const workloads: WorkloadHour[] = s.workloads.map((w) => {
      // A resource's request and usage per minute, scaled to its unit; allocated is the larger, summed.
      const minutes = (r: { request: number; usage: number }, unit: number) => ({
        request: r.request * unit * w.samples,
        usage: r.usage * unit * w.samples,
        allocated: Math.max(r.request, r.usage) * unit * w.samples,
      });
      return {
        cluster: "c1",
        hour,
        namespace: w.namespace,
        workload: w.name,
        labels: w.labels,
        samples: w.samples,
        cpu: minutes(w.cpu, 1),
        memory: minutes(w.memory, 2 ** 20),
        gpu: minutes(w.gpu, 1),
        storage: Object.fromEntries(Object.entries(w.storage).map(([k, v]) => [k, v * 2 ** 20 * w.samples])),
        loadBalancers: w.loadBalancers,
      };
    });
    return {
      cluster: { name: "c1", business: "shop", environment: "prod" },
      hour,
      nodes,
      workloads,
      prices: {
        nodes: Object.fromEntries(s.nodes.map((n, i) => [`n${i}`, n.price])),
        storagePerGiBMonth: s.storagePrices,
        loadBalancerPerHour: s.loadBalancerPerHour,
      },
      rules: {
        idle: s.idle,
        sharedSplit: s.sharedSplit,
        sharedNamespaces: s.sharedNamespaces,
        payerLabels: s.payerLabels,
      },
    };
  });

function allocated(input: ClusterHourInput): Allocation {
  const result = allocate(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

const sum = (rows: AllocationRow[], f: (r: AllocationRow) => number) =>
  rows.reduce((total, r) => total + f(r), 0);

describe("allocation invariants", () => {
  it("conserves money exactly and never goes negative", () => {
    fc.assert(
      fc.property(clusterHourArbitrary, (input) => {
        const a = allocated(input);
        // Per resource and in total: the rows add up to what the nodes, volumes and LoadBalancers cost.
        expect(sum(a.rows, (r) => r.cpuCost)).toBe(a.nodeCost.cpu);
        expect(sum(a.rows, (r) => r.memoryCost)).toBe(a.nodeCost.memory);
        expect(sum(a.rows, (r) => r.gpuCost)).toBe(a.nodeCost.gpu);
        expect(a.nodeCost.cpu + a.nodeCost.memory + a.nodeCost.gpu).toBe(a.nodeCost.total);
        expect(sum(a.rows, (r) => r.storageCost)).toBe(a.storageCost);
        expect(sum(a.rows, (r) => r.loadBalancerCost)).toBe(a.loadBalancerCost);
        expect(sum(a.rows, (r) => r.totalCost)).toBe(a.nodeCost.total + a.storageCost + a.loadBalancerCost);
        expect(a.totalCost).toBe(a.nodeCost.total + a.storageCost + a.loadBalancerCost);
        // The nodes' cost is what their prices say.
        const wholeHours = input.nodes.map((n) => input.prices.nodes[n.node]!);
        if (wholeHours.every((p) => "total" in p && p.total % 60 === 0)) {
          const expected = input.nodes.reduce(
            (total, n) => total + ((input.prices.nodes[n.node] as { total: number }).total / 60) * n.samples,
            0,
          );
          expect(a.nodeCost.total).toBe(expected);
        }
        for (const r of a.rows) {
          for (const cost of [
            r.cpuCost,
            r.memoryCost,
            r.gpuCost,
            r.storageCost,
            r.loadBalancerCost,
            r.totalCost,
          ]) {
            expect(Number.isSafeInteger(cost) && cost >= 0).toBe(true);
          }
          expect(r.cpuCost + r.memoryCost + r.gpuCost + r.storageCost + r.loadBalancerCost).toBe(r.totalCost);
          // A shared row that spread its cost keeps nothing (its idle share went on with it); others keep
          // at least what was shared onto them.
          if (r.sharedSpread > 0) expect(r.totalCost).toBe(0);
          else expect(r.idleIncluded + r.sharedIncluded).toBeLessThanOrEqual(r.totalCost);
        }
        for (const resource of ["cpu", "memory", "gpu"] as const) {
          expect(a.idleCost[resource]).toBeGreaterThanOrEqual(0);
          // Allocated above allocatable leaves no idle to show.
          if (a.overAllocated.includes(resource) && a.allocated[resource] > 0) {
            expect(a.idleCost[resource]).toBe(0);
          }
        }
        // Separate: idle rows are exactly the idle measured; share: idle is gone wherever a workload had a cost.
        const idleRows = a.rows.filter((r) => r.kind === "idle");
        if (input.rules.idle === "separate") {
          expect(sum(idleRows, (r) => r.totalCost)).toBe(a.idleCost.cpu + a.idleCost.memory + a.idleCost.gpu);
          expect(sum(a.rows, (r) => r.idleIncluded)).toBe(0);
        } else {
          expect(sum(idleRows, (r) => r.totalCost) + sum(a.rows, (r) => r.idleIncluded)).toBe(
            a.idleCost.cpu + a.idleCost.memory + a.idleCost.gpu,
          );
        }
        // What the shared namespaces spread is what the others received.
        expect(sum(a.rows, (r) => r.sharedSpread)).toBe(sum(a.rows, (r) => r.sharedIncluded));
      }),
      { numRuns: 400 },
    );
  });

  it("gives the same rows for the same records, in any order", () => {
    fc.assert(
      fc.property(clusterHourArbitrary, fc.nat(), (input, seed) => {
        const shuffled: ClusterHourInput = {
          ...input,
          nodes: rotate(input.nodes, seed),
          workloads: rotate([...input.workloads].reverse(), seed),
        };
        const first = allocated(input);
        expect(allocated(structuredClone(input))).toEqual(first);
        expect(allocated(shuffled)).toEqual(first);
      }),
      { numRuns: 200 },
    );
  });
});

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
