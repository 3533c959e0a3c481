/**
 * How large a cluster's ranges must be (docs/network-plan.md, Sizing), from what it plans: its maximum nodes,
 * the pod range each node gets (the node mask, kube-controller-manager's `--node-cidr-mask-size`), and its
 * planned Services. Every size is a power of two, so that ranges are aligned blocks.
 *
 * - pods: prefix = nodeMask − ceil(log2(maxNodes)): 500 nodes at /24 per node need a /15.
 * - services: at least twice the planned Services (a service range cannot grow in place), and at least 1,024
 *   addresses (IPv4, a /22) or 65,536 (IPv6, a /112); at most kube-apiserver's largest range (/12, /108).
 * - nodes: IPv4, maxNodes plus 8 reserved addresses (network, broadcast, gateway, control-plane VIPs), at least a
 *   /28; IPv6, a /64 (the size stateless autoconfiguration needs).
 */
import { addressBits, bitsFor, type Cidr, type IpFamily } from "./cidr.ts";

/** The pod range per node when a request does not say: /24 for IPv4 (256 addresses), /64 for IPv6. */
export const defaultNodeMask: Record<IpFamily, number> = { IPv4: 24, IPv6: 64 };
/** The node masks a request may ask for. */
export const nodeMaskBounds: Record<IpFamily, { min: number; max: number }> = {
  IPv4: { min: 16, max: 30 },
  IPv6: { min: 48, max: 126 },
};
/**
 * The most nodes one cluster may plan: kube-controller-manager carves at most 2^16 node ranges from a cluster
 * CIDR (the node mask may be at most 16 bits longer than the cluster's pod range).
 */
export const maxNodesLimit = 65_536;
/** The fewest Service addresses a cluster gets. */
export const minimumServiceAddresses: Record<IpFamily, number> = { IPv4: 1024, IPv6: 65_536 };
/** The largest service range kube-apiserver accepts (`--service-cluster-ip-range`): /12 and /108. */
export const largestServicePrefix: Record<IpFamily, number> = { IPv4: 12, IPv6: 108 };
/** Addresses of an IPv4 node range kept for the network, broadcast, gateway and virtual IPs. */
export const reservedNodeAddresses = 8;

/** The prefix of a pod range that gives `maxNodes` nodes a range of `nodeMask` bits each. */
export function podPrefix(maxNodes: number, nodeMask: number): number {
  return nodeMask - bitsFor(maxNodes);
}

/** How many nodes pod ranges hold at `nodeMask` bits per node (0 for ranges smaller than one node's). */
export function nodeCapacity(podRanges: readonly Cidr[], nodeMask: number): number {
  return podRanges.reduce(
    (sum, range) =>
      sum +
      (nodeMask >= range.prefix && nodeMask <= addressBits[range.family]
        ? 2 ** (nodeMask - range.prefix)
        : 0),
    0,
  );
}

/** The prefix of a service range for `plannedServices` Services, or undefined when it would be too large. */
export function servicePrefix(family: IpFamily, plannedServices: number): number | undefined {
  const addresses = Math.max(2 * plannedServices, minimumServiceAddresses[family]);
  const prefix = addressBits[family] - bitsFor(addresses);
  return prefix < largestServicePrefix[family] ? undefined : prefix;
}

/** The prefix of a node range for `maxNodes` nodes. */
export function nodePrefix(family: IpFamily, maxNodes: number): number {
  if (family === "IPv6") return 64;
  return 32 - bitsFor(Math.max(maxNodes + reservedNodeAddresses, 16));
}
