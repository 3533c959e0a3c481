/**
 * Where a cluster's place in the network plan lives: the optional `spec.network` of a Cluster (issue 15,
 * docs/network-plan.md). It says what the cluster plans (`maxNodes`, `nodeMask`, `plannedServices`, a pinned
 * `clusterId`) and, once allocated, the ranges it holds (`pods`, `services`, `nodes`). Ranges are written by
 * `unitfleet network allocate` (or by hand, for a cluster that predates the plan); a `spec.network` without
 * ranges is a request that waits for its allocation.
 *
 * `clusterNetworkProblems` is the hub's check of a Cluster's `spec.network` against its Location's NetworkPools
 * and the Location's other Clusters: ranges inside the pools, never sharing an address with another cluster of
 * the Location, a pod range that holds `maxNodes` at the node mask, a cluster ID in the pool's range that no
 * other cluster holds and that is not quarantined. Every problem is at its field path under `spec.network`.
 * `allocationOverlaps` finds the overlaps between allocations (what `unitfleet network check` reports).
 */
import { z } from "zod";
import { fieldPath, type Problem } from "../validation/problems.ts";
import { checkedString } from "../validation/zod-fields.ts";
import type { ClusterNetwork, RetiredClusterId } from "./allocation.ts";
import { type Cidr, cidrContains, cidrsOverlap, formatCidr, type IpFamily, parseCidr } from "./cidr.ts";
import { clusterNetworkRequest } from "./cluster-request.ts";
import type { NetworkOverlap } from "./detection.ts";
import {
  familiesOf,
  type NetworkPoolLike,
  poolBlocks,
  poolIdRules,
  type RangeKind,
  rangeKinds,
} from "./network-pool.ts";
import { defaultNodeMask, nodeCapacity, nodePrefix, podPrefix, reservedNodeAddresses } from "./sizing.ts";

const range = checkedString((text) => {
  const parsed = parseCidr(text);
  return parsed.ok ? undefined : parsed.reason;
});
const rangeList = (what: string) =>
  z
    .array(range)
    .min(1)
    .max(16)
    .describe(`${what}: CIDR blocks, one per family (or as the cluster has them).`);

const request = clusterNetworkRequest.shape;

export const clusterNetworkSpec = z
  .strictObject({
    maxNodes: request.maxNodes,
    nodeMask: request.nodeMask,
    plannedServices: request.plannedServices,
    clusterId: request.clusterId.describe(
      "The cluster's ID, unique in its Location (ClusterMesh and the like); given by allocation, or pinned.",
    ),
    pods: rangeList("The cluster's pod ranges (--cluster-cidr)").optional(),
    services: rangeList("The cluster's Service ranges (--service-cluster-ip-range)").optional(),
    nodes: rangeList("The cluster's node ranges (absent when the cloud assigns them)").optional(),
  })
  .superRefine((network, ctx) => {
    const problem = (path: Array<string | number>, message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    if (network.pods && !network.services)
      problem(["services"], "required field is missing: an allocation holds pod and service ranges");
    if (network.services && !network.pods)
      problem(["pods"], "required field is missing: an allocation holds pod and service ranges");
    if (network.nodes && !network.pods)
      problem(["pods"], "required field is missing: node ranges come with pod and service ranges");
    // The cluster's own ranges apart from each other, whatever their kind.
    const seen: Array<{ block: Cidr; at: string }> = [];
    for (const kind of rangeKinds)
      for (const [i, text] of (network[kind] ?? []).entries()) {
        const parsed = parseCidr(text);
        if (!parsed.ok) continue;
        const clash = seen.find((s) => cidrsOverlap(s.block, parsed.cidr));
        if (clash)
          problem(
            [kind, i],
            `${text} overlaps ${clash.at} (${formatCidr(clash.block)}): a cluster's pod, service and node ranges never share an address`,
          );
        seen.push({ block: parsed.cidr, at: fieldPath(["spec", "network", kind, i]) });
      }
  })
  .describe(
    "The cluster's place in its Location's network plan: what it plans, and the ranges and ID it was given.",
  );

export type ClusterNetworkSpec = z.infer<typeof clusterNetworkSpec>;

/** A Cluster as the network plan reads it. */
export interface ClusterWithNetwork {
  metadata: { name: string };
  spec: { location: string; region?: string; network?: ClusterNetworkSpec };
}

/** The cluster's allocation, or undefined when it has no ranges yet (its `spec.network` is a request, or absent). */
export function allocationOf(cluster: ClusterWithNetwork): ClusterNetwork | undefined {
  const network = cluster.spec.network;
  if (!network?.pods) return undefined;
  return {
    cluster: cluster.metadata.name,
    location: cluster.spec.location,
    ...(cluster.spec.region !== undefined ? { region: cluster.spec.region } : {}),
    ...(network.clusterId !== undefined ? { clusterId: network.clusterId } : {}),
    pods: network.pods,
    services: network.services ?? [],
    nodes: network.nodes ?? [],
    ...(network.nodeMask ? { nodeMask: network.nodeMask } : {}),
  };
}

/**
 * What the cluster asks of the plan: its `spec.network`'s maxNodes, node mask, planned Services and pinned ID;
 * `fallbackMaxNodes` when it states no maxNodes (a Cluster without `spec.network`).
 */
export function networkRequestOf(
  cluster: ClusterWithNetwork,
  fallbackMaxNodes: number,
): Record<string, unknown> {
  const network = cluster.spec.network;
  return {
    cluster: cluster.metadata.name,
    location: cluster.spec.location,
    ...(cluster.spec.region !== undefined ? { region: cluster.spec.region } : {}),
    maxNodes: network?.maxNodes ?? fallbackMaxNodes,
    ...(network?.nodeMask ? { nodeMask: network.nodeMask } : {}),
    ...(network?.plannedServices !== undefined ? { plannedServices: network.plannedServices } : {}),
    ...(network?.clusterId !== undefined ? { clusterId: network.clusterId } : {}),
  };
}

/** What the hub knows around one Cluster's `spec.network`: its Location's pools and other Clusters, and now. */
export interface ClusterNetworkContext {
  /** The NetworkPools of the cluster's Location (root and Regions' children), with the root's retired IDs. */
  pools: readonly NetworkPoolLike[];
  /** IDs retired in the cluster's Location (from the root pool's `status.retiredClusterIds`). */
  retiredIds: readonly RetiredClusterId[];
  /** The other Clusters of the Location. */
  clusters: readonly ClusterWithNetwork[];
  /** Milliseconds since the epoch. */
  now: number;
}

const poolName = (pool: NetworkPoolLike) => `NetworkPool "${pool.metadata.name}"`;
const maskKey = (family: IpFamily) => (family === "IPv4" ? "ipv4" : "ipv6");
const blocksText = (blocks: readonly Cidr[]) => blocks.map(formatCidr).join(", ");

function parsed(texts: readonly string[] | undefined): Array<{ block: Cidr; index: number }> {
  return (texts ?? []).flatMap((text, index) => {
    const p = parseCidr(text);
    return p.ok ? [{ block: p.cidr, index }] : [];
  });
}

/**
 * Problems of a valid Cluster's `spec.network` against its Location's plan (see the module comment), at field
 * paths under `spec.network`. None when the cluster has no `spec.network`.
 */
export function clusterNetworkProblems(
  cluster: ClusterWithNetwork,
  context: ClusterNetworkContext,
): Problem[] {
  const network = cluster.spec.network;
  if (!network) return [];
  const problems: Problem[] = [];
  const at = (segments: Array<string | number>, message: string) =>
    problems.push({ path: fieldPath(["spec", "network", ...segments]), message });
  const location = cluster.spec.location;
  const name = cluster.metadata.name;
  if (!network.pods && network.clusterId === undefined) return problems;

  const pools = context.pools.filter((p) => p.spec.location === location);
  const root = pools.find((p) => p.spec.region === undefined);
  if (!root) {
    at(
      [],
      `Location "${location}" has no NetworkPool: create its pool before giving a cluster ranges or an ID`,
    );
    return problems;
  }
  const children = pools.filter((p) => p.spec.region !== undefined);
  const others = context.clusters.filter((c) => c.metadata.name !== name && c.spec.location === location);

  if (network.clusterId !== undefined) {
    const id = network.clusterId;
    const rules = poolIdRules(root);
    const holder = others.find((c) => c.spec.network?.clusterId === id);
    const retired = context.retiredIds
      .filter((r) => r.location === location && r.clusterId === id)
      .map((r) => ({ cluster: r.cluster, until: Date.parse(r.retiredAt) + rules.quarantineMs }))
      .filter((r) => r.until > context.now)
      .sort((a, b) => b.until - a.until)[0];
    if (id < rules.first || id > rules.last)
      at(
        ["clusterId"],
        `${id} is outside the cluster IDs of ${poolName(root)} (${rules.first}..${rules.last})`,
      );
    else if (holder)
      at(
        ["clusterId"],
        `cluster ID ${id} is taken by cluster "${holder.metadata.name}" in Location "${location}"`,
      );
    else if (retired)
      at(
        ["clusterId"],
        `cluster ID ${id} was retired with cluster "${retired.cluster}" and is quarantined until ${new Date(retired.until).toISOString()}`,
      );
  }

  const childBlocks = children.flatMap((child) =>
    rangeKinds.flatMap((kind) => poolBlocks(child, kind).map(({ block }) => ({ child, block }))),
  );
  for (const kind of rangeKinds) {
    const child = children.find((c) => c.spec.region === cluster.spec.region);
    const source: NetworkPoolLike = child?.spec[kind] ? child : root;
    const sourceBlocks = poolBlocks(source, kind).map((b) => b.block);
    for (const { block, index } of parsed(network[kind])) {
      const text = formatCidr(block);
      // Node ranges are checked against the pools only when the pools hold node blocks (else the cloud assigns them).
      if (sourceBlocks.length === 0 && kind === "nodes") {
        // Nothing to stay inside.
      } else if (!sourceBlocks.some((b) => cidrContains(b, block)))
        at(
          [kind, index],
          `${text} is outside the ${kind} of ${poolName(source)} (${blocksText(sourceBlocks) || "none"})${source === child ? `, the pool of Region ${cluster.spec.region}` : ""}`,
        );
      else if (source === root) {
        const kept = childBlocks.find(
          (c) => c.child.spec.region !== cluster.spec.region && cidrsOverlap(c.block, block),
        );
        if (kept)
          at(
            [kind, index],
            `${text} overlaps ${formatCidr(kept.block)} of ${poolName(kept.child)}, kept for Region ${kept.child.spec.region}`,
          );
      }
      for (const other of others) {
        const theirs = allocationOf(other);
        if (!theirs) continue;
        for (const otherKind of rangeKinds)
          for (const { block: their } of parsed(theirs[otherKind]))
            if (cidrsOverlap(block, their))
              at(
                [kind, index],
                `${text} overlaps cluster "${other.metadata.name}"'s ${otherKind} ${formatCidr(their)}: ranges inside a Location never share an address`,
              );
      }
    }
  }

  // The pod ranges hold maxNodes at the node mask; the node ranges hold maxNodes.
  const pods = parsed(network.pods).map((p) => p.block);
  for (const family of familiesOf(network.pods ?? [])) {
    const mask = network.nodeMask?.[maskKey(family)] ?? defaultNodeMask[family];
    const ranges = pods.filter((p) => p.family === family);
    const holds = nodeCapacity(ranges, mask);
    if (holds < network.maxNodes)
      at(
        ["pods"],
        `${blocksText(ranges)} (${family}) holds ${holds} nodes at /${mask} per node, fewer than maxNodes ${network.maxNodes}: it needs a /${podPrefix(network.maxNodes, mask)} at /${mask} per node (or lower maxNodes, or a longer nodeMask)`,
      );
  }
  const ipv4Nodes = parsed(network.nodes)
    .map((n) => n.block)
    .filter((n) => n.family === "IPv4");
  if (ipv4Nodes.length) {
    const addresses = ipv4Nodes.reduce((sum, n) => sum + 2 ** (32 - n.prefix), 0);
    if (addresses - reservedNodeAddresses < network.maxNodes)
      at(
        ["nodes"],
        `${blocksText(ipv4Nodes)} holds ${Math.max(0, addresses - reservedNodeAddresses)} nodes (${reservedNodeAddresses} addresses reserved), fewer than maxNodes ${network.maxNodes}: it needs a /${nodePrefix("IPv4", network.maxNodes)}`,
      );
  }
  return problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The overlaps between allocations inside each Location — two clusters whose ranges share an address, whatever
 * their kinds, and a cluster whose own ranges of different kinds share one — each naming both clusters and both
 * ranges, by Location, then cluster names. Allocations of different Locations never overlap.
 */
export function allocationOverlaps(allocations: readonly ClusterNetwork[]): NetworkOverlap[] {
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...allocations].sort(
    (a, b) => byName(a.location, b.location) || byName(a.cluster, b.cluster),
  );
  const ranges = (a: ClusterNetwork) =>
    rangeKinds.flatMap((kind: RangeKind) => parsed(a[kind]).map(({ block }) => ({ kind, block })));
  const overlaps: NetworkOverlap[] = [];
  for (const [i, a] of sorted.entries()) {
    const mine = ranges(a);
    for (const [j, x] of mine.entries())
      for (const y of mine.slice(j + 1))
        if (x.kind !== y.kind && cidrsOverlap(x.block, y.block))
          overlaps.push({
            location: a.location,
            a: { cluster: a.cluster, kind: x.kind, range: formatCidr(x.block) },
            b: { cluster: a.cluster, kind: y.kind, range: formatCidr(y.block) },
          });
    for (const b of sorted.slice(i + 1)) {
      if (b.location !== a.location) continue;
      for (const x of mine)
        for (const y of ranges(b))
          if (cidrsOverlap(x.block, y.block))
            overlaps.push({
              location: a.location,
              a: { cluster: a.cluster, kind: x.kind, range: formatCidr(x.block) },
              b: { cluster: b.cluster, kind: y.kind, range: formatCidr(y.block) },
            });
    }
  }
  return overlaps;
}
