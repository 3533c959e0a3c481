/**
 * Retiring a cluster ID inside the write that gives it up (issue 15): when a Cluster holding `spec.network.clusterId`
 * is deleted, or its ID is removed or changed, the ID is written with the time into its Location's root NetworkPool
 * (`status.retiredClusterIds`), in the same transaction, so that the hub and `unitfleet network plan` keep it out of
 * use until the pool's quarantine ends (core/network/cluster-id-retirement.ts).
 */
import {
  clusterIdGivenUp,
  type NetworkPoolWithStatus,
  withRetiredClusterId,
} from "../../core/network/cluster-id-retirement.ts";
import type { ClusterNetworkSpec } from "../../core/network/cluster-network.ts";
import type { StoredObject, WriteTransaction } from "../../store/resource-store.ts";

type ClusterSpecPart = { location: string; network?: ClusterNetworkSpec };

/**
 * Writes the ID a Cluster gives up between `before` and `after` (undefined: deleted) into its Location's root
 * pool; returns the pool before and after, or undefined when no ID was given up or the Location has no pool
 * (no pool hands out IDs there: nothing to keep out of use).
 */
export async function retireClusterId(
  tx: WriteTransaction,
  before: StoredObject | undefined,
  after: StoredObject | undefined,
  now: Date,
): Promise<{ before: StoredObject; after: StoredObject } | undefined> {
  if (before?.kind !== "Cluster") return undefined;
  const cluster = (object: StoredObject | undefined) =>
    object ? { spec: object.spec as ClusterSpecPart } : undefined;
  const given = clusterIdGivenUp(cluster(before), cluster(after));
  if (!given) return undefined;
  const root = (await tx.list("NetworkPool")).find((pool) => {
    const spec = pool.spec as NetworkPoolWithStatus["spec"];
    return spec.location === given.location && spec.region === undefined;
  });
  if (!root) return undefined;
  const retiredClusterIds = withRetiredClusterId(
    root as unknown as NetworkPoolWithStatus,
    { clusterId: given.clusterId, cluster: before.metadata.name },
    now,
  );
  const status = { ...((root.status as Record<string, unknown> | undefined) ?? {}), retiredClusterIds };
  const stored = await tx.put(
    "NetworkPool",
    { ...root, status } as StoredObject,
    (root.metadata.labels ?? {}) as Record<string, string>,
  );
  return { before: root, after: stored };
}
