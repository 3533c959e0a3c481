/** The scheduler's view of a registered Cluster, read from its spec, labels and the status its agent reports. */
import { parseQuantity } from "../quantity/quantity.ts";
import type { Cluster } from "../resources/kinds.ts";
import type { ClusterFacts } from "../scheduling/scheduler.ts";

function amount(map: Record<string, string> | undefined, key: string, scale = 1): number {
  const text = map?.[key];
  if (text === undefined) return 0;
  const parsed = parseQuantity(text);
  return parsed.ok ? Math.round(parsed.value * scale) : 0;
}

/**
 * Allocatable minus requested, and health: the Ready condition and since when it holds (from the beginning
 * for a cluster that has been Ready since it joined; `now` when unknown).
 */
export function clusterFacts(cluster: Cluster, now: number): ClusterFacts {
  const status = cluster.status ?? {};
  const ready = status.conditions?.find((c) => c.type === "Ready");
  // A cluster Ready since it joined has been stable all along; one that recovered, since its recovery.
  const since =
    ready?.status === "True" && !status.lastNotReadyTime
      ? 0
      : ready?.lastTransitionTime
        ? Date.parse(ready.lastTransitionTime)
        : now;
  return {
    name: cluster.metadata.name,
    location: cluster.spec.location,
    ...(cluster.spec.region ? { region: cluster.spec.region } : {}),
    zones: status.observedZones ?? cluster.spec.zones ?? [],
    labels: cluster.metadata.labels ?? {},
    taints: cluster.spec.taints ?? [],
    free: {
      cpuMilli: amount(status.allocatable, "cpu", 1000) - amount(status.requested, "cpu", 1000),
      memoryBytes: amount(status.allocatable, "memory") - amount(status.requested, "memory"),
      pods: amount(status.allocatable, "pods") - (status.pods ?? 0),
    },
    health: { ready: ready?.status === "True", since: Number.isFinite(since) ? since : now },
  };
}
