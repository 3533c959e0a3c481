import { describe, expect, it } from "vitest";
import { cidr } from "./cidr.ts";
import { nodeCapacity, nodePrefix, podPrefix, servicePrefix } from "./sizing.ts";

describe("sizing", () => {
  it("gives 500 nodes at /24 per node a /15 of pods, and says what a range holds", () => {
    expect(podPrefix(500, 24)).toBe(15);
    expect(podPrefix(256, 24)).toBe(16);
    expect(podPrefix(257, 24)).toBe(15);
    expect(podPrefix(1, 24)).toBe(24);
    expect(podPrefix(500, 64)).toBe(55);
    expect(nodeCapacity([cidr("10.0.0.0/16")], 24)).toBe(256);
    expect(nodeCapacity([cidr("10.0.0.0/16"), cidr("10.2.0.0/15")], 24)).toBe(768);
    expect(nodeCapacity([cidr("10.0.0.0/25")], 24)).toBe(0);
  });

  it("sizes services at twice the plan, at least 1,024 (IPv4) or 65,536 (IPv6), at most kube-apiserver's largest", () => {
    expect(servicePrefix("IPv4", 0)).toBe(22);
    expect(servicePrefix("IPv4", 3000)).toBe(19);
    expect(servicePrefix("IPv4", 524_288)).toBe(12);
    expect(servicePrefix("IPv4", 524_289)).toBeUndefined();
    expect(servicePrefix("IPv6", 0)).toBe(112);
    expect(servicePrefix("IPv6", 1_000_000)).toBeUndefined();
  });

  it("sizes IPv4 node ranges for the nodes plus 8 reserved addresses, IPv6 ones at /64", () => {
    expect(nodePrefix("IPv4", 1)).toBe(28);
    expect(nodePrefix("IPv4", 100)).toBe(25);
    expect(nodePrefix("IPv4", 500)).toBe(23);
    expect(nodePrefix("IPv4", 504)).toBe(23);
    expect(nodePrefix("IPv4", 505)).toBe(22);
    expect(nodePrefix("IPv6", 5000)).toBe(64);
  });
});
