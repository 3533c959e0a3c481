/**
 * An Application's status, computed from the scheduler's outcome and its agents' reports: where it runs,
 * how each cluster is doing, the sums, the conditions (Scheduled, Applied, Ready, Drifted) and recent events.
 * Pure: the controller writes it only when it differs from what is stored.
 */

import type { ApplicationStatus } from "../resources/kinds.ts";
import type { Condition } from "../resources/meta.ts";
import type { PlacementSpec } from "../scheduling/placement.ts";
import type { Assignment } from "../scheduling/scheduler.ts";
import { type ApplicationClusterStatus, replicatedKinds } from "./application.ts";

/** A work as the hub holds it, with the agent's last report (a `work.status` body) and the drift it reported. */
export interface WorkRecord {
  cluster: string;
  generation: number;
  removed: boolean;
  status?: {
    generation: number;
    objects: Array<{
      kind: string;
      name: string;
      state: "Applied" | "Failed";
      message?: string;
      replicas?: { desired: number; ready: number };
      healthy: boolean;
    }>;
  };
  drift: Array<{ kind: string; namespace?: string; name: string; at: string; message: string }>;
}

export interface StatusInput {
  generation: number;
  previous: ApplicationStatus | undefined;
  decisions: Assignment[];
  /** The replicas the placement asks for; absent when there is no placement (then the decisions are all). */
  wanted?: Pick<PlacementSpec["replicas"], "mode" | "count">;
  unschedulable?: string;
  /** Why the application could not be scheduled or rendered at all (placement missing, bad override). */
  problem?: { reason: string; message: string };
  works: ReadonlyMap<string, WorkRecord>;
  /** Clusters the hub cannot reach now: what they last reported is unconfirmed. */
  unreachable?: ReadonlySet<string>;
  /** Works kept above their cluster's new share until the new placement is ready (make-before-break). */
  leaving?: ReadonlyArray<Assignment>;
  /** Replicas kept on failed clusters because no eligible cluster has room (the scheduler's outcome). */
  failoverBlocked?: { reason: string; message: string };
  /** What the controller did this pass that a user should see (a held work released…). */
  notes?: ReadonlyArray<{ type: "Normal" | "Warning"; reason: string; message: string }>;
  now: string;
  /** Drift newer than this (ms) keeps the Drifted condition True. */
  driftWindowMs?: number;
}

const maxEvents = 20;

function condition(
  previous: Condition[] | undefined,
  type: string,
  status: Condition["status"],
  reason: string,
  message: string,
  now: string,
  generation: number,
): Condition {
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : now;
  return { type, status, reason, message, lastTransitionTime, observedGeneration: generation };
}

/**
 * How the Application does in one cluster that runs `share` of its replicas. Replicas count the application's
 * replicas (one pod of each Deployment and StatefulSet): as its workloads report them once the agent applied
 * the current manifests (the fewest of any workload, so that an override of the count shows), else the share.
 */
export function clusterStatus(
  name: string,
  work: WorkRecord | undefined,
  share = 0,
): ApplicationClusterStatus {
  const objects = work?.status?.objects ?? [];
  const failed = objects.filter((o) => o.state === "Failed");
  const applied = work?.status?.generation;
  const current = work !== undefined && applied === work.generation;
  const healthy = current && objects.length > 0 && objects.every((o) => o.healthy);
  const workloads = objects.filter(
    (o) => o.replicas !== undefined && (replicatedKinds as readonly string[]).includes(o.kind),
  );
  const fewest = (pick: (r: { desired: number; ready: number }) => number) =>
    Math.min(...workloads.map((o) => pick(o.replicas!)));
  const desired = current && workloads.length > 0 ? fewest((r) => r.desired) : share;
  // Without workloads (only DaemonSets, Jobs, config…), a healthy cluster has its share ready.
  const ready = workloads.length > 0 ? fewest((r) => r.ready) : healthy ? desired : 0;
  return {
    name,
    generation: work?.generation ?? 0,
    ...(applied !== undefined ? { appliedGeneration: applied } : {}),
    replicas: { desired, ready },
    objects: objects.length,
    failed: failed.length,
    healthy,
    ...(failed[0]
      ? { message: `${failed[0].kind} ${failed[0].name}: ${failed[0].message ?? "failed"}` }
      : !current
        ? { message: work ? `waiting for the agent to apply generation ${work.generation}` : "not sent yet" }
        : {}),
  };
}

export function applicationStatus(input: StatusInput): ApplicationStatus {
  const { previous, now, generation } = input;
  const before = previous?.conditions;
  const clusters = input.decisions.map((d) =>
    unconfirmedIf(
      input.unreachable?.has(d.cluster) ?? false,
      clusterStatus(d.cluster, input.works.get(d.cluster), d.replicas),
    ),
  );
  const placed = input.decisions.reduce((n, d) => n + d.replicas, 0);
  const ready = clusters.reduce((n, c) => n + c.replicas.ready, 0);
  // Wanted: what each chosen cluster is asked to run, and the replicas that found no cluster.
  const asked = input.wanted;
  const unplaced = !asked
    ? 0
    : asked.mode === "Divided"
      ? Math.max(0, asked.count - placed)
      : input.decisions.length === 0
        ? asked.count
        : 0;
  const desired = clusters.reduce((n, c) => n + c.replicas.desired, 0) + unplaced;
  // A work counts as applied when the agent applied its current generation and no object failed.
  const appliedWorks = clusters.filter(
    (c) => c.appliedGeneration === c.generation && c.failed === 0 && c.objects > 0,
  ).length;

  const events = [...(previous?.events ?? [])];
  const previousPlacement = previous?.placement?.clusters ?? [];
  const moved = describeMove(previousPlacement, input.decisions);
  if (moved) events.push({ at: now, type: "Normal", reason: "Rescheduled", message: moved });
  for (const n of input.notes ?? []) events.push({ at: now, ...n });
  const wasBlocked = before?.find((c) => c.type === "FailoverBlocked")?.status === "True";
  if (input.failoverBlocked && !wasBlocked)
    events.push({
      at: now,
      type: "Warning",
      reason: "FailoverBlocked",
      message: input.failoverBlocked.message,
    });
  const seen = new Set(events.map((e) => `${e.at}|${e.message}`));
  for (const [cluster, work] of input.works)
    for (const d of work.drift) {
      const message = `${cluster}: ${d.kind} ${d.namespace ? `${d.namespace}/` : ""}${d.name} ${d.message}`;
      if (!seen.has(`${d.at}|${message}`)) {
        events.push({ at: d.at, type: "Warning", reason: "DriftCorrected", message });
        seen.add(`${d.at}|${message}`);
      }
    }
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));

  const scheduled = input.problem
    ? condition(before, "Scheduled", "False", input.problem.reason, input.problem.message, now, generation)
    : input.unschedulable
      ? condition(
          before,
          "Scheduled",
          "False",
          "Unschedulable",
          `${input.unschedulable} (${placed} of ${placed + unplaced} replicas placed)`,
          now,
          generation,
        )
      : condition(
          before,
          "Scheduled",
          "True",
          "Scheduled",
          `${clusters.length} cluster${clusters.length === 1 ? "" : "s"} chosen`,
          now,
          generation,
        );
  const failing = clusters.filter((c) => c.failed > 0);
  const pending = clusters.filter((c) => c.appliedGeneration !== c.generation);
  const applied =
    failing.length > 0
      ? condition(
          before,
          "Applied",
          "False",
          "ApplyFailed",
          failing.map((c) => `${c.name}: ${c.message}`).join("; "),
          now,
          generation,
        )
      : pending.length > 0 || clusters.length === 0
        ? condition(
            before,
            "Applied",
            "False",
            "Pending",
            clusters.length === 0
              ? "no cluster chosen"
              : `waiting for ${pending.map((c) => c.name).join(", ")}`,
            now,
            generation,
          )
        : condition(
            before,
            "Applied",
            "True",
            "Applied",
            "every chosen cluster runs the current manifests",
            now,
            generation,
          );
  const unhealthy = clusters.filter((c) => !c.healthy);
  const isReady = clusters.length > 0 && unhealthy.length === 0 && scheduled.status === "True";
  const readyCondition = isReady
    ? condition(before, "Ready", "True", "Ready", `${ready}/${desired} replicas ready`, now, generation)
    : condition(
        before,
        "Ready",
        "False",
        scheduled.status !== "True"
          ? scheduled.reason
          : failing.length > 0
            ? "ApplyFailed"
            : input.failoverBlocked
              ? "FailoverBlocked"
              : "Progressing",
        scheduled.status !== "True"
          ? scheduled.message
          : `${ready}/${desired} replicas ready; not yet: ${unhealthy.map((c) => c.name).join(", ") || "-"}`,
        now,
        generation,
      );
  const window = input.driftWindowMs ?? 10 * 60_000;
  const recentDrift = events.filter(
    (e) => e.reason === "DriftCorrected" && Date.parse(now) - Date.parse(e.at) < window,
  );
  const drifted =
    recentDrift.length > 0
      ? condition(before, "Drifted", "True", "DriftCorrected", recentDrift.at(-1)!.message, now, generation)
      : condition(
          before,
          "Drifted",
          "False",
          "NoDrift",
          "no change outside unitfleet in the last 10 minutes",
          now,
          generation,
        );

  const samePlacement =
    JSON.stringify(previousPlacement) ===
    JSON.stringify(input.decisions.map((d) => ({ name: d.cluster, replicas: d.replicas })));
  return {
    observedGeneration: generation,
    placement: {
      clusters: input.decisions.map((d) => ({ name: d.cluster, replicas: d.replicas })),
      ...(input.leaving && input.leaving.length > 0
        ? { leaving: input.leaving.map((d) => ({ name: d.cluster, replicas: d.replicas })) }
        : {}),
      ...(input.unschedulable ? { unschedulable: input.unschedulable } : {}),
      scheduledAt: samePlacement && previous?.placement?.scheduledAt ? previous.placement.scheduledAt : now,
    },
    clusters,
    summary: {
      clusters: clusters.length,
      replicas: `${ready}/${desired}`,
      ready,
      desired,
      applied: `${appliedWorks}/${clusters.length}`,
    },
    conditions: [
      scheduled,
      applied,
      readyCondition,
      drifted,
      input.failoverBlocked
        ? condition(
            before,
            "FailoverBlocked",
            "True",
            input.failoverBlocked.reason,
            input.failoverBlocked.message,
            now,
            generation,
          )
        : condition(
            before,
            "FailoverBlocked",
            "False",
            "ReplicasOnEligibleClusters",
            "no replica is kept on a failed cluster for want of room elsewhere",
            now,
            generation,
          ),
    ],
    events: events.slice(-maxEvents),
  };
}

/** A cluster the hub cannot reach: its last report is unconfirmed, its ready replicas are not counted. */
function unconfirmedIf(unreachable: boolean, status: ApplicationClusterStatus): ApplicationClusterStatus {
  if (!unreachable) return status;
  const { ready } = status.replicas;
  return {
    ...status,
    replicas: { ...status.replicas, ready: 0 },
    ...(ready > 0 ? { unconfirmed: ready } : {}),
    healthy: false,
    message: `unreachable: ${ready} ready replica${ready === 1 ? "" : "s"} last reported, unconfirmed`,
  };
}

/** "fra-a 3→0, fra-b 2→5" when the split changed; undefined when it did not (or on the first placement). */
function describeMove(
  before: ReadonlyArray<{ name: string; replicas: number }>,
  after: readonly Assignment[],
): string | undefined {
  if (before.length === 0) return undefined;
  const old = new Map(before.map((b) => [b.name, b.replicas]));
  const next = new Map(after.map((a) => [a.cluster, a.replicas]));
  const names = [...new Set([...old.keys(), ...next.keys()])].sort();
  const changes = names
    .filter((n) => (old.get(n) ?? 0) !== (next.get(n) ?? 0))
    .map((n) => `${n} ${old.get(n) ?? 0}→${next.get(n) ?? 0}`);
  return changes.length > 0 ? `replicas moved: ${changes.join(", ")}` : undefined;
}
