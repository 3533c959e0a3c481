/**
 * What clusters really use against the network plan (issue 15, docs/network-plan.md, Detection). Agents report
 * each cluster's observed ranges — nodes' `spec.podCIDRs`, `ServiceCIDR` objects (`networking.k8s.io/v1`), node
 * and pod IPs — and this module finds:
 *
 * - **overlaps** inside a Location: two clusters whose ranges share an address (whatever their kinds), and a
 *   cluster whose pod or node addresses fall in its own service range — each naming both clusters and both
 *   ranges. Each cluster's ranges of a kind are merged first (a node's /24s read as the cluster's /22), so a
 *   pair of clusters is reported once per overlapping pair of merged ranges, not once per node;
 * - **drift**: observed pod ranges or pod IPs outside the cluster's planned pod ranges (a pod on the host
 *   network, whose IP is a node's, is not drift), and ServiceCIDRs outside its planned service ranges.
 *
 * It also turns a cluster's observations into an allocation (`allocationFromObserved`), so that a cluster
 * that predates the plan is entered as it is. Pure; unreadable inputs are listed with their field path.
 */
import { fieldPath, type Problem } from "../validation/problems.ts";
import type { ClusterNetwork } from "./allocation.ts";
import {
  type Cidr,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  mergeCidrs,
  parseAddress,
  parseCidr,
} from "./cidr.ts";
import type { RangeKind } from "./network-pool.ts";

/** What one cluster's agent saw. */
export interface ObservedNetwork {
  cluster: string;
  location: string;
  /** Every node's `spec.podCIDRs`, all together. */
  podCIDRs?: string[];
  /** `spec.cidrs` of the cluster's ServiceCIDR objects. */
  serviceCIDRs?: string[];
  /** Nodes' InternalIP addresses. */
  nodeIPs?: string[];
  /** `status.podIPs` of its pods (host-network pods included). */
  podIPs?: string[];
}

/** A range of one cluster, as detection names it. */
export interface ObservedRange {
  cluster: string;
  kind: RangeKind;
  range: string;
}

/** Two ranges inside one Location that share addresses; `a` is the first cluster by name. */
export interface NetworkOverlap {
  location: string;
  a: ObservedRange;
  b: ObservedRange;
}

/** Addresses a cluster uses outside what the plan gave it. */
export interface NetworkDrift {
  location: string;
  cluster: string;
  kind: "pods" | "services";
  /** The addresses outside, merged into blocks (`10.9.0.5/32`, `10.9.0.0/24`). */
  observed: string[];
  /** What the plan gave the cluster for that kind. */
  planned: string[];
}

export interface NetworkDetection {
  overlaps: NetworkOverlap[];
  drift: NetworkDrift[];
  /** Clusters observed with no allocation in the plan: no drift can be told for them. */
  unplanned: string[];
  /** Observed values that are not ranges or addresses, at `observed[i].podCIDRs[j]`…; they are left out. */
  unreadable: Problem[];
}

interface ClusterRanges {
  cluster: string;
  location: string;
  pods: Cidr[];
  services: Cidr[];
  nodes: Cidr[];
  podIPs: Cidr[];
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function readRanges(observed: readonly ObservedNetwork[], unreadable: Problem[]): ClusterRanges[] {
  return observed.map((o, i) => {
    const blocks = (field: "podCIDRs" | "serviceCIDRs") =>
      (o[field] ?? []).flatMap((text, j) => {
        const parsed = parseCidr(text);
        if (parsed.ok) return [parsed.cidr];
        unreadable.push({ path: fieldPath(["observed", i, field, j]), message: parsed.reason });
        return [];
      });
    const addresses = (field: "nodeIPs" | "podIPs") =>
      (o[field] ?? []).flatMap((text, j): Cidr[] => {
        const parsed = parseAddress(text);
        if (parsed.ok) {
          const { family, value } = parsed.address;
          return [{ family, base: value, prefix: family === "IPv4" ? 32 : 128 }];
        }
        unreadable.push({ path: fieldPath(["observed", i, field, j]), message: parsed.reason });
        return [];
      });
    return {
      cluster: o.cluster,
      location: o.location,
      pods: mergeCidrs(blocks("podCIDRs")),
      services: mergeCidrs(blocks("serviceCIDRs")),
      nodes: mergeCidrs(addresses("nodeIPs")),
      podIPs: mergeCidrs(addresses("podIPs")),
    };
  });
}

const kindsInOrder = ["pods", "services", "nodes"] as const;

/**
 * Overlaps and drift of the observed clusters against each other and against the plan (see the module
 * comment). The answer is ordered (Location, clusters, ranges) and does not depend on the order of the inputs.
 */
export function detectNetworkProblems(
  observed: readonly ObservedNetwork[],
  plan: readonly ClusterNetwork[],
): NetworkDetection {
  const unreadable: Problem[] = [];
  const clusters = readRanges(observed, unreadable).sort(
    (a, b) => byName(a.location, b.location) || byName(a.cluster, b.cluster),
  );
  const overlaps: NetworkOverlap[] = [];
  for (const [i, a] of clusters.entries()) {
    // Pods or nodes inside the cluster's own service range.
    for (const kind of ["pods", "nodes"] as const)
      for (const range of a[kind])
        for (const service of a.services)
          if (cidrsOverlap(range, service))
            overlaps.push({
              location: a.location,
              a: { cluster: a.cluster, kind, range: formatCidr(range) },
              b: { cluster: a.cluster, kind: "services", range: formatCidr(service) },
            });
    for (const b of clusters.slice(i + 1)) {
      if (b.location !== a.location) continue;
      for (const kindA of kindsInOrder)
        for (const rangeA of a[kindA])
          for (const kindB of kindsInOrder)
            for (const rangeB of b[kindB])
              if (cidrsOverlap(rangeA, rangeB))
                overlaps.push({
                  location: a.location,
                  a: { cluster: a.cluster, kind: kindA, range: formatCidr(rangeA) },
                  b: { cluster: b.cluster, kind: kindB, range: formatCidr(rangeB) },
                });
    }
  }

  const planned = new Map(plan.map((p) => [p.cluster, p]));
  const drift: NetworkDrift[] = [];
  const unplanned: string[] = [];
  for (const c of clusters) {
    const allocation = planned.get(c.cluster);
    if (!allocation) {
      unplanned.push(c.cluster);
      continue;
    }
    const parse = (texts: string[]) =>
      texts.flatMap((t) => {
        const parsed = parseCidr(t);
        return parsed.ok ? [parsed.cidr] : [];
      });
    const plannedPods = parse(allocation.pods);
    const plannedServices = parse(allocation.services);
    const hostAddresses = [...parse(allocation.nodes), ...c.nodes];
    const outside = (blocks: Cidr[], inside: Cidr[]) => blocks.flatMap((block) => outsideOf(block, inside));
    const podsOutside = mergeCidrs([
      ...outside(c.pods, plannedPods),
      ...outside(c.podIPs, plannedPods).filter((ip) => !hostAddresses.some((h) => cidrContains(h, ip))),
    ]);
    if (podsOutside.length)
      drift.push({
        location: c.location,
        cluster: c.cluster,
        kind: "pods",
        observed: podsOutside.map(formatCidr),
        planned: allocation.pods,
      });
    const servicesOutside = mergeCidrs(outside(c.services, plannedServices));
    if (servicesOutside.length)
      drift.push({
        location: c.location,
        cluster: c.cluster,
        kind: "services",
        observed: servicesOutside.map(formatCidr),
        planned: allocation.services,
      });
  }
  return { overlaps, drift, unplanned, unreadable };
}

/** The parts of `block` that lie in none of `inside`: aligned blocks either nest or are apart. */
function outsideOf(block: Cidr, inside: readonly Cidr[]): Cidr[] {
  if (inside.some((i) => cidrContains(i, block))) return [];
  const within = inside.filter((i) => cidrContains(block, i));
  if (!within.length) return [block];
  // Split in halves until each half is wholly inside or wholly outside.
  const half: Cidr = { family: block.family, base: block.base, prefix: block.prefix + 1 };
  const upper: Cidr = {
    ...half,
    base: block.base + (1n << BigInt((block.family === "IPv4" ? 32 : 128) - half.prefix)),
  };
  return [...outsideOf(half, within), ...outsideOf(upper, within)];
}

/**
 * A cluster's observations as an allocation, for a cluster that predates the plan: its pod ranges and
 * ServiceCIDRs merged, and its nodes' addresses merged into blocks. No cluster ID (a request gives one).
 */
export function allocationFromObserved(observed: ObservedNetwork, region?: string): ClusterNetwork {
  const ranges = readRanges([observed], []);
  const [c] = ranges;
  return {
    cluster: observed.cluster,
    location: observed.location,
    ...(region !== undefined ? { region } : {}),
    pods: c!.pods.map(formatCidr),
    services: c!.services.map(formatCidr),
    nodes: c!.nodes.map(formatCidr),
  };
}
