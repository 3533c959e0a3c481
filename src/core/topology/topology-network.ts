/**
 * The network plan of a lab topology (issue 15, docs/network-plan.md, "The lab"): each Location's NetworkPool
 * (and its Regions' pools), and every cluster's pod, service and node ranges and cluster ID, computed with the
 * network core's `allocateNetworks` — so the lab's clusters never overlap inside a Location, and `unitfleet up`
 * can write the very same plan into the hub.
 *
 * - **Pools.** A Location's optional `network` is its root NetworkPool (pods, services, nodes, clusterIds); a
 *   Region's optional `network` narrows it for the Region's clusters. A Location without `network` gets
 *   {@link defaultLabNetworkPool}. The pools are checked as the hub checks NetworkPools.
 * - **Clusters.** A cluster's optional `network` states its `maxNodes` (by default the larger of
 *   {@link defaultLabMaxNodes} and its nodes), `nodeMask`, `plannedServices`, and may pin its `clusterId` and its
 *   ranges (`pods` with `services`, and optionally `nodes`). Pinned ranges are checked as the hub checks a
 *   Cluster's `spec.network`: inside the pools, apart from every other cluster of the Location. `allowOverlap:
 *   true` lets a cluster's pinned ranges share addresses with other clusters of its Location — a cluster that
 *   predates the plan, kept to show detection; the lab starts it as written, the hub is not given its ranges.
 * - **Order and stability.** Pinned ranges and IDs are taken first. Then each cluster is allocated after the
 *   clusters listed before it, as if they had joined in topology order; existing allocations never move, so a
 *   cluster appended to the list (or added to another Location) moves no other's ranges.
 *
 * Every problem comes back at its field path in the topology. Pure.
 */
import { z } from "zod";
import { allocateNetworks, type ClusterNetwork } from "../network/allocation.ts";
import { type IpFamily, parseCidr } from "../network/cidr.ts";
import {
  type ClusterNetworkSpec,
  type ClusterWithNetwork,
  clusterNetworkProblems,
  clusterNetworkSpec,
} from "../network/cluster-network.ts";
import {
  familiesOf,
  type NetworkPoolLike,
  networkPoolConflicts,
  networkPoolSpec,
} from "../network/network-pool.ts";
import { defaultNodeMask } from "../network/sizing.ts";
import { fieldPath, type Problem, type Validated } from "../validation/problems.ts";
import { problemsFromZod } from "../validation/zod-problems.ts";
import type { Topology, TopologyCluster } from "./topology.ts";

// The topology holds the shape only; the network core checks the content (blocks, sizes, IDs) as the hub does.
const blocks = z.array(z.string()).min(1);

/** A Location's `network`: its root NetworkPool. */
export const topologyLocationNetwork = z.strictObject({
  pods: blocks.optional(),
  services: blocks.optional(),
  nodes: blocks.optional(),
  clusterIds: z.strictObject({ first: z.number(), last: z.number() }).optional(),
});

/** A Region's `network`: the Region's pool, narrowing one or more kinds of its Location's. */
export const topologyRegionNetwork = z.strictObject({
  pods: blocks.optional(),
  services: blocks.optional(),
  nodes: blocks.optional(),
});

/** A cluster's `network`: what it plans, and optionally the ranges and ID it is pinned to. */
export const topologyClusterNetwork = z.strictObject({
  maxNodes: z.number().optional(),
  nodeMask: z.strictObject({ ipv4: z.number().optional(), ipv6: z.number().optional() }).optional(),
  plannedServices: z.number().optional(),
  clusterId: z.number().optional(),
  pods: blocks.optional(),
  services: blocks.optional(),
  nodes: blocks.optional(),
  /** Pinned ranges may share addresses with other clusters of the Location (a test of detection). */
  allowOverlap: z.boolean().optional(),
});

/** The pool of a Location whose topology says nothing of its network (docs/network-plan.md, "The lab"). */
export const defaultLabNetworkPool = {
  pods: ["10.0.0.0/12"],
  services: ["10.96.0.0/16"],
  nodes: ["10.128.0.0/16"],
} as const;

/**
 * The nodes a lab cluster plans for when its topology does not say (unless it has more): a /16 of pods at /24
 * per node, as `unitfleet network plan --max-nodes` assumes.
 */
export const defaultLabMaxNodes = 256;

/** One lab cluster's place in the plan: its ranges (IPv4 first), ID, and what they were sized for. */
export interface LabClusterNetwork extends ClusterNetwork {
  clusterId: number;
  maxNodes: number;
  /** The prefix of each node's pod range, for each family of its pod ranges. */
  nodeMask: { ipv4?: number; ipv6?: number };
  plannedServices?: number;
  /** Its pinned ranges may overlap other clusters' of its Location: the hub's plan holds no ranges for it. */
  allowOverlap: boolean;
}

/** A topology's network plan. */
export interface TopologyNetworkPlan {
  /** The NetworkPools: each Location's root, then its Regions' pools, in topology order. */
  pools: NetworkPoolLike[];
  /** Every cluster's allocation, in topology order. */
  clusters: LabClusterNetwork[];
}

/** A pool and where the topology writes it. */
interface PlacedPool {
  pool: NetworkPoolLike;
  path: Array<string | number>;
}

/** The NetworkPools a topology gives its Locations (a default one where it gives none) and Regions. */
function topologyPools(topology: Topology): PlacedPool[] {
  return topology.spec.locations.flatMap((location, li) => {
    const root: PlacedPool = {
      pool: {
        metadata: { name: location.name },
        spec: {
          location: location.name,
          ...structuredClone(location.network ?? defaultLabNetworkPool),
        } as NetworkPoolLike["spec"],
      },
      path: ["spec", "locations", li, "network"],
    };
    const children = (location.regions ?? []).flatMap((region, ri): PlacedPool[] =>
      region.network
        ? [
            {
              pool: {
                metadata: { name: region.name },
                spec: {
                  location: location.name,
                  region: region.name,
                  ...structuredClone(region.network),
                } as NetworkPoolLike["spec"],
              },
              path: ["spec", "locations", li, "regions", ri, "network"],
            },
          ]
        : [],
    );
    return [root, ...children];
  });
}

/** The nodes a cluster plans for: its `network.maxNodes`, or the larger of the default and its nodes. */
export function labMaxNodes(cluster: TopologyCluster): number {
  return (
    cluster.network?.maxNodes ??
    Math.max(
      defaultLabMaxNodes,
      cluster.nodePools.reduce((sum, pool) => sum + pool.count, 0),
    )
  );
}

/** A cluster's `network` as a Cluster's `spec.network` (pinned ranges and ID included), maxNodes filled in. */
function pinnedSpec(cluster: TopologyCluster): Record<string, unknown> {
  const { allowOverlap: _, ...network } = cluster.network ?? {};
  return { ...network, maxNodes: labMaxNodes(cluster) };
}

/** Moves problems at `from…` (a NetworkPool's `spec…`, a Cluster's `spec.network…`) to `to…` in the topology. */
function rebased(problems: readonly Problem[], from: string, to: Array<string | number>): Problem[] {
  return problems.map((p) => ({
    path: `${fieldPath(to)}${p.path.startsWith(from) ? p.path.slice(from.length) : ""}`,
    message: p.message,
  }));
}

/** Moves a problem of `allocateNetworks` (`requests[0]…`, `existingAllocations[i]…`) to its cluster. */
function allocationProblem(p: Problem, clusterPath: (name: string) => Array<string | number>, name: string) {
  const match = /^(?:requests|existingAllocations)\[\d+\](.*)$/.exec(p.path);
  const rest = match?.[1] ?? "";
  return {
    path: rest ? `${fieldPath([...clusterPath(name), "network"])}${rest}` : fieldPath(clusterPath(name)),
    message: p.message,
  };
}

const byFamily = (a: string, b: string) => {
  const family = (text: string): IpFamily => {
    const parsed = parseCidr(text);
    return parsed.ok ? parsed.cidr.family : "IPv4";
  };
  return family(a) === family(b) ? 0 : family(a) === "IPv4" ? -1 : 1;
};

/**
 * The network plan of a topology whose shape and references are valid (see the module comment), or every
 * problem of its `network` sections at their field paths.
 */
export function planTopologyNetwork(topology: Topology): Validated<TopologyNetworkPlan> {
  const problems: Problem[] = [];
  const placed = topologyPools(topology);
  const pools = placed.map((p) => p.pool);
  const clusterIndex = new Map(topology.spec.clusters.map((c, i) => [c.name, i]));
  const clusterPath = (name: string) => ["spec", "clusters", clusterIndex.get(name) ?? 0];

  // The pools, as the hub checks NetworkPools.
  const locationNames = new Set(topology.spec.locations.map((l) => l.name));
  for (const { pool, path } of placed) {
    const parsed = networkPoolSpec.safeParse(pool.spec);
    if (!parsed.success) {
      problems.push(...problemsFromZod(parsed.error, path));
      continue;
    }
    problems.push(...rebased(networkPoolConflicts(pool, pools), "spec", path));
    if (pool.spec.region !== undefined && locationNames.has(pool.spec.region))
      problems.push({
        path: fieldPath([...path.slice(0, -1), "name"]),
        message: `a Region's NetworkPool is named after the Region, and Location "${pool.spec.region}" already names one`,
      });
    if (pool.spec.region === undefined && !familiesOf(pool.spec.services ?? []).includes("IPv4"))
      problems.push({
        path: fieldPath([...path, "services"]),
        message:
          "the lab's API servers advertise 127.0.0.1, so a Location's service ranges need an IPv4 block (IPv6 may come beside it)",
      });
  }

  // The clusters' own sections: what they plan, and their pinned ranges and IDs, as the hub checks spec.network.
  const specs = new Map<string, ClusterNetworkSpec>();
  topology.spec.clusters.forEach((cluster, ci) => {
    const parsed = clusterNetworkSpec.safeParse(pinnedSpec(cluster));
    if (parsed.success) specs.set(cluster.name, parsed.data);
    else problems.push(...problemsFromZod(parsed.error, ["spec", "clusters", ci, "network"]));
  });
  if (problems.length) return { ok: false, problems };

  const pinned = topology.spec.clusters.filter(
    (c) => c.network?.pods !== undefined || c.network?.clusterId !== undefined,
  );
  const asCluster = (c: TopologyCluster, withRanges: boolean): ClusterWithNetwork => {
    const spec = specs.get(c.name)!;
    const network: ClusterNetworkSpec = withRanges
      ? spec
      : {
          maxNodes: spec.maxNodes,
          ...(spec.clusterId !== undefined ? { clusterId: spec.clusterId } : {}),
        };
    return {
      metadata: { name: c.name },
      spec: { location: c.location, ...(c.region !== undefined ? { region: c.region } : {}), network },
    };
  };
  for (const cluster of pinned) {
    // Overlaps a cluster's allowOverlap permits are left out on both sides; IDs are always checked.
    const others = pinned
      .filter((o) => o !== cluster && o.location === cluster.location)
      .map((o) => asCluster(o, !cluster.network?.allowOverlap && !o.network?.allowOverlap));
    const found = clusterNetworkProblems(asCluster(cluster, true), {
      pools: pools.filter((p) => p.spec.location === cluster.location),
      retiredIds: [],
      clusters: others,
      now: 0,
    });
    problems.push(...rebased(found, "spec.network", [...clusterPath(cluster.name), "network"]));
  }
  if (problems.length) return { ok: false, problems };

  // Pinned ranges and IDs first, then each cluster in topology order after those before it.
  let allocations: ClusterNetwork[] = pinned.map((c) => {
    const spec = specs.get(c.name)!;
    return {
      cluster: c.name,
      location: c.location,
      ...(c.region !== undefined ? { region: c.region } : {}),
      ...(spec.clusterId !== undefined ? { clusterId: spec.clusterId } : {}),
      pods: spec.pods ?? [],
      services: spec.services ?? [],
      nodes: spec.nodes ?? [],
    };
  });
  for (const cluster of topology.spec.clusters) {
    const spec = specs.get(cluster.name)!;
    const request = {
      cluster: cluster.name,
      location: cluster.location,
      ...(cluster.region !== undefined ? { region: cluster.region } : {}),
      maxNodes: spec.maxNodes,
      ...(spec.nodeMask ? { nodeMask: spec.nodeMask } : {}),
      ...(spec.plannedServices !== undefined ? { plannedServices: spec.plannedServices } : {}),
      ...(spec.clusterId !== undefined ? { clusterId: spec.clusterId } : {}),
    };
    const result = allocateNetworks(pools, allocations, [request], [], 0);
    if (result.ok) allocations = result.allocations;
    else problems.push(...result.problems.map((p) => allocationProblem(p, clusterPath, cluster.name)));
  }
  if (problems.length) return { ok: false, problems };

  const byName = new Map(allocations.map((a) => [a.cluster, a]));
  return {
    ok: true,
    value: {
      pools,
      clusters: topology.spec.clusters.map((cluster) => {
        const allocation = byName.get(cluster.name)!;
        const spec = specs.get(cluster.name)!;
        const families = familiesOf(allocation.pods);
        const nodeMask = Object.fromEntries(
          families.map((f) => {
            const key = f === "IPv4" ? "ipv4" : "ipv6";
            return [key, spec.nodeMask?.[key] ?? defaultNodeMask[f]];
          }),
        ) as LabClusterNetwork["nodeMask"];
        return {
          cluster: cluster.name,
          location: cluster.location,
          ...(cluster.region !== undefined ? { region: cluster.region } : {}),
          clusterId: allocation.clusterId!,
          pods: [...allocation.pods].sort(byFamily),
          services: [...allocation.services].sort(byFamily),
          nodes: [...allocation.nodes].sort(byFamily),
          nodeMask,
          maxNodes: spec.maxNodes,
          ...(spec.plannedServices !== undefined ? { plannedServices: spec.plannedServices } : {}),
          allowOverlap: cluster.network?.allowOverlap === true,
        };
      }),
    },
  };
}

/**
 * A lab cluster's plan as the hub's Cluster `spec.network`: what it plans and the ranges and ID it holds — or,
 * for a cluster whose ranges may overlap (`allowOverlap`), only what it plans: the hub refuses overlapping
 * allocations, so that cluster stays a request whose real ranges only its agent's reports show.
 */
export function clusterNetworkSpecOf(plan: LabClusterNetwork): ClusterNetworkSpec {
  const planned = {
    maxNodes: plan.maxNodes,
    nodeMask: plan.nodeMask,
    ...(plan.plannedServices !== undefined ? { plannedServices: plan.plannedServices } : {}),
  };
  if (plan.allowOverlap) return planned;
  return {
    ...planned,
    clusterId: plan.clusterId,
    pods: plan.pods,
    services: plan.services,
    ...(plan.nodes.length ? { nodes: plan.nodes } : {}),
  };
}
