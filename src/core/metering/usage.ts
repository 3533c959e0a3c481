/**
 * What metering measures, as the agent sends it and the ledger keeps it (issue 14). One record per cluster, hour
 * and workload, and one per cluster, hour and node: names and numbers only, never a pod's content (the
 * `metadata` data class). Amounts are integers summed over the hour's minute samples ("millicore-minutes",
 * "byte-minutes"), so that hourly records add up exactly and a record with fewer samples (an agent that started
 * mid-hour) weighs less. Money is integer micro-units of a currency (1 EUR = 1,000,000), never a float.
 *
 * Each record carries an idempotency key (`cluster/hour/kind/name`): the ledger keeps one row per key, so a
 * record sent again after a relay outage, a hub restart or by another replica is counted once.
 */

/** The start of an hour in UTC, `2026-12-03T14:00:00Z`. */
export type HourStart = string;

/** One resource's use by a workload over an hour, each a sum over the minute samples. */
export interface ResourceMinutes {
  /** What the workload's containers requested. */
  request: number;
  /** What they used (metrics), or the request when the cluster serves no usage. */
  usage: number;
  /** max(request, usage), taken minute by minute: what the workload pays for. */
  allocated: number;
}

/** A workload's hour in one cluster: a Deployment, StatefulSet, DaemonSet, Job… or a bare Pod. */
export interface WorkloadHour {
  cluster: string;
  hour: HourStart;
  namespace: string;
  /** The workload that owns the pods: `Deployment/web`; a pod without controller is `Pod/NAME`. */
  workload: string;
  /** The workload's labels that say who pays (e.g. `team`, `business`), as the agent was told to keep them. */
  labels: Record<string, string>;
  /** Minute samples in which the workload had at least one pod. */
  samples: number;
  cpu: ResourceMinutes; // millicore-minutes
  memory: ResourceMinutes; // byte-minutes
  gpu: ResourceMinutes; // whole-device-minutes (nvidia.com/gpu)
  /** Persistent volume claims' requested size, summed per storage class, in byte-minutes. */
  storage: Record<string, number>;
  /** LoadBalancer Services of the namespace attributed to this workload, in service-minutes. */
  loadBalancers: number;
}

/** A node's hour in one cluster: what was there to allocate, and what it was. */
export interface NodeHour {
  cluster: string;
  hour: HourStart;
  node: string;
  /** `node.kubernetes.io/instance-type`, when the node has it. */
  instanceType?: string;
  /** Minute samples in which the node existed and was Ready. */
  samples: number;
  /** Allocatable summed over the samples: millicore-minutes, byte-minutes, device-minutes. */
  allocatable: { cpu: number; memory: number; gpu: number };
}

/** Where the usage figures came from: kubelet resource metrics, the metrics API, or requests only. */
export type UsageSource = "kubelet" | "metrics-api" | "requests";

/** The key under which the ledger keeps a record exactly once. */
export function workloadHourKey(
  w: Pick<WorkloadHour, "cluster" | "hour" | "namespace" | "workload">,
): string {
  return `${w.cluster}/${w.hour}/workload/${w.namespace}/${w.workload}`;
}

export function nodeHourKey(n: Pick<NodeHour, "cluster" | "hour" | "node">): string {
  return `${n.cluster}/${n.hour}/node/${n.node}`;
}

/** Micro-units of a currency per unit: prices and costs are integers of these. */
export const microUnits = 1_000_000;
