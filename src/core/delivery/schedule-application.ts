/**
 * Schedules one Application on the fleet as the registry describes it: the same computation for the delivery
 * controller and for `unitfleet explain application`, so that the explanation is the decision.
 */
import type { Application, Cluster } from "../resources/kinds.ts";
import { replicasThatFit } from "../scheduling/filters.ts";
import type { PlacementSpec } from "../scheduling/placement.ts";
import {
  type Assignment,
  type ClusterFacts,
  type Demand,
  type Outcome,
  schedule,
} from "../scheduling/scheduler.ts";
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
  const ready = new Map((app.status?.clusters ?? []).map((c) => [c.name, c.replicas.ready]));
  const running = new Map(previous.map((p) => [p.cluster, p.replicas]));
  const counted = fleet.map((c) => {
    const runs = running.get(c.name) ?? 0;
    return runs === 0 ? c : withOwnReplicasCounted(c, runs, ready.get(c.name) ?? 0, demand.perReplica);
  });
  return schedule({ placement, fleet: counted, demand, previous, now }, undefined, { trace });
}

/**
 * The scheduler counts the replicas a cluster runs as room it has (`fit = running + free / perReplica`), so
 * `free` must have them all counted as used. Agents count the requests of ready pods only: the replicas
 * placed but not ready yet (starting, or pending for want of room) still look free. Counting them would make
 * a cluster whose agent reported a pod's requests before its work's readiness look full for a moment, and
 * lose replicas; so they are counted only against growth: the cluster keeps what it runs (unless its nodes
 * shrank) and grows by the room its ready replicas leave. Ready beyond the share (being removed) count too.
 */
export function withOwnReplicasCounted(
  cluster: ClusterFacts,
  running: number,
  ready: number,
  perReplica: Demand["perReplica"],
): ClusterFacts {
  const uncounted = running - ready;
  const room = replicasThatFit(
    cluster.free.cpuMilli,
    cluster.free.memoryBytes,
    cluster.free.pods,
    perReplica,
  );
  const held = uncounted <= 0 ? uncounted : Math.min(uncounted, Math.max(room, 0));
  if (held === 0) return cluster;
  return {
    ...cluster,
    free: {
      cpuMilli: cluster.free.cpuMilli - held * perReplica.cpuMilli,
      memoryBytes: cluster.free.memoryBytes - held * perReplica.memoryBytes,
      pods: cluster.free.pods - held * perReplica.pods,
    },
  };
}
