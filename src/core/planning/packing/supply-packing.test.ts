import { describe, expect, it } from "vitest";
import { mixedEstate, supplyViolations } from "./supply-invariants.test-support.ts";
import { firstFitDecreasingOnSupply, packOnSupply, supplyBound } from "./supply-packing.ts";
import type { CatalogShape, OwnedNode, SupplyItem, SupplyOptions } from "./supply-types.ts";

const Gi = 2 ** 30;
const gpu = "nvidia.com/gpu";
const product = "nvidia.com/gpu.product";
const options: SupplyOptions = { zones: ["z1"], headroomPercent: 0, reserve: [], objective: "nodes" };

function owned(
  name: string,
  shape: string,
  allocatable: Record<string, number>,
  extra: Partial<OwnedNode> = {},
) {
  return { name, cluster: "c1", shape, zone: "z1", allocatable, labels: {}, ...extra } satisfies OwnedNode;
}

const cpuNode = (name: string) => owned(name, "cpu-16", { cpu: 16, memory: 64 * Gi, pods: 110 });
const gpuNode = (name: string, extra: Partial<OwnedNode> = {}) =>
  owned(
    name,
    "a100x8",
    { cpu: 96, memory: 1024 * Gi, pods: 110, [gpu]: 8 },
    { labels: { [product]: "A100" }, ...extra },
  );

const cpuPods = (count: number, cpu = 4): SupplyItem => ({
  id: "web",
  count,
  demand: { cpu, memory: 8 * Gi, pods: 1 },
});
const gpuPods = (count: number, gpus = 8): SupplyItem => ({
  id: "train",
  count,
  demand: { cpu: 8, memory: 64 * Gi, pods: 1, [gpu]: gpus },
  nodeSelector: { [product]: "A100" },
  tolerations: [{ key: gpu, operator: "Exists" }],
});

function packed(items: SupplyItem[], supply: { owned: OwnedNode[]; catalog: CatalogShape[] }, o = options) {
  const outcome = packOnSupply(items, supply, o);
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.unfit));
  expect(supplyViolations(items, supply, o, outcome.nodes)).toEqual([]);
  return outcome;
}

describe("packOnSupply", () => {
  it("puts pods without GPUs on the spare cpu of GPU nodes, which per-pool packing never does", () => {
    const supply = { owned: [gpuNode("g1"), gpuNode("g2"), cpuNode("c1"), cpuNode("c2")], catalog: [] };
    const outcome = packed([gpuPods(2), cpuPods(8)], supply);
    expect(outcome.nodes.map((n) => n.owned)).toEqual(["g1", "g2"]);
    expect(outcome.bound.nodes).toBe(2);
    // The per-pool bounds add up to more: the GPU pool and the CPU pool each on a shape of its own.
    expect(outcome.bound.pools?.reduce((n, p) => n + p.nodes, 0)).toBe(3);
  });

  it("keeps GPU nodes for GPU pods under `reserve`, and off tainted nodes for pods that do not tolerate the taint", () => {
    const taint = { key: gpu, value: "present", effect: "NoSchedule" as const };
    for (const [o, g] of [
      [{ ...options, reserve: [gpu] }, gpuNode("g1")],
      [options, gpuNode("g1", { taints: [taint] })],
    ] as const) {
      const supply = { owned: [g, cpuNode("c1"), cpuNode("c2")], catalog: [] };
      const outcome = packed([gpuPods(1), cpuPods(8)], supply, o);
      const onGpu = outcome.nodes.find((n) => n.owned === "g1")!;
      expect(onGpu.pods).toEqual([{ item: 0, count: 1 }]);
      expect(outcome.nodes).toHaveLength(3);
    }
  });

  it("places a pod over a node's usable capacity but within its allocatable alone there (headroom yields)", () => {
    const o = { ...options, headroomPercent: 20 };
    const big: SupplyItem = { id: "big", count: 2, demand: { cpu: 14, memory: 8 * Gi, pods: 1 } };
    const outcome = packed(
      [big, cpuPods(3, 1)],
      { owned: [cpuNode("c1"), cpuNode("c2"), cpuNode("c3")], catalog: [] },
      o,
    );
    const alone = outcome.nodes.filter((n) => n.pods.some((p) => p.item === 0));
    expect(alone).toHaveLength(2);
    for (const node of alone) expect(node.pods).toEqual([{ item: 0, count: 1 }]);
    expect(outcome.nodes).toHaveLength(3);
  });

  it("says how many pods of which item found no owned node left: supply exhausted", () => {
    const outcome = packOnSupply(
      [cpuPods(10)],
      { owned: [cpuNode("c1"), cpuNode("c2")], catalog: [] },
      options,
    );
    expect(outcome).toEqual({
      ok: false,
      unfit: [
        { item: 0, reason: expect.stringMatching(/^supply exhausted: 2 of its 10 pods could not be placed/) },
      ],
    });
  });

  it("refuses an item no node admits, naming the label, taint or resource", () => {
    const taint = { key: gpu, value: "present", effect: "NoSchedule" as const };
    const supply = { owned: [gpuNode("g1", { taints: [taint] }), cpuNode("c1")], catalog: [] };
    const untolerating = { ...gpuPods(1), tolerations: [] };
    const tooBig: SupplyItem = { id: "huge", count: 1, demand: { cpu: 200, pods: 1 } };
    const fraction: SupplyItem = { id: "frac", count: 1, demand: { cpu: 1, pods: 1, [gpu]: 0.5 } };
    const outcome = packOnSupply([untolerating, tooBig, fraction], supply, options);
    if (outcome.ok) throw new Error("expected a refusal");
    expect(outcome.unfit.map((u) => u.item)).toEqual([0, 1, 2]);
    expect(outcome.unfit[0]!.reason).toContain(`taint ${gpu}=present:NoSchedule is not tolerated`);
    expect(outcome.unfit[0]!.reason).toContain(`nodeSelector ${product}=A100 does not match`);
    expect(outcome.unfit[1]!.reason).toContain(
      "requests 200 cores per pod, more than the 16 cores allocatable",
    );
    expect(outcome.unfit[2]!.reason).toContain("an extended resource is a whole number");
  });

  it("counts time-sliced GPUs and MIG profiles as the resources the node advertises, whole", () => {
    const sliced = owned("t1", "t4-shared", { cpu: 48, memory: 192 * Gi, pods: 110, [gpu]: 32 });
    const mig = owned("m1", "a100-mig", {
      cpu: 96,
      memory: 1024 * Gi,
      pods: 110,
      "nvidia.com/mig-1g.10gb": 7,
    });
    const items: SupplyItem[] = [
      { id: "slice", count: 32, demand: { cpu: 1, memory: 2 * Gi, pods: 1, [gpu]: 1 } },
      { id: "mig", count: 8, demand: { cpu: 1, memory: 2 * Gi, pods: 1, "nvidia.com/mig-1g.10gb": 1 } },
    ];
    const outcome = packOnSupply(items, { owned: [sliced, mig], catalog: [] }, options);
    expect(outcome).toMatchObject({
      ok: false,
      unfit: [{ item: 1, reason: expect.stringContaining("1 of its 8") }],
    });
    const fits = packed([items[0]!, { ...items[1]!, count: 7 }], { owned: [sliced, mig], catalog: [] });
    expect(fits.nodes.map((n) => n.used)).toEqual([
      { cpu: 32, memory: 64 * Gi, pods: 32, [gpu]: 32, "nvidia.com/mig-1g.10gb": 0 },
      { cpu: 7, memory: 14 * Gi, pods: 7, [gpu]: 0, "nvidia.com/mig-1g.10gb": 7 },
    ]);
  });

  it("buys as few nodes as it can, owned nodes first; then, by the objective, fewest nodes", () => {
    const shape = (name: string, cpu: number): CatalogShape => ({
      name,
      allocatable: { cpu, memory: 4 * cpu * Gi, pods: 110 },
      labels: {},
      monthlyPrice: 100,
    });
    const owned2 = [cpuNode("c1"), cpuNode("c2")];
    const same = packed([cpuPods(12)], { owned: owned2, catalog: [shape("cpu-16", 16)] });
    expect(same.nodes.map((n) => n.owned ?? `new ${n.shape}`)).toEqual(["c1", "c2", "new cpu-16"]);
    // One node must be bought either way: one large new node then beats it plus two owned nodes.
    const large = packed([cpuPods(12)], { owned: owned2, catalog: [shape("cpu-64", 64)] });
    expect(large.nodes.map((n) => n.owned ?? `new ${n.shape}`)).toEqual(["new cpu-64"]);
    // Nothing to buy: owned nodes only, though a new node would be fewer.
    const none = packed([cpuPods(8)], { owned: owned2, catalog: [shape("cpu-64", 64)] });
    expect(none.nodes.map((n) => n.owned ?? `new ${n.shape}`)).toEqual(["c1", "c2"]);
  });

  it("with objective cost, buys the cheapest capacity; unpriced owned nodes cost nothing and come first", () => {
    const catalog: CatalogShape[] = [
      { name: "dear", allocatable: { cpu: 16, memory: 64 * Gi, pods: 110 }, labels: {}, monthlyPrice: 500 },
      { name: "cheap", allocatable: { cpu: 16, memory: 64 * Gi, pods: 110 }, labels: {}, monthlyPrice: 300 },
    ];
    const o = { ...options, objective: "cost" as const };
    const bought = packed([cpuPods(8)], { owned: [], catalog }, o);
    expect(bought.nodes.map((n) => n.shape)).toEqual(["cheap", "cheap"]);
    const mixed = packed(
      [cpuPods(4)],
      {
        owned: [
          owned("p1", "priced", { cpu: 16, memory: 64 * Gi, pods: 110 }, { monthlyPrice: 900 }),
          cpuNode("u1"),
        ],
        catalog,
      },
      o,
    );
    expect(mixed.nodes.map((n) => n.owned)).toEqual(["u1"]);
  });

  it("holds anti-affinity and zone rules on owned nodes in their own zones", () => {
    const nodes = ["z1", "z2", "z3"].flatMap((zone) =>
      [1, 2].map((k) => ({ ...cpuNode(`${zone}-${k}`), zone })),
    );
    const items: SupplyItem[] = [
      { ...cpuPods(6, 1), id: "spread", zoneMaxSkew: 1, maxPerNode: 1 },
      { ...cpuPods(3, 1), id: "per-zone", maxPerZone: 1 },
    ];
    const o = { ...options, zones: ["z1", "z2", "z3"] };
    const outcome = packed(items, { owned: nodes, catalog: [] }, o);
    expect(outcome.nodes).toHaveLength(6);
  });

  it("comes within 3% of its bound on mixed CPU/GPU estates of owned nodes, below first-fit decreasing", () => {
    const ratios: number[] = [];
    for (let seed = 1; seed <= 6; seed++) {
      const estate = mixedEstate(seed, 3000, seed % 2 === 0);
      const supply = { owned: estate.owned, catalog: [] };
      const o = { ...options, zones: estate.zones, headroomPercent: 20 };
      const outcome = packed(estate.items, supply, o);
      ratios.push(outcome.nodes.length / outcome.bound.nodes);
      const ffd = firstFitDecreasingOnSupply(estate.items, supply, o);
      if (ffd.ok) expect(outcome.nodes.length).toBeLessThan(ffd.nodes.length);
    }
    expect(Math.max(...ratios)).toBeLessThanOrEqual(1.035);
    expect(ratios.reduce((a, b) => a + b, 0) / ratios.length).toBeLessThanOrEqual(1.02);
  });
});

describe("supplyBound", () => {
  it("adds the nodes of pods no kind admits together, and forces the GPU nodes GPU pods need", () => {
    const supply = {
      owned: [
        gpuNode("g1"),
        gpuNode("g2"),
        gpuNode("g3"),
        ...Array.from({ length: 20 }, (_, k) => cpuNode(`c${k}`)),
      ],
      catalog: [],
    };
    // Reserved GPU nodes: 2 for the GPU pods, and 46 × 4 cores on 16-core nodes, 12: 14 in all.
    const reserved = supplyBound([gpuPods(2), cpuPods(46)], supply, { ...options, reserve: [gpu] });
    expect(reserved.nodes).toBe(14);
    expect(reserved.binding).toMatch(/^pods that no node kind admits together need nodes apart/);
    // Shared: the 2 GPU nodes hold at most 192 cores of the 200 requested, 8 more need one node.
    const shared = supplyBound(
      [gpuPods(2), { ...cpuPods(46), demand: { cpu: 4, memory: Gi, pods: 1 } }],
      {
        ...supply,
        owned: supply.owned.slice(0, 2).concat(supply.owned.slice(3)),
      },
      options,
    );
    expect(shared.nodes).toBe(3);
  });

  it("is 0 with no pods", () => {
    expect(supplyBound([], { owned: [cpuNode("c1")], catalog: [] }, options)).toMatchObject({ nodes: 0 });
  });
});
