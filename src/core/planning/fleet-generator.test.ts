import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  acceleratorLabel,
  type FleetShape,
  fleetShapes,
  type GeneratorOptions,
  generateFleet,
  validateGeneratorOptions,
} from "./fleet-generator.ts";
import { type Fleet, type FleetCluster, type FleetWorkload, readFleet } from "./fleet-snapshot.ts";
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

    it("fits every cluster's requests on its nodes, at most 70% of cpu or memory", () => {
      if (!read.ok) throw new Error("invalid");
      expect(misfits(read.value)).toEqual([]);
      for (const c of read.value.clusters) expect(utilisation(c), c.name).toBeLessThanOrEqual(0.71);
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
