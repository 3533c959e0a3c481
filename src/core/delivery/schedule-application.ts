/**
 * Schedules one Application on the fleet as the registry describes it: the same computation for the delivery
 * controller and for `unitfleet explain application`, so that the explanation is the decision.
 */
import type { Application, Cluster } from "../resources/kinds.ts";
import type { PlacementSpec } from "../scheduling/placement.ts";
import { type Assignment, type ClusterFacts, type Outcome, schedule } from "../scheduling/scheduler.ts";
import type { Manifest } from "./application.ts";
import { demandOf } from "./demand.ts";
import { clusterFacts } from "./fleet-facts.ts";

/** Where the Application runs now, as its status records it. */
export function currentAssignments(app: Application): Assignment[] {
  return (app.status?.placement?.clusters ?? []).map((c) => ({ cluster: c.name, replicas: c.replicas }));
}

export function factsOf(clusters: readonly Cluster[], now: number): ClusterFacts[] {
  return clusters.map((c) => clusterFacts(c, now));
}

export function scheduleApplication(
  app: Application,
  placement: PlacementSpec,
  fleet: readonly ClusterFacts[],
  now: number,
  trace: "all" | "placed",
): Outcome {
  const demand = demandOf(app.spec.manifests as Manifest[]);
  const previous = currentAssignments(app);
  // The application's own replicas count in a cluster's requests: give them back to it.
  const running = new Map(previous.map((p) => [p.cluster, p.replicas]));
  const adjusted = fleet.map((c) => {
    const n = running.get(c.name) ?? 0;
    return n === 0
      ? c
      : {
          ...c,
          free: {
            cpuMilli: c.free.cpuMilli + n * demand.perReplica.cpuMilli,
            memoryBytes: c.free.memoryBytes + n * demand.perReplica.memoryBytes,
            pods: c.free.pods + n * demand.perReplica.pods,
          },
        };
  });
  return schedule({ placement, fleet: adjusted, demand, previous, now }, undefined, { trace });
}
