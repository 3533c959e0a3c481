/**
 * Score plugins: each takes one input object about one eligible cluster and returns 0–100. A cluster's
 * total is the sum; it orders clusters when not all can be taken (spread maxGroups) and Locations when the
 * application is placed for the first time.
 */

import { tolerates } from "./filters.ts";
import type { ClusterFacts } from "./fleet-index.ts";
import type { SpreadConstraint, Toleration } from "./placement.ts";

/** FreeCapacity: replicas that fit in the cluster, relative to the roomiest eligible cluster of its Location. */
export function freeCapacity(input: { fit: number; maxFit: number }): number {
  return input.maxFit > 0 ? Math.round((100 * input.fit) / input.maxFit) : 0;
}

/** AlreadyRunning: 100 where the application runs now, so that it stays there (stability). */
export function alreadyRunning(input: { running: number }): number {
  return input.running > 0 ? 100 : 0;
}

/** TaintPreference: 0 when the cluster has a PreferNoSchedule taint the placement does not tolerate. */
export function taintPreference(input: {
  cluster: ClusterFacts;
  tolerations: readonly Toleration[];
}): number {
  return input.cluster.taints.some((t) => t.effect === "PreferNoSchedule" && !tolerates(input.tolerations, t))
    ? 0
    : 100;
}

/**
 * Spread, averaged over the placement's spread constraints: for each, what the cluster brings (`mine`)
 * relative to the best of its peers (`best`). The scheduler passes, by zone, the zones the cluster spans
 * and the most any eligible cluster of its Location spans (a cluster over three zones spreads by itself);
 * by Region, the replicas that fit in the cluster's Region and in the roomiest Region of its Location; by
 * Location, the same between Locations, or 1 and 1 when the application stays in one Location — so that
 * when maxGroups limits the groups, the roomiest are taken.
 */
export function spread(input: { mine: readonly number[]; best: readonly number[] }): number {
  let sum = 0;
  for (let k = 0; k < input.mine.length; k++) {
    const best = input.best[k]!;
    sum += best > 0 ? (100 * input.mine[k]!) / best : 0;
  }
  return Math.round(sum / Math.max(1, input.mine.length));
}

/** The one group of a cluster for spread by Location or Region. */
export function groupOf(cluster: ClusterFacts, by: "location" | "region"): string {
  return by === "location" ? cluster.location : (cluster.region ?? "(no Region)");
}

/** The groups a cluster belongs to for a spread constraint: one Location or Region, or its zones. */
export function groupsOf(cluster: ClusterFacts, by: SpreadConstraint["by"]): readonly string[] {
  if (by === "location") return [cluster.location];
  if (by === "region") return [cluster.region ?? "(no Region)"];
  return cluster.zones.length > 0 ? cluster.zones : ["(no zone)"];
}
