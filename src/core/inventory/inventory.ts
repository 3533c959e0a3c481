/**
 * A cluster's inventory as the agent reports it and the hub keeps it: items by key (`cluster`, `node/NAME`,
 * `workload/NAMESPACE/KIND/NAME`, and `network`: the addresses the cluster really uses), changed by deltas,
 * summed into the Cluster's status.
 */
import type { ObservedClusterNetwork } from "../network/observed-network.ts";
import { formatBytes, formatCores, parseQuantity } from "../quantity/quantity.ts";

export interface NodeItem {
  name: string;
  zone?: string;
  ready: boolean;
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  kubeletVersion: string;
  kernelVersion: string;
  containerRuntimeVersion: string;
  labels?: Record<string, string>;
  /** Its taints (`spec.taints`, without `timeAdded`); absent when it has none. */
  taints?: TaintItem[];
}

export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";

/** A node taint, as in Node.spec.taints. */
export interface TaintItem {
  key: string;
  value?: string;
  effect: TaintEffect;
}

/** A pod toleration, as in Pod.spec.tolerations (without `tolerationSeconds`). */
export interface TolerationItem {
  key?: string;
  operator?: "Exists" | "Equal";
  value?: string;
  effect?: TaintEffect;
}

/** One requirement of a node selector term, as in Kubernetes' NodeSelectorRequirement. */
export interface NodeSelectorRequirementItem {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt";
  values?: string[];
}

/** The most of each placement list one item carries: what the protocol accepts (the agent keeps no more). */
export const placementListLimits = {
  taints: 64,
  tolerations: 64,
  nodeSelectorTerms: 16,
  matchExpressions: 32,
  values: 64,
} as const;

export interface WorkloadItem {
  namespace: string;
  kind: string;
  name: string;
  replicas: number;
  /** Requests of one pod (sum over its containers). */
  podRequests: Record<string, string>;
  /** Pods running now. */
  pods: number;
  /** The pod template's nodeSelector: node labels its pods require. */
  nodeSelector?: Record<string, string>;
  /** Required anti-affinity with its own pods (a term whose selector matches the template's labels). */
  podAntiAffinity?: { topologyKey: PlacementTopologyKey };
  /** Spread constraints over its own pods that the scheduler enforces (whenUnsatisfiable: DoNotSchedule). */
  topologySpread?: Array<{ topologyKey: PlacementTopologyKey; maxSkew: number }>;
  /** Required node affinity (requiredDuringSchedulingIgnoredDuringExecution): a node must match one term. */
  nodeAffinity?: { nodeSelectorTerms: Array<{ matchExpressions: NodeSelectorRequirementItem[] }> };
  /** The pod template's tolerations of node taints. */
  tolerations?: TolerationItem[];
  /** The unitfleet Application that delivers it (the workload's label `unitfleet.io/application`). */
  application?: string;
}

/** The topology keys whose constraints the inventory keeps: one pod per node, or per zone. */
export type PlacementTopologyKey = "kubernetes.io/hostname" | "topology.kubernetes.io/zone";

/**
 * The `network` item: the nodes' podCIDRs, the ServiceCIDRs and a bounded summary of the pod addresses outside
 * the podCIDRs (core/network/observed-network.ts). One item, so a change of it is one small upsert.
 */
export type NetworkItem = ObservedClusterNetwork;

export type InventoryItem = NodeItem | WorkloadItem | NetworkItem | { kubernetesVersion: string };
export type InventoryChange =
  | { op: "upsert"; key: string; value: InventoryItem }
  | { op: "delete"; key: string };

export const nodeKey = (name: string) => `node/${name}`;
/** The key of the `network` item. */
export const networkKey = "network";
export const workloadKey = (w: Pick<WorkloadItem, "namespace" | "kind" | "name">) =>
  `workload/${w.namespace}/${w.kind}/${w.name}`;

/** The changes that turn `before` into `after` (both keyed item maps): what an agent sends as a delta. */
export function diffInventory(
  before: ReadonlyMap<string, InventoryItem>,
  after: ReadonlyMap<string, InventoryItem>,
): InventoryChange[] {
  const changes: InventoryChange[] = [];
  for (const [key, value] of after) {
    const old = before.get(key);
    if (!old || JSON.stringify(old) !== JSON.stringify(value)) changes.push({ op: "upsert", key, value });
  }
  for (const key of before.keys()) if (!after.has(key)) changes.push({ op: "delete", key });
  return changes;
}

/** Applies a delta to an inventory (a new map; the old one is left alone). */
export function applyChanges(
  inventory: ReadonlyMap<string, InventoryItem>,
  changes: readonly InventoryChange[],
): Map<string, InventoryItem> {
  const next = new Map(inventory);
  for (const change of changes) {
    if (change.op === "upsert") next.set(change.key, change.value);
    else next.delete(change.key);
  }
  return next;
}

export interface InventorySummary {
  kubernetesVersion?: string;
  nodes: { total: number; ready: number };
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  requested: Record<string, string>;
  pods: number;
  zones: string[];
  /** Requested per namespace. */
  namespaces: Record<string, { requested: Record<string, string>; pods: number }>;
  /** What the agent observed of the cluster's addresses, when it reports them. */
  network?: NetworkItem;
}

/** Sums an inventory into the figures a Cluster's status shows. */
export function summarise(inventory: ReadonlyMap<string, InventoryItem>): InventorySummary {
  const capacity: Record<string, number> = {};
  const allocatable: Record<string, number> = {};
  const requested: Record<string, number> = {};
  const namespaces: Record<string, { requested: Record<string, number>; pods: number }> = {};
  const zones = new Set<string>();
  let kubernetesVersion: string | undefined;
  let total = 0;
  let ready = 0;
  let pods = 0;
  let network: NetworkItem | undefined;
  for (const [key, item] of inventory) {
    if (key === "cluster") kubernetesVersion = (item as { kubernetesVersion: string }).kubernetesVersion;
    else if (key === networkKey) network = item as NetworkItem;
    else if (key.startsWith("node/")) {
      const node = item as NodeItem;
      total += 1;
      if (node.ready) ready += 1;
      if (node.zone) zones.add(node.zone);
      add(capacity, node.capacity, 1);
      add(allocatable, node.allocatable, 1);
    } else if (key.startsWith("workload/")) {
      const w = item as WorkloadItem;
      pods += w.pods;
      add(requested, w.podRequests, w.pods);
      const ns = namespaces[w.namespace] ?? { requested: {}, pods: 0 };
      namespaces[w.namespace] = ns;
      ns.pods += w.pods;
      add(ns.requested, w.podRequests, w.pods);
    }
  }
  requested.pods = pods;
  return {
    ...(kubernetesVersion ? { kubernetesVersion } : {}),
    nodes: { total, ready },
    capacity: format(capacity),
    allocatable: format(allocatable),
    requested: format(requested),
    pods,
    zones: [...zones].sort(),
    namespaces: Object.fromEntries(
      Object.entries(namespaces)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, { requested: format(v.requested), pods: v.pods }]),
    ),
    ...(network ? { network } : {}),
  };
}

function add(into: Record<string, number>, quantities: Record<string, string>, times: number): void {
  for (const [resource, text] of Object.entries(quantities)) {
    const parsed = parseQuantity(text);
    if (parsed.ok) into[resource] = (into[resource] ?? 0) + parsed.value * times;
  }
}

function format(values: Record<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [resource, value] of Object.entries(values).sort(([a], [b]) => a.localeCompare(b))) {
    if (resource === "cpu") out[resource] = formatCores(value);
    else if (resource === "memory" || resource.includes("storage")) out[resource] = formatBytes(value);
    else out[resource] = String(Math.round(value));
  }
  return out;
}
