/**
 * The health loop (one replica, under a lease): turns heartbeats into each Cluster's `Reachable` and `Ready`
 * conditions, writing only when a condition changes, or when `status.lastHeartbeatTime` is older than the
 * report interval (heartbeats themselves are not resource events: ADR 0009).
 */
import {
  clusterConditions,
  conditionsChanged,
  defaultHeartbeatReportMs,
  heartbeatReportDue,
} from "../../core/health/cluster-conditions.ts";
import { type ClusterStatus, kinds } from "../../core/resources/kinds.ts";
import type { ResourceStore } from "../../store/resource-store.ts";
import type { Sql } from "../../store/sql.ts";
import { systemCaller } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";

/**
 * One pass of the health loop at `now`; answers how many Clusters it wrote. `heartbeatReportMs` is how stale
 * `status.lastHeartbeatTime` may get while heartbeats arrive (default 60 s).
 */
export async function updateClusterHealth(
  sql: Sql,
  store: ResourceStore,
  registry: Registry,
  now: Date,
  graceMs: number,
  heartbeatReportMs: number = defaultHeartbeatReportMs,
): Promise<number> {
  const beats = new Map(
    (
      await sql.query<{ cluster: string; at: string }>("select cluster, at::text from cluster_heartbeats")
    ).map((r) => [r.cluster, new Date(r.at)]),
  );
  let changed = 0;
  for (const cluster of (await store.list("Cluster")).items) {
    const status = (cluster.status ?? {}) as ClusterStatus;
    const current = status.conditions ?? [];
    const last = beats.get(cluster.metadata.name);
    const next = clusterConditions({ now, lastHeartbeat: last, nodes: status.nodes, current, graceMs });
    if (
      !conditionsChanged(current, next) &&
      !heartbeatReportDue(status.lastHeartbeatTime, last, heartbeatReportMs)
    )
      continue;
    // When a Ready cluster stops being Ready, say when: delivery waits a stable period after such a failure
    // before giving the cluster new work; a cluster that never failed needs no wait.
    const wasReady = current.some((c) => c.type === "Ready" && c.status === "True");
    const isReady = next.some((c) => c.type === "Ready" && c.status === "True");
    await registry.mergeStatus(
      kinds.Cluster,
      cluster.metadata.name,
      {
        conditions: next,
        ...(last ? { lastHeartbeatTime: last.toISOString() } : {}),
        ...(wasReady && !isReady ? { lastNotReadyTime: now.toISOString() } : {}),
      },
      systemCaller,
    );
    changed += 1;
  }
  return changed;
}
