/**
 * The Cluster condition `UsageMetered`: whether the cluster's workloads are metered by what they use, or only by
 * what they request because neither the kubelet's resource metrics nor the metrics API answered (issue 14). Set
 * from the source of each hour an agent sends; its transition time moves only when its status does.
 */
import type { Condition } from "../resources/meta.ts";
import type { UsageSource } from "./usage.ts";

export const usageConditionType = "UsageMetered";

/** The condition for an hour metered from `source`, at `now`, given the conditions the Cluster has. */
export function usageCondition(source: UsageSource, current: readonly Condition[], now: Date): Condition {
  const next: Omit<Condition, "lastTransitionTime"> =
    source === "requests"
      ? {
          type: usageConditionType,
          status: "False",
          reason: "RequestsOnly",
          message:
            "neither the kubelet's resource metrics nor metrics.k8s.io answered: workloads are metered by their requests",
        }
      : {
          type: usageConditionType,
          status: "True",
          reason: source === "kubelet" ? "KubeletResourceMetrics" : "MetricsAPI",
          message:
            source === "kubelet"
              ? "usage from the kubelets' resource metrics"
              : "usage from metrics.k8s.io (the kubelets' resource metrics did not answer)",
        };
  const before = current.find((c) => c.type === usageConditionType);
  const since =
    before && before.status === next.status
      ? before.lastTransitionTime
      : now.toISOString().replace(/\.\d+Z$/, "Z");
  return { ...next, lastTransitionTime: since };
}

/** The conditions with `condition` in place of the one of its type; undefined when nothing would change. */
export function withCondition(current: readonly Condition[], condition: Condition): Condition[] | undefined {
  const before = current.find((c) => c.type === condition.type);
  if (
    before &&
    before.status === condition.status &&
    before.reason === condition.reason &&
    before.message === condition.message &&
    before.lastTransitionTime === condition.lastTransitionTime
  )
    return undefined;
  return [...current.filter((c) => c.type !== condition.type), condition];
}
