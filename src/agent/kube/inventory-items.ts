/**
 * Kubernetes objects → inventory items (pure). A workload's per-pod requests are the sum of its containers'
 * requests (init containers counted as Kubernetes does: the larger of their maximum and the sum).
 */

import type { NodeItem, WorkloadItem } from "../../core/inventory/inventory.ts";
import { formatBytes, formatCores, parseQuantity } from "../../core/quantity/quantity.ts";

interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface Container {
  resources?: { requests?: Record<string, string | number> };
}
interface PodTemplate {
  spec?: { containers?: Container[]; initContainers?: Container[] };
}

export interface NodeObject {
  metadata?: Meta;
  status?: {
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    conditions?: Array<{ type: string; status: string }>;
    nodeInfo?: { kubeletVersion?: string; kernelVersion?: string; containerRuntimeVersion?: string };
  };
}

export function nodeItem(node: NodeObject): NodeItem {
  const labels = node.metadata?.labels ?? {};
  const zone = labels["topology.kubernetes.io/zone"];
  const kept = Object.fromEntries(
    Object.entries(labels).filter(
      ([k]) =>
        k.startsWith("topology.kubernetes.io/") ||
        k.startsWith("node.kubernetes.io/") ||
        k.startsWith("unitfleet.io/"),
    ),
  );
  return {
    name: node.metadata?.name ?? "",
    ...(zone ? { zone } : {}),
    ready: node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    capacity: node.status?.capacity ?? {},
    allocatable: node.status?.allocatable ?? {},
    kubeletVersion: node.status?.nodeInfo?.kubeletVersion ?? "",
    kernelVersion: node.status?.nodeInfo?.kernelVersion ?? "",
    containerRuntimeVersion: node.status?.nodeInfo?.containerRuntimeVersion ?? "",
    ...(Object.keys(kept).length > 0 ? { labels: kept } : {}),
  };
}

export interface WorkloadObject {
  metadata?: Meta;
  spec?: { replicas?: number; template?: PodTemplate };
  status?: {
    readyReplicas?: number;
    replicas?: number;
    numberReady?: number;
    desiredNumberScheduled?: number;
  };
}

export function workloadItem(
  kind: "Deployment" | "StatefulSet" | "DaemonSet",
  object: WorkloadObject,
): WorkloadItem {
  const replicas =
    kind === "DaemonSet" ? (object.status?.desiredNumberScheduled ?? 0) : (object.spec?.replicas ?? 1);
  const pods = kind === "DaemonSet" ? (object.status?.numberReady ?? 0) : (object.status?.readyReplicas ?? 0);
  return {
    namespace: object.metadata?.namespace ?? "",
    kind,
    name: object.metadata?.name ?? "",
    replicas,
    podRequests: podRequests(object.spec?.template),
    pods,
  };
}

export function podRequests(template: PodTemplate | undefined): Record<string, string> {
  const sum: Record<string, number> = {};
  for (const c of template?.spec?.containers ?? []) addRequests(sum, c, (a, b) => a + b);
  const init: Record<string, number> = {};
  for (const c of template?.spec?.initContainers ?? []) addRequests(init, c, Math.max);
  for (const [k, v] of Object.entries(init)) sum[k] = Math.max(sum[k] ?? 0, v);
  return Object.fromEntries(
    Object.entries(sum)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, k === "cpu" ? formatCores(v) : k === "memory" ? formatBytes(v) : String(v)]),
  );
}

function addRequests(
  into: Record<string, number>,
  c: Container,
  combine: (a: number, b: number) => number,
): void {
  for (const [resource, text] of Object.entries(c.resources?.requests ?? {})) {
    const parsed = parseQuantity(text);
    if (parsed.ok) into[resource] = combine(into[resource] ?? 0, parsed.value);
  }
}
