import { describe, expect, it } from "vitest";
import type { Condition } from "../resources/meta.ts";
import type { ClusterNetwork } from "./allocation.ts";
import {
  type ClusterNetworkState,
  networkConditionChanges,
  withNetworkConditions,
} from "./network-conditions.ts";

const now = new Date("2026-12-03T10:00:00Z");
const later = new Date("2026-12-03T11:00:00Z");
const reported = (services: string, pods = "10.0.0.0/24") => ({
  podCIDRs: [pods],
  serviceCIDRs: [services],
  podIPs: [],
  podsOutsidePodCIDRs: 0,
});
const plan = (cluster: string, location: string, pods: string, services: string): ClusterNetwork => ({
  cluster,
  location,
  pods: [pods],
  services: [services],
  nodes: [],
});
const ready: Condition = {
  type: "Ready",
  status: "True",
  reason: "AgentReports",
  message: "ok",
  lastTransitionTime: "2026-12-01T00:00:00Z",
};
const byType = (conditions: readonly Condition[] | undefined, type: string) =>
  conditions?.find((c) => c.type === type);

describe("networkConditionChanges", () => {
  const fleet: ClusterNetworkState[] = [
    {
      name: "fra-a",
      location: "frankfurt",
      observed: reported("10.96.0.0/16", "10.1.0.0/24"),
      conditions: [ready],
    },
    {
      name: "fra-b",
      location: "frankfurt",
      observed: reported("10.96.0.0/16", "10.2.0.0/24"),
      conditions: [],
    },
    {
      name: "sin-a",
      location: "singapore",
      observed: reported("10.96.0.0/16", "10.1.0.0/24"),
      conditions: [],
    },
    { name: "fra-silent", location: "frankfurt", conditions: [ready] },
  ];

  it("flags two clusters of a Location with the same service range, each naming the other and both ranges", () => {
    const changes = networkConditionChanges(fleet, now);
    expect(byType(changes.get("fra-a"), "NetworkOverlap")).toEqual({
      type: "NetworkOverlap",
      status: "True",
      reason: "RangesOverlap",
      message: 'services 10.96.0.0/16 overlaps cluster "fra-b"\'s services 10.96.0.0/16',
      lastTransitionTime: "2026-12-03T10:00:00Z",
    });
    expect(byType(changes.get("fra-b"), "NetworkOverlap")?.message).toBe(
      'services 10.96.0.0/16 overlaps cluster "fra-a"\'s services 10.96.0.0/16',
    );
    // The same range in another Location is no overlap; a cluster that reported nothing gets no condition.
    expect(byType(changes.get("sin-a"), "NetworkOverlap")).toMatchObject({
      status: "False",
      reason: "NoOverlap",
    });
    expect(changes.has("fra-silent")).toBe(false);
    // Without a plan there is nothing to drift from.
    expect(byType(changes.get("fra-a"), "NetworkDrift")).toMatchObject({
      status: "Unknown",
      reason: "NotPlanned",
    });
  });

  it("sets NetworkDrift from the plan: pods or ServiceCIDRs outside it, or within it", () => {
    const changes = networkConditionChanges(
      [
        {
          name: "fra-a",
          location: "frankfurt",
          observed: {
            ...reported("10.96.0.0/22", "10.1.0.0/24"),
            podIPs: ["10.50.0.0/30"],
            podIPBlocksNotListed: 3,
          },
          allocation: plan("fra-a", "frankfurt", "10.1.0.0/16", "10.96.0.0/22"),
          conditions: [],
        },
        {
          name: "fra-b",
          location: "frankfurt",
          observed: reported("10.96.4.0/22", "10.2.0.0/24"),
          allocation: plan("fra-b", "frankfurt", "10.2.0.0/16", "10.96.4.0/22"),
          conditions: [],
        },
      ],
      now,
    );
    expect(byType(changes.get("fra-a"), "NetworkDrift")).toMatchObject({
      status: "True",
      reason: "OutsidePlan",
      message:
        "pods 10.50.0.0/30 outside the planned 10.1.0.0/16 (3 more blocks of pod addresses outside its podCIDRs were not reported)",
    });
    expect(byType(changes.get("fra-b"), "NetworkDrift")).toMatchObject({
      status: "False",
      reason: "WithinPlan",
    });
    expect(byType(changes.get("fra-b"), "NetworkOverlap")).toMatchObject({ status: "False" });
  });

  it("writes nothing the second time, and keeps the transition time while the status holds", () => {
    const first = networkConditionChanges(fleet, now);
    const settled = fleet.map((c) => ({
      ...c,
      conditions: withNetworkConditions(c.conditions, first.get(c.name) ?? []) ?? c.conditions,
    }));
    expect(networkConditionChanges(settled, later).size).toBe(0);
    // Others' conditions stay where they were, in their order (another writer may have put them after).
    const reordered = settled.map((c) => ({ ...c, conditions: [...c.conditions].reverse() }));
    expect(networkConditionChanges(reordered, later).size).toBe(0);
    // fra-b moves to its own range: both Frankfurt clusters change status, and their transition time moves.
    const fixed = settled.map((c) =>
      c.name === "fra-b" ? { ...c, observed: reported("10.97.0.0/22", "10.2.0.0/24") } : c,
    );
    const changes = networkConditionChanges(fixed, later);
    expect([...changes.keys()].sort()).toEqual(["fra-a", "fra-b"]);
    expect(byType(changes.get("fra-a"), "NetworkOverlap")).toMatchObject({
      status: "False",
      lastTransitionTime: "2026-12-03T11:00:00Z",
    });
    expect(byType(changes.get("fra-a"), "NetworkDrift")?.lastTransitionTime).toBe("2026-12-03T10:00:00Z");
    expect(withNetworkConditions(settled[0]!.conditions, changes.get("fra-a")!)?.map((c) => c.type)).toEqual([
      "Ready",
      "NetworkOverlap",
      "NetworkDrift",
    ]);
  });

  it("removes the conditions of a cluster that stops reporting its network", () => {
    const first = networkConditionChanges(fleet, now);
    const conditions = withNetworkConditions([ready], first.get("fra-a")!)!;
    const changes = networkConditionChanges([{ name: "fra-a", location: "frankfurt", conditions }], later);
    expect(changes.get("fra-a")).toEqual([]);
    expect(withNetworkConditions(conditions, [])).toEqual([ready]);
  });

  it("checks a Location of 10,000 clusters and finds exactly the one overlapping pair", () => {
    const clusters: ClusterNetworkState[] = Array.from({ length: 10_000 }, (_, i) => ({
      name: `c-${i}`,
      location: "frankfurt",
      observed: {
        podCIDRs: [`10.${64 + (i >> 8)}.${i & 255}.0/24`],
        serviceCIDRs: [`172.${16 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) * 16}/28`],
        podIPs: [],
        podsOutsidePodCIDRs: 0,
      },
      allocation: plan(
        `c-${i}`,
        "frankfurt",
        `10.${64 + (i >> 8)}.${i & 255}.0/24`,
        `172.${16 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) * 16}/28`,
      ),
      conditions: [],
    }));
    // One pair overlaps on purpose.
    clusters[9_999]!.observed!.serviceCIDRs = ["172.16.0.0/28"];
    // Its speed (a sweep in address order, not every pair) is measured in bench/network-bench.ts.
    const changes = networkConditionChanges(clusters, now);
    expect(changes.size).toBe(10_000);
    const flagged = [...changes].filter(([, c]) => byType(c, "NetworkOverlap")?.status === "True");
    expect(flagged.map(([name]) => name).sort()).toEqual(["c-0", "c-9999"]);
  });
});
