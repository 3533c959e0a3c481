import { describe, expect, it } from "vitest";
import type { ClusterNetwork } from "./allocation.ts";
import { clusterIdGivenUp, retiredIdsOf, withRetiredClusterId } from "./cluster-id-retirement.ts";
import {
  allocationOverlaps,
  type ClusterNetworkSpec,
  type ClusterWithNetwork,
  clusterNetworkProblems,
  clusterNetworkSpec,
} from "./cluster-network.ts";
import type { NetworkPoolLike } from "./network-pool.ts";

const root: NetworkPoolLike = {
  metadata: { name: "frankfurt" },
  spec: {
    location: "frankfurt",
    pods: ["10.0.0.0/12"],
    services: ["10.96.0.0/16"],
    retiredIdQuarantine: "1h",
  },
};
const fraNorth: NetworkPoolLike = {
  metadata: { name: "fra-north" },
  spec: { location: "frankfurt", region: "fra-north", pods: ["10.0.0.0/14"] },
};
const now = Date.parse("2026-12-03T12:00:00Z");
const cluster = (
  name: string,
  region: string | undefined,
  network: ClusterNetworkSpec,
): ClusterWithNetwork => ({
  metadata: { name },
  spec: { location: "frankfurt", ...(region ? { region } : {}), network },
});
const check = (c: ClusterWithNetwork, others: ClusterWithNetwork[] = [], retiredAt?: string) =>
  clusterNetworkProblems(c, {
    pools: [root, fraNorth],
    retiredIds: retiredAt ? [{ location: "frankfurt", clusterId: 7, cluster: "old", retiredAt }] : [],
    clusters: others,
    now,
  });

describe("clusterNetworkProblems", () => {
  it("takes a Region's pods from its child, and keeps other Regions out of their child's blocks", () => {
    const south = cluster("fra-south-a", "fra-south", {
      maxNodes: 10,
      pods: ["10.1.0.0/20"],
      services: ["10.96.0.0/22"],
    });
    expect(check(south)).toEqual([
      {
        path: "spec.network.pods[0]",
        message: '10.1.0.0/20 overlaps 10.0.0.0/14 of NetworkPool "fra-north", kept for Region fra-north',
      },
    ]);
    const north = cluster("fra-north-a", "fra-north", {
      maxNodes: 10,
      pods: ["10.4.0.0/20"],
      services: ["10.96.0.0/22"],
    });
    expect(check(north).map((p) => p.message)).toEqual([
      '10.4.0.0/20 is outside the pods of NetworkPool "fra-north" (10.0.0.0/14), the pool of Region fra-north',
    ]);
    expect(
      check({
        ...north,
        spec: { ...north.spec, network: { ...north.spec.network!, pods: ["10.1.0.0/20"] } },
      }),
    ).toEqual([]);
  });

  it("keeps a retired ID out of use until its quarantine ends, and checks nothing for a plain request", () => {
    const pinned = cluster("fra-new", undefined, { maxNodes: 10, clusterId: 7 });
    expect(check(pinned, [], "2026-12-03T11:30:00Z")).toEqual([
      {
        path: "spec.network.clusterId",
        message:
          'cluster ID 7 was retired with cluster "old" and is quarantined until 2026-12-03T12:30:00.000Z',
      },
    ]);
    expect(check(pinned, [], "2026-12-03T11:00:00Z")).toEqual([]);
    expect(check(cluster("fra-plain", undefined, { maxNodes: 10 }))).toEqual([]);
  });

  it("refuses a Location without a pool, and ranges without their pair", () => {
    const elsewhere: ClusterWithNetwork = {
      metadata: { name: "x" },
      spec: { location: "mars", network: { maxNodes: 1, clusterId: 1 } },
    };
    expect(check(elsewhere).map((p) => p.path)).toEqual(["spec.network"]);
    const parsed = clusterNetworkSpec.safeParse({
      maxNodes: 1,
      pods: ["10.0.0.0/24"],
      nodes: ["10.0.0.0/28"],
    });
    expect(parsed.success ? [] : parsed.error.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["services", "required field is missing: an allocation holds pod and service ranges"],
      [
        "nodes.0",
        "10.0.0.0/28 overlaps spec.network.pods[0] (10.0.0.0/24): a cluster's pod, service and node ranges never share an address",
      ],
    ]);
  });
});

describe("allocationOverlaps", () => {
  const allocation = (
    cluster: string,
    location: string,
    pods: string[],
    services: string[],
  ): ClusterNetwork => ({
    cluster,
    location,
    pods,
    services,
    nodes: [],
  });

  it("names both clusters and ranges inside a Location, a cluster's own kinds too, and nothing across Locations", () => {
    expect(
      allocationOverlaps([
        allocation("b", "frankfurt", ["10.0.0.0/16"], ["10.96.0.0/22"]),
        allocation("a", "frankfurt", ["10.0.128.0/17"], ["10.0.0.0/24"]),
        allocation("c", "singapore", ["10.0.0.0/16"], ["10.96.0.0/22"]),
      ]),
    ).toEqual([
      {
        location: "frankfurt",
        a: { cluster: "a", kind: "pods", range: "10.0.128.0/17" },
        b: { cluster: "b", kind: "pods", range: "10.0.0.0/16" },
      },
      {
        location: "frankfurt",
        a: { cluster: "a", kind: "services", range: "10.0.0.0/24" },
        b: { cluster: "b", kind: "pods", range: "10.0.0.0/16" },
      },
    ]);
  });
});

describe("retired cluster IDs", () => {
  it("are given up on delete, ID change or move, and dropped from the pool once their quarantine ends", () => {
    const held = { spec: { location: "frankfurt", network: { clusterId: 7 } } };
    expect(clusterIdGivenUp(held, undefined)).toEqual({ location: "frankfurt", clusterId: 7 });
    expect(clusterIdGivenUp(held, held)).toBeUndefined();
    expect(clusterIdGivenUp(held, { spec: { location: "frankfurt", network: { clusterId: 8 } } })).toEqual({
      location: "frankfurt",
      clusterId: 7,
    });
    const pool = {
      ...root,
      status: {
        retiredClusterIds: [
          { clusterId: 1, cluster: "expired", retiredAt: "2026-12-03T10:00:00Z" },
          { clusterId: 2, cluster: "resting", retiredAt: "2026-12-03T11:30:00Z" },
        ],
      },
    };
    const entries = withRetiredClusterId(pool, { clusterId: 7, cluster: "gone" }, new Date(now));
    expect(entries.map((e) => e.clusterId)).toEqual([2, 7]);
    expect(entries[1]!.retiredAt).toBe("2026-12-03T12:00:00Z");
    expect(retiredIdsOf([pool, fraNorth]).map((r) => `${r.location}/${r.clusterId}`)).toEqual([
      "frankfurt/1",
      "frankfurt/2",
    ]);
  });
});
