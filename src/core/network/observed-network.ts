/**
 * What an agent reports of the addresses its cluster really uses (issue 15, item 6; docs/network-plan.md,
 * Detection): its nodes' `spec.podCIDRs`, its `ServiceCIDR` objects, and a bounded summary of the pod addresses
 * that lie outside every node's podCIDRs. It travels as the inventory's `network` item and the hub keeps it as
 * a Cluster's `status.observedNetwork`, which `detectNetworkProblems` reads.
 *
 * Pods are summarised, not listed: a pod whose address is inside its nodes' podCIDRs is already covered by those
 * ranges (drift and overlaps of the ranges say all there is to say about it). Only the others are reported —
 * merged into the fewest blocks, widened to /24 (IPv4) or /64 (IPv6) when there are too many, and at most
 * `maxListedPodBlocks` of them, with a count of what was left out. Host-network pods use their node's address
 * and are left out. Pure.
 */
import {
  addressBits,
  type Cidr,
  cidrLast,
  formatCidr,
  type IpFamily,
  mergeCidrs,
  parseAddress,
  parseCidr,
} from "./cidr.ts";

/** A cluster's observed addresses: the inventory's `network` item and a Cluster's `status.observedNetwork`. */
export interface ObservedClusterNetwork {
  /** Every node's `spec.podCIDRs`, merged into the fewest blocks. */
  podCIDRs: string[];
  /**
   * `spec.cidrs` of the cluster's ServiceCIDR objects (`networking.k8s.io/v1`), merged; absent when the API
   * server does not serve ServiceCIDRs (clusters older than Kubernetes 1.33, or with the API turned off).
   */
  serviceCIDRs?: string[];
  /** Addresses of pods outside every node's podCIDRs (host-network pods left out), merged into blocks. */
  podIPs: string[];
  /** How many pods have an address outside every node's podCIDRs. */
  podsOutsidePodCIDRs: number;
  /** Blocks of such addresses left out of `podIPs` (there were more than it lists); absent when none. */
  podIPBlocksNotListed?: number;
  /** The prefix length of the nodes' podCIDRs (the most common one), per family: the node mask. */
  nodeMask?: { ipv4?: number; ipv6?: number };
  /** The pod ranges the cluster declares for itself (kubeadm's `networking.podSubnet`), when it does. */
  declaredPodCIDRs?: string[];
}

/** The most pod address blocks a report lists. */
export const maxListedPodBlocks = 64;

/** What the agent reads of one pod. */
export interface PodAddresses {
  hostNetwork: boolean;
  /** `status.podIPs[].ip` (or `status.podIP`). */
  ips: string[];
}

/** What the agent read of its cluster. */
export interface NetworkObservation {
  /** Each node's `spec.podCIDRs`. */
  nodePodCIDRs: ReadonlyArray<readonly string[]>;
  /** Each ServiceCIDR's `spec.cidrs`; undefined when the API server does not serve ServiceCIDRs. */
  serviceCIDRs?: ReadonlyArray<readonly string[]>;
  /** Pods that run or wait to run (not Succeeded or Failed). */
  pods: readonly PodAddresses[];
  /** kubeadm's `networking.podSubnet` (comma-separated for dual-stack), when the cluster has one. */
  declaredPodSubnet?: string;
}

const widest: Record<IpFamily, number> = { IPv4: 24, IPv6: 64 };

const blocksOf = (texts: Iterable<string>): Cidr[] => {
  const blocks: Cidr[] = [];
  for (const text of texts) {
    const parsed = parseCidr(text.trim());
    if (parsed.ok) blocks.push(parsed.cidr);
  }
  return blocks;
};

/**
 * The report of a cluster's observed addresses. Unreadable ranges and addresses (an API server answers what it
 * holds) are left out. Deterministic: the same cluster gives the same report, so an unchanged one sends no delta.
 */
export function observeNetwork(
  observation: NetworkObservation,
  limit: number = maxListedPodBlocks,
): ObservedClusterNetwork {
  const nodeBlocks = observation.nodePodCIDRs.map((list) => blocksOf(list));
  const podRanges = mergeCidrs(nodeBlocks.flat());
  const outside: Cidr[] = [];
  let podsOutside = 0;
  for (const pod of observation.pods) {
    if (pod.hostNetwork) continue;
    let counted = false;
    for (const ip of pod.ips) {
      const parsed = parseAddress(ip);
      if (!parsed.ok) continue;
      const { family, value } = parsed.address;
      if (podRanges.some((r) => r.family === family && value >= r.base && value <= cidrLast(r))) continue;
      outside.push({ family, base: value, prefix: addressBits[family] });
      if (!counted) podsOutside += 1;
      counted = true;
    }
  }
  let blocks = mergeCidrs(outside);
  if (blocks.length > limit) blocks = mergeCidrs(blocks.map(widened));
  const listed = blocks.slice(0, limit);
  const nodeMask = mostCommonPrefixes(nodeBlocks);
  const declared = observation.declaredPodSubnet
    ? mergeCidrs(blocksOf(observation.declaredPodSubnet.split(","))).map(formatCidr)
    : [];
  return {
    podCIDRs: podRanges.map(formatCidr),
    ...(observation.serviceCIDRs
      ? { serviceCIDRs: mergeCidrs(blocksOf(observation.serviceCIDRs.flat())).map(formatCidr) }
      : {}),
    podIPs: listed.map(formatCidr),
    podsOutsidePodCIDRs: podsOutside,
    ...(blocks.length > listed.length ? { podIPBlocksNotListed: blocks.length - listed.length } : {}),
    ...(nodeMask ? { nodeMask } : {}),
    ...(declared.length > 0 ? { declaredPodCIDRs: declared } : {}),
  };
}

/** A block widened to at most /24 (IPv4) or /64 (IPv6): the block that holds it. */
function widened(block: Cidr): Cidr {
  const prefix = Math.min(block.prefix, widest[block.family]);
  const hostBits = BigInt(addressBits[block.family] - prefix);
  return { family: block.family, base: (block.base >> hostBits) << hostBits, prefix };
}

/** The prefix length most nodes' podCIDRs have, per family (the longer one on a tie). */
function mostCommonPrefixes(nodes: ReadonlyArray<readonly Cidr[]>): ObservedClusterNetwork["nodeMask"] {
  const counts: Record<IpFamily, Map<number, number>> = { IPv4: new Map(), IPv6: new Map() };
  for (const blocks of nodes)
    for (const b of blocks) counts[b.family].set(b.prefix, (counts[b.family].get(b.prefix) ?? 0) + 1);
  const pick = (family: IpFamily) =>
    [...counts[family]].sort(([pa, na], [pb, nb]) => nb - na || pb - pa)[0]?.[0];
  const ipv4 = pick("IPv4");
  const ipv6 = pick("IPv6");
  if (ipv4 === undefined && ipv6 === undefined) return undefined;
  return { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) };
}

const strings = (value: unknown, max: number): string[] | undefined =>
  Array.isArray(value) && value.length <= max && value.every((v) => typeof v === "string" && v.length <= 50)
    ? [...value]
    : undefined;
const count = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;

/**
 * An observed network as stored or received (an inventory snapshot's items are not checked field by field), or
 * undefined when it is not one: lists of strings where lists belong, counts where counts belong.
 */
export function readObservedNetwork(value: unknown): ObservedClusterNetwork | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  const podCIDRs = strings(v.podCIDRs, 4096);
  const podIPs = strings(v.podIPs, maxListedPodBlocks);
  const podsOutside = count(v.podsOutsidePodCIDRs);
  if (!podCIDRs || !podIPs || podsOutside === undefined) return undefined;
  const serviceCIDRs = strings(v.serviceCIDRs, 64);
  const declared = strings(v.declaredPodCIDRs, 16);
  const notListed = count(v.podIPBlocksNotListed);
  const mask = (v.nodeMask ?? {}) as Record<string, unknown>;
  const ipv4 = count(mask.ipv4);
  const ipv6 = count(mask.ipv6);
  return {
    podCIDRs,
    ...(serviceCIDRs ? { serviceCIDRs } : {}),
    podIPs,
    podsOutsidePodCIDRs: podsOutside,
    ...(notListed ? { podIPBlocksNotListed: notListed } : {}),
    ...(ipv4 !== undefined || ipv6 !== undefined
      ? { nodeMask: { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) } }
      : {}),
    ...(declared ? { declaredPodCIDRs: declared } : {}),
  };
}
