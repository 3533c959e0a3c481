import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cidr, cidrContains } from "../network/cidr.ts";
import { allocationOverlaps, clusterNetworkProblems } from "../network/cluster-network.ts";
import { type Topology, validateTopology } from "./topology.ts";
import {
  clusterNetworkSpecOf,
  defaultLabNetworkPool,
  type LabClusterNetwork,
  planTopologyNetwork,
} from "./topology-network.ts";

const read = (url: URL) => parse(readFileSync(url, "utf8"));
const defaultTopology = read(new URL("../../lab/topologies/default.yaml", import.meta.url)) as Topology;
const overlappingPair = read(
  new URL("../../../test/fixtures/topologies/overlapping-pair.yaml", import.meta.url),
) as Topology;

type Loose = Record<string, unknown>;

/** A topology of one or two Locations with the given clusters (each with one node unless said). */
function topology(clusters: Loose[], locations?: Loose[]): Topology {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "LabTopology",
    metadata: { name: "t" },
    spec: {
      locations: locations ?? [
        { name: "home", zones: ["home-1"] },
        { name: "away", zones: ["away-1"] },
      ],
      clusters: clusters.map((c) => ({
        location: "home",
        environment: "prod",
        business: "shop",
        nodePools: [{ name: "p", count: 1, cpu: "4", memory: "8Gi", pods: 110 }],
        ...c,
      })),
    },
  } as Topology;
}

function planOf(t: Topology): LabClusterNetwork[] {
  const result = planTopologyNetwork(t);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value.clusters;
}

function problemsOf(t: unknown) {
  const result = validateTopology(JSON.parse(JSON.stringify(t)));
  return result.ok ? [] : result.problems;
}

const table = (plan: LabClusterNetwork[]) =>
  plan.map((c) => [c.cluster, c.clusterId, c.pods.join(","), c.services.join(","), c.nodes.join(",")]);

describe("the default lab's network plan", () => {
  const plan = planOf(defaultTopology);

  it("gives every cluster its ranges from its Location's pools, in topology order", () => {
    expect(table(plan)).toEqual([
      // fra-north's pool narrows the pods of its Region: shop-prod (500 nodes, a /15) and shop-dev.
      ["fra-shop-prod", 1, "10.0.0.0/15", "10.96.0.0/22", "10.128.0.0/23"],
      ["fra-payments-prod", 2, "10.4.0.0/16", "10.96.4.0/22", "10.128.2.0/23"],
      ["fra-shop-dev", 3, "10.2.0.0/16", "10.96.8.0/22", "10.128.4.0/23"],
      ["fra-search-staging", 4, "10.5.0.0/16", "10.96.12.0/22", "10.128.6.0/23"],
      // singapore reuses frankfurt's blocks: only the control tunnel joins Locations.
      ["sgp-shop-prod", 1, "10.0.0.0/16", "10.96.0.0/22", "10.128.0.0/23"],
      ["sgp-shop-dev", 2, "10.1.0.0/16", "10.96.4.0/22", "10.128.2.0/23"],
    ]);
    expect(plan.every((c) => c.nodeMask.ipv4 === 24 && !c.allowOverlap)).toBe(true);
  });

  it("has no two ranges of one Location sharing an address", () => {
    expect(allocationOverlaps(plan)).toEqual([]);
  });

  it("is what the hub accepts as the Clusters' spec.network, against the same pools", () => {
    const result = planTopologyNetwork(defaultTopology);
    if (!result.ok) throw new Error("no plan");
    const clusters = plan.map((c) => ({
      metadata: { name: c.cluster },
      spec: { location: c.location, region: c.region, network: clusterNetworkSpecOf(c) },
    }));
    for (const cluster of clusters)
      expect(
        clusterNetworkProblems(cluster, {
          pools: result.value.pools,
          retiredIds: [],
          clusters,
          now: 0,
        }),
      ).toEqual([]);
  });
});

describe("planTopologyNetwork", () => {
  it("gives each Location without a network section the documented default pool", () => {
    const t = topology([{ name: "a" }, { name: "b" }, { name: "c", location: "away" }]);
    const result = planTopologyNetwork(t);
    if (!result.ok) throw new Error("no plan");
    expect(result.value.pools.map((p) => p.spec)).toEqual([
      { location: "home", ...defaultLabNetworkPool },
      { location: "away", ...defaultLabNetworkPool },
    ]);
    expect(table(result.value.clusters)).toEqual([
      ["a", 1, "10.0.0.0/16", "10.96.0.0/22", "10.128.0.0/23"],
      ["b", 2, "10.1.0.0/16", "10.96.4.0/22", "10.128.2.0/23"],
      ["c", 1, "10.0.0.0/16", "10.96.0.0/22", "10.128.0.0/23"],
    ]);
  });

  it("sizes a cluster for its maxNodes and node mask, or for its nodes when it has more than 256", () => {
    const big = { name: "p", count: 300, cpu: "4", memory: "8Gi", pods: 110 };
    const plan = planOf(
      topology([
        { name: "a", network: { maxNodes: 16, nodeMask: { ipv4: 26 } } },
        { name: "b", nodePools: [big] },
      ]),
    );
    expect(plan.map((c) => [c.cluster, c.maxNodes, c.nodeMask, c.pods])).toEqual([
      ["a", 16, { ipv4: 26 }, ["10.0.0.0/22"]],
      ["b", 300, { ipv4: 24 }, ["10.2.0.0/15"]],
    ]);
  });

  it("keeps pinned ranges and IDs, and places the other clusters around them, wherever they are listed", () => {
    const plan = planOf(
      topology([
        { name: "a" },
        { name: "b", network: { pods: ["10.0.0.0/16"], services: ["10.96.0.0/22"], clusterId: 1 } },
      ]),
    );
    // b's pinned pods, services and ID are taken first; its node range, not pinned, comes in list order.
    expect(table(plan)).toEqual([
      ["a", 2, "10.1.0.0/16", "10.96.4.0/22", "10.128.0.0/23"],
      ["b", 1, "10.0.0.0/16", "10.96.0.0/22", "10.128.2.0/23"],
    ]);
  });

  it("moves no cluster's ranges when a cluster is appended to its Location, or added to another one", () => {
    const base = [
      { name: "a", network: { maxNodes: 40 } },
      { name: "b", network: { maxNodes: 1000 } },
      { name: "c", location: "away" },
    ];
    const before = new Map(planOf(topology(base)).map((c) => [c.cluster, c]));
    const grown = planOf(
      topology([
        { name: "d", location: "away", network: { maxNodes: 2000 } },
        ...base,
        { name: "e", network: { maxNodes: 2000, plannedServices: 5000 } },
      ]),
    );
    // home's a and b keep theirs: e is appended to home, d is in another Location.
    expect(grown.filter((c) => c.location === "home" && before.has(c.cluster))).toEqual([
      before.get("a"),
      before.get("b"),
    ]);
    // c is listed after d in the same Location: d was planned first (pin c's ranges to hold them anywhere).
    expect(grown.find((c) => c.cluster === "c")!.pods).not.toEqual(before.get("c")!.pods);
    expect(allocationOverlaps(grown)).toEqual([]);
  });

  it("stays disjoint and stable under growth for random clusters (property)", () => {
    const cluster = fc.record({
      location: fc.constantFrom("home", "away"),
      maxNodes: fc.integer({ min: 1, max: 3000 }),
      plannedServices: fc.integer({ min: 0, max: 20_000 }),
    });
    fc.assert(
      fc.property(
        fc.array(cluster, { minLength: 1, maxLength: 8 }),
        fc.array(cluster, { minLength: 1, maxLength: 4 }),
        (first, more) => {
          const named = (list: typeof first, from: number) =>
            list.map((c, i) => ({
              name: `c${from + i}`,
              location: c.location,
              network: { maxNodes: c.maxNodes, plannedServices: c.plannedServices },
            }));
          const before = planTopologyNetwork(topology(named(first, 0)));
          const after = planTopologyNetwork(topology([...named(first, 0), ...named(more, first.length)]));
          if (!before.ok) return; // a pool too small for these clusters is refused: see the next test
          expect(allocationOverlaps(before.value.clusters)).toEqual([]);
          if (!after.ok) return;
          expect(after.value.clusters.slice(0, first.length)).toEqual(before.value.clusters);
          expect(allocationOverlaps(after.value.clusters)).toEqual([]);
          for (const c of after.value.clusters)
            for (const range of c.pods) expect(cidrContains(cidr("10.0.0.0/12"), cidr(range))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("lets an allowOverlap cluster share pinned ranges, and gives the hub only its request", () => {
    const plan = planOf(overlappingPair);
    expect(table(plan)).toEqual([
      ["lis-api", 1, "10.1.0.0/20", "10.96.64.0/22", "10.128.0.0/27"],
      ["lis-legacy", 2, "10.2.0.0/20", "10.96.64.0/22", "10.128.0.32/27"],
      ["por-web", 1, "10.1.0.0/20", "10.96.64.0/22", "10.128.0.0/27"],
    ]);
    // Exactly its pair: same Location, same service range; porto's reuse of lis-api's ranges is no overlap.
    expect(allocationOverlaps(plan)).toEqual([
      {
        location: "lisbon",
        a: { cluster: "lis-api", kind: "services", range: "10.96.64.0/22" },
        b: { cluster: "lis-legacy", kind: "services", range: "10.96.64.0/22" },
      },
    ]);
    expect(plan.map((c) => clusterNetworkSpecOf(c))).toEqual([
      {
        maxNodes: 16,
        nodeMask: { ipv4: 24 },
        clusterId: 1,
        pods: ["10.1.0.0/20"],
        services: ["10.96.64.0/22"],
        nodes: ["10.128.0.0/27"],
      },
      { maxNodes: 16, nodeMask: { ipv4: 24 } },
      {
        maxNodes: 16,
        nodeMask: { ipv4: 24 },
        clusterId: 1,
        pods: ["10.1.0.0/20"],
        services: ["10.96.64.0/22"],
        nodes: ["10.128.0.0/27"],
      },
    ]);
  });
});

describe("validateTopology refuses a network plan that cannot be made, with field paths", () => {
  it("refuses overlapping pinned ranges without allowOverlap, at both clusters", () => {
    const t = topology([
      { name: "a", network: { pods: ["10.1.0.0/16"], services: ["10.96.0.0/22"] } },
      { name: "b", network: { pods: ["10.2.0.0/16"], services: ["10.96.2.0/23"] } },
    ]);
    expect(problemsOf(t)).toEqual([
      {
        path: "spec.clusters[0].network.services[0]",
        message:
          '10.96.0.0/22 overlaps cluster "b"\'s services 10.96.2.0/23: ranges inside a Location never share an address',
      },
      {
        path: "spec.clusters[1].network.services[0]",
        message:
          '10.96.2.0/23 overlaps cluster "a"\'s services 10.96.0.0/22: ranges inside a Location never share an address',
      },
    ]);
  });

  it("refuses bad pools, pinned ranges outside them, a taken or impossible ID and a too-small range", () => {
    const t = topology(
      [
        { name: "a", network: { clusterId: 256 } },
        { name: "b", network: { pods: ["10.200.0.0/16"], services: ["10.96.0.0/22"] } },
        { name: "c", network: { maxNodes: 500, pods: ["10.4.0.0/16"], services: ["10.96.8.0/22"] } },
        { name: "d", region: "r1", network: { clusterId: 7 } },
        { name: "e", region: "r1", network: { clusterId: 7 } },
      ],
      [
        {
          name: "home",
          regions: [{ name: "r1", zones: ["home-1"], network: { pods: ["10.32.0.0/14"] } }],
          network: { pods: ["10.0.0.0/12"], services: ["10.96.0.0/16"] },
        },
      ],
    );
    // The pools first: a Region's pool outside its Location's is refused on both sides.
    const problems = problemsOf(t);
    expect(problems.map((p) => p.path)).toEqual([
      "spec.locations[0].network.pods",
      "spec.locations[0].regions[0].network.pods[0]",
    ]);
    expect(problems[1]!.message).toBe(
      '10.32.0.0/14 is not inside any pods block of NetworkPool "home" (10.0.0.0/12)',
    );
    // With the Region's pool inside the Location's, every pinned cluster's problems come out together.
    (t.spec.locations[0]!.regions![0]!.network as Loose).pods = ["10.8.0.0/14"];
    expect(problemsOf(t)).toEqual([
      {
        path: "spec.clusters[0].network.clusterId",
        message: '256 is outside the cluster IDs of NetworkPool "home" (1..255)',
      },
      {
        path: "spec.clusters[1].network.pods[0]",
        message: '10.200.0.0/16 is outside the pods of NetworkPool "home" (10.0.0.0/12)',
      },
      {
        path: "spec.clusters[2].network.pods",
        message:
          "10.4.0.0/16 (IPv4) holds 256 nodes at /24 per node, fewer than maxNodes 500: it needs a /15 at /24 per node (or lower maxNodes, or a longer nodeMask)",
      },
      {
        path: "spec.clusters[3].network.clusterId",
        message: 'cluster ID 7 is taken by cluster "e" in Location "home"',
      },
      {
        path: "spec.clusters[4].network.clusterId",
        message: 'cluster ID 7 is taken by cluster "d" in Location "home"',
      },
    ]);
  });

  it("refuses a block with host bits and an IPv6-only service range, at the pool's path", () => {
    const t = topology(
      [{ name: "a" }],
      [
        {
          name: "home",
          zones: ["home-1"],
          network: { pods: ["10.0.0.1/12"], services: ["fd00:96::/108"] },
        },
      ],
    );
    expect(problemsOf(t).map((p) => p.path)).toEqual(["spec.locations[0].network.pods[0]"]);
    (t.spec.locations[0]!.network as Loose).pods = ["fd00::/48"];
    expect(problemsOf(t)).toEqual([
      {
        path: "spec.locations[0].network.services",
        message: expect.stringContaining("the lab's API servers advertise 127.0.0.1"),
      },
    ]);
  });

  it("names the pool and the cluster when a pool is exhausted, at that cluster", () => {
    const t = topology(
      [{ name: "a" }, { name: "b" }, { name: "c" }],
      [{ name: "home", zones: ["home-1"], network: { pods: ["10.0.0.0/15"], services: ["10.96.0.0/16"] } }],
    );
    expect(problemsOf(t)).toEqual([
      {
        path: "spec.clusters[2]",
        message:
          'NetworkPool "home" is exhausted: no free /16 for the pods (IPv4) of cluster "c" (256 nodes at /24 per node) in its pods blocks 10.0.0.0/15',
      },
    ]);
  });

  it("refuses unknown fields of a network section like any other", () => {
    const t = topology([{ name: "a", network: { maxNode: 3 } }]);
    expect(problemsOf(t)).toEqual([{ path: "spec.clusters[0].network.maxNode", message: "unknown field" }]);
  });
});
