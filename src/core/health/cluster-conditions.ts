/**
 * A cluster's `Reachable` and `Ready` conditions, from its last heartbeat and its nodes. The grace period is
 * the time without a heartbeat after which a cluster is Unreachable: by default four heartbeat intervals
 * (40 s with heartbeats every 10 s), so that one or two lost heartbeats do not flap it.
 */
import type { Condition } from "../resources/meta.ts";

export const defaultGraceMs = 40_000;

export interface HealthInput {
  now: Date;
  lastHeartbeat: Date | undefined;
  nodes: { total: number; ready: number } | undefined;
  current: readonly Condition[];
  graceMs?: number;
}

export function clusterConditions(input: HealthInput): Condition[] {
  const grace = input.graceMs ?? defaultGraceMs;
  const silentFor = input.lastHeartbeat ? input.now.getTime() - input.lastHeartbeat.getTime() : undefined;
  const reachable: Omit<Condition, "lastTransitionTime"> =
    silentFor === undefined
      ? {
          type: "Reachable",
          status: "Unknown",
          reason: "NeverConnected",
          message: "no agent has reported for this cluster yet",
        }
      : silentFor <= grace
        ? {
            type: "Reachable",
            status: "True",
            reason: "HeartbeatReceived",
            message: `heartbeats arrive (Unreachable after ${grace / 1000} s without one)`,
          }
        : {
            type: "Reachable",
            status: "False",
            reason: "HeartbeatMissed",
            message: `no heartbeat since ${isoSeconds(input.lastHeartbeat!)} (grace period ${grace / 1000} s)`,
          };
  const nodes = input.nodes;
  const ready: Omit<Condition, "lastTransitionTime"> =
    reachable.status !== "True"
      ? {
          type: "Ready",
          status: "Unknown",
          reason: "ClusterUnreachable",
          message: "the cluster's state is not known while it is unreachable",
        }
      : !nodes || nodes.total === 0
        ? { type: "Ready", status: "False", reason: "NoNodes", message: "the cluster reports no nodes" }
        : nodes.ready < nodes.total
          ? {
              type: "Ready",
              status: "False",
              reason: "NodesNotReady",
              message: `${nodes.ready} of ${nodes.total} nodes are Ready`,
            }
          : {
              type: "Ready",
              status: "True",
              reason: "NodesReady",
              message: `all ${nodes.total} nodes are Ready`,
            };
  // Conditions others own (UsageMetered, from metering) are kept as they are, ahead of these two.
  const others = input.current.filter((c) => c.type !== "Reachable" && c.type !== "Ready");
  return [
    ...others,
    ...[reachable, ready].map((c) => {
      const before = input.current.find((x) => x.type === c.type);
      const since = before && before.status === c.status ? before.lastTransitionTime : isoSeconds(input.now);
      return { ...c, lastTransitionTime: since };
    }),
  ];
}

/** A time as Kubernetes writes it: RFC 3339 in UTC, whole seconds. */
function isoSeconds(time: Date): string {
  return time.toISOString().replace(/\.\d+Z$/, "Z");
}

/** How often a Cluster's `status.lastHeartbeatTime` is written by default while heartbeats arrive. */
export const defaultHeartbeatReportMs = 60_000;

/**
 * Whether the last heartbeat should be written to `status.lastHeartbeatTime` now: when none is written yet, or
 * the written one is older than the report interval (as the kubelet reports node status), so the field stays
 * true within one interval without a write on every heartbeat.
 */
export function heartbeatReportDue(
  written: string | undefined,
  lastHeartbeat: Date | undefined,
  reportMs: number,
): boolean {
  if (!lastHeartbeat) return false;
  if (!written) return true;
  return lastHeartbeat.getTime() - new Date(written).getTime() >= reportMs;
}

/**
 * True when the conditions differ in anything but their transition times. Messages hold no clock-driven text
 * (no "3 s ago"), so a changed message is news worth writing ("1 of 3 nodes are Ready" after "2 of 3").
 */
export function conditionsChanged(before: readonly Condition[], after: readonly Condition[]): boolean {
  const key = (cs: readonly Condition[]) =>
    JSON.stringify(cs.map((c) => [c.type, c.status, c.reason, c.message]));
  return key(before) !== key(after);
}
