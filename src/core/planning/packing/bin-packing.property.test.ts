import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  firstFitDecreasing,
  lowerBound,
  type NodeShape,
  type PackItem,
  type PackOptions,
  pack,
  packCheapest,
  usableCapacity,
} from "./bin-packing.ts";
import { optimalNodeCount, packingViolations } from "./packing-invariants.test-support.ts";

const Gi = 2 ** 30;
const gpu = "nvidia.com/gpu";

const shapeArb: fc.Arbitrary<NodeShape> = fc
  .record({
    name: fc.constantFrom("a.large", "b.xlarge", "c.2xlarge"),
    cpu: fc.constantFrom(2, 4, 8, 16),
    memoryGi: fc.constantFrom(4, 16, 64),
    pods: fc.integer({ min: 3, max: 110 }),
    gpus: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    monthlyPrice: fc.integer({ min: 0, max: 1000 }),
  })
  .map(({ name, cpu, memoryGi, pods, gpus, monthlyPrice }) => ({
    name,
    allocatable: { cpu, memory: memoryGi * Gi, pods, ...(gpus ? { [gpu]: gpus } : {}) },
    monthlyPrice,
  }));

const optionsArb: fc.Arbitrary<PackOptions> = fc.record({
  zones: fc.integer({ min: 1, max: 4 }).map((n) => Array.from({ length: n }, (_, i) => `z${i}`)),
  headroomPercent: fc.constantFrom(0, 10, 25, 40),
});

/** Pods sized against a 16-core, 64 GiB node, now and then too big or asking for a GPU. */
const itemArb = (maxCount: number): fc.Arbitrary<PackItem> =>
  fc
    .record({
      count: fc.integer({ min: 0, max: maxCount }),
      cpu: fc.oneof(
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 2, max: 12, noNaN: true }),
        fc.constantFrom(0.1, 0.5, 1, 4, 8),
      ),
      memoryGi: fc.oneof(fc.double({ min: 0, max: 8, noNaN: true }), fc.constantFrom(0.5, 2, 16, 32)),
      gpus: fc.option(fc.constantFrom(1, 2), { nil: undefined, freq: 8 }),
      maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined, freq: 3 }),
      maxPerZone: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined, freq: 4 }),
      zoneMaxSkew: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined, freq: 3 }),
    })
    .map((r) => ({
      id: "w",
      count: r.count,
      demand: { cpu: r.cpu, memory: r.memoryGi * Gi, pods: 1, ...(r.gpus ? { [gpu]: r.gpus } : {}) },
      ...(r.maxPerNode ? { maxPerNode: r.maxPerNode } : {}),
      ...(r.maxPerZone ? { maxPerZone: r.maxPerZone } : {}),
      ...(r.zoneMaxSkew ? { zoneMaxSkew: r.zoneMaxSkew } : {}),
    }));

const itemsArb = (maxItems: number, maxCount: number) =>
  fc
    .array(itemArb(maxCount), { minLength: 0, maxLength: maxItems })
    .map((items) => items.map((item, i) => ({ ...item, id: `w${i}` })));

/** Whether an item can be packed on the shape at all: every pod fits an empty node and its zones can hold it. */
function packable(item: PackItem, shape: NodeShape, options: PackOptions): boolean {
  if (item.count === 0) return true;
  const usable = usableCapacity(shape, options.headroomPercent);
  const fitsNode = Object.entries(item.demand).every(
    ([resource, amount]) => amount <= 0 || amount <= (usable[resource] ?? 0) * (1 + 1e-9),
  );
  return fitsNode && (item.maxPerZone === undefined || item.count <= item.maxPerZone * options.zones.length);
}

describe.each([
  ["pack", pack],
  ["firstFitDecreasing", firstFitDecreasing],
] as const)("%s, for any items, shape and options", (_, packer) => {
  it("places every pod once, within capacity, anti-affinity and zone rules, on at least the lower bound", () => {
    fc.assert(
      fc.property(itemsArb(10, 40), shapeArb, optionsArb, (items, shape, options) => {
        const outcome = packer(items, shape, options);
        if (!outcome.ok) return;
        expect(packingViolations(items, shape, options, outcome.packing)).toEqual([]);
        expect(outcome.packing.lowerBound).toEqual(lowerBound(items, shape, options));
      }),
      { numRuns: 300 },
    );
  });

  it("refuses exactly the items that cannot be packed, each with a reason", () => {
    fc.assert(
      fc.property(itemsArb(8, 20), shapeArb, optionsArb, (items, shape, options) => {
        const outcome = packer(items, shape, options);
        const unpackable = items.flatMap((item, i) => (packable(item, shape, options) ? [] : [i]));
        if (outcome.ok) expect(unpackable).toEqual([]);
        else {
          expect(outcome.unfit.map((u) => u.item)).toEqual(unpackable);
          for (const { reason } of outcome.unfit) expect(reason.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("gives the same packing for the same input", () => {
    fc.assert(
      fc.property(itemsArb(10, 40), shapeArb, optionsArb, (items, shape, options) => {
        expect(packer(items, shape, options)).toEqual(
          packer(structuredClone(items), { ...shape }, { ...options }),
        );
      }),
      { numRuns: 100 },
    );
  });
});

describe("lowerBound", () => {
  it("never exceeds the fewest nodes an exhaustive search needs, which pack never beats", () => {
    const smallItems = fc
      .array(itemArb(3), { minLength: 1, maxLength: 3 })
      .map((items) => items.map((item, i) => ({ ...item, id: `w${i}` })))
      .filter((items) => items.reduce((n, item) => n + item.count, 0) <= 6);
    const smallOptions = fc.record({
      zones: fc.integer({ min: 1, max: 3 }).map((n) => Array.from({ length: n }, (_, i) => `z${i}`)),
      headroomPercent: fc.constantFrom(0, 25),
    });
    fc.assert(
      fc.property(smallItems, shapeArb, smallOptions, (items, shape, options) => {
        const outcome = pack(items, shape, options);
        if (!outcome.ok) return;
        const optimum = optimalNodeCount(items, shape, options);
        expect(outcome.packing.lowerBound.nodes).toBeLessThanOrEqual(optimum);
        expect(outcome.packing.nodes.length).toBeGreaterThanOrEqual(optimum);
      }),
      { numRuns: 300 },
    );
  });
});

describe("packCheapest", () => {
  it("costs no more than packing onto any shape that fits every item, and prefers fewer nodes on a tie", () => {
    fc.assert(
      fc.property(
        itemsArb(6, 30),
        fc.array(shapeArb, { minLength: 1, maxLength: 3 }),
        optionsArb,
        (items, shapes, options) => {
          const distinct = shapes.map((shape, i) => ({ ...shape, name: `${shape.name}-${i}` }));
          const cheapest = packCheapest(items, distinct, options);
          const each = distinct.flatMap((shape) => {
            const outcome = pack(items, shape, options);
            return outcome.ok
              ? [
                  {
                    cost: outcome.packing.nodes.length * shape.monthlyPrice,
                    nodes: outcome.packing.nodes.length,
                  },
                ]
              : [];
          });
          if (!cheapest.ok) {
            expect(each).toEqual([]);
            return;
          }
          const shape = distinct.find((s) => s.name === cheapest.packing.shape)!;
          expect(packingViolations(items, shape, options, cheapest.packing)).toEqual([]);
          const cost = cheapest.packing.nodes.length * shape.monthlyPrice;
          for (const other of each) {
            expect(cost).toBeLessThanOrEqual(other.cost);
            if (cost === other.cost) expect(cheapest.packing.nodes.length).toBeLessThanOrEqual(other.nodes);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
