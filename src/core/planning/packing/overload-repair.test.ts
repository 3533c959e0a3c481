import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NodeShape, PackItem, PackOptions } from "./bin-packing.ts";
import { strongestBound } from "./lower-bound.ts";
import { repairToFewerNodes } from "./overload-repair.ts";
import { packingViolations } from "./packing-invariants.test-support.ts";
import { describeProblem, unfitItems } from "./packing-problem.ts";
import { evenlyDealtUnits, largestFirst } from "./placement-units.ts";
import { addPods, emptyNode, packedNodes, type WorkingNode } from "./working-node.ts";

const Gi = 2 ** 30;
const shape: NodeShape = {
  name: "m.4xlarge",
  allocatable: { cpu: 16, memory: 64 * Gi, pods: 110 },
  monthlyPrice: 1,
};

/** The worst valid start: every pod alone on a node, zone-bound pods on nodes of the zone they were dealt. */
function onePodPerNode(items: readonly PackItem[], options: PackOptions): WorkingNode[] {
  const problem = describeProblem(items, shape, options);
  const nodes: WorkingNode[] = [];
  for (const unit of evenlyDealtUnits(problem, largestFirst(problem)))
    for (let pod = 0; pod < unit.count; pod++) {
      const node = emptyNode(problem);
      addPods(problem, node, unit.item, unit.zone, 1);
      nodes.push(node);
    }
  return nodes;
}

function repaired(items: readonly PackItem[], options: PackOptions, work: number) {
  const problem = describeProblem(items, shape, options);
  const bound = strongestBound(items, shape, options);
  const start = onePodPerNode(items, options);
  const nodes = repairToFewerNodes(problem, start, bound.nodes, work);
  const packing = {
    shape: shape.name,
    nodes: packedNodes(problem, nodes),
    lowerBound: { nodes: bound.nodes, binding: bound.binding() },
  };
  return { packing, started: start.length, bound: bound.nodes };
}

describe("the repair search", () => {
  it("pairs pods big in cpu with pods big in memory, which best fit by size keeps apart", () => {
    // 60% of a node in one resource, 15% in the other: two of a kind never share, one of each always does.
    const options: PackOptions = { zones: ["a"], headroomPercent: 0 };
    const items: PackItem[] = [
      { id: "cpu-heavy", count: 20, demand: { cpu: 9.6, memory: 9.6 * Gi, pods: 1 } },
      { id: "memory-heavy", count: 20, demand: { cpu: 2.4, memory: 38.4 * Gi, pods: 1 } },
    ];
    const { packing, started, bound } = repaired(items, options, 1_000_000);
    expect(started).toBe(40);
    expect(bound).toBe(20);
    expect(packing.nodes).toHaveLength(20);
    expect(packingViolations(items, shape, options, packing)).toEqual([]);
  });

  it("keeps every pod, capacity, anti-affinity and zone rules, whatever it starts from", () => {
    const item = fc
      .record({
        count: fc.integer({ min: 1, max: 12 }),
        cpu: fc.double({ min: 0.1, max: 12, noNaN: true }),
        memoryGi: fc.double({ min: 0.1, max: 48, noNaN: true }),
        maxPerNode: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined, freq: 3 }),
        maxPerZone: fc.option(fc.integer({ min: 2, max: 6 }), { nil: undefined, freq: 4 }),
        zoneMaxSkew: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined, freq: 3 }),
      })
      .map(
        (r): PackItem => ({
          id: "w",
          count: r.count,
          demand: { cpu: r.cpu, memory: r.memoryGi * Gi, pods: 1 },
          ...(r.maxPerNode ? { maxPerNode: r.maxPerNode } : {}),
          ...(r.maxPerZone ? { maxPerZone: r.maxPerZone } : {}),
          ...(r.zoneMaxSkew ? { zoneMaxSkew: r.zoneMaxSkew } : {}),
        }),
      );
    const options = fc.record({
      zones: fc.integer({ min: 1, max: 3 }).map((n) => Array.from({ length: n }, (_, i) => `z${i}`)),
      headroomPercent: fc.constantFrom(0, 20),
    });
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 1, maxLength: 12 }),
        options,
        fc.integer({ min: 0, max: 200_000 }),
        (drawn, opts, work) => {
          const items = drawn
            .map((it, i) => ({ ...it, id: `w${i}` }))
            .filter((it) => it.maxPerZone === undefined || it.count <= it.maxPerZone * opts.zones.length);
          fc.pre(items.length > 0 && unfitItems(items, shape, opts).length === 0);
          const { packing, started } = repaired(items, opts, work);
          expect(packingViolations(items, shape, opts, packing)).toEqual([]);
          expect(packing.nodes.length).toBeLessThanOrEqual(started);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });
});
