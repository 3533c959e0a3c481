import { describe, expect, it } from "vitest";
import type { ClusterNetwork } from "./allocation.ts";
import { allocationFromObserved, detectNetworkProblems, type ObservedNetwork } from "./detection.ts";

const planned = (
  cluster: string,
  pods: string,
  services: string,
  location = "frankfurt",
): ClusterNetwork => ({
  cluster,
  location,
  pods: [pods],
  services: [services],
  nodes: [],
});

describe("detectNetworkProblems", () => {
  it("names both clusters and both ranges of an overlap inside a Location, once per merged pair", () => {
    const observed: ObservedNetwork[] = [
      // Today's lab: every cluster has the same service range.
      {
        cluster: "fra-b",
        location: "frankfurt",
        podCIDRs: ["10.101.0.0/24", "10.101.1.0/24"],
        serviceCIDRs: ["10.96.0.0/16"],
      },
      {
        cluster: "fra-a",
        location: "frankfurt",
        podCIDRs: ["10.100.0.0/24", "10.100.1.0/24"],
        serviceCIDRs: ["10.96.0.0/16"],
      },
      {
        cluster: "sin-a",
        location: "singapore",
        podCIDRs: ["10.100.0.0/24"],
        serviceCIDRs: ["10.96.0.0/16"],
      },
    ];
    const detection = detectNetworkProblems(observed, []);
    expect(detection.overlaps).toEqual([
      {
        location: "frankfurt",
        a: { cluster: "fra-a", kind: "services", range: "10.96.0.0/16" },
        b: { cluster: "fra-b", kind: "services", range: "10.96.0.0/16" },
      },
    ]);
    expect(detection.unplanned).toEqual(["fra-a", "fra-b", "sin-a"]);
  });

  it("reports zero overlaps for clusters on a plan, and pods inside a cluster's own service range", () => {
    const clean = detectNetworkProblems(
      [
        {
          cluster: "fra-a",
          location: "frankfurt",
          podCIDRs: ["10.0.0.0/24"],
          serviceCIDRs: ["10.96.0.0/22"],
        },
        {
          cluster: "fra-b",
          location: "frankfurt",
          podCIDRs: ["10.1.0.0/24"],
          serviceCIDRs: ["10.96.4.0/22"],
        },
      ],
      [planned("fra-a", "10.0.0.0/16", "10.96.0.0/22"), planned("fra-b", "10.1.0.0/16", "10.96.4.0/22")],
    );
    expect(clean).toEqual({ overlaps: [], drift: [], unplanned: [], unreadable: [] });
    const self = detectNetworkProblems(
      [
        {
          cluster: "fra-a",
          location: "frankfurt",
          podCIDRs: ["10.96.1.0/24"],
          serviceCIDRs: ["10.96.0.0/16"],
        },
      ],
      [],
    );
    expect(self.overlaps).toEqual([
      {
        location: "frankfurt",
        a: { cluster: "fra-a", kind: "pods", range: "10.96.1.0/24" },
        b: { cluster: "fra-a", kind: "services", range: "10.96.0.0/16" },
      },
    ]);
  });

  it("flags pods and ServiceCIDRs outside the plan as drift, but not host-network pods", () => {
    const detection = detectNetworkProblems(
      [
        {
          cluster: "fra-a",
          location: "frankfurt",
          podCIDRs: ["10.0.0.0/24", "10.9.0.0/24"],
          serviceCIDRs: ["10.96.0.0/22", "10.97.0.0/24"],
          nodeIPs: ["192.168.1.10"],
          podIPs: ["10.0.0.7", "10.9.0.5", "10.50.0.1", "192.168.1.10"],
        },
      ],
      [planned("fra-a", "10.0.0.0/16", "10.96.0.0/22")],
    );
    expect(detection.drift).toEqual([
      {
        location: "frankfurt",
        cluster: "fra-a",
        kind: "pods",
        observed: ["10.9.0.0/24", "10.50.0.1/32"],
        planned: ["10.0.0.0/16"],
      },
      {
        location: "frankfurt",
        cluster: "fra-a",
        kind: "services",
        observed: ["10.97.0.0/24"],
        planned: ["10.96.0.0/22"],
      },
    ]);
  });

  it("reports a ServiceCIDR that only partly leaves the plan by its outside part", () => {
    const detection = detectNetworkProblems(
      [{ cluster: "fra-a", location: "frankfurt", serviceCIDRs: ["10.96.0.0/21"] }],
      [planned("fra-a", "10.0.0.0/16", "10.96.0.0/22")],
    );
    expect(detection.drift.map((d) => d.observed)).toEqual([["10.96.4.0/22"]]);
  });

  it("lists unreadable observations with their field paths and leaves them out", () => {
    const detection = detectNetworkProblems(
      [{ cluster: "fra-a", location: "frankfurt", podCIDRs: ["10.0.0.1/24"], podIPs: ["not-an-ip"] }],
      [],
    );
    expect(detection.unreadable).toEqual([
      { path: "observed[0].podCIDRs[0]", message: expect.stringContaining("host bits set") },
      { path: "observed[0].podIPs[0]", message: expect.stringContaining("not an IPv4 address") },
    ]);
  });
});

describe("allocationFromObserved", () => {
  it("enters a cluster that predates the plan as it is, its nodes' ranges merged", () => {
    expect(
      allocationFromObserved(
        {
          cluster: "legacy",
          location: "frankfurt",
          podCIDRs: ["10.244.1.0/24", "10.244.0.0/24", "fd00:244::/64"],
          serviceCIDRs: ["10.96.0.0/12"],
          nodeIPs: ["192.168.0.2", "192.168.0.3"],
        },
        "fra-north",
      ),
    ).toEqual({
      cluster: "legacy",
      location: "frankfurt",
      region: "fra-north",
      pods: ["10.244.0.0/23", "fd00:244::/64"],
      services: ["10.96.0.0/12"],
      nodes: ["192.168.0.2/31"],
    });
  });
});
