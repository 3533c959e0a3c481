/**
 * Invariants of the network plan's allocation on random Locations (single- or dual-stack, with or without
 * Region pools and node ranges), random clusters and retired IDs: every range lies inside its pool (a Region's
 * pool when it narrows that kind, else the Location's, outside the Regions' blocks); all ranges of a Location
 * are pairwise disjoint, whatever their kind, and IDs unique and in range; pod ranges hold the planned nodes;
 * the answer does not depend on the order of the inputs; and it is stable under growth: allocating N clusters
 * and then k more never moves the first N, and asking again for clusters that have allocations changes nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocateNetworks,
  type ClusterNetwork,
  type NetworkAllocation,
  type RetiredClusterId,
} from "./allocation.ts";
import { cidr, cidrContains, cidrsOverlap } from "./cidr.ts";
import type { ClusterNetworkRequest } from "./cluster-request.ts";
import { type NetworkPoolLike, poolBlocks, rangeKinds } from "./network-pool.ts";
import { defaultNodeMask, nodeCapacity } from "./sizing.ts";

const now = Date.parse("2026-12-01T00:00:00Z");
const regions = ["r0", "r1", "r2"];

interface World {
  pools: NetworkPoolLike[];
  requests: ClusterNetworkRequest[];
  retired: RetiredClusterId[];
}

const locationSketch = fc.record({
  dualStack: fc.boolean(),
  nodes: fc.boolean(),
  /** Which Regions get a pool of their own, and whether it narrows services too. */
  children: fc.subarray(regions),
  childServices: fc.boolean(),
  lastId: fc.constantFrom(255, 511, 40),
});

type LocationSketch = typeof locationSketch extends fc.Arbitrary<infer T> ? T : never;

function poolsFor(location: string, sketch: LocationSketch): NetworkPoolLike[] {
  const six = (text: string) => (sketch.dualStack ? [text] : []);
  const root: NetworkPoolLike = {
    metadata: { name: location },
    spec: {
      location,
      pods: ["10.0.0.0/10", "172.16.0.0/12", ...six("fd00:10::/44")],
      services: ["10.96.0.0/12", ...six("fd00:96::/64")],
      ...(sketch.nodes ? { nodes: ["10.128.0.0/14", ...six("fd00:128::/48")] } : {}),
      clusterIds: { first: 1, last: sketch.lastId },
      retiredIdQuarantine: "168h",
    },
  };
  const children = sketch.children.map(
    (region, i): NetworkPoolLike => ({
      metadata: { name: `${location}-${region}` },
      spec: {
        location,
        region,
        pods: [`10.${16 * i}.0.0/12`, ...six(`fd00:10:${i}::/48`)],
        ...(sketch.childServices
          ? { services: [`10.96.${64 * i}.0/18`, ...six(`fd00:96:0:0:${i}::/80`)] }
          : {}),
      },
    }),
  );
  return [root, ...children];
}

const requestSketch = fc.record({
  location: fc.constantFrom("frankfurt", "singapore"),
  region: fc.option(fc.constantFrom(...regions), { nil: undefined }),
  // Mostly clusters the pools can hold; now and then one that exhausts them (refused, not checked here).
  maxNodes: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 4 },
    { arbitrary: fc.integer({ min: 65, max: 500 }), weight: 3 },
    { arbitrary: fc.integer({ min: 501, max: 3000 }), weight: 1 },
  ),
  mask: fc.option(fc.integer({ min: 22, max: 26 }), { nil: undefined }),
  plannedServices: fc.option(
    fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 2001, max: 20_000 })),
    { nil: undefined },
  ),
  pinned: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
});

const world: fc.Arbitrary<World> = fc
  .record({
    frankfurt: locationSketch,
    singapore: locationSketch,
    requests: fc.array(requestSketch, { minLength: 1, maxLength: 14 }),
    retired: fc.array(
      fc.record({
        location: fc.constantFrom("frankfurt", "singapore"),
        clusterId: fc.integer({ min: 1, max: 12 }),
        hoursAgo: fc.integer({ min: 0, max: 400 }),
      }),
      { maxLength: 5 },
    ),
  })
  .map((w) => ({
    pools: [...poolsFor("frankfurt", w.frankfurt), ...poolsFor("singapore", w.singapore)],
    requests: w.requests.map((r, i) => ({
      cluster: `c${i}`,
      location: r.location,
      ...(r.region ? { region: r.region } : {}),
      maxNodes: r.maxNodes,
      ...(r.mask ? { nodeMask: { ipv4: r.mask } } : {}),
      ...(r.plannedServices !== undefined ? { plannedServices: r.plannedServices } : {}),
      ...(r.pinned !== undefined && i % 3 === 0 ? { clusterId: r.pinned } : {}),
    })),
    retired: w.retired.map((r, i) => ({
      location: r.location,
      clusterId: r.clusterId,
      cluster: `old${i}`,
      retiredAt: new Date(now - r.hoursAgo * 3_600_000).toISOString(),
    })),
  }));

/** Every invariant of one successful answer. */
function checkInvariants(
  pools: NetworkPoolLike[],
  requests: ClusterNetworkRequest[],
  result: ClusterNetwork[],
) {
  const byCluster = new Map(requests.map((r) => [r.cluster, r]));
  for (const location of new Set(result.map((a) => a.location))) {
    const here = result.filter((a) => a.location === location);
    const root = pools.find((p) => p.spec.location === location && !p.spec.region)!;
    const children = pools.filter((p) => p.spec.location === location && p.spec.region);
    const ranges = here.flatMap((a) =>
      rangeKinds.flatMap((kind) => a[kind].map((text) => ({ a, kind, text }))),
    );
    // Inside its parent.
    for (const { a, kind, text } of ranges) {
      const range = cidr(text);
      const inside = (p: NetworkPoolLike) => poolBlocks(p, kind).some((b) => cidrContains(b.block, range));
      expect(inside(root), `${a.cluster} ${kind} ${text} inside ${root.metadata.name}`).toBe(true);
      const own = children.find((c) => c.spec.region === a.region);
      if (own?.spec[kind])
        expect(inside(own), `${a.cluster} ${kind} ${text} inside its Region's pool`).toBe(true);
      else
        for (const other of children)
          for (const k of rangeKinds)
            for (const b of poolBlocks(other, k))
              expect(
                cidrsOverlap(b.block, range),
                `${a.cluster} ${text} outside ${other.metadata.name}`,
              ).toBe(false);
    }
    // Disjoint within the Location, across clusters and kinds.
    for (const [i, x] of ranges.entries())
      for (const y of ranges.slice(i + 1))
        expect(
          cidrsOverlap(cidr(x.text), cidr(y.text)),
          `${x.a.cluster} ${x.text} vs ${y.a.cluster} ${y.text}`,
        ).toBe(false);
    // IDs unique and in range.
    const ids = here.map((a) => a.clusterId);
    expect(new Set(ids).size).toBe(ids.length);
    const last = root.spec.clusterIds?.last ?? 255;
    for (const id of ids) expect(id !== undefined && id >= 1 && id <= last).toBe(true);
    // Pod ranges hold the planned nodes, each family, and are no larger than needed.
    for (const a of here) {
      const request = byCluster.get(a.cluster);
      if (!request) continue;
      for (const family of ["IPv4", "IPv6"] as const) {
        const pods = a.pods.map(cidr).filter((c) => c.family === family);
        if (!pods.length) continue;
        const mask = request.nodeMask?.[family === "IPv4" ? "ipv4" : "ipv6"] ?? defaultNodeMask[family];
        const holds = nodeCapacity(pods, mask);
        expect(holds).toBeGreaterThanOrEqual(request.maxNodes);
        expect(holds / 2).toBeLessThan(request.maxNodes);
      }
    }
  }
}

const shuffled = <T>(list: readonly T[], seed: number): T[] => {
  const copy = [...list];
  let state = seed;
  for (let i = copy.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
};

describe("allocateNetworks (properties)", () => {
  it("keeps every range inside its pool, disjoint within a Location, IDs unique, pods sized for the nodes", () => {
    let succeeded = 0;
    fc.assert(
      fc.property(world, ({ pools, requests, retired }) => {
        const result = allocateNetworks(pools, [], requests, retired, now);
        if (!result.ok) return;
        succeeded++;
        checkInvariants(pools, requests, result.allocations);
        expect(result.allocations.map((a) => a.cluster).sort()).toEqual(
          requests.map((r) => r.cluster).sort(),
        );
      }),
      { numRuns: 300 },
    );
    // The worlds are sized so that about two in three succeed: the invariants are not checked on nothing.
    expect(succeeded).toBeGreaterThan(120);
  });

  it("gives the same answer whatever the order of pools, requests and retired IDs", () => {
    fc.assert(
      fc.property(world, fc.integer({ min: 1, max: 2 ** 30 }), ({ pools, requests, retired }, seed) => {
        const once = allocateNetworks(pools, [], requests, retired, now);
        const again = allocateNetworks(
          shuffled(pools, seed),
          [],
          shuffled(requests, seed + 1),
          shuffled(retired, seed + 2),
          now,
        );
        if (once.ok) expect(again).toEqual(once);
        else {
          expect(again.ok).toBe(false);
          const messages = (r: NetworkAllocation) => (r.ok ? [] : r.problems.map((p) => p.message).sort());
          expect(messages(again)).toEqual(messages(once));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("is stable under growth: N clusters, then k more, never moves the first N; asking again changes nothing", () => {
    let grown = 0;
    fc.assert(
      fc.property(world, fc.integer({ min: 0, max: 14 }), ({ pools, requests, retired }, split) => {
        const firstRequests = requests.slice(0, split);
        const first = allocateNetworks(pools, [], firstRequests, retired, now);
        if (!first.ok) return;
        const second = allocateNetworks(
          pools,
          shuffled(first.allocations, split),
          requests.slice(split),
          retired,
          now,
        );
        if (!second.ok) return;
        grown++;
        const kept = second.allocations.filter((a) => first.allocations.some((f) => f.cluster === a.cluster));
        expect(kept).toEqual(first.allocations);
        checkInvariants(pools, requests, second.allocations);
        // Every request again, over what is allocated: nothing moves, nothing is added.
        const again = allocateNetworks(pools, second.allocations, requests, retired, now);
        expect(again.ok && again.allocations).toEqual(second.allocations);
        expect(again.ok && again.explanations).toEqual([]);
      }),
      { numRuns: 200 },
    );
    expect(grown).toBeGreaterThan(70);
  });
});
