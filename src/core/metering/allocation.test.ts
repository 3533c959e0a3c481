/**
 * Hand-computed allocations of small cluster-hours. Money is in micro-units (1 EUR = 1,000,000); amounts are
 * sums over minute samples, so "2 cores for the hour" is 2,000 millicores × 60 = 120,000 millicore-minutes and
 * "1 GiB-hour" is 2³⁰ × 60 byte-minutes. The examples of docs/metering.md are the cases below.
 */
import { describe, expect, it } from "vitest";
import {
  type AllocationRow,
  allocate,
  allocateAll,
  type ClusterHourInput,
  defaultAllocationRules,
  groupClusterHours,
  payerFromName,
  payerName,
} from "./allocation.ts";
import { nodeCost } from "./node-cost.ts";
import type { NodeHour, WorkloadHour } from "./usage.ts";

const hour = "2026-12-03T14:00:00Z";
const coreHour = 1000 * 60; // millicore-minutes
const gibHour = 2 ** 30 * 60; // byte-minutes

function node(name: string, cores: number, gib: number, gpus = 0, samples = 60): NodeHour {
  return {
    cluster: "c1",
    hour,
    node: name,
    samples,
    allocatable: {
      cpu: (cores * coreHour * samples) / 60,
      memory: (gib * gibHour * samples) / 60,
      gpu: gpus * samples,
    },
  };
}

/** A workload that held `cpu` cores and `memory` GiB for the whole hour (request = allocated unless said). */
function workload(
  namespace: string,
  name: string,
  figures: {
    cpu: number;
    memory: number;
    cpuUsage?: number;
    memoryUsage?: number;
    labels?: Record<string, string>;
  },
  extra: Partial<WorkloadHour> = {},
): WorkloadHour {
  return {
    cluster: "c1",
    hour,
    namespace,
    workload: name,
    labels: figures.labels ?? {},
    samples: 60,
    cpu: {
      request: figures.cpu * coreHour,
      usage: (figures.cpuUsage ?? figures.cpu) * coreHour,
      allocated: figures.cpu * coreHour,
    },
    memory: {
      request: figures.memory * gibHour,
      usage: (figures.memoryUsage ?? figures.memory) * gibHour,
      allocated: figures.memory * gibHour,
    },
    gpu: { request: 0, usage: 0, allocated: 0 },
    storage: {},
    loadBalancers: 0,
    ...extra,
  };
}

/** One node of 4 cores and 16 GiB at 0.04 per core-hour and 0.005 per GiB-hour: cpu 160,000 + memory 80,000. */
function clusterHour(
  workloads: WorkloadHour[],
  rules: Partial<ClusterHourInput["rules"]> = {},
): ClusterHourInput {
  return {
    cluster: { name: "c1", business: "shop", environment: "prod" },
    hour,
    nodes: [node("n1", 4, 16)],
    workloads,
    prices: {
      nodes: { n1: { cpuPerCoreHour: 40_000, memoryPerGiBHour: 5_000, gpuPerDeviceHour: 0 } },
      storagePerGiBMonth: { standard: 73_000 },
      loadBalancerPerHour: 25_000,
    },
    rules: { ...defaultAllocationRules, ...rules },
  };
}

function allocated(input: ClusterHourInput) {
  const result = allocate(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

function row(rows: AllocationRow[], namespace: string, name: string): AllocationRow {
  const found = rows.find((r) => r.namespace === namespace && r.workload === name);
  if (!found) throw new Error(`no row ${namespace}/${name}`);
  return found;
}

const web = workload("shop", "Deployment/web", {
  cpu: 2,
  cpuUsage: 0.5,
  memory: 4,
  memoryUsage: 2,
  labels: { team: "checkout" },
});
const api = workload("shop", "Deployment/api", { cpu: 0.8, memory: 2 });
const kubeProxy = workload("kube-system", "DaemonSet/kube-proxy", { cpu: 0.4, memory: 1 });

describe("node cost split", () => {
  it("prices unit-priced nodes per resource", () => {
    // cpu: 240,000 millicore-minutes × 40,000 ÷ 60,000 = 160,000; memory: 16 GiB-hours × 5,000 = 80,000.
    expect(
      nodeCost(node("n1", 4, 16), { cpuPerCoreHour: 40_000, memoryPerGiBHour: 5_000, gpuPerDeviceHour: 0 }),
    ).toEqual({ cpu: 160_000n, memory: 80_000n, gpu: 0n, total: 240_000n });
  });

  it("splits a whole-node price by OpenCost's default relative prices", () => {
    // Weights 4 cores × 31,611 = 126,444 and 16 GiB × 4,237 = 67,792 (sum 194,236).
    // cpu = 1,000,000 × 126,444 ÷ 194,236 = 650,981 rem 54,484; memory = 349,018 rem 139,752;
    // one unit left → memory (larger remainder): 650,981 + 349,019 = 1,000,000.
    expect(nodeCost(node("n1", 4, 16), { total: 1_000_000 })).toEqual({
      cpu: 650_981n,
      memory: 349_019n,
      gpu: 0n,
      total: 1_000_000n,
    });
    // Half an hour: 500,000; cpu 325,490 rem 124,360, memory 174,509 rem 69,876 → the unit goes to cpu.
    expect(nodeCost(node("n1", 4, 16, 0, 30), { total: 1_000_000 })).toEqual({
      cpu: 325_491n,
      memory: 174_509n,
      gpu: 0n,
      total: 500_000n,
    });
  });

  it("weighs a gpu as 0.95 ÷ 0.004237 ≈ 224 GiB", () => {
    // 1 core (31,611), 1 GiB (4,237), 1 gpu (950,000): sum 985,848; of 985,848 each gets exactly its weight.
    expect(nodeCost(node("g1", 1, 1, 1), { total: 985_848 })).toEqual({
      cpu: 31_611n,
      memory: 4_237n,
      gpu: 950_000n,
      total: 985_848n,
    });
  });

  it("puts the whole cost of a node that offers nothing in its cpu part", () => {
    expect(nodeCost(node("z", 0, 0), { total: 700 })).toEqual({
      cpu: 700n,
      memory: 0n,
      gpu: 0n,
      total: 700n,
    });
  });
});

describe("allocate", () => {
  it("charges allocated at the pool's price per unit and keeps idle apart (idle: separate)", () => {
    // cpu pool 160,000 over 240,000 millicore-minutes (2/3 per millicore-minute):
    //   web 120,000 → 80,000; api 48,000 → 32,000; kube-proxy 24,000 → 16,000; idle 48,000 → 32,000.
    // memory pool 80,000 over 16 GiB-hours (5,000 per GiB-hour):
    //   web 4 → 20,000; api 2 → 10,000; kube-proxy 1 → 5,000; idle 9 → 45,000.
    // kube-system is shared, spread by each other workload's cost of the same resource:
    //   cpu 16,000 × 80,000/112,000 = 11,428.57 (web), × 32,000/112,000 = 4,571.43 (api); floors 11,428 + 4,571,
    //   one unit left → web (remainder .57 > .43): web 11,429, api 4,571.
    //   memory 5,000 × 20,000/30,000 = 3,333.33 (web), × 10,000/30,000 = 1,666.67 (api) → the unit goes to api.
    // web: 91,429 + 23,333 = 114,762; api: 36,571 + 11,667 = 48,238; idle 32,000 + 45,000; total 240,000.
    const a = allocated(clusterHour([web, api, kubeProxy]));
    expect(a.nodeCost).toEqual({ cpu: 160_000, memory: 80_000, gpu: 0, total: 240_000 });
    expect(a.idleCost).toEqual({ cpu: 32_000, memory: 45_000, gpu: 0 });
    expect(
      a.rows.map((r) => [r.kind, r.namespace, r.workload, r.cpuCost, r.memoryCost, r.totalCost]),
    ).toEqual([
      ["shared", "kube-system", "DaemonSet/kube-proxy", 0, 0, 0],
      ["workload", "shop", "Deployment/api", 36_571, 11_667, 48_238],
      ["workload", "shop", "Deployment/web", 91_429, 23_333, 114_762],
      ["idle", "__idle__", "cpu", 32_000, 0, 32_000],
      ["idle", "__idle__", "memory", 0, 45_000, 45_000],
    ]);
    expect(row(a.rows, "kube-system", "DaemonSet/kube-proxy").sharedSpread).toBe(21_000);
    expect(row(a.rows, "shop", "Deployment/web").sharedIncluded).toBe(14_762);
    expect(a.rows.reduce((sum, r) => sum + r.totalCost, 0)).toBe(240_000);
  });

  it("charges 2 cores requested and 0.5 used at 0.04 per core-hour 0.08 for the hour (max of request and usage)", () => {
    const a = allocated(clusterHour([web], { sharedSplit: "none" }));
    const w = row(a.rows, "shop", "Deployment/web");
    expect(w.cpuCost).toBe(80_000);
    expect(w.cpu).toEqual({ request: 120_000, usage: 30_000, allocated: 120_000 });
    expect(w.payer).toEqual({ from: "label", key: "team", value: "checkout" });
  });

  it("spreads idle over the workloads by their cost of each resource (idle: share)", () => {
    // cpu: web 80,000, api 32,000, idle 48,000 (72,000 millicore-minutes unallocated).
    //   idle 48,000 × 80/112 = 34,285.71 (web), × 32/112 = 13,714.29 (api) → the unit to web: 34,286 / 13,714.
    //   web 114,286, api 45,714 (= 160,000).
    // memory: web 20,000, api 10,000, idle 50,000 → 33,333.33 / 16,666.67 → the unit to api: 33,333 / 16,667.
    //   web 53,333, api 26,667 (= 80,000).
    const a = allocated(clusterHour([web, api], { idle: "share" }));
    expect(a.rows.map((r) => [r.workload, r.cpuCost, r.memoryCost, r.idleIncluded, r.totalCost])).toEqual([
      ["Deployment/api", 45_714, 26_667, 30_381, 72_381],
      ["Deployment/web", 114_286, 53_333, 67_619, 167_619],
    ]);
    expect(a.idleCost).toEqual({ cpu: 48_000, memory: 50_000, gpu: 0 });
  });

  it("scales the workloads' shares to the node cost when they allocate more than the nodes offer", () => {
    // cpu: web 3 cores (usage above its request), api 2: 300,000 > 240,000 allocatable. At 2/3 per millicore-
    // minute they would owe 120,000 + 80,000 = 200,000 of a 160,000 pool (idle −40,000). Capped: idle 0 and
    // the pool split 180:120 → web 96,000, api 64,000.
    const hot = workload("shop", "Deployment/web", { cpu: 3, memory: 4 });
    hot.cpu = { request: 2 * coreHour, usage: 3 * coreHour, allocated: 3 * coreHour };
    const a = allocated(clusterHour([hot, workload("shop", "Deployment/api", { cpu: 2, memory: 2 })]));
    expect(a.overAllocated).toEqual(["cpu"]);
    expect(a.idleCost.cpu).toBe(0);
    expect(row(a.rows, "shop", "Deployment/web").cpuCost).toBe(96_000);
    expect(row(a.rows, "shop", "Deployment/api").cpuCost).toBe(64_000);
    expect(a.rows.some((r) => r.kind === "idle" && r.resource === "cpu")).toBe(false);
  });

  it("adds storage and LoadBalancers on top of the node cost, to the workload that holds them", () => {
    // 10 GiB claimed for the hour at 73,000 per GiB-month (730 hours): 10 × 73,000 ÷ 730 = 1,000.
    // One LoadBalancer for 60 minutes at 25,000 per hour: 25,000.
    const withVolume = { ...web, storage: { standard: 10 * gibHour }, loadBalancers: 60 };
    const a = allocated(clusterHour([withVolume, api]));
    const w = row(a.rows, "shop", "Deployment/web");
    expect([w.storageCost, w.loadBalancerCost]).toEqual([1_000, 25_000]);
    expect([a.storageCost, a.loadBalancerCost, a.totalCost]).toEqual([1_000, 25_000, 266_000]);
    expect(a.rows.reduce((sum, r) => sum + r.totalCost, 0)).toBe(266_000);
  });

  it("prices an unnamed storage class at the * price", () => {
    const withVolume = { ...web, storage: { "fast-ssd": 10 * gibHour } };
    const input = clusterHour([withVolume]);
    input.prices = { ...input.prices, storagePerGiBMonth: { "*": 146_000 } };
    expect(row(allocated(input).rows, "shop", "Deployment/web").storageCost).toBe(2_000);
  });

  it("spreads shared namespaces evenly with sharedSplit: even, and not at all with none", () => {
    // kube-proxy's 16,000 cpu and 5,000 memory in halves: 8,000 and 2,500 to each of api and web.
    const even = allocated(clusterHour([web, api, kubeProxy], { sharedSplit: "even" }));
    expect(row(even.rows, "shop", "Deployment/api").sharedIncluded).toBe(10_500);
    expect(row(even.rows, "shop", "Deployment/web").sharedIncluded).toBe(10_500);
    const none = allocated(clusterHour([web, api, kubeProxy], { sharedSplit: "none" }));
    expect(row(none.rows, "kube-system", "DaemonSet/kube-proxy").totalCost).toBe(21_000);
  });

  it("keeps shared namespaces' cost on their rows when there is nobody else to carry it", () => {
    const a = allocated(clusterHour([kubeProxy]));
    expect(row(a.rows, "kube-system", "DaemonSet/kube-proxy").totalCost).toBe(21_000);
    expect(a.rows.reduce((sum, r) => sum + r.totalCost, 0)).toBe(240_000);
  });

  it("leaves idle as rows when nothing carries it, even with idle: share", () => {
    // No workloads: the whole node is idle. A second node that offers nothing adds its 700 to the cpu idle.
    const input = clusterHour([], { idle: "share" });
    input.nodes = [...input.nodes, node("z", 0, 0)];
    input.prices = { ...input.prices, nodes: { ...input.prices.nodes, z: { total: 700 } } };
    const a = allocated(input);
    expect(a.rows.map((r) => [r.workload, r.totalCost, r.unallocated])).toEqual([
      ["cpu", 160_700, 240_000],
      ["memory", 80_000, 16 * gibHour],
    ]);
  });

  it("names the payer by the first label present, else the Cluster's business and environment", () => {
    const labelled = workload("shop", "Deployment/a", {
      cpu: 1,
      memory: 1,
      labels: { business: "", team: "search" },
    });
    const plain = workload("shop", "Deployment/b", { cpu: 1, memory: 1 });
    const a = allocated(clusterHour([labelled, plain], { payerLabels: ["business", "team"] }));
    expect(a.rows.map((r) => payerName(r.payer))).toEqual([
      "team=search",
      "shop/prod",
      "shop/prod",
      "shop/prod",
    ]);
  });

  it("gives the same rows whatever order the records come in", () => {
    const one = allocated(clusterHour([web, api, kubeProxy], { idle: "share" }));
    const other = allocated(clusterHour([kubeProxy, web, api], { idle: "share" }));
    expect(other).toEqual(one);
  });

  it("refuses bad input with every problem and its field path", () => {
    const input = clusterHour([
      { ...web, cluster: "c2" },
      { ...api, cpu: { request: 10, usage: 20, allocated: 15 }, storage: { gold: 5 } },
      { ...api, loadBalancers: -1 },
    ]);
    input.nodes = [...input.nodes, { ...node("n2", 1, 1), samples: 61 }];
    input.prices = { ...input.prices, loadBalancerPerHour: 0.5 };
    const result = allocate(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path)).toEqual([
      "prices.loadBalancerPerHour",
      "nodes[1].samples",
      "prices.nodes.n2",
      "workloads[0].cluster",
      "workloads[1].cpu.allocated",
      "workloads[1].storage.gold",
      "workloads[2].workload",
      "workloads[2].loadBalancers",
    ]);
  });

  it("refuses an hour whose cost does not fit a safe integer", () => {
    const input = clusterHour([]);
    input.nodes = [node("n1", 4, 16), node("n2", 4, 16)];
    input.prices = { ...input.prices, nodes: { n1: { total: 2 ** 52 }, n2: { total: 2 ** 52 } } };
    const result = allocate(input);
    expect(result.ok ? [] : result.problems.map((p) => p.path)).toEqual(["prices"]);
  });
});

describe("many cluster-hours", () => {
  it("groups a batch per cluster and hour and prefixes problems with the input's index", () => {
    const later = "2026-12-03T15:00:00Z";
    const groups = groupClusterHours(
      [node("n1", 4, 16), { ...node("n1", 4, 16), hour: later }],
      [web, { ...api, hour: later }, { ...api, cluster: "c0" }],
    );
    expect(groups.map((g) => [g.cluster, g.hour, g.nodes.length, g.workloads.length])).toEqual([
      ["c0", hour, 0, 1],
      ["c1", hour, 1, 1],
      ["c1", later, 1, 1],
    ]);
    const good = clusterHour([web]);
    const bad = { ...clusterHour([web]), prices: { ...good.prices, nodes: {} } };
    const result = allocateAll([good, bad]);
    expect(result.ok ? [] : result.problems.map((p) => p.path)).toEqual(["[1].prices.nodes.n1"]);
    const fine = allocateAll([good, good]);
    expect(fine.ok && fine.value.length).toBe(2);
  });
});

describe("payer names", () => {
  it("reads a payer back from its name, a label key with a prefix and a value with a slash included", () => {
    const payers = [
      { from: "label", key: "example.com/team", value: "a/b=c" },
      { from: "label", key: "team", value: "" },
      { from: "cluster", business: "shop", environment: "prod" },
    ] as const;
    for (const payer of payers) expect(payerFromName(payerName(payer))).toEqual(payer);
  });
});
