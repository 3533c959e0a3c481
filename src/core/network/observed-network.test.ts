import { describe, expect, it } from "vitest";
import { observeNetwork, readObservedNetwork } from "./observed-network.ts";

describe("observeNetwork", () => {
  it("merges the nodes' podCIDRs and the ServiceCIDRs, and reports the node mask", () => {
    const report = observeNetwork({
      nodePodCIDRs: [["10.244.1.0/24", "fd00:244:0:1::/64"], ["10.244.0.0/24", "fd00:244::/64"], []],
      serviceCIDRs: [["10.96.0.0/17"], ["10.96.128.0/17", "fd00:96::/112"]],
      pods: [],
    });
    expect(report).toEqual({
      podCIDRs: ["10.244.0.0/23", "fd00:244::/63"],
      serviceCIDRs: ["10.96.0.0/16", "fd00:96::/112"],
      podIPs: [],
      podsOutsidePodCIDRs: 0,
      nodeMask: { ipv4: 24, ipv6: 64 },
    });
  });

  it("says nothing of service ranges when the API server serves no ServiceCIDRs", () => {
    const report = observeNetwork({ nodePodCIDRs: [], pods: [] });
    expect(report).not.toHaveProperty("serviceCIDRs");
    expect(observeNetwork({ nodePodCIDRs: [], serviceCIDRs: [], pods: [] }).serviceCIDRs).toEqual([]);
  });

  it("reports only pods outside the podCIDRs, merged, leaving host-network pods out", () => {
    const report = observeNetwork({
      nodePodCIDRs: [["10.244.0.0/24"]],
      pods: [
        { hostNetwork: false, ips: ["10.244.0.9"] }, // inside: the range says it all
        { hostNetwork: true, ips: ["192.168.1.10"] }, // the node's address
        { hostNetwork: false, ips: ["10.50.0.0", "fd00:50::1"] },
        { hostNetwork: false, ips: ["10.50.0.1"] },
        { hostNetwork: false, ips: [] }, // pending: no address yet
      ],
    });
    expect(report.podIPs).toEqual(["10.50.0.0/31", "fd00:50::1/128"]);
    expect(report.podsOutsidePodCIDRs).toBe(2);
    expect(report.podIPBlocksNotListed).toBeUndefined();
  });

  it("stays bounded: widens to /24 when there are too many blocks, then lists the first and counts the rest", () => {
    // Every other address of two /24s: 256 separate blocks, two /24s once widened.
    const scattered = Array.from({ length: 256 }, (_, i) => ({
      hostNetwork: false,
      ips: [`10.${50 + (i >> 7)}.0.${(i % 128) * 2}`],
    }));
    const widened = observeNetwork({ nodePodCIDRs: [], pods: scattered });
    expect(widened.podIPs).toEqual(["10.50.0.0/24", "10.51.0.0/24"]);
    expect(widened.podsOutsidePodCIDRs).toBe(256);
    // One address in each of 100 /24s apart from each other: still 100 blocks once widened; 64 are listed.
    const spread = Array.from({ length: 100 }, (_, i) => ({ hostNetwork: false, ips: [`10.60.${2 * i}.1`] }));
    const truncated = observeNetwork({ nodePodCIDRs: [], pods: spread });
    expect(truncated.podIPs).toHaveLength(64);
    expect(truncated.podIPs[0]).toBe("10.60.0.0/24");
    expect(truncated.podIPBlocksNotListed).toBe(36);
  });

  it("reads the declared pod subnet (dual-stack too) and leaves out what it cannot read", () => {
    const report = observeNetwork({
      nodePodCIDRs: [["10.244.0.1/24", "garbage"]],
      pods: [{ hostNetwork: false, ips: ["not-an-ip"] }],
      declaredPodSubnet: "10.244.0.0/16,fd00:244::/56",
    });
    expect(report).toEqual({
      podCIDRs: [],
      podIPs: [],
      podsOutsidePodCIDRs: 0,
      declaredPodCIDRs: ["10.244.0.0/16", "fd00:244::/56"],
    });
  });
});

describe("readObservedNetwork", () => {
  it("takes a report as sent and refuses what is not one", () => {
    const report = {
      podCIDRs: ["10.244.0.0/23"],
      podIPs: [],
      podsOutsidePodCIDRs: 0,
      nodeMask: { ipv4: 24 },
    };
    expect(readObservedNetwork(report)).toEqual(report);
    expect(readObservedNetwork({ ...report, podCIDRs: "10.244.0.0/23" })).toBeUndefined();
    expect(readObservedNetwork({ ...report, podsOutsidePodCIDRs: -1 })).toBeUndefined();
    expect(readObservedNetwork(null)).toBeUndefined();
  });
});
