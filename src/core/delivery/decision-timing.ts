/**
 * When time alone changes a placement's decision. The scheduler's Health filter turns on two clocks per cluster
 * (core/scheduling/filters.ts): a cluster not ready holds its replicas until its failover tolerance has passed,
 * and a cluster ready again gets new replicas only after its stable period. A controller that reconciles on
 * changes must also reconcile when one of those clocks runs out, and need not otherwise.
 */
import { defaultFailover, type PlacementSpec } from "../scheduling/placement.ts";
import { type ClusterFacts, placementSelects } from "../scheduling/scheduler.ts";

/**
 * The soonest time after `now` (ms) when a cluster the placement selects crosses its tolerance or its stable
 * period, so that scheduling again may decide otherwise; undefined when no clock runs.
 */
export function nextTimedDecision(
  placement: PlacementSpec,
  fleet: readonly ClusterFacts[],
  now: number,
): number | undefined {
  const failover = placement.failover ?? defaultFailover;
  let next: number | undefined;
  for (const cluster of fleet) {
    const window = cluster.health.ready ? failover.stableSeconds : failover.toleranceSeconds;
    // The filter compares strictly (age > tolerance): the decision changes just after the window ends.
    const ends = cluster.health.since + window * 1000 + 1;
    if (ends <= now || (next !== undefined && ends >= next)) continue;
    if (placementSelects(placement, cluster)) next = ends;
  }
  return next;
}
