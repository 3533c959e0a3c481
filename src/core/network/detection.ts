/**
 * What clusters really use against the network plan (issue 15, docs/network-plan.md, Detection). Agents report
 * each cluster's observed ranges — nodes' `spec.podCIDRs`, `ServiceCIDR` objects (`networking.k8s.io/v1`), node
 * and pod IPs — and this module finds:
 *
 * - **overlaps** inside a Location: two clusters whose ranges share an address (whatever their kinds), and a
 *   cluster whose pod or node addresses fall in its own service range — each naming both clusters and both
 *   ranges. Each cluster's ranges of a kind are merged first (a node's /24s read as the cluster's /22), so a
 *   pair of clusters is reported once per overlapping pair of merged ranges, not once per node. A cluster's pod
 *   addresses outside its podCIDRs count as pod ranges too. The ranges of a Location are swept in address
 *   order (aligned blocks either nest or are apart), so the work grows with the ranges and the overlaps found,
 *   not with the square of the clusters: a Location of thousands of clusters is checked in milliseconds;
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
  cidrLast,
  compareCidrs,
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
  /**
   * Addresses of its pods (`10.9.0.5`), or blocks of them (`10.9.0.0/24`: an agent's summary of the addresses
   * outside the nodes' podCIDRs, core/network/observed-network.ts). A host-network pod's address is a node's.
   */
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
        if (field === "podIPs" && text.includes("/")) {
          const block = parseCidr(text);
          if (block.ok) return [block.cidr];
          unreadable.push({ path: fieldPath(["observed", i, field, j]), message: block.reason });
          return [];
        }
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
  for (const inLocation of byLocation(clusters)) overlaps.push(...sweepOverlaps(inLocation));

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

/** The clusters (sorted by Location, then name) in runs of one Location. */
function byLocation(clusters: readonly ClusterRanges[]): ClusterRanges[][] {
  const runs: ClusterRanges[][] = [];
  for (const c of clusters) {
    const run = runs.at(-1);
    if (run && run[0]!.location === c.location) run.push(c);
    else runs.push([c]);
  }
  return runs;
}

/** One range of a Location's sweep: whose it is, its kind and its place among the cluster's ranges of the kind. */
interface SweptRange {
  index: number;
  kind: RangeKind;
  rangeIndex: number;
  block: Cidr;
  last: bigint;
}

const kindOrder: Record<RangeKind, number> = { pods: 0, services: 1, nodes: 2 };

/**
 * The overlaps of one Location's clusters (sorted by name): every pair of ranges of two clusters that share an
 * address, and a cluster's pods or nodes inside its own service range. A sweep in address order: the ranges
 * that contain the current one are the open ones (aligned blocks either nest or are apart), so each range meets
 * only the ranges it overlaps. Ordered as the clusters, then kinds and ranges, are.
 */
function sweepOverlaps(clusters: readonly ClusterRanges[]): NetworkOverlap[] {
  const found: Array<{ a: SweptRange; b: SweptRange }> = [];
  for (const family of ["IPv4", "IPv6"] as const) {
    const ranges: SweptRange[] = [];
    clusters.forEach((c, index) => {
      const hosts = c.nodes;
      // Pod addresses outside the podCIDRs count as pods; a host-network pod's address (a node's) does not.
      const podAddresses = c.podIPs.filter((ip) => !hosts.some((h) => cidrContains(h, ip)));
      const pods = mergeCidrs([...c.pods, ...podAddresses]);
      for (const [kind, blocks] of [
        ["pods", pods],
        ["services", c.services],
        ["nodes", c.nodes],
      ] as const)
        blocks.forEach((block, rangeIndex) => {
          if (block.family === family) ranges.push({ index, kind, rangeIndex, block, last: cidrLast(block) });
        });
    });
    ranges.sort(
      (x, y) => compareCidrs(x.block, y.block) || x.index - y.index || kindOrder[x.kind] - kindOrder[y.kind],
    );
    const open: SweptRange[] = [];
    for (const range of ranges) {
      while (open.length > 0 && open.at(-1)!.last < range.block.base) open.pop();
      for (const other of open) {
        const [a, b] =
          other.index < range.index || (other.index === range.index && other.kind !== "services")
            ? [other, range]
            : [range, other];
        const own = a.index === b.index;
        // Within one cluster only pods or nodes inside its service range are a problem (a kind's ranges are merged).
        if (own && !(b.kind === "services" && a.kind !== "services")) continue;
        found.push({ a, b });
      }
      open.push(range);
    }
  }
  const ordered = (x: { a: SweptRange; b: SweptRange }) => [
    x.a.index,
    x.a.index === x.b.index ? 0 : 1,
    x.b.index,
    kindOrder[x.a.kind],
    x.a.rangeIndex,
    kindOrder[x.b.kind],
    x.b.rangeIndex,
  ];
  found.sort((x, y) => {
    const [kx, ky] = [ordered(x), ordered(y)];
    for (let i = 0; i < kx.length; i++) if (kx[i] !== ky[i]) return kx[i]! - ky[i]!;
    return 0;
  });
  const named = (r: SweptRange): ObservedRange => ({
    cluster: clusters[r.index]!.cluster,
    kind: r.kind,
    range: formatCidr(r.block),
  });
  return found.map(({ a, b }) => ({ location: clusters[a.index]!.location, a: named(a), b: named(b) }));
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
