/**
 * The live fleet as a fleet snapshot (pure): the registry's Locations, Regions and Clusters, and the inventory
 * items each cluster's agent last reported (nodes with their taints, workloads with their constraints —
 * nodeSelector, required node affinity, tolerations, anti-affinity, spread — and the version), and each
 * cluster's pod range (its network plan's, or the one it declares). What
 * `GET /unitfleet/v1alpha1/fleet-snapshot` answers and `unitfleet snapshot` writes; `readFleet` accepts it.
 *
 * A cluster whose agent has not reported yet (no inventory, no version known) is left out and named in
 * `unreported`: a snapshot says what the fleet runs, and without nodes such a cluster would look empty.
 */
import { type InventoryItem, type NodeItem, networkKey, type WorkloadItem } from "../inventory/inventory.ts";
import { parseCidr } from "../network/cidr.ts";
import { readObservedNetwork } from "../network/observed-network.ts";
import { parseQuantity } from "../quantity/quantity.ts";
import type { Cluster, Location, Region } from "../resources/kinds.ts";
import { labelKeyProblem, labelValueProblem } from "../validation/names.ts";
import {
  type ClusterFreshness,
  extendedResourceProblem,
  type FleetSnapshot,
  fleetSnapshotApiVersion,
  fleetSnapshotKind,
  hostnameTopologyKey,
  isValidNodeSelectorTerm,
  type SnapshotCluster,
  type SnapshotNetwork,
  type SnapshotNode,
  type SnapshotWorkload,
  zoneTopologyKey,
} from "./fleet-snapshot.ts";

export interface LiveFleet {
  locations: readonly Pick<Location, "metadata" | "spec">[];
  regions: readonly Pick<Region, "metadata" | "spec">[];
  clusters: readonly Pick<Cluster, "metadata" | "spec" | "status">[];
  /** Each cluster's inventory items by key (`cluster`, `node/NAME`, `workload/NS/KIND/NAME`). */
  inventories: ReadonlyMap<string, ReadonlyMap<string, InventoryItem>>;
  /** When the snapshot is taken (RFC 3339). */
  takenAt: string;
}

export interface LiveSnapshot {
  snapshot: FleetSnapshot;
  /** Registered clusters left out because they have reported no inventory yet. */
  unreported: string[];
}

/** Builds the fleet snapshot of the live fleet; same input, same output (everything in name order). */
export function snapshotFromInventory(fleet: LiveFleet): LiveSnapshot {
  const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }) =>
    compareNames(a.metadata.name, b.metadata.name);
  const clusters: SnapshotCluster[] = [];
  const unreported: string[] = [];
  for (const cluster of [...fleet.clusters].sort(byName)) {
    const items = fleet.inventories.get(cluster.metadata.name);
    const built = items ? snapshotCluster(cluster, items) : undefined;
    if (built) clusters.push(built);
    else unreported.push(cluster.metadata.name);
  }
  const locations = [...fleet.locations].sort(byName).map((location) => {
    const regions = fleet.regions
      .filter((r) => r.spec.location === location.metadata.name)
      .sort(byName)
      .map((r) => ({ name: r.metadata.name, zones: [...r.spec.zones] }));
    return { name: location.metadata.name, ...(regions.length > 0 ? { regions } : {}) };
  });
  return {
    snapshot: {
      apiVersion: fleetSnapshotApiVersion,
      kind: fleetSnapshotKind,
      takenAt: fleet.takenAt,
      locations,
      clusters,
    },
    unreported,
  };
}

// Labels the hub derives from a Cluster's spec: the snapshot has them as fields already.
const derivedLabels = ["location", "region", "environment", "business"] as const;
const versionPattern = /^v?\d+\.\d+(\.\d+)?([-+].*)?$/;

function snapshotCluster(
  cluster: Pick<Cluster, "metadata" | "spec" | "status">,
  items: ReadonlyMap<string, InventoryItem>,
): SnapshotCluster | undefined {
  const reported = (items.get("cluster") as { kubernetesVersion?: unknown } | undefined)?.kubernetesVersion;
  const version = [reported, cluster.status?.kubernetesVersion].find(
    (v): v is string => typeof v === "string" && versionPattern.test(v),
  );
  if (!version) return undefined;
  const nodes: SnapshotNode[] = [];
  const workloads: Array<[string, SnapshotWorkload]> = [];
  for (const [key, item] of items) {
    if (key.startsWith("node/")) nodes.push(snapshotNode(item as NodeItem));
    else if (key.startsWith("workload/")) workloads.push([key, snapshotWorkload(item as WorkloadItem)]);
  }
  nodes.sort((a, b) => compareNames(a.name, b.name));
  workloads.sort(([a], [b]) => compareNames(a, b));
  const spec = cluster.spec;
  const zones = spec.zones ?? [...new Set(nodes.flatMap((n) => (n.zone ? [n.zone] : [])))].sort();
  const labels = Object.fromEntries(
    Object.entries(cluster.metadata.labels ?? {}).filter(
      ([key, value]) =>
        !derivedLabels.some((d) => d === key && (spec as unknown as Record<string, unknown>)[d] === value),
    ),
  );
  return {
    name: cluster.metadata.name,
    location: spec.location,
    ...(spec.region ? { region: spec.region } : {}),
    environment: spec.environment,
    business: spec.business,
    kubernetesVersion: version,
    ...(zones.length > 0 ? { zones: [...zones] } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    nodes,
    workloads: workloads.map(([, w]) => w),
    ...podRangeOf(cluster, items),
    freshness: freshnessOf(cluster),
  };
}

/**
 * The cluster's pod range: its network plan's (`spec.network.pods`), else the one it declares (its agent's
 * `network` item, `declaredPodCIDRs`). The nodes' podCIDRs are not a pod range: they hold only today's nodes.
 */
function podRangeOf(
  cluster: Pick<Cluster, "spec">,
  items: ReadonlyMap<string, InventoryItem>,
): { network?: SnapshotNetwork } {
  const planned = cluster.spec.network;
  if (planned?.pods)
    return {
      network: {
        pods: [...planned.pods],
        ...(planned.nodeMask ? { nodeMask: { ...planned.nodeMask } } : {}),
        source: "allocated",
      },
    };
  const observed = readObservedNetwork(items.get(networkKey));
  const declared = observed?.declaredPodCIDRs?.filter((text) => parseCidr(text).ok) ?? [];
  if (declared.length === 0) return {};
  const mask = observed?.nodeMask;
  const ipv4 = mask?.ipv4 !== undefined && mask.ipv4 >= 16 && mask.ipv4 <= 30 ? mask.ipv4 : undefined;
  const ipv6 = mask?.ipv6 !== undefined && mask.ipv6 >= 48 && mask.ipv6 <= 126 ? mask.ipv6 : undefined;
  return {
    network: {
      pods: declared,
      ...(ipv4 !== undefined || ipv6 !== undefined
        ? { nodeMask: { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) } }
        : {}),
      source: "observed",
    },
  };
}

/** When the hub last heard from the cluster and its Reachable and Ready conditions, from its status. */
function freshnessOf(cluster: Pick<Cluster, "status">): ClusterFreshness {
  const status = cluster.status;
  const condition = (type: string) => {
    const value = status?.conditions?.find((c) => c.type === type)?.status;
    return value === "True" || value === "False" ? value : "Unknown";
  };
  return {
    ...(status?.lastHeartbeatTime ? { lastHeartbeatTime: status.lastHeartbeatTime } : {}),
    reachable: condition("Reachable"),
    ready: condition("Ready"),
  };
}

const instanceTypeLabel = "node.kubernetes.io/instance-type";

function snapshotNode(node: NodeItem): SnapshotNode {
  const labels = Object.fromEntries(
    Object.entries(strings(node.labels)).filter(([k, v]) => !labelKeyProblem(k) && !labelValueProblem(v)),
  );
  const instanceType = labels[instanceTypeLabel];
  return {
    name: node.name,
    ...(node.zone ? { zone: node.zone } : {}),
    ...(instanceType ? { instanceType } : {}),
    allocatable: quantities(node.allocatable),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(node.taints && node.taints.length > 0 ? { taints: node.taints.map((t) => ({ ...t })) } : {}),
  };
}

function snapshotWorkload(w: WorkloadItem): SnapshotWorkload {
  const nodeSelector = strings(w.nodeSelector);
  const keys: readonly string[] = [hostnameTopologyKey, zoneTopologyKey];
  const antiAffinity = w.podAntiAffinity?.topologyKey;
  const spread = (w.topologySpread ?? []).filter(
    (s) => keys.includes(s.topologyKey) && Number.isInteger(s.maxSkew) && s.maxSkew >= 1,
  );
  // Terms the API server accepted are valid; one that is not (an agent of another build) is left out.
  const terms = (w.nodeAffinity?.nodeSelectorTerms ?? []).filter(isValidNodeSelectorTerm);
  return {
    namespace: w.namespace,
    kind: w.kind,
    name: w.name,
    replicas: Number.isInteger(w.replicas) && w.replicas >= 0 ? w.replicas : 0,
    podRequests: quantities(w.podRequests),
    ...(w.application ? { application: w.application } : {}),
    ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
    ...(antiAffinity && keys.includes(antiAffinity)
      ? { podAntiAffinity: { topologyKey: antiAffinity } }
      : {}),
    ...(spread.length > 0
      ? { topologySpread: spread.map((s) => ({ topologyKey: s.topologyKey, maxSkew: s.maxSkew })) }
      : {}),
    ...(terms.length > 0
      ? {
          nodeAffinity: {
            nodeSelectorTerms: terms.map((t) => ({
              matchExpressions: t.matchExpressions.map((e) => ({ ...e })),
            })),
          },
        }
      : {}),
    ...(w.tolerations && w.tolerations.length > 0
      ? { tolerations: w.tolerations.map((t) => ({ ...t })) }
      : {}),
  };
}

/**
 * Only the entries that are quantities, extended resources in whole units (an agent reports what its API server
 * says, which refuses fractions of them; the snapshot must read).
 */
function quantities(map: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [resource, value] of Object.entries(map ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    if (
      (typeof value === "string" || typeof value === "number") &&
      parseQuantity(value).ok &&
      !extendedResourceProblem(resource, value)
    )
      out[resource] = String(value);
  return out;
}

function strings(map: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(map ?? {})
      .filter((e): e is [string, string] => typeof e[1] === "string")
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

// Name order with numbers compared as numbers: node-2 before node-10.
function compareNames(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
