/**
 * The network plan's allocation (issue 15, docs/network-plan.md): each cluster's pod, service and node ranges
 * and its cluster ID, from its Location's NetworkPools.
 *
 * - **Deterministic**: the same pools, allocations, requests and retired IDs give the same answer whatever the
 *   order of the lists. New ranges are placed kind by kind, family by family, largest first, then by cluster
 *   name, each at the lowest free aligned place of its pool's blocks (in the order the pool lists them); new IDs
 *   go to clusters in name order, each the lowest free one (IDs a request pins go first).
 * - **Stable**: an existing allocation never moves, and adding a cluster never moves another. A request for a
 *   cluster that has an allocation keeps it; only a family it lacks (a pool made dual-stack) or a missing ID is
 *   added. An existing pod range too small for the request's maxNodes is refused, not moved.
 * - **Disjoint inside a Location**: no new range shares an address with any range of the Location's clusters,
 *   of any kind. A Region's pool serves its Region's clusters; the Location's pool serves the others, around
 *   the Regions' blocks. Across Locations ranges may repeat.
 * - **IDs** are unique per Location, within the root pool's range; a retired ID stays out of use until its
 *   quarantine ends (`retiredAt` + the pool's `retiredIdQuarantine` ≤ `now`).
 *
 * All or nothing: any problem (a bad pool, an exhausted pool naming what was asked, a size no block can hold)
 * refuses the whole call, every problem listed with its field path in the call's inputs.
 */
import { fieldPath, type Problem } from "../validation/problems.ts";
import { problemsFromZod } from "../validation/zod-problems.ts";
import { type Cidr, firstFreeBlock, formatCidr, type IpFamily, parseCidr } from "./cidr.ts";
import { type ClusterNetworkRequest, clusterNetworkRequest } from "./cluster-request.ts";
import {
  familiesOf,
  type NetworkPoolLike,
  networkPoolConflicts,
  networkPoolSpec,
  poolBlocks,
  poolIdRules,
  type RangeKind,
  rangeKinds,
} from "./network-pool.ts";
import { defaultNodeMask, nodeCapacity, nodePrefix, podPrefix, servicePrefix } from "./sizing.ts";

/** A cluster's place in the network plan: its ranges of each kind (one per family, or as imported) and its ID. */
export interface ClusterNetwork {
  cluster: string;
  location: string;
  region?: string;
  /** Unique in its Location; absent for an imported cluster that has none yet. */
  clusterId?: number;
  pods: string[];
  services: string[];
  nodes: string[];
  /** The prefix of each node's pod range (kube-controller-manager's `--node-cidr-mask-size`), by family. */
  nodeMask?: { ipv4?: number; ipv6?: number };
}

/** A cluster ID given up when its cluster was retired, and when. */
export interface RetiredClusterId {
  location: string;
  clusterId: number;
  /** The cluster that held it, for messages. */
  cluster: string;
  /** RFC 3339. */
  retiredAt: string;
}

/** Why a cluster got what it got: one line per range or ID given in this call. */
export interface AllocationExplanation {
  cluster: string;
  lines: string[];
}

export type NetworkAllocation =
  | {
      ok: true;
      /** Every cluster's allocation, existing and new, by Location then cluster name. */
      allocations: ClusterNetwork[];
      /** The clusters given something in this call, by Location then cluster name. */
      explanations: AllocationExplanation[];
    }
  | { ok: false; problems: Problem[] };

const maskKey = (family: IpFamily) => (family === "IPv4" ? "ipv4" : "ipv6");
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface IndexedRequest {
  request: ClusterNetworkRequest;
  index: number;
}

/** Where ranges of one kind come from for one Region: a pool's blocks, and blocks kept for Regions' pools. */
interface RangeSource {
  pool: NetworkPoolLike;
  blocks: Cidr[];
  reserved: Cidr[];
}

const poolName = (pool: NetworkPoolLike) => `NetworkPool "${pool.metadata.name}"`;

/**
 * Allocates each requested cluster's ranges and ID (see the module comment). `now` is milliseconds since the
 * epoch. Pools are checked (schema and conflicts); allocations are trusted to be what the plan holds, and an
 * allocation whose ranges do not parse is refused.
 */
export function allocateNetworks(
  pools: readonly NetworkPoolLike[],
  existingAllocations: readonly ClusterNetwork[],
  requests: readonly unknown[],
  retiredIds: readonly RetiredClusterId[],
  now: number,
): NetworkAllocation {
  const problems: Problem[] = [];
  const at = (segments: Array<string | number>, message: string) =>
    problems.push({ path: fieldPath(segments), message });

  pools.forEach((pool, i) => {
    const parsed = networkPoolSpec.safeParse(pool.spec);
    if (!parsed.success) {
      problems.push(...problemsFromZod(parsed.error, ["pools", i, "spec"]));
      return;
    }
    if (pools.some((other, j) => j !== i && other.metadata.name === pool.metadata.name))
      at(["pools", i, "metadata", "name"], `two pools are named "${pool.metadata.name}"`);
    for (const p of networkPoolConflicts(pool, pools))
      problems.push({ path: `pools[${i}].${p.path}`, message: p.message });
  });

  const valid: IndexedRequest[] = [];
  requests.forEach((input, index) => {
    const parsed = clusterNetworkRequest.safeParse(input);
    if (parsed.success) valid.push({ request: parsed.data, index });
    else problems.push(...problemsFromZod(parsed.error, ["requests", index]));
  });
  for (const { request, index } of valid) {
    const twins = valid.filter((v) => v.request.cluster === request.cluster && v.index !== index);
    if (twins.length)
      at(
        ["requests", index, "cluster"],
        `"${request.cluster}" is requested more than once (also requests[${twins.map((t) => t.index).join("], requests[")}])`,
      );
  }

  const existingByCluster = new Map<string, ClusterNetwork>();
  existingAllocations.forEach((allocation, i) => {
    if (existingByCluster.has(allocation.cluster))
      at(["existingAllocations", i, "cluster"], `"${allocation.cluster}" has more than one allocation`);
    existingByCluster.set(allocation.cluster, allocation);
    for (const kind of rangeKinds)
      allocation[kind].forEach((text, j) => {
        const parsed = parseCidr(text);
        if (!parsed.ok) at(["existingAllocations", i, kind, j], parsed.reason);
      });
  });

  const retiredAt = retiredIds.map((retired, i) => {
    const ms = Date.parse(retired.retiredAt);
    if (Number.isNaN(ms))
      at(["retiredIds", i, "retiredAt"], `"${retired.retiredAt}" is not an RFC 3339 time`);
    return ms;
  });

  if (problems.length) return { ok: false, problems: sortProblems(problems) };

  const allocations = new Map<string, ClusterNetwork>(
    existingAllocations.map((a) => [a.cluster, structuredClone(a)]),
  );
  const explanations = new Map<string, string[]>();
  const explain = (cluster: string, line: string) => {
    const lines = explanations.get(cluster) ?? [];
    lines.push(line);
    explanations.set(cluster, lines);
  };

  const locations = [...new Set(valid.map((v) => v.request.location))].sort(byName);
  for (const location of locations) {
    const here = valid
      .filter((v) => v.request.location === location)
      .sort((a, b) => byName(a.request.cluster, b.request.cluster));
    const root = pools.find((p) => p.spec.location === location && p.spec.region === undefined);
    if (!root) {
      for (const { index } of here)
        at(
          ["requests", index, "location"],
          `Location "${location}" has no NetworkPool: create its pool first`,
        );
      continue;
    }
    const children = pools.filter((p) => p.spec.location === location && p.spec.region !== undefined);
    const inLocation = () => [...allocations.values()].filter((a) => a.location === location);
    const used: Cidr[] = inLocation().flatMap((a) => rangeKinds.flatMap((kind) => a[kind].map(cidrOf)));

    for (const { request, index } of here) {
      const existing = existingByCluster.get(request.cluster);
      if (existing && existing.location !== location)
        at(
          ["requests", index, "location"],
          `cluster "${request.cluster}" is allocated in Location "${existing.location}": a cluster never changes Location (retire it and plan a new one)`,
        );
      if (!allocations.has(request.cluster))
        allocations.set(request.cluster, {
          cluster: request.cluster,
          location,
          ...(request.region !== undefined ? { region: request.region } : {}),
          pods: [],
          services: [],
          nodes: [],
        });
    }
    if (problems.length) continue;

    const sourceFor = (kind: RangeKind, region: string | undefined): RangeSource => {
      const child = children.find((c) => c.spec.region === region);
      if (child?.spec[kind])
        return { pool: child, blocks: poolBlocks(child, kind).map((b) => b.block), reserved: [] };
      return {
        pool: root,
        blocks: poolBlocks(root, kind).map((b) => b.block),
        reserved: children.flatMap((c) => rangeKinds.flatMap((k) => poolBlocks(c, k).map((b) => b.block))),
      };
    };

    // Existing ranges must hold what the request plans: they never move.
    for (const { request, index } of here) {
      const current = allocations.get(request.cluster)!;
      for (const family of familiesOf(current.pods)) {
        const mask = request.nodeMask?.[maskKey(family)] ?? defaultNodeMask[family];
        const ranges = current.pods.map(cidrOf).filter((c) => c.family === family);
        const holds = nodeCapacity(ranges, mask);
        if (holds < request.maxNodes)
          at(
            ["requests", index, "maxNodes"],
            `cluster "${request.cluster}" has pods ${ranges.map(formatCidr).join(", ")} (${family}), which hold ${holds} nodes at /${mask} per node; ${request.maxNodes} need a /${podPrefix(request.maxNodes, mask)}. Allocations never move: lower maxNodes, or plan a new cluster`,
          );
      }
      const planned = request.plannedServices ?? 0;
      const ipv4Services = current.services.map(cidrOf).filter((c) => c.family === "IPv4");
      if (ipv4Services.length) {
        const ranges = ipv4Services;
        const addresses = ranges.reduce((sum, c) => sum + 2 ** (32 - c.prefix), 0);
        if (addresses < planned)
          at(
            ["requests", index, "plannedServices"],
            `cluster "${request.cluster}" has services ${ranges.map(formatCidr).join(", ")}, which hold ${addresses} addresses, fewer than the ${planned} Services planned. Allocations never move`,
          );
      }
    }

    // Ranges, kind by kind and family by family, largest first, then by name.
    for (const kind of rangeKinds) {
      const tasks: Array<{
        request: ClusterNetworkRequest;
        index: number;
        family: IpFamily;
        prefix: number;
        source: RangeSource;
      }> = [];
      for (const { request, index } of here) {
        const source = sourceFor(kind, request.region);
        const current = allocations.get(request.cluster)!;
        const have = new Set(familiesOf(current[kind]));
        for (const family of familiesOf(source.blocks.map(formatCidr))) {
          if (have.has(family)) continue;
          const prefix = sizeFor(kind, family, request);
          if (prefix === undefined) {
            at(
              ["requests", index, "plannedServices"],
              `${request.plannedServices} Services need more than kube-apiserver's largest service range (${family === "IPv4" ? "/12" : "/108"}): split the cluster`,
            );
            continue;
          }
          tasks.push({ request, index, family, prefix, source });
        }
      }
      tasks.sort(
        (a, b) =>
          byName(a.family, b.family) || a.prefix - b.prefix || byName(a.request.cluster, b.request.cluster),
      );
      for (const { request, index, family, prefix, source } of tasks) {
        const blocks = source.blocks.filter((b) => b.family === family);
        const what = askedFor(kind, family, prefix, request);
        if (!blocks.some((b) => b.prefix <= prefix)) {
          const maskGiven = kind === "pods" && request.nodeMask?.[maskKey(family)] !== undefined;
          at(
            [
              "requests",
              index,
              ...(kind === "pods"
                ? maskGiven
                  ? ["nodeMask", maskKey(family)]
                  : ["maxNodes"]
                : kind === "services"
                  ? ["plannedServices"]
                  : ["maxNodes"]),
            ],
            `${what} is larger than every ${kind} block of ${poolName(source.pool)} (${blocks.map(formatCidr).join(", ")})${kind === "pods" ? ": lower maxNodes, use a longer node mask (fewer pods per node), or give the pool a larger block" : ": give the pool a larger block"}`,
          );
          continue;
        }
        const blockers = [...used, ...source.reserved];
        let placed: Cidr | undefined;
        let from: Cidr | undefined;
        for (const block of blocks) {
          placed = firstFreeBlock(block, prefix, blockers);
          if (placed) {
            from = block;
            break;
          }
        }
        if (!placed || !from) {
          at(
            ["requests", index],
            `${poolName(source.pool)} is exhausted: no free ${what} in its ${kind} blocks ${blocks.map(formatCidr).join(", ")}`,
          );
          continue;
        }
        used.push(placed);
        const current = allocations.get(request.cluster)!;
        current[kind].push(formatCidr(placed));
        if (kind === "pods") {
          const mask = request.nodeMask?.[maskKey(family)] ?? defaultNodeMask[family];
          current.nodeMask = { ...current.nodeMask, [maskKey(family)]: mask };
        }
        explain(
          request.cluster,
          `${kind} ${family} ${formatCidr(placed)}: ${what}, from ${poolName(source.pool)} block ${formatCidr(from)}`,
        );
      }
    }

    // Cluster IDs: pinned first, then the lowest free one, in name order.
    const rules = poolIdRules(root);
    const taken = new Map<number, string>();
    for (const a of inLocation()) if (a.clusterId !== undefined) taken.set(a.clusterId, a.cluster);
    const quarantined = new Map<number, { cluster: string; until: number }>();
    retiredIds.forEach((retired, i) => {
      if (retired.location !== location) return;
      const until = retiredAt[i]! + rules.quarantineMs;
      const held = quarantined.get(retired.clusterId);
      if (until > now && (!held || held.until < until))
        quarantined.set(retired.clusterId, { cluster: retired.cluster, until });
    });
    const pinned = here.filter((h) => h.request.clusterId !== undefined);
    const unpinned = here.filter((h) => h.request.clusterId === undefined);
    for (const { request, index } of pinned) {
      const id = request.clusterId!;
      const current = allocations.get(request.cluster)!;
      const path = ["requests", index, "clusterId"];
      if (current.clusterId !== undefined) {
        if (current.clusterId !== id)
          at(path, `cluster "${request.cluster}" has cluster ID ${current.clusterId}; an ID never changes`);
        continue;
      }
      const holder = taken.get(id);
      const retired = quarantined.get(id);
      if (id < rules.first || id > rules.last)
        at(path, `${id} is outside the cluster IDs of ${poolName(root)} (${rules.first}..${rules.last})`);
      else if (holder !== undefined)
        at(path, `cluster ID ${id} is taken by cluster "${holder}" in Location "${location}"`);
      else if (retired)
        at(
          path,
          `cluster ID ${id} was retired with cluster "${retired.cluster}" and is quarantined until ${new Date(retired.until).toISOString()}`,
        );
      else {
        taken.set(id, request.cluster);
        current.clusterId = id;
        explain(request.cluster, `cluster ID ${id}: as requested`);
      }
    }
    for (const { request, index } of unpinned) {
      const current = allocations.get(request.cluster)!;
      if (current.clusterId !== undefined) continue;
      let id = rules.first;
      while (id <= rules.last && (taken.has(id) || quarantined.has(id))) id++;
      if (id > rules.last) {
        const resting = [...quarantined.keys()].filter(
          (q) => q >= rules.first && q <= rules.last && !taken.has(q),
        );
        at(
          ["requests", index],
          `${poolName(root)} is exhausted: no free cluster ID in ${rules.first}..${rules.last} for cluster "${request.cluster}" (${taken.size} taken${resting.length ? `, ${resting.length} quarantined` : ""})`,
        );
        continue;
      }
      taken.set(id, request.cluster);
      current.clusterId = id;
      const skipped = [...quarantined.keys()].filter((q) => q < id && !taken.has(q)).length;
      explain(
        request.cluster,
        `cluster ID ${id}: the lowest free in ${rules.first}..${rules.last}${skipped ? ` (${skipped} lower ones quarantined)` : ""}`,
      );
    }
  }

  if (problems.length) return { ok: false, problems: sortProblems(problems) };
  const ordered = [...allocations.values()].sort(
    (a, b) => byName(a.location, b.location) || byName(a.cluster, b.cluster),
  );
  return {
    ok: true,
    allocations: ordered,
    explanations: ordered
      .filter((a) => explanations.has(a.cluster))
      .map((a) => ({ cluster: a.cluster, lines: explanations.get(a.cluster)! })),
  };
}

function cidrOf(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`an invalid range reached the allocation: ${parsed.reason}`);
  return parsed.cidr;
}

function sizeFor(kind: RangeKind, family: IpFamily, request: ClusterNetworkRequest): number | undefined {
  if (kind === "pods")
    return podPrefix(request.maxNodes, request.nodeMask?.[maskKey(family)] ?? defaultNodeMask[family]);
  if (kind === "services") return servicePrefix(family, request.plannedServices ?? 0);
  return nodePrefix(family, request.maxNodes);
}

/** What was asked, in words: `a /15 for the pods (IPv4) of cluster "x" (500 nodes at /24 per node)`. */
function askedFor(kind: RangeKind, family: IpFamily, prefix: number, request: ClusterNetworkRequest): string {
  const why =
    kind === "pods"
      ? `${request.maxNodes} nodes at /${request.nodeMask?.[maskKey(family)] ?? defaultNodeMask[family]} per node`
      : kind === "services"
        ? `${request.plannedServices ?? 0} planned Services`
        : `${request.maxNodes} nodes`;
  return `/${prefix} for the ${kind} (${family}) of cluster "${request.cluster}" (${why})`;
}

function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => byName(a.path, b.path) || byName(a.message, b.message));
}
