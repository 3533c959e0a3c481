import { describe, expect, it } from "vitest";
import { allocateNetworks, type ClusterNetwork, type RetiredClusterId } from "./allocation.ts";
import type { NetworkPoolLike, NetworkPoolSpec } from "./network-pool.ts";

const pool = (name: string, spec: NetworkPoolSpec): NetworkPoolLike => ({ metadata: { name }, spec });
const now = Date.parse("2026-12-01T00:00:00Z");

/** The worked example of docs/network-plan.md: keep the two in step. */
const frankfurt = pool("frankfurt", {
  location: "frankfurt",
  pods: ["10.0.0.0/12"],
  services: ["10.96.0.0/16"],
  nodes: ["10.128.0.0/16"],
});
const fraNorth = pool("fra-north", { location: "frankfurt", region: "fra-north", pods: ["10.0.0.0/14"] });

describe("allocateNetworks: the worked example of docs/network-plan.md", () => {
  it("sizes, places and numbers three Frankfurt clusters, then a fourth without moving them", () => {
    const first = allocateNetworks(
      [frankfurt, fraNorth],
      [],
      [
        { cluster: "fra-search", location: "frankfurt", region: "fra-north", maxNodes: 50 },
        { cluster: "fra-shop-prod", location: "frankfurt", region: "fra-north", maxNodes: 500 },
        {
          cluster: "fra-payments-prod",
          location: "frankfurt",
          region: "fra-south",
          maxNodes: 100,
          plannedServices: 3000,
        },
      ],
      [],
      now,
    );
    expect(first).toEqual({
      ok: true,
      allocations: [
        {
          cluster: "fra-payments-prod",
          location: "frankfurt",
          region: "fra-south",
          clusterId: 1,
          pods: ["10.4.0.0/17"],
          services: ["10.96.0.0/19"],
          nodes: ["10.128.2.0/25"],
          nodeMask: { ipv4: 24 },
        },
        {
          cluster: "fra-search",
          location: "frankfurt",
          region: "fra-north",
          clusterId: 2,
          pods: ["10.2.0.0/18"],
          services: ["10.96.32.0/22"],
          nodes: ["10.128.2.128/26"],
          nodeMask: { ipv4: 24 },
        },
        {
          cluster: "fra-shop-prod",
          location: "frankfurt",
          region: "fra-north",
          clusterId: 3,
          pods: ["10.0.0.0/15"],
          services: ["10.96.36.0/22"],
          nodes: ["10.128.0.0/23"],
          nodeMask: { ipv4: 24 },
        },
      ],
      explanations: expect.any(Array),
    });
    if (!first.ok) return;
    expect(first.explanations.find((e) => e.cluster === "fra-shop-prod")?.lines).toEqual([
      'pods IPv4 10.0.0.0/15: /15 for the pods (IPv4) of cluster "fra-shop-prod" (500 nodes at /24 per node), from NetworkPool "fra-north" block 10.0.0.0/14',
      'services IPv4 10.96.36.0/22: /22 for the services (IPv4) of cluster "fra-shop-prod" (0 planned Services), from NetworkPool "frankfurt" block 10.96.0.0/16',
      'nodes IPv4 10.128.0.0/23: /23 for the nodes (IPv4) of cluster "fra-shop-prod" (500 nodes), from NetworkPool "frankfurt" block 10.128.0.0/16',
      "cluster ID 3: the lowest free in 1..255",
    ]);

    const second = allocateNetworks(
      [frankfurt, fraNorth],
      first.allocations,
      [{ cluster: "fra-analytics", location: "frankfurt", region: "fra-north", maxNodes: 200 }],
      [],
      now,
    );
    expect(second.ok && second.allocations.filter((a) => a.cluster !== "fra-analytics")).toEqual(
      first.allocations,
    );
    expect(second.ok && second.allocations.find((a) => a.cluster === "fra-analytics")).toEqual({
      cluster: "fra-analytics",
      location: "frankfurt",
      region: "fra-north",
      clusterId: 4,
      pods: ["10.3.0.0/16"],
      services: ["10.96.40.0/22"],
      nodes: ["10.128.3.0/24"],
      nodeMask: { ipv4: 24 },
    });
  });
});

const dualStack = pool("singapore", {
  location: "singapore",
  pods: ["10.0.0.0/14", "fd00:10::/48"],
  services: ["10.96.0.0/16", "fd00:96::/96"],
});

describe("allocateNetworks", () => {
  it("gives a dual-stack pool's clusters a range of each family, and lets Locations reuse addresses", () => {
    const result = allocateNetworks(
      [dualStack, frankfurt],
      [],
      [
        { cluster: "sin-a", location: "singapore", maxNodes: 100, nodeMask: { ipv6: 80 } },
        { cluster: "fra-a", location: "frankfurt", maxNodes: 100 },
      ],
      [],
      now,
    );
    expect(result.ok && result.allocations).toEqual([
      {
        cluster: "fra-a",
        location: "frankfurt",
        clusterId: 1,
        pods: ["10.0.0.0/17"],
        services: ["10.96.0.0/22"],
        nodes: ["10.128.0.0/25"],
        nodeMask: { ipv4: 24 },
      },
      {
        cluster: "sin-a",
        location: "singapore",
        clusterId: 1,
        pods: ["10.0.0.0/17", "fd00:10::/73"],
        services: ["10.96.0.0/22", "fd00:96::/112"],
        nodes: [],
        nodeMask: { ipv4: 24, ipv6: 80 },
      },
    ]);
  });

  it("keeps an existing allocation and adds only the family it lacks", () => {
    const existing: ClusterNetwork = {
      cluster: "sin-old",
      location: "singapore",
      clusterId: 9,
      pods: ["10.1.0.0/16"],
      services: ["10.96.128.0/20"],
      nodes: [],
    };
    const result = allocateNetworks(
      [dualStack],
      [existing],
      [{ cluster: "sin-old", location: "singapore", maxNodes: 200 }],
      [],
      now,
    );
    expect(result.ok && result.allocations).toEqual([
      {
        ...existing,
        pods: ["10.1.0.0/16", "fd00:10::/56"],
        services: ["10.96.128.0/20", "fd00:96::/112"],
        nodeMask: { ipv6: 64 },
      },
    ]);
  });

  it("refuses a pool too small for the sizes asked, naming the pool and what was asked", () => {
    const small = pool("small", { location: "frankfurt", pods: ["10.0.0.0/16"], services: ["10.96.0.0/16"] });
    const result = allocateNetworks(
      [small],
      [],
      [
        { cluster: "big", location: "frankfurt", maxNodes: 500 },
        { cluster: "masked", location: "frankfurt", maxNodes: 500, nodeMask: { ipv4: 24 } },
      ],
      [],
      now,
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          path: "requests[0].maxNodes",
          message:
            '/15 for the pods (IPv4) of cluster "big" (500 nodes at /24 per node) is larger than every pods block of NetworkPool "small" (10.0.0.0/16): lower maxNodes, use a longer node mask (fewer pods per node), or give the pool a larger block',
        },
        {
          path: "requests[1].nodeMask.ipv4",
          message: expect.stringContaining(
            '/15 for the pods (IPv4) of cluster "masked" (500 nodes at /24 per node) is larger',
          ),
        },
      ],
    });
  });

  it("refuses an exhausted pool, naming it and what was asked, and allocates nothing", () => {
    const small = pool("small", { location: "frankfurt", pods: ["10.0.0.0/16"], services: ["10.96.0.0/16"] });
    const result = allocateNetworks(
      [small],
      [],
      [
        { cluster: "a", location: "frankfurt", maxNodes: 200 },
        { cluster: "b", location: "frankfurt", maxNodes: 100 },
      ],
      [],
      now,
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          path: "requests[1]",
          message:
            'NetworkPool "small" is exhausted: no free /17 for the pods (IPv4) of cluster "b" (100 nodes at /24 per node) in its pods blocks 10.0.0.0/16',
        },
      ],
    });
  });

  it("refuses an existing pod range that cannot hold the planned nodes, and never moves it", () => {
    const existing: ClusterNetwork = {
      cluster: "fra-old",
      location: "frankfurt",
      clusterId: 1,
      pods: ["10.1.0.0/16"],
      services: ["10.96.0.0/22"],
      nodes: ["10.128.0.0/24"],
    };
    const result = allocateNetworks(
      [frankfurt],
      [existing],
      [{ cluster: "fra-old", location: "frankfurt", maxNodes: 500 }],
      [],
      now,
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          path: "requests[0].maxNodes",
          message:
            'cluster "fra-old" has pods 10.1.0.0/16 (IPv4), which hold 256 nodes at /24 per node; 500 need a /15. Allocations never move: lower maxNodes, or plan a new cluster',
        },
      ],
    });
  });

  it("refuses bad requests with their field paths: cluster IDs 512 and 256, node masks, duplicates, unknown Locations", () => {
    const result = allocateNetworks(
      [frankfurt],
      [],
      [
        { cluster: "a", location: "frankfurt", maxNodes: 10, clusterId: 512 },
        { cluster: "b", location: "frankfurt", maxNodes: 70_000, nodeMask: { ipv4: 31 } },
        { cluster: "c", location: "frankfurt", maxNodes: 1 },
        { cluster: "c", location: "frankfurt", maxNodes: 2 },
        { cluster: "d", location: "frankfurt", maxNodes: 3, sizeGb: 4 },
      ],
      [],
      now,
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          path: "requests[2].cluster",
          message: expect.stringContaining("more than once (also requests[3])"),
        },
        {
          path: "requests[3].cluster",
          message: expect.stringContaining("more than once (also requests[2])"),
        },
        {
          path: "requests[0].clusterId",
          message: expect.stringContaining("512 must be a whole number from 1 to 511"),
        },
        { path: "requests[1].maxNodes", message: expect.stringContaining("2^16") },
        { path: "requests[1].nodeMask.ipv4", message: "31 must be a whole number from 16 to 30" },
        { path: "requests[4].sizeGb", message: "unknown field" },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    });
    const outside = allocateNetworks(
      [frankfurt],
      [],
      [
        { cluster: "a", location: "frankfurt", maxNodes: 10, clusterId: 256 },
        { cluster: "b", location: "tokyo", maxNodes: 10 },
      ],
      [],
      now,
    );
    expect(outside).toEqual({
      ok: false,
      problems: [
        {
          path: "requests[0].clusterId",
          message: '256 is outside the cluster IDs of NetworkPool "frankfurt" (1..255)',
        },
        {
          path: "requests[1].location",
          message: 'Location "tokyo" has no NetworkPool: create its pool first',
        },
      ],
    });
  });

  it("refuses invalid or overlapping pools with their paths in the call", () => {
    const second = pool("frankfurt-b", {
      location: "frankfurt",
      pods: ["10.16.0.0/12"],
      services: ["10.112.0.0/12"],
    });
    const broken = pool("broken", { location: "berlin", pods: ["10.0.0.1/8"], services: ["10.96.0.0/12"] });
    const result = allocateNetworks([frankfurt, second, broken], [], [], [], now);
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          path: "pools[0].spec.location",
          message: expect.stringContaining('already has NetworkPool "frankfurt-b"'),
        },
        {
          path: "pools[1].spec.location",
          message: expect.stringContaining('already has NetworkPool "frankfurt"'),
        },
        { path: "pools[2].spec.pods[0]", message: expect.stringContaining("host bits set") },
      ],
    });
  });

  describe("cluster IDs", () => {
    const tiny = pool("tiny", {
      location: "frankfurt",
      pods: ["10.0.0.0/12"],
      services: ["10.96.0.0/16"],
      clusterIds: { first: 1, last: 3 },
      retiredIdQuarantine: "24h",
    });
    const retired: RetiredClusterId[] = [
      { location: "frankfurt", clusterId: 1, cluster: "gone", retiredAt: "2026-11-30T12:00:00Z" },
      { location: "frankfurt", clusterId: 2, cluster: "long-gone", retiredAt: "2026-11-01T00:00:00Z" },
    ];

    it("skips quarantined IDs until their quarantine ends, and reuses them after", () => {
      const result = allocateNetworks(
        [tiny],
        [],
        [
          { cluster: "x", location: "frankfurt", maxNodes: 1 },
          { cluster: "y", location: "frankfurt", maxNodes: 1 },
        ],
        retired,
        now,
      );
      expect(result.ok && result.allocations.map((a) => [a.cluster, a.clusterId])).toEqual([
        ["x", 2],
        ["y", 3],
      ]);
      const later = allocateNetworks(
        [tiny],
        [],
        [{ cluster: "x", location: "frankfurt", maxNodes: 1 }],
        retired,
        Date.parse("2026-12-01T12:00:00Z"),
      );
      expect(later.ok && later.allocations[0]!.clusterId).toBe(1);
    });

    it("refuses a pinned ID that is quarantined or taken, and an exhausted ID range naming the pool", () => {
      const taken: ClusterNetwork = {
        cluster: "holder",
        location: "frankfurt",
        clusterId: 3,
        pods: [],
        services: [],
        nodes: [],
      };
      const result = allocateNetworks(
        [tiny],
        [taken],
        [
          { cluster: "p", location: "frankfurt", maxNodes: 1, clusterId: 1 },
          { cluster: "q", location: "frankfurt", maxNodes: 1, clusterId: 3 },
          { cluster: "r", location: "frankfurt", maxNodes: 1 },
          { cluster: "s", location: "frankfurt", maxNodes: 1 },
        ],
        retired,
        now,
      );
      expect(result).toEqual({
        ok: false,
        problems: [
          {
            path: "requests[0].clusterId",
            message:
              'cluster ID 1 was retired with cluster "gone" and is quarantined until 2026-12-01T12:00:00.000Z',
          },
          {
            path: "requests[1].clusterId",
            message: 'cluster ID 3 is taken by cluster "holder" in Location "frankfurt"',
          },
          {
            path: "requests[3]",
            message:
              'NetworkPool "tiny" is exhausted: no free cluster ID in 1..3 for cluster "s" (2 taken, 1 quarantined)',
          },
        ],
      });
    });
  });
});
