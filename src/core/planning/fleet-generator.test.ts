import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  acceleratorLabel,
  type FleetSeating,
  type FleetShape,
  fleetShapes,
  type GeneratorOptions,
  type GpuShape,
  generateFleet,
  generateSeatedFleet,
  gpuShapes,
  validateGeneratorOptions,
} from "./fleet-generator.ts";
import {
  type Fleet,
  type FleetCluster,
  type FleetNode,
  type FleetWorkload,
  readFleet,
} from "./fleet-snapshot.ts";
import { gpuLabels, gpuResource, gpuTaint } from "./gpu-node-models.ts";
import { admits, refusalOf } from "./node-admission.ts";
import { compareVersions } from "./versions.ts";

const GiB = 2 ** 30;
const base: GeneratorOptions = {
  clusters: 60,
  nodes: 900,
  pods: 20_000,
  locations: 3,
  shape: "mixed",
  seed: 7,
};

function fleetOf(options: Partial<GeneratorOptions>): Fleet {
  const read = readFleet(generateFleet({ ...base, ...options }));
  if (!read.ok) throw new Error(JSON.stringify(read.problems.slice(0, 5)));
  return read.value;
}

const podsOf = (c: FleetCluster) => c.workloads.reduce((n, w) => n + w.replicas, 0);
/** Deployments and StatefulSets without a node selector: what a shape sizes (DaemonSets and gpu are alike). */
const general = (c: FleetCluster) => c.workloads.filter((w) => w.kind !== "DaemonSet" && !w.nodeSelector);
const generalPods = (f: Fleet) => f.clusters.flatMap(general).filter((w) => w.replicas > 0);

function sums(c: FleetCluster): { requests: Record<string, number>; allocatable: Record<string, number> } {
  const requests: Record<string, number> = {};
  const allocatable: Record<string, number> = {};
  for (const w of c.workloads)
    for (const [r, v] of Object.entries(w.podRequests)) requests[r] = (requests[r] ?? 0) + v * w.replicas;
  for (const n of c.nodes)
    for (const [r, v] of Object.entries(n.allocatable)) allocatable[r] = (allocatable[r] ?? 0) + v;
  return { requests, allocatable };
}

/** Problems with a fleet's fit: a resource requested beyond its cluster's allocatable, a pod larger than any node. */
function misfits(f: Fleet): string[] {
  const found: string[] = [];
  for (const c of f.clusters) {
    const { requests, allocatable } = sums(c);
    for (const [r, v] of Object.entries(requests))
      if (v > (allocatable[r] ?? 0)) found.push(`${c.name}: ${r} ${v} > ${allocatable[r] ?? 0}`);
    for (const w of c.workloads) {
      const eligible = c.nodes.filter((n) =>
        Object.entries(w.nodeSelector ?? {}).every(([k, v]) => n.labels[k] === v),
      );
      const fits = eligible.some((n) =>
        Object.entries(w.podRequests).every(([r, v]) => v <= (n.allocatable[r] ?? 0)),
      );
      if (!fits && w.replicas > 0) found.push(`${c.name}/${w.namespace}/${w.name} fits no node`);
    }
  }
  return found;
}

/** The largest share of a node one pod asks for: of cpu or memory, of the largest node it may run on. */
function largestPodShare(f: Fleet): number {
  let largest = 0;
  for (const c of f.clusters)
    for (const w of c.workloads) {
      const eligible = c.nodes.filter((n) =>
        Object.entries(w.nodeSelector ?? {}).every(([k, v]) => n.labels[k] === v),
      );
      for (const r of ["cpu", "memory"])
        largest = Math.max(
          largest,
          (w.podRequests[r] ?? 0) / Math.max(...eligible.map((n) => n.allocatable[r]!)),
        );
    }
  return largest;
}

/** Requests over allocatable of the cluster's dominant resource (cpu or memory). */
function utilisation(c: FleetCluster): number {
  const { requests, allocatable } = sums(c);
  return Math.max((requests.cpu ?? 0) / allocatable.cpu!, (requests.memory ?? 0) / allocatable.memory!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sum = (xs: readonly number[]) => xs.reduce((n, x) => n + x, 0);

describe("generateFleet", () => {
  describe.each(fleetShapes)("shape %s", (shape) => {
    const snapshot = generateFleet({ ...base, shape });
    const read = readFleet(snapshot);

    it("is a valid fleet snapshot with exactly the clusters, nodes and pods asked for", () => {
      expect(read.ok ? [] : read.problems).toEqual([]);
      if (!read.ok) return;
      const f = read.value;
      expect(f.clusters).toHaveLength(base.clusters);
      expect(f.clusters.reduce((n, c) => n + c.nodes.length, 0)).toBe(base.nodes);
      expect(f.clusters.reduce((n, c) => n + podsOf(c), 0)).toBe(base.pods);
      expect(f.locations.map((l) => l.name)).toEqual(["loc-01", "loc-02", "loc-03"]);
    });

    const most = shape === "gpu-mixed-owned" ? 0.75 : 0.7;
    it(`fits every cluster's requests on its nodes, at most ${most * 100}% of cpu or memory`, () => {
      if (!read.ok) throw new Error("invalid");
      expect(misfits(read.value)).toEqual([]);
      for (const c of read.value.clusters) expect(utilisation(c), c.name).toBeLessThanOrEqual(most + 0.01);
    });

    it(`asks for at most ${shape === "huge-pods" ? "a node" : "60% of a node"} in one pod`, () => {
      if (!read.ok) throw new Error("invalid");
      expect(largestPodShare(read.value)).toBeLessThanOrEqual(shape === "huge-pods" ? 1 : 0.6);
    });
  });

  it("hits the totals of 1,000 clusters, 20,000 nodes and 500,000 pods", () => {
    const snapshot = generateFleet({
      clusters: 1000,
      nodes: 20_000,
      pods: 500_000,
      locations: 4,
      shape: "mixed",
      seed: 1,
    });
    expect(snapshot.clusters).toHaveLength(1000);
    expect(snapshot.clusters.reduce((n, c) => n + c.nodes.length, 0)).toBe(20_000);
    expect(snapshot.clusters.reduce((n, c) => n + c.workloads.reduce((m, w) => m + w.replicas, 0), 0)).toBe(
      500_000,
    );
    expect(new Set(snapshot.clusters.map((c) => c.name)).size).toBe(1000);
    expect(new Set(snapshot.clusters.map((c) => c.business)).size).toBeGreaterThanOrEqual(12);
  });

  it("gives the same options the same snapshot, to the byte, and another seed another fleet", () => {
    const again = JSON.stringify(generateFleet(base));
    expect(JSON.stringify(generateFleet({ ...base }))).toBe(again);
    expect(JSON.stringify(generateFleet({ ...base, seed: 8 }))).not.toBe(again);
  });

  it("keeps memory-heavy pods at 8–16 GiB of memory per core", () => {
    const pods = generalPods(fleetOf({ shape: "memory-heavy" }));
    const cpu = pods.reduce((n, w) => n + w.replicas * w.podRequests.cpu!, 0);
    const memory = pods.reduce((n, w) => n + w.replicas * w.podRequests.memory!, 0);
    expect(memory / cpu / GiB).toBeGreaterThanOrEqual(8);
    for (const w of pods) {
      const ratio = w.podRequests.memory! / w.podRequests.cpu! / GiB;
      expect(ratio, w.name).toBeGreaterThanOrEqual(7.5);
      expect(ratio, w.name).toBeLessThanOrEqual(16.5);
    }
  });

  it("keeps tiny pods at 50–250m cpu and 64–512 MiB", () => {
    const pods = generalPods(fleetOf({ shape: "tiny-pods" }));
    const count = pods.reduce((n, w) => n + w.replicas, 0);
    expect(pods.reduce((n, w) => n + w.replicas * w.podRequests.cpu!, 0) / count).toBeLessThanOrEqual(0.25);
    for (const w of pods) {
      expect(w.podRequests.cpu).toBeGreaterThanOrEqual(0.05);
      expect(w.podRequests.cpu).toBeLessThanOrEqual(0.25);
      expect(w.podRequests.memory).toBeGreaterThanOrEqual(64 * 2 ** 20);
      expect(w.podRequests.memory).toBeLessThanOrEqual(512 * 2 ** 20);
    }
  });

  it("puts most of huge-pods' requests in pods of 35–60% of a general node", () => {
    const f = fleetOf({ shape: "huge-pods" });
    const share = (w: FleetWorkload) => Math.max(w.podRequests.cpu! / 16, w.podRequests.memory! / (64 * GiB));
    const pods = generalPods(f);
    const huge = pods.filter((w) => share(w) >= 0.35);
    for (const w of huge) expect(share(w), w.name).toBeLessThanOrEqual(0.6);
    const volume = (ws: FleetWorkload[]) => ws.reduce((n, w) => n + w.replicas * share(w), 0);
    expect(volume(huge) / volume(pods)).toBeGreaterThanOrEqual(0.5);
    const withHuge = f.clusters.filter((c) => general(c).some((w) => share(w) >= 0.35));
    expect(withHuge.length / f.clusters.length).toBeGreaterThanOrEqual(0.8);
  });

  it("varies mixed pods in size and memory per core", () => {
    const pods = generalPods(fleetOf({ shape: "mixed" }));
    const cpus = pods.map((w) => w.podRequests.cpu!);
    const ratios = pods.map((w) => w.podRequests.memory! / w.podRequests.cpu! / GiB);
    expect(Math.min(...cpus)).toBeLessThanOrEqual(0.1);
    expect(Math.max(...cpus)).toBeGreaterThanOrEqual(2);
    expect(Math.min(...ratios)).toBeLessThanOrEqual(1);
    expect(Math.max(...ratios)).toBeGreaterThanOrEqual(6);
  });

  it("places gpu workloads only on clusters with gpu nodes, through the accelerator label", () => {
    const f = fleetOf({ clusters: 120, nodes: 3000, pods: 60_000, seed: 3 });
    const gpuWorkloads = f.clusters.flatMap((c) =>
      c.workloads.filter((w) => (w.podRequests["nvidia.com/gpu"] ?? 0) > 0).map((w) => ({ c, w })),
    );
    expect(gpuWorkloads.length).toBeGreaterThan(0);
    for (const { c, w } of gpuWorkloads) {
      expect(w.nodeSelector).toEqual({ [acceleratorLabel]: "gpu" });
      expect(
        c.nodes.some((n) => n.labels[acceleratorLabel] === "gpu" && n.allocatable["nvidia.com/gpu"] === 4),
      ).toBe(true);
    }
    for (const c of f.clusters)
      for (const w of c.workloads)
        if (w.nodeSelector)
          expect(
            c.nodes.some((n) => n.labels[acceleratorLabel] === "gpu"),
            c.name,
          ).toBe(true);
  });

  it("looks like an early estate: businesses × environments per Location, prod bigger, busier and older", () => {
    const f = fleetOf({ clusters: 240, nodes: 4000, pods: 80_000, locations: 4, seed: 11 });
    for (const l of f.locations) {
      if (l.regions.length > 0) {
        expect(l.regions.length).toBeGreaterThanOrEqual(2);
        expect(l.regions.length).toBeLessThanOrEqual(3);
        for (const r of l.regions) expect(r.zones.length).toBeGreaterThanOrEqual(2);
      } else expect(l.zones.length).toBeGreaterThanOrEqual(2);
      expect(f.clusters.filter((c) => c.location === l.name)).toHaveLength(60);
    }
    expect(new Set(f.clusters.map((c) => c.business)).size).toBe(20);
    const of = (env: string) => f.clusters.filter((c) => c.environment === env);
    expect(of("prod")).toHaveLength(80);
    expect(median(of("prod").map((c) => c.nodes.length))).toBeGreaterThan(
      median(of("dev").map((c) => c.nodes.length)),
    );
    expect(median(of("prod").map(utilisation))).toBeGreaterThan(median(of("dev").map(utilisation)));
    const sizes = f.clusters.map((c) => c.nodes.length);
    expect(Math.max(...sizes)).toBeGreaterThan(5 * median(sizes));
    for (const c of f.clusters) expect(c.kubernetesVersion).toMatch(/^v1\.3[456]\.\d+$/);
    const versionRank = (cs: FleetCluster[]) =>
      cs.filter((c) => compareVersions(c.kubernetesVersion, "v1.35.0") < 0).length / cs.length;
    expect(versionRank(of("prod"))).toBeGreaterThan(versionRank(of("dev")));
    const workloads = f.clusters.flatMap((c) => c.workloads);
    expect(workloads.some((w) => w.kind === "StatefulSet")).toBe(true);
    expect(workloads.some((w) => w.antiAffinity === "hostname")).toBe(true);
    expect(workloads.some((w) => w.zoneMaxSkew === 1)).toBe(true);
    for (const c of f.clusters)
      for (const w of c.workloads) if (w.kind === "DaemonSet") expect(w.replicas).toBe(c.nodes.length);
  });

  it("holds its totals and fits on any valid options", () => {
    const options = fc
      .record({
        clusters: fc.integer({ min: 1, max: 40 }),
        nodesPerCluster: fc.integer({ min: 1, max: 30 }),
        extraNodes: fc.integer({ min: 0, max: 40 }),
        density: fc.double({ min: 0, max: 1, noNaN: true }),
        locations: fc.integer({ min: 1, max: 5 }),
        shape: fc.constantFrom<FleetShape>(...fleetShapes),
        seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      })
      .map(({ nodesPerCluster, extraNodes, density, ...o }) => {
        const nodes = o.clusters * nodesPerCluster + extraNodes;
        return {
          ...o,
          nodes,
          pods: Math.floor(density * density * 100 * nodes),
          locations: Math.min(o.locations, o.clusters),
        };
      });
    fc.assert(
      fc.property(options, (o) => {
        const f = fleetOf(o);
        expect(f.clusters).toHaveLength(o.clusters);
        expect(f.clusters.reduce((n, c) => n + c.nodes.length, 0)).toBe(o.nodes);
        expect(f.clusters.reduce((n, c) => n + podsOf(c), 0)).toBe(o.pods);
        expect(misfits(f)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses bad options, every problem with its field path", () => {
    const problems = validateGeneratorOptions({
      clusters: 0,
      nodes: -1,
      pods: -5,
      locations: 1.5,
      shape: "gigantic",
      seed: -1,
    });
    expect(problems.ok ? [] : problems.problems.map((p) => p.path)).toEqual([
      "clusters",
      "nodes",
      "pods",
      "locations",
      "shape",
      "seed",
    ]);
    const fewNodes = validateGeneratorOptions({ ...base, nodes: base.clusters - 1 });
    expect(fewNodes).toEqual({
      ok: false,
      problems: [{ path: "nodes", message: "must be from 60 to 1000000 (at least one per cluster), got 59" }],
    });
    const crowded = validateGeneratorOptions({ ...base, pods: base.nodes * 100 + 1 });
    expect(crowded.ok ? [] : crowded.problems.map((p) => p.path)).toEqual(["pods"]);
    expect(validateGeneratorOptions({ ...base, locations: base.clusters + 1 }).ok).toBe(false);
    expect(
      validateGeneratorOptions({ clusters: 1, nodes: 1, pods: 0, locations: 1, shape: "huge-pods", seed: 0 })
        .ok,
    ).toBe(true);
    expect(() => generateFleet({ ...base, shape: "gigantic" as FleetShape })).toThrow(
      /shape: must be one of/,
    );
  });
});

/** An amount in whole units: cpu in millicores, the rest as given (bytes, counts). */
const whole = (resource: string, value: number) => (resource === "cpu" ? Math.round(value * 1000) : value);
const gpuPresent = (n: FleetNode) => n.labels[gpuLabels.present] === "true";
const gpuResources = (w: FleetWorkload) =>
  Object.keys(w.podRequests).filter((r) => r.startsWith("nvidia.com/"));
const seatedKey = (w: FleetWorkload) => `${w.namespace}/${w.kind}/${w.name}`;

/**
 * What is wrong with a seating of a fleet: a workload whose pods are not all seated, a node over any resource
 * (DaemonSets on every node included), a pod on a node that does not admit it (labels, affinity, taints), two
 * pods of a hostname anti-affine workload on one node, a zone skew over the workload's maxSkew.
 */
function seatingProblems(f: Fleet, seating: FleetSeating): string[] {
  const found: string[] = [];
  for (const c of f.clusters) {
    const seats = seating[c.name] ?? {};
    const byKey = new Map(c.workloads.filter((w) => w.kind !== "DaemonSet").map((w) => [seatedKey(w), w]));
    const daemons = c.workloads.filter((w) => w.kind === "DaemonSet");
    const nodes = new Map(c.nodes.map((n) => [n.name, n]));
    const seated = new Map<string, number>();
    for (const name of Object.keys(seats)) if (!nodes.has(name)) found.push(`${c.name}: no node ${name}`);
    for (const n of c.nodes) {
      const used: Record<string, number> = {};
      const add = (w: FleetWorkload, count: number) => {
        for (const [r, v] of Object.entries(w.podRequests)) used[r] = (used[r] ?? 0) + count * whole(r, v);
        const refusal = refusalOf(n, w);
        if (refusal) found.push(`${c.name}/${n.name} refuses ${seatedKey(w)}: ${refusal}`);
      };
      for (const d of daemons) add(d, 1);
      for (const [key, count] of Object.entries(seats[n.name] ?? {})) {
        const w = byKey.get(key);
        if (!w) {
          found.push(`${c.name}/${n.name}: no workload ${key}`);
          continue;
        }
        seated.set(key, (seated.get(key) ?? 0) + count);
        if (w.antiAffinity === "hostname" && count > 1) found.push(`${c.name}/${n.name}: ${count} of ${key}`);
        add(w, count);
      }
      for (const [r, v] of Object.entries(used))
        if (v > whole(r, n.allocatable[r] ?? 0))
          found.push(`${c.name}/${n.name}: ${r} ${v} > ${whole(r, n.allocatable[r] ?? 0)}`);
    }
    for (const [key, w] of byKey) {
      if ((seated.get(key) ?? 0) !== w.replicas)
        found.push(`${c.name}/${key}: ${seated.get(key) ?? 0} of ${w.replicas} pods seated`);
      if (w.zoneMaxSkew === undefined) continue;
      // The zones of every node whose labels admit it count, empty or not (taints are ignored, as by default).
      const perZone = new Map<string, number>();
      for (const n of c.nodes)
        if (n.zone && admits({ labels: n.labels }, w))
          perZone.set(n.zone, (perZone.get(n.zone) ?? 0) + (seats[n.name]?.[key] ?? 0));
      const counts = [...perZone.values()];
      if (Math.max(...counts) - Math.min(...counts) > w.zoneMaxSkew)
        found.push(`${c.name}/${key}: zone skew ${Math.max(...counts) - Math.min(...counts)}`);
    }
  }
  return found;
}

/** The product values a workload's node affinity names. */
const productsNamed = (w: FleetWorkload) =>
  (w.nodeAffinity ?? []).flatMap((t) =>
    t.matchExpressions.filter((r) => r.key === gpuLabels.product).flatMap((r) => r.values ?? []),
  );

describe.each(gpuShapes)("generateFleet, shape %s (a mixed CPU/GPU estate)", (shape) => {
  const { snapshot, seating } = generateSeatedFleet({ ...base, shape });
  const read = readFleet(snapshot);
  const f = read.ok ? read.value : undefined;
  const fleet = () => {
    if (!f) throw new Error(read.ok ? "" : JSON.stringify(read.problems.slice(0, 5)));
    return f;
  };
  const gpuNodes = () => fleet().clusters.flatMap((c) => c.nodes.filter(gpuPresent));
  const workloads = () => fleet().clusters.flatMap((c) => c.workloads.filter((w) => w.kind !== "DaemonSet"));

  it("is what generateFleet gives, to the byte", () => {
    expect(JSON.stringify(generateFleet({ ...base, shape }))).toBe(JSON.stringify(snapshot));
  });

  it("seats every cluster's pods on its own nodes: resources, labels, affinity, taints, anti-affinity, spread", () => {
    expect(seatingProblems(fleet(), seating)).toEqual([]);
    const pods = fleet().clusters.reduce(
      (n, c) => n + Object.values(seating[c.name] ?? {}).reduce((m, s) => m + sum(Object.values(s)), 0),
      0,
    );
    const daemonPods = fleet().clusters.reduce(
      (n, c) => n + sum(c.workloads.filter((w) => w.kind === "DaemonSet").map((w) => w.replicas)),
      0,
    );
    expect(pods + daemonPods).toBe(base.pods);
  });

  it("finds the seating's faults: a pod over a node, a refused pod, a missing pod", () => {
    const c = fleet().clusters.find(
      (c) => c.nodes.some(gpuPresent) && Object.keys(seating[c.name]!).length > 1,
    )!;
    const [first, second] = Object.keys(seating[c.name]!) as [string, string];
    const crowded = structuredClone(seating);
    const [key] = Object.keys(seating[c.name]![first]!);
    crowded[c.name]![first]![key!]! += 1000;
    expect(seatingProblems(fleet(), crowded).join("\n")).toMatch(/ > /);
    const missing = structuredClone(seating);
    delete missing[c.name]![second];
    expect(seatingProblems(fleet(), missing).join("\n")).toMatch(/pods seated/);
    const gpuKey = c.workloads.find((w) => gpuResources(w).length > 0 && w.tolerations)!;
    const cpuNode = c.nodes.find((n) => !gpuPresent(n))!;
    const misplaced = structuredClone(seating);
    misplaced[c.name]![cpuNode.name] = { ...misplaced[c.name]![cpuNode.name], [seatedKey(gpuKey)]: 1 };
    expect(seatingProblems(fleet(), misplaced).join("\n")).toMatch(/nvidia/);
  });

  it("labels GPU nodes as the GPU operator does, and taints most of them", () => {
    const nodes = gpuNodes();
    expect(nodes.length).toBeGreaterThan(0);
    const products = new Set(nodes.map((n) => n.labels[gpuLabels.product]));
    expect(products.size).toBeGreaterThanOrEqual(4);
    let shared = 0;
    let mig = 0;
    for (const n of nodes) {
      const devices = Number(n.labels[gpuLabels.count]);
      expect([1, 4, 8], n.name).toContain(devices);
      expect(Number(n.labels[gpuLabels.memory]), n.name).toBeGreaterThan(15_000);
      const replicas = n.labels[gpuLabels.replicas];
      if (replicas) {
        shared += 1;
        expect(n.labels[gpuLabels.product], n.name).toMatch(/-SHARED$/);
        expect(n.allocatable[gpuResource], n.name).toBe(devices * Number(replicas));
      } else if (n.labels[gpuLabels.migConfig]) {
        mig += 1;
        expect(n.allocatable[gpuResource], n.name).toBeUndefined();
        const slices = Object.entries(n.allocatable).filter(([r]) => r.startsWith("nvidia.com/mig-"));
        expect(slices.length, n.name).toBeGreaterThan(0);
        for (const [r, v] of slices) expect(n.labels[`${r}.count`], n.name).toBe(String(v));
      } else {
        expect(n.labels[gpuLabels.product], n.name).not.toMatch(/SHARED/);
        expect(n.allocatable[gpuResource], n.name).toBe(devices);
      }
      for (const t of n.taints ?? []) expect(t).toEqual(gpuTaint);
    }
    expect(shared).toBeGreaterThan(0);
    expect(mig).toBeGreaterThan(0);
    const tainted = nodes.filter((n) => (n.taints ?? []).length > 0).length;
    expect(tainted / nodes.length).toBeGreaterThanOrEqual(0.6);
    for (const c of fleet().clusters)
      for (const n of c.nodes) if (!gpuPresent(n)) expect(n.taints, n.name).toBeUndefined();
  });

  it("holds CPU-only pods (most), whole-GPU pods of 1–8 GPUs, pinned, time-sliced and MIG pods", () => {
    const all = workloads();
    const pods = (ws: FleetWorkload[]) => sum(ws.map((w) => w.replicas));
    const gpu = all.filter((w) => gpuResources(w).length > 0);
    expect(pods(gpu) / pods(all)).toBeLessThan(0.2);
    for (const w of all) {
      const tolerates = (w.tolerations ?? []).some((t) => t.key === gpuResource);
      expect(tolerates, w.name).toBe(gpuResources(w).length > 0);
    }
    const gpus = new Set(gpu.map((w) => w.podRequests[gpuResource]).filter((n) => n !== undefined));
    expect([...gpus].sort()).toEqual([1, 2, 4, 8]);
    const operators = new Set(
      gpu.flatMap((w) =>
        (w.nodeAffinity ?? []).flatMap((t) => t.matchExpressions.map((r) => `${r.key} ${r.operator}`)),
      ),
    );
    for (const o of ["In", "NotIn", "Exists"]) expect(operators).toContain(`${gpuLabels.product} ${o}`);
    expect(operators).toContain(`${gpuLabels.replicas} Exists`);
    const timeSliced = gpu.filter((w) =>
      (w.nodeAffinity ?? []).some((t) =>
        t.matchExpressions.some(
          (r) =>
            (r.key === gpuLabels.replicas && r.operator === "Exists") ||
            (r.operator === "In" && (r.values ?? []).some((v) => v.endsWith("-SHARED"))),
        ),
      ),
    );
    expect(timeSliced.length).toBeGreaterThan(0);
    for (const w of timeSliced) expect(w.podRequests[gpuResource], w.name).toBe(1);
    expect(gpu.some((w) => gpuResources(w).some((r) => r.startsWith("nvidia.com/mig-")))).toBe(true);
    expect(gpu.some((w) => !w.nodeAffinity)).toBe(true);
  });

  it("names in node affinity only GPU products the Location has", () => {
    const products = new Map<string, Set<string>>();
    for (const c of fleet().clusters)
      for (const n of c.nodes.filter(gpuPresent)) {
        const set = products.get(c.location) ?? new Set();
        set.add(n.labels[gpuLabels.product]!);
        products.set(c.location, set);
      }
    let named = 0;
    for (const c of fleet().clusters)
      for (const w of c.workloads)
        for (const product of productsNamed(w)) {
          named += 1;
          expect(products.get(c.location)?.has(product), `${c.name}/${w.name}: ${product}`).toBe(true);
        }
    expect(named).toBeGreaterThan(0);
  });

  it("writes extended resources as whole numbers everywhere", () => {
    for (const c of snapshot.clusters) {
      for (const n of c.nodes)
        for (const [r, v] of Object.entries(n.allocatable))
          if (r.startsWith("nvidia.com/")) expect(String(v), `${n.name} ${r}`).toMatch(/^[1-9]\d*$/);
      for (const w of c.workloads)
        for (const [r, v] of Object.entries(w.podRequests))
          if (r.startsWith("nvidia.com/")) expect(String(v), `${w.name} ${r}`).toMatch(/^[1-9]\d*$/);
    }
  });
});

describe("generateFleet, shape gpu-mixed-owned", () => {
  const options = { ...base, clusters: 120, nodes: 3000, pods: 60_000, shape: "gpu-mixed-owned" } as const;
  const read = readFleet(generateFleet(options));
  const fleet = () => {
    if (!read.ok) throw new Error(JSON.stringify(read.problems.slice(0, 5)));
    return read.value;
  };

  it("holds few nodes of each GPU machine per Location (1–2% of its nodes, at least 2), at most 4 per cluster and model", () => {
    for (const l of fleet().locations) {
      const clusters = fleet().clusters.filter((c) => c.location === l.name);
      const nodes = sum(clusters.map((c) => c.nodes.length));
      const perMachine = new Map<string, number>();
      for (const c of clusters) {
        const perModel = new Map<string, number>();
        for (const n of c.nodes.filter(gpuPresent)) {
          perMachine.set(n.instanceType!, (perMachine.get(n.instanceType!) ?? 0) + 1);
          const model = n.labels["unitfleet.io/pool"]!;
          perModel.set(model, (perModel.get(model) ?? 0) + 1);
        }
        for (const [model, count] of perModel) expect(count, `${c.name} ${model}`).toBeLessThanOrEqual(4);
      }
      expect(perMachine.size, l.name).toBeGreaterThanOrEqual(3);
      for (const [machine, count] of perMachine)
        expect(count, `${l.name} ${machine}`).toBeLessThanOrEqual(Math.max(2, Math.round(0.02 * nodes)));
    }
  });

  it("keeps the CPU nodes 50–75% busy and the GPUs about as busy", () => {
    let units = 0;
    let used = 0;
    for (const c of fleet().clusters) {
      const cpuNodes = c.nodes.filter((n) => !gpuPresent(n));
      const cpuPods = c.workloads.filter((w) => gpuResources(w).length === 0);
      const share = (r: string) =>
        sum(
          cpuPods.map(
            (w) => (w.podRequests[r] ?? 0) * (w.kind === "DaemonSet" ? cpuNodes.length : w.replicas),
          ),
        ) / sum(cpuNodes.map((n) => n.allocatable[r]!));
      const dominant = Math.max(share("cpu"), share("memory"));
      expect(dominant, c.name).toBeGreaterThanOrEqual(0.45);
      expect(dominant, c.name).toBeLessThanOrEqual(0.76);
      for (const n of c.nodes.filter(gpuPresent))
        for (const [r, v] of Object.entries(n.allocatable)) if (r.startsWith("nvidia.com/")) units += v;
      for (const w of c.workloads) for (const r of gpuResources(w)) used += w.replicas * w.podRequests[r]!;
    }
    expect(used / units).toBeGreaterThanOrEqual(0.5);
    expect(used / units).toBeLessThanOrEqual(0.8);
  });
});

describe("gpu shapes at any size", () => {
  it("hold their totals and seat every pod on its own cluster's nodes, on any valid options", () => {
    const options = fc
      .record({
        clusters: fc.integer({ min: 1, max: 30 }),
        nodesPerCluster: fc.integer({ min: 1, max: 30 }),
        extraNodes: fc.integer({ min: 0, max: 40 }),
        density: fc.double({ min: 0, max: 1, noNaN: true }),
        locations: fc.integer({ min: 1, max: 4 }),
        shape: fc.constantFrom<GpuShape>(...gpuShapes),
        seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      })
      .map(({ nodesPerCluster, extraNodes, density, ...o }) => {
        const nodes = o.clusters * nodesPerCluster + extraNodes;
        return {
          ...o,
          nodes,
          pods: Math.floor(density * 100 * nodes),
          locations: Math.min(o.locations, o.clusters),
        };
      });
    fc.assert(
      fc.property(options, (o) => {
        const { snapshot, seating } = generateSeatedFleet(o);
        const read = readFleet(snapshot);
        if (!read.ok) throw new Error(JSON.stringify(read.problems.slice(0, 5)));
        const f = read.value;
        expect(f.clusters).toHaveLength(o.clusters);
        expect(sum(f.clusters.map((c) => c.nodes.length))).toBe(o.nodes);
        expect(sum(f.clusters.map(podsOf))).toBe(o.pods);
        expect(seatingProblems(f, seating)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it("hit 1,000 clusters, 20,000 nodes and 500,000 pods, every pod seated", () => {
    const { snapshot, seating } = generateSeatedFleet({
      clusters: 1000,
      nodes: 20_000,
      pods: 500_000,
      locations: 4,
      shape: "gpu-mixed-owned",
      seed: 1,
    });
    const read = readFleet(snapshot);
    if (!read.ok) throw new Error(JSON.stringify(read.problems.slice(0, 5)));
    expect(read.value.clusters).toHaveLength(1000);
    expect(sum(read.value.clusters.map((c) => c.nodes.length))).toBe(20_000);
    expect(sum(read.value.clusters.map(podsOf))).toBe(500_000);
    expect(seatingProblems(read.value, seating)).toEqual([]);
  }, 60_000);

  it("is seated only for the gpu shapes", () => {
    expect(() => generateSeatedFleet({ ...base, shape: "mixed" })).toThrow(/not seated/);
  });
});
