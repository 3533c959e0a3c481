/**
 * Kubernetes objects → inventory items (pure). A workload's per-pod requests are the sum of its containers'
 * requests (init containers counted as Kubernetes does: the larger of their maximum and the sum). A workload
 * also carries the placement constraints of its pod template that the consolidation planner packs by: its
 * nodeSelector, required node affinity, tolerations, a required anti-affinity with its own pods, DoNotSchedule
 * spread over its own pods (on nodes or zones), and the Application that delivers it; a node its taints. Empty
 * ones are left out: the inventory travels as deltas.
 */

import {
  placementListLimits as limits,
  type NodeItem,
  type NodeSelectorRequirementItem,
  type PlacementTopologyKey,
  type TaintEffect,
  type TaintItem,
  type TolerationItem,
  type WorkloadItem,
} from "../../core/inventory/inventory.ts";
import { gpuProductLabel } from "../../core/planning/node-shapes.ts";
import { formatBytes, formatCores, parseQuantity } from "../../core/quantity/quantity.ts";
import { matchesSelector, type Requirement } from "../../core/resources/label-selector.ts";

interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface Container {
  resources?: { requests?: Record<string, string | number> };
}
interface LabelSelector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] | null }> | null;
}
interface PodAffinityTerm {
  labelSelector?: LabelSelector | null;
  namespaces?: string[] | null;
  namespaceSelector?: LabelSelector | null;
  topologyKey?: string;
}
interface TopologySpreadConstraint {
  topologyKey?: string;
  maxSkew?: number;
  whenUnsatisfiable?: string;
  labelSelector?: LabelSelector | null;
}
interface NodeSelectorTermObject {
  matchExpressions?: Array<{ key?: string; operator?: string; values?: string[] | null }> | null;
  matchFields?: unknown[] | null;
}
interface TolerationObject {
  key?: string | null;
  operator?: string | null;
  value?: string | null;
  effect?: string | null;
  tolerationSeconds?: number | null;
}
interface PodTemplate {
  metadata?: Meta;
  spec?: {
    containers?: Container[];
    initContainers?: Container[];
    nodeSelector?: Record<string, string> | null;
    affinity?: {
      podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] | null } | null;
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms?: NodeSelectorTermObject[] | null;
        } | null;
      } | null;
    } | null;
    tolerations?: TolerationObject[] | null;
    topologySpreadConstraints?: TopologySpreadConstraint[] | null;
  };
}

/** The label unitfleet's delivery sets on every object of an Application. */
export const applicationLabel = "unitfleet.io/application";
const hostname: PlacementTopologyKey = "kubernetes.io/hostname";
const zone: PlacementTopologyKey = "topology.kubernetes.io/zone";

export interface NodeObject {
  metadata?: Meta;
  spec?: { taints?: Array<{ key?: string; value?: string | null; effect?: string }> | null };
  status?: {
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    conditions?: Array<{ type: string; status: string }>;
    nodeInfo?: { kubeletVersion?: string; kernelVersion?: string; containerRuntimeVersion?: string };
  };
}

/**
 * A node's item. Of its labels it keeps the topology, node and unitfleet ones, its GPU product, and those whose
 * keys are in `selectedKeys` (the keys workloads of the cluster select nodes by: nodeSelectors and node
 * affinity), so that a plan can match them and tell GPU models apart. Its taints are kept (not `timeAdded`).
 */
export function nodeItem(node: NodeObject, selectedKeys: ReadonlySet<string> = new Set()): NodeItem {
  const labels = node.metadata?.labels ?? {};
  const nodeZone = labels[zone];
  const kept = Object.fromEntries(
    Object.entries(labels).filter(
      ([k]) =>
        k.startsWith("topology.kubernetes.io/") ||
        k.startsWith("node.kubernetes.io/") ||
        k.startsWith("unitfleet.io/") ||
        k === gpuProductLabel ||
        selectedKeys.has(k),
    ),
  );
  const taints = (node.spec?.taints ?? []).flatMap((t): TaintItem[] =>
    t.key && isTaintEffect(t.effect)
      ? [{ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect }]
      : [],
  );
  return {
    name: node.metadata?.name ?? "",
    ...(nodeZone ? { zone: nodeZone } : {}),
    ready: node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    capacity: node.status?.capacity ?? {},
    allocatable: node.status?.allocatable ?? {},
    kubeletVersion: node.status?.nodeInfo?.kubeletVersion ?? "",
    kernelVersion: node.status?.nodeInfo?.kernelVersion ?? "",
    containerRuntimeVersion: node.status?.nodeInfo?.containerRuntimeVersion ?? "",
    ...(Object.keys(kept).length > 0 ? { labels: kept } : {}),
    ...(taints.length > 0 ? { taints: taints.slice(0, limits.taints) } : {}),
  };
}

const taintEffects: readonly string[] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
const isTaintEffect = (effect: string | null | undefined): effect is TaintEffect =>
  typeof effect === "string" && taintEffects.includes(effect);

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
  const template = object.spec?.template;
  const namespace = object.metadata?.namespace ?? "";
  const nodeSelector = template?.spec?.nodeSelector ?? {};
  const antiAffinity = ownAntiAffinity(template, namespace);
  const spread = ownTopologySpread(template);
  const nodeAffinity = requiredNodeAffinity(template);
  const tolerations = templateTolerations(template);
  const application = object.metadata?.labels?.[applicationLabel];
  return {
    namespace,
    kind,
    name: object.metadata?.name ?? "",
    replicas,
    podRequests: podRequests(template),
    pods,
    ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector: sortedRecord(nodeSelector) } : {}),
    ...(antiAffinity ? { podAntiAffinity: { topologyKey: antiAffinity } } : {}),
    ...(spread.length > 0 ? { topologySpread: spread } : {}),
    ...(application ? { application } : {}),
    ...(nodeAffinity.length > 0 ? { nodeAffinity: { nodeSelectorTerms: nodeAffinity } } : {}),
    ...(tolerations.length > 0 ? { tolerations } : {}),
  };
}

const selectorOperators: readonly string[] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];

/**
 * The terms of the template's required node affinity, by their matchExpressions. A term's matchFields (node
 * names) are not kept: they name today's nodes, which a plan replaces; a term that has nothing else is left out,
 * and so is one the API server would not have accepted (an unknown operator). Bounded as the protocol is.
 */
export function requiredNodeAffinity(
  template: PodTemplate | undefined,
): Array<{ matchExpressions: NodeSelectorRequirementItem[] }> {
  const terms =
    template?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? [];
  return terms
    .flatMap((term) => {
      const expressions = term.matchExpressions ?? [];
      if (expressions.length === 0 || expressions.length > limits.matchExpressions) return [];
      const kept: NodeSelectorRequirementItem[] = [];
      for (const e of expressions) {
        const values = e.values ?? [];
        if (!e.key || !e.operator || !selectorOperators.includes(e.operator) || values.length > limits.values)
          return [];
        kept.push({
          key: e.key,
          operator: e.operator as NodeSelectorRequirementItem["operator"],
          ...(values.length > 0 ? { values: [...values] } : {}),
        });
      }
      return [{ matchExpressions: kept }];
    })
    .slice(0, limits.nodeSelectorTerms);
}

/** The template's tolerations (without tolerationSeconds), bounded as the protocol is. */
export function templateTolerations(template: PodTemplate | undefined): TolerationItem[] {
  return (template?.spec?.tolerations ?? [])
    .flatMap((t): TolerationItem[] => {
      if (t.operator && t.operator !== "Exists" && t.operator !== "Equal") return [];
      if (t.effect && !isTaintEffect(t.effect)) return [];
      return [
        {
          ...(t.key ? { key: t.key } : {}),
          ...(t.operator ? { operator: t.operator as "Exists" | "Equal" } : {}),
          ...(t.value ? { value: t.value } : {}),
          ...(t.effect ? { effect: t.effect as TaintEffect } : {}),
        },
      ];
    })
    .slice(0, limits.tolerations);
}

/**
 * The topology key of a required anti-affinity of the template's pods with each other: a term whose label
 * selector matches the template's own labels (in its own namespace), on nodes or zones. Zone wins when both
 * are there: one pod per zone is also one per node.
 */
export function ownAntiAffinity(
  template: PodTemplate | undefined,
  namespace: string,
): PlacementTopologyKey | undefined {
  const own = template?.metadata?.labels ?? {};
  const keys = (
    template?.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
  )
    .filter((term) => selectsOwn(term.labelSelector, own) && coversOwnNamespace(term, namespace))
    .map((term) => term.topologyKey);
  if (keys.includes(zone)) return zone;
  if (keys.includes(hostname)) return hostname;
  return undefined;
}

/** DoNotSchedule spread constraints over the template's own pods, on nodes or zones. */
export function ownTopologySpread(
  template: PodTemplate | undefined,
): Array<{ topologyKey: PlacementTopologyKey; maxSkew: number }> {
  const own = template?.metadata?.labels ?? {};
  return (template?.spec?.topologySpreadConstraints ?? [])
    .filter(
      (c) =>
        (c.whenUnsatisfiable ?? "DoNotSchedule") === "DoNotSchedule" &&
        (c.topologyKey === hostname || c.topologyKey === zone) &&
        Number.isInteger(c.maxSkew) &&
        (c.maxSkew ?? 0) >= 1 &&
        selectsOwn(c.labelSelector, own),
    )
    .map((c) => ({ topologyKey: c.topologyKey as PlacementTopologyKey, maxSkew: c.maxSkew as number }))
    .slice(0, 8);
}

// A missing selector selects no pods (Kubernetes' rule for affinity terms and spread constraints); an
// expression with an operator this build does not know selects none either.
function selectsOwn(selector: LabelSelector | null | undefined, own: Record<string, string>): boolean {
  if (selector == null) return false;
  const requirements: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key,
    op: "in",
    values: [value],
  }));
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? [];
    if (e.operator === "In") requirements.push({ key: e.key, op: "in", values });
    else if (e.operator === "NotIn") requirements.push({ key: e.key, op: "notin", values });
    else if (e.operator === "Exists") requirements.push({ key: e.key, op: "exists" });
    else if (e.operator === "DoesNotExist") requirements.push({ key: e.key, op: "doesnotexist" });
    else return false;
  }
  return matchesSelector(requirements, own);
}

function coversOwnNamespace(term: PodAffinityTerm, namespace: string): boolean {
  if (term.namespaceSelector != null) return true;
  const namespaces = term.namespaces ?? [];
  return namespaces.length === 0 || namespaces.includes(namespace);
}

function sortedRecord(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)));
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
