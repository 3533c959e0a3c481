import { describe, expect, it } from "vitest";
import {
  firstFitDecreasing,
  type NodeShape,
  type PackItem,
  type PackOptions,
  type PackOutcome,
  pack,
  packCheapest,
  usableCapacity,
} from "./bin-packing.ts";
import { packingViolations } from "./packing-invariants.test-support.ts";

const Gi = 2 ** 30;
const eightCores: NodeShape = {
  name: "m.2xlarge",
  allocatable: { cpu: 8, memory: 32 * Gi, pods: 110 },
  monthlyPrice: 280,
};
const oneZone: PackOptions = { zones: ["fra-1"], headroomPercent: 0 };
const threeZones: PackOptions = { zones: ["fra-1", "fra-2", "fra-3"], headroomPercent: 0 };
const pods = (cpu: number, memoryGi = 1) => ({ cpu, memory: memoryGi * Gi, pods: 1 });

function packed(outcome: PackOutcome) {
  if (!outcome.ok) throw new Error(`unexpected unfit: ${JSON.stringify(outcome.unfit)}`);
  return outcome.packing;
}

function valid(items: PackItem[], shape: NodeShape, options: PackOptions, outcome: PackOutcome) {
  const packing = packed(outcome);
  expect(packingViolations(items, shape, options, packing)).toEqual([]);
  return packing;
}

describe("usableCapacity", () => {
  it("keeps the headroom free in every resource, pods included", () => {
    expect(usableCapacity(eightCores, 25)).toEqual({ cpu: 6, memory: 24 * Gi, pods: 82.5 });
    expect(usableCapacity(eightCores, 0)).toEqual(eightCores.allocatable);
  });

  it("counts extended resources (GPUs) in full: they are whole devices, not kept free for autoscaling", () => {
    const gpuNode = { ...eightCores, allocatable: { ...eightCores.allocatable, "nvidia.com/gpu": 4 } };
    expect(usableCapacity(gpuNode, 20)).toEqual({
      cpu: 6.4,
      memory: 25.6 * Gi,
      pods: 88,
      "nvidia.com/gpu": 4,
    });
  });
});

describe("headroom and extended resources", () => {
  const gpuNode: NodeShape = {
    name: "g.2xlarge",
    allocatable: { cpu: 8, memory: 32 * Gi, pods: 110, "nvidia.com/gpu": 4 },
    monthlyPrice: 900,
  };
  const options: PackOptions = { zones: ["fra-1"], headroomPercent: 20 };

  it("puts a pod requesting all 4 GPUs of a node on it despite 20% headroom", () => {
    const items = [{ id: "trainer", count: 3, demand: { ...pods(1), "nvidia.com/gpu": 4 } }];
    const packing = valid(items, gpuNode, options, pack(items, gpuNode, options));
    expect(packing.nodes).toHaveLength(3);
    expect(packing.lowerBound).toEqual({
      nodes: 3,
      binding: "nvidia.com/gpu: 12 nvidia.com/gpu requested / 4 nvidia.com/gpu usable per node",
    });
    expect(packed(firstFitDecreasing(items, gpuNode, options)).nodes).toHaveLength(3);
  });

  it("says a node has too few GPUs without blaming the headroom", () => {
    const items = [{ id: "trainer", count: 1, demand: { ...pods(1), "nvidia.com/gpu": 5 } }];
    expect(pack(items, gpuNode, options)).toEqual({
      ok: false,
      unfit: [
        {
          item: 0,
          reason:
            "requests 5 nvidia.com/gpu per pod, more than the 4 nvidia.com/gpu a g.2xlarge node has " +
            "(an extended resource counts whole devices, without headroom)",
        },
      ],
    });
  });
});

describe.each([
  ["pack", pack],
  ["firstFitDecreasing", firstFitDecreasing],
] as const)("%s", (_, packer) => {
  it("puts 10 pods of 2 cores on 3 nodes of 8 cores", () => {
    const items = [{ id: "web", count: 10, demand: pods(2) }];
    const packing = valid(items, eightCores, oneZone, packer(items, eightCores, oneZone));
    expect(packing.nodes).toHaveLength(3);
    expect(packing.lowerBound).toEqual({
      nodes: 3,
      binding: "cpu: 20 cores requested / 8 cores usable per node",
    });
    expect(packing.nodes.map((n) => n.used.cpu).reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(20);
  });

  it("needs a fourth node when 25% headroom leaves 6 cores per node", () => {
    const items = [{ id: "web", count: 10, demand: pods(2) }];
    const options = { ...oneZone, headroomPercent: 25 };
    const packing = valid(items, eightCores, options, packer(items, eightCores, options));
    expect(packing.nodes).toHaveLength(4);
    expect(packing.lowerBound.binding).toBe("cpu: 20 cores requested / 6 cores usable per node");
  });

  it("gives each pod of a hostname anti-affine workload its own node", () => {
    const items = [
      { id: "etcd", count: 5, demand: pods(0.5), maxPerNode: 1 },
      { id: "batch", count: 2, demand: pods(1) },
    ];
    const packing = valid(items, eightCores, oneZone, packer(items, eightCores, oneZone));
    expect(packing.nodes).toHaveLength(5);
    expect(packing.lowerBound).toEqual({
      nodes: 5,
      binding: "anti-affinity: etcd needs 5 nodes (5 pods, at most 1 per node)",
    });
  });

  it("spreads a zone-spread workload over the zones within its skew", () => {
    const items = [{ id: "api", count: 7, demand: pods(1), zoneMaxSkew: 1 }];
    const packing = valid(items, eightCores, threeZones, packer(items, eightCores, threeZones));
    const perZone = threeZones.zones.map((zone) =>
      packing.nodes.filter((n) => n.zone === zone).reduce((sum, n) => sum + (n.pods[0]?.count ?? 0), 0),
    );
    expect(perZone.sort()).toEqual([2, 2, 3]);
    expect(packing.nodes).toHaveLength(3);
  });

  it("lists every unfit item with the resource and the amounts, and packs nothing", () => {
    const items = [
      { id: "fits", count: 1, demand: pods(1) },
      { id: "too-big", count: 2, demand: pods(10) },
      { id: "trainer", count: 1, demand: { ...pods(1), "nvidia.com/gpu": 1 } },
      { id: "quorum", count: 4, demand: pods(1), maxPerZone: 1 },
    ];
    const outcome = packer(items, eightCores, { ...threeZones, headroomPercent: 10 });
    expect(outcome).toEqual({
      ok: false,
      unfit: [
        {
          item: 1,
          reason:
            "requests 10 cores per pod, more than the 7.2 cores usable on a m.2xlarge node (8 cores allocatable less 10% headroom)",
        },
        { item: 2, reason: "requests 1 nvidia.com/gpu per pod, but a m.2xlarge node has no nvidia.com/gpu" },
        { item: 3, reason: "has 4 pods but at most 1 per zone may run, 3 over its 3 zones" },
      ],
    });
  });

  it("packs nothing onto no nodes", () => {
    const items = [{ id: "scaled-down", count: 0, demand: pods(100) }];
    const packing = valid(items, eightCores, oneZone, packer(items, eightCores, oneZone));
    expect(packing.nodes).toEqual([]);
    expect(packing.lowerBound).toEqual({ nodes: 0, binding: "no pods to place" });
  });

  it("gives the same packing for the same input", () => {
    const items = [
      { id: "a", count: 13, demand: pods(1.5, 3), zoneMaxSkew: 1 },
      { id: "b", count: 9, demand: pods(0.25, 7) },
      { id: "c", count: 4, demand: pods(3, 2), maxPerNode: 1 },
    ];
    expect(packer(items, eightCores, threeZones)).toEqual(
      packer(structuredClone(items), eightCores, threeZones),
    );
  });
});

describe("pack", () => {
  it("puts pods that need different resources side by side where first fit does not", () => {
    // Memory binds: 8 × 22 GiB = 176 GiB needs 6 nodes of 32 GiB; first fit fills nodes with caches first and
    // strands memory, then encoders (3 cores, 8 GiB) find no room beside them.
    const items = [
      { id: "encoder", count: 8, demand: pods(3, 8) },
      { id: "cache", count: 8, demand: pods(0.5, 14) },
    ];
    const packing = valid(items, eightCores, oneZone, pack(items, eightCores, oneZone));
    expect(packing.nodes).toHaveLength(6);
    expect(packing.lowerBound.binding).toBe("memory: 176 GiB requested / 32 GiB usable per node");
    expect(packed(firstFitDecreasing(items, eightCores, oneZone)).nodes).toHaveLength(8);
  });

  it("pairs big pods so that no two over half a node share one", () => {
    // 24 cores fill 3 nodes by volume, but a 3.5-core pod fits beside no 5-core one: 2 + ⌈4 × 3.5 / 8⌉ = 4.
    const items = [
      { id: "db", count: 2, demand: pods(5) },
      { id: "worker", count: 4, demand: pods(3.5) },
    ];
    const packing = valid(items, eightCores, oneZone, pack(items, eightCores, oneZone));
    expect(packing.nodes).toHaveLength(4);
    expect(packing.lowerBound.binding).toBe(
      "cpu: 2 pods request more than half of the 8 cores usable per node, so no two share a node; " +
        "with the other pods, at least 4 nodes",
    );
  });

  it("lists nodes zone by zone, dealing nodes without zone-bound pods to the emptiest zones", () => {
    const items = [{ id: "web", count: 6, demand: pods(4) }];
    const packing = valid(items, eightCores, threeZones, pack(items, eightCores, threeZones));
    expect(packing.nodes.map((n) => n.zone)).toEqual(["fra-1", "fra-2", "fra-3"]);
  });
});

describe("packCheapest", () => {
  const big: NodeShape = {
    name: "m.4xlarge",
    allocatable: { cpu: 16, memory: 64 * Gi, pods: 110 },
    monthlyPrice: 500,
  };
  const gpu: NodeShape = {
    name: "g.2xlarge",
    allocatable: { cpu: 8, memory: 32 * Gi, pods: 110, "nvidia.com/gpu": 1 },
    monthlyPrice: 900,
  };

  it("keeps the shape whose packing costs least", () => {
    const items = [{ id: "web", count: 10, demand: pods(2) }];
    // 3 × 280 on m.2xlarge against 2 × 500 on m.4xlarge.
    const packing = packed(packCheapest(items, [big, eightCores], oneZone));
    expect([packing.shape, packing.nodes.length]).toEqual(["m.2xlarge", 3]);
    const dearer = { ...eightCores, monthlyPrice: 400 };
    expect(packed(packCheapest(items, [dearer, big], oneZone)).shape).toBe("m.4xlarge");
  });

  it("breaks a tie on cost by fewer nodes, then by name", () => {
    const items = [{ id: "web", count: 10, demand: pods(2) }];
    const half = { ...big, monthlyPrice: 420 }; // 2 × 420 = 3 × 280
    expect(packed(packCheapest(items, [eightCores, half], oneZone)).shape).toBe("m.4xlarge");
    const twin = { ...eightCores, name: "a.2xlarge" };
    expect(packed(packCheapest(items, [eightCores, twin], oneZone)).shape).toBe("a.2xlarge");
  });

  it("uses only shapes that fit every item", () => {
    const items = [
      { id: "web", count: 4, demand: pods(1) },
      { id: "trainer", count: 1, demand: { ...pods(1), "nvidia.com/gpu": 1 } },
    ];
    expect(packed(packCheapest(items, [eightCores, gpu], oneZone)).shape).toBe("g.2xlarge");
  });

  it("names the items no shape fits, with each shape's reason", () => {
    const items = [
      { id: "web", count: 1, demand: pods(1) },
      { id: "huge", count: 1, demand: pods(32) },
    ];
    expect(packCheapest(items, [eightCores, big], oneZone)).toEqual({
      ok: false,
      unfit: [
        {
          item: 1,
          reason:
            "requests 32 cores per pod, more than the 8 cores usable on a m.2xlarge node (8 cores allocatable less 0% headroom); " +
            "requests 32 cores per pod, more than the 16 cores usable on a m.4xlarge node (16 cores allocatable less 0% headroom)",
        },
      ],
    });
  });

  it("when each item fits some shape but no shape fits all, reports the shape that fails the fewest", () => {
    const items = [
      { id: "trainer", count: 1, demand: { ...pods(1), "nvidia.com/gpu": 1 } },
      { id: "wide", count: 1, demand: pods(12) },
    ];
    expect(packCheapest(items, [gpu, big], oneZone)).toEqual({
      ok: false,
      unfit: [
        {
          item: 1,
          reason: expect.stringMatching(
            /^requests 12 cores per pod, more than the 8 cores usable on a g\.2xlarge/,
          ),
        },
      ],
    });
  });
});
