/**
 * Retired cluster IDs (issue 15, docs/network-plan.md): when a Cluster that holds a cluster ID is deleted (or
 * gives its ID up), the ID is written with the time into its Location's root NetworkPool,
 * `status.retiredClusterIds`, and stays out of use until `retiredAt + retiredIdQuarantine` — a peer that still
 * caches the old cluster's identities must not see them reused. Entries whose quarantine has ended are dropped
 * when the list is next written, so it never grows past the IDs of one quarantine period.
 */
import type { RetiredClusterId } from "./allocation.ts";
import { type NetworkPoolLike, poolIdRules } from "./network-pool.ts";

/** One retired ID as the root pool's status holds it (the Location is the pool's). */
export interface RetiredClusterIdEntry {
  clusterId: number;
  /** The cluster that held it. */
  cluster: string;
  /** RFC 3339, to the second. */
  retiredAt: string;
}

/** What the hub keeps in a NetworkPool's status. */
export interface NetworkPoolStatus {
  /** IDs given up by deleted clusters of the Location (root pool only), still in quarantine when written. */
  retiredClusterIds?: RetiredClusterIdEntry[];
}

/** A NetworkPool with the status the hub keeps. */
export interface NetworkPoolWithStatus extends NetworkPoolLike {
  status?: NetworkPoolStatus;
}

/** The cluster ID a Cluster gives up in a change (deleted, its ID removed or changed, or moved), if any. */
export function clusterIdGivenUp(
  before: { spec: { location: string; network?: { clusterId?: number } } } | undefined,
  after: { spec: { location: string; network?: { clusterId?: number } } } | undefined,
): { location: string; clusterId: number } | undefined {
  const id = before?.spec.network?.clusterId;
  if (!before || id === undefined) return undefined;
  if (after && after.spec.location === before.spec.location && after.spec.network?.clusterId === id)
    return undefined;
  return { location: before.spec.location, clusterId: id };
}

/**
 * The root pool's retired IDs after `cluster` gives up `clusterId` at `now`: the entries still in quarantine,
 * and the new one, oldest first.
 */
export function withRetiredClusterId(
  root: NetworkPoolWithStatus,
  retired: { clusterId: number; cluster: string },
  now: Date,
): RetiredClusterIdEntry[] {
  const { quarantineMs } = poolIdRules(root);
  const kept = (root.status?.retiredClusterIds ?? []).filter(
    (entry) => Date.parse(entry.retiredAt) + quarantineMs > now.getTime(),
  );
  const retiredAt = now.toISOString().replace(/\.\d+Z$/, "Z");
  return [...kept, { clusterId: retired.clusterId, cluster: retired.cluster, retiredAt }];
}

/** The retired IDs the root pools of `pools` hold, as the allocation takes them. */
export function retiredIdsOf(pools: readonly NetworkPoolWithStatus[]): RetiredClusterId[] {
  return pools
    .filter((pool) => pool.spec.region === undefined)
    .flatMap((pool) =>
      (pool.status?.retiredClusterIds ?? []).map((entry) => ({ location: pool.spec.location, ...entry })),
    );
}
