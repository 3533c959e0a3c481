import { describe, expect, it } from "vitest";
import type { NodeShape, PackOptions } from "./bin-packing.ts";
import { bigPodsBound, lowerBound } from "./lower-bound.ts";
import { podsEachZoneMustHold } from "./zone-spread.ts";

const Gi = 2 ** 30;
const shape: NodeShape = {
  name: "m.4xlarge",
  allocatable: { cpu: 16, memory: 64 * Gi, pods: 110 },
  monthlyPrice: 1,
};
const twoZones: PackOptions = { zones: ["fra-1", "fra-2"], headroomPercent: 0 };
const pods = (cpu: number, memoryGi = 1) => ({ cpu, memory: memoryGi * Gi, pods: 1 });

describe("lowerBound", () => {
  it("reports the binding resource's volume in GiB and cores", () => {
    const items = [{ id: "cache", count: 100, demand: pods(0.5, 12.34) }];
    expect(lowerBound(items, shape, { zones: ["fra-1"], headroomPercent: 20 })).toEqual({
      nodes: 25,
      binding: "memory: 1,234 GiB requested / 51.2 GiB usable per node",
    });
  });

  it("counts the pods dimension like any other", () => {
    const items = [{ id: "sidecar", count: 250, demand: pods(0.01, 0.01) }];
    expect(lowerBound(items, shape, twoZones)).toEqual({
      nodes: 3,
      binding: "pods: 250 pods requested / 110 pods usable per node",
    });
  });

  it("needs one node per pod over half a node", () => {
    const items = [{ id: "db", count: 3, demand: pods(9) }];
    expect(lowerBound(items, shape, twoZones)).toEqual({
      nodes: 3,
      binding: "cpu: 3 pods request more than half of the 16 cores usable per node, so no two share a node",
    });
  });

  it("requires every zone to hold its forced share of a zone-spread workload", () => {
    // 3 pods with skew 1 over 2 zones: each zone holds at least one, so each zone needs a node.
    const small = [{ id: "api", count: 3, demand: pods(2), zoneMaxSkew: 1 }];
    expect(lowerBound(small, shape, twoZones)).toEqual({
      nodes: 2,
      binding:
        "zones fra-1, fra-2: each must hold zone-bound pods needing 1 node (cpu: 2 cores requested / 16 cores usable per node)",
    });
  });

  it("counts the pods a zone anti-affine workload forces into each zone", () => {
    // At most 2 per zone over 2 zones: 4 pods put 2 in each zone, and two 9-core pods cannot share a node.
    const items = [{ id: "quorum", count: 4, demand: pods(9), maxPerZone: 2 }];
    expect(lowerBound(items, shape, twoZones).nodes).toBe(4);
    const anti = [
      { id: "quorum", count: 4, demand: pods(6), maxPerZone: 2 },
      { id: "filler", count: 1, demand: pods(4) },
    ];
    expect(lowerBound(anti, shape, twoZones)).toMatchObject({ nodes: 2 });
  });

  it("leaves out resources the shape lacks and items with no pods", () => {
    const items = [
      { id: "trainer", count: 2, demand: { ...pods(1), "nvidia.com/gpu": 1 } },
      { id: "off", count: 0, demand: pods(1000) },
    ];
    expect(lowerBound(items, shape, twoZones)).toEqual({
      nodes: 1,
      binding: "cpu: 2 cores requested / 16 cores usable per node",
    });
  });
});

describe("bigPodsBound", () => {
  it("adds the pods too big to join the big ones (Martello and Toth's L2)", () => {
    // Sizes 6, 6, 5, 5, 5 in nodes of 10: no two share, 5 nodes; volume says 3.
    expect(
      bigPodsBound(
        [
          { size: 6, count: 2 },
          { size: 5, count: 3 },
        ],
        10,
      ).nodes,
    ).toBe(4);
    expect(
      bigPodsBound(
        [
          { size: 6, count: 2 },
          { size: 4.5, count: 4 },
        ],
        10,
      ),
    ).toEqual({ nodes: 4, bigPods: 2 });
    expect(bigPodsBound([{ size: 1, count: 25 }], 10)).toEqual({ nodes: 3, bigPods: 0 });
  });
});

describe("podsEachZoneMustHold", () => {
  /** Every way to deal `count` pods over `zones` zones. */
  function* deals(count: number, zones: number): Generator<number[]> {
    if (zones === 1) {
      yield [count];
      return;
    }
    for (let first = 0; first <= count; first++)
      for (const rest of deals(count - first, zones - 1)) yield [first, ...rest];
  }

  it("is the smallest zone count over every valid way to deal the pods", () => {
    for (let zones = 1; zones <= 4; zones++)
      for (let count = 0; count <= 12; count++)
        for (const maxPerZone of [undefined, 1, 2, 3, 5])
          for (const zoneMaxSkew of [undefined, 1, 2, 3]) {
            const item = { id: "w", count, demand: {}, maxPerZone, zoneMaxSkew };
            const valid = [...deals(count, zones)].filter(
              (d) =>
                (maxPerZone === undefined || Math.max(...d) <= maxPerZone) &&
                (zoneMaxSkew === undefined || Math.max(...d) - Math.min(...d) <= zoneMaxSkew),
            );
            if (valid.length === 0) continue;
            const least = Math.min(...valid.map((d) => Math.min(...d)));
            expect(
              podsEachZoneMustHold(item, zones),
              JSON.stringify({ zones, count, maxPerZone, zoneMaxSkew }),
            ).toBe(least);
          }
  });
});
