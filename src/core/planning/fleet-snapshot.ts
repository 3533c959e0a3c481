/**
 * A fleet snapshot: what the consolidation planner reads. Locations with their Regions and zones; clusters with
 * their Location, Region, environment, business, version and pod range; their nodes (allocatable, zone, shape, labels) and
 * their workloads (per-pod requests and usage, replicas, placement constraints). The hub writes one from its live
 * inventory (`unitfleet snapshot -o fleet.json`); a team can write one from clusters unitfleet does not manage
 * yet, following `docs/fleet-snapshot.schema.json`, which is generated from the schema below.
 *
 * `readFleet` validates a snapshot (every problem with its field path) and turns its quantities into numbers: the
 * planner's model.
 */
import { z } from "zod";
import { parseCidr } from "../network/cidr.ts";
import { parseQuantity } from "../quantity/quantity.ts";
import { fieldPath, type Problem } from "../validation/problems.ts";
import { dnsName, labelMap as labels, labelValue, quantityAtLeast } from "../validation/zod-fields.ts";
import { problemsFromZod } from "../validation/zod-problems.ts";

export const fleetSnapshotApiVersion = "unitfleet.io/v1alpha1";
export const fleetSnapshotKind = "FleetSnapshot";

const quantity = quantityAtLeast(0);
const resources = z
  .record(z.string(), quantity)
  .superRefine((map, ctx) => {
    for (const [resource, value] of Object.entries(map)) {
      const problem = extendedResourceProblem(resource, value);
      if (problem) ctx.addIssue({ code: "custom", path: [resource], message: problem });
    }
  })
  .describe(
    "Resources by name: cpu (cores), memory (bytes), pods, and extended resources such as nvidia.com/gpu (whole units).",
  );

/** An extended resource: a name with a domain, such as `nvidia.com/gpu` (cpu, memory, pods… have none). */
export const isExtendedResource = (name: string) => name.includes("/");

/**
 * Why an amount of a resource is not one Kubernetes accepts as an extended resource (a fraction), or undefined.
 * A pod cannot hold part of a device that way: sharing is exposed as resources of its own (time-slicing
 * replicas, MIG profiles), each counted in whole units.
 */
export function extendedResourceProblem(resource: string, value: string | number): string | undefined {
  if (!isExtendedResource(resource)) return undefined;
  const parsed = parseQuantity(value);
  if (!parsed.ok || isWhole(parsed.value)) return undefined;
  return `${JSON.stringify(value)} is not a whole number: Kubernetes counts extended resources such as ${resource} in whole units (a shared device is exposed as a resource of its own, e.g. time-slicing replicas or a MIG profile)`;
}

// Whole up to rounding: "1000m" is 1.
const isWhole = (value: number) => Math.abs(value - Math.round(value)) < 1e-9;

/** The pods a node may run when its allocatable does not say: the kubelet's default (`--max-pods`). */
export const kubeletDefaultMaxPods = 110;

export const hostnameTopologyKey = "kubernetes.io/hostname";
export const zoneTopologyKey = "topology.kubernetes.io/zone";
const topologyKey = z.enum([hostnameTopologyKey, zoneTopologyKey]);

const taintEffect = z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]);
const taint = z
  .strictObject({ key: z.string().min(1), value: z.string().optional(), effect: taintEffect })
  .describe("A node taint, as in Node.spec.taints.");
const toleration = z
  .strictObject({
    key: z.string().optional().describe("The taint key; empty with operator Exists tolerates every taint."),
    operator: z.enum(["Exists", "Equal"]).optional().describe("Equal (the default) or Exists."),
    value: z.string().optional(),
    effect: taintEffect.optional().describe("The effect it tolerates; all effects when absent."),
  })
  .describe("A pod toleration, as in Pod.spec.tolerations.");
const nodeSelectorRequirement = z
  .strictObject({
    key: z.string().min(1),
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    values: z.array(z.string()).optional(),
  })
  .superRefine((req, ctx) => {
    const values = req.values ?? [];
    if ((req.operator === "In" || req.operator === "NotIn") && values.length === 0)
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `operator ${req.operator} needs at least one value`,
      });
    if ((req.operator === "Exists" || req.operator === "DoesNotExist") && values.length > 0)
      ctx.addIssue({ code: "custom", path: ["values"], message: `operator ${req.operator} takes no values` });
    if (
      (req.operator === "Gt" || req.operator === "Lt") &&
      (values.length !== 1 || !/^-?\d+$/.test(values[0]!))
    )
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `operator ${req.operator} needs exactly one integer value`,
      });
  });
const nodeSelectorTerm = z
  .strictObject({ matchExpressions: z.array(nodeSelectorRequirement).min(1) })
  .describe("Requirements that must all hold (ANDed).");

/** Whether a node selector term is one a snapshot accepts (operators and their values as Kubernetes checks them). */
export const isValidNodeSelectorTerm = (term: unknown) => nodeSelectorTerm.safeParse(term).success;

const snapshotNode = z.strictObject({
  name: z.string().min(1),
  zone: z.string().optional().describe("The node's topology.kubernetes.io/zone."),
  instanceType: z.string().optional().describe("The node's shape (node.kubernetes.io/instance-type)."),
  allocatable: resources.describe(
    "What pods may request on this node; extended resources in whole units; pods 110 (the kubelet default) when absent.",
  ),
  labels: labels.optional(),
  taints: z.array(taint).optional().describe("The node's taints (Node.spec.taints)."),
});

const snapshotWorkload = z.strictObject({
  namespace: dnsName,
  kind: z.string().min(1).describe("Deployment, StatefulSet, DaemonSet…"),
  name: z.string().min(1),
  replicas: z.number().int().min(0),
  podRequests: resources.describe(
    "Requests of one pod (sum over its containers); extended resources in whole units.",
  ),
  podUsage: resources.optional().describe("Measured usage of one pod, where the cluster reports it."),
  business: labelValue.optional().describe("The business owning it; by default the cluster's."),
  application: z.string().optional().describe("The unitfleet Application that delivers it, if any."),
  nodeSelector: z
    .record(z.string(), z.string())
    .optional()
    .describe("Node labels its pods require (node-type constraints)."),
  nodeAffinity: z
    .strictObject({ nodeSelectorTerms: z.array(nodeSelectorTerm).min(1) })
    .optional()
    .describe(
      "Required node affinity (requiredDuringSchedulingIgnoredDuringExecution): a node must match one of the terms.",
    ),
  tolerations: z.array(toleration).optional().describe("Its pods' tolerations."),
  podAntiAffinity: z
    .strictObject({ topologyKey })
    .optional()
    .describe("Required anti-affinity with its own pods: at most one per node (hostname) or per zone."),
  topologySpread: z
    .array(z.strictObject({ topologyKey, maxSkew: z.number().int().min(1) }))
    .optional()
    .describe("Topology spread constraints (DoNotSchedule) over its own pods."),
});

const podBlock = z.string().superRefine((text, ctx) => {
  const parsed = parseCidr(text);
  if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
});
const snapshotNetwork = z
  .strictObject({
    pods: z
      .array(podBlock)
      .min(1)
      .max(16)
      .describe(
        "The cluster's pod ranges (kube-controller-manager's --cluster-cidr): CIDR blocks, one per family.",
      ),
    nodeMask: z
      .strictObject({
        ipv4: z.number().int().min(16).max(30).optional(),
        ipv6: z.number().int().min(48).max(126).optional(),
      })
      .optional()
      .describe(
        "The pod range each node gets (--node-cidr-mask-size): by default /24 (IPv4) and /64 (IPv6).",
      ),
    source: z
      .enum(["allocated", "observed"])
      .optional()
      .describe(
        "Where the range comes from: the network plan (the Cluster's spec.network), or what the cluster declares (its agent's report).",
      ),
  })
  .describe(
    "The cluster's pod range: a merge into it that needs more nodes than the range holds is refused (rule fits-pod-range).",
  );

const conditionStatus = z.enum(["True", "False", "Unknown"]);
const clusterFreshness = z
  .strictObject({
    lastHeartbeatTime: z
      .string()
      .optional()
      .describe(
        "When the hub last heard from the cluster's agent (RFC 3339, written at most a report interval late): its inventory is as of then.",
      ),
    reachable: conditionStatus
      .optional()
      .describe("The cluster's Reachable condition when the snapshot was taken."),
    ready: conditionStatus.optional().describe("The cluster's Ready condition when the snapshot was taken."),
  })
  .describe("How fresh the cluster's data is; the hub writes it, a hand-written snapshot may leave it out.");

const snapshotCluster = z.strictObject({
  name: dnsName,
  location: dnsName,
  region: dnsName.optional(),
  environment: labelValue,
  business: labelValue,
  kubernetesVersion: z
    .string()
    .regex(/^v?\d+\.\d+(\.\d+)?([-+].*)?$/, "must be a Kubernetes version such as v1.36.3")
    .describe("The control plane's version."),
  zones: z.array(z.string()).optional().describe("Zones the cluster spans; by default its nodes' zones."),
  labels: labels.optional(),
  nodes: z.array(snapshotNode),
  workloads: z.array(snapshotWorkload),
  network: snapshotNetwork.optional(),
  freshness: clusterFreshness.optional(),
});

const snapshotLocation = z.strictObject({
  name: dnsName,
  regions: z.array(z.strictObject({ name: dnsName, zones: z.array(z.string()).min(1) })).optional(),
  zones: z.array(z.string()).optional().describe("Zones of a Location that is not split into Regions."),
});

export const fleetSnapshotSchema = z
  .strictObject({
    apiVersion: z.literal(fleetSnapshotApiVersion),
    kind: z.literal(fleetSnapshotKind),
    takenAt: z.string().optional().describe("When the snapshot was taken (RFC 3339)."),
    locations: z.array(snapshotLocation).optional().describe("By default, the Locations its clusters name."),
    clusters: z.array(snapshotCluster),
  })
  .describe("A fleet's clusters, nodes and workloads, as the unitfleet consolidation planner reads them.");

/** A snapshot file as written. */
export type FleetSnapshot = z.input<typeof fleetSnapshotSchema>;
export type SnapshotCluster = z.input<typeof snapshotCluster>;
export type SnapshotNode = z.input<typeof snapshotNode>;
export type SnapshotWorkload = z.input<typeof snapshotWorkload>;
export type ClusterFreshness = z.input<typeof clusterFreshness>;
export type SnapshotNetwork = z.input<typeof snapshotNetwork>;

/** Resource amounts as numbers: cpu in cores, memory in bytes, pods and extended resources as counts. */
export type Resources = Readonly<Record<string, number>>;

export type Taint = z.output<typeof taint>;
export type Toleration = z.output<typeof toleration>;
export type NodeSelectorRequirement = z.output<typeof nodeSelectorRequirement>;
/** Requirements that must all hold; a list of terms is met when one term is. */
export type NodeSelectorTerm = z.output<typeof nodeSelectorTerm>;

export interface FleetNode {
  name: string;
  zone?: string;
  instanceType?: string;
  allocatable: Resources;
  labels: Readonly<Record<string, string>>;
  /** Its taints; absent when it has none. */
  taints?: readonly Taint[];
}

export interface FleetWorkload {
  namespace: string;
  kind: string;
  name: string;
  replicas: number;
  /** Requests of one pod; `pods` is always 1. */
  podRequests: Resources;
  podUsage?: Resources;
  business: string;
  application?: string;
  nodeSelector?: Readonly<Record<string, string>>;
  /** Required node affinity: a node must match one of the terms (`node-admission.ts`). */
  nodeAffinity?: readonly NodeSelectorTerm[];
  /** Its pods' tolerations of node taints. */
  tolerations?: readonly Toleration[];
  /** Required anti-affinity with its own pods: at most one pod per node or per zone. */
  antiAffinity?: "hostname" | "zone";
  /** Largest allowed skew of its pods over zones (DoNotSchedule), if constrained. */
  zoneMaxSkew?: number;
  /** Largest allowed skew of its pods over nodes, if constrained. */
  hostnameMaxSkew?: number;
}

export interface FleetCluster {
  name: string;
  location: string;
  region?: string;
  environment: string;
  business: string;
  kubernetesVersion: string;
  zones: string[];
  labels: Readonly<Record<string, string>>;
  nodes: FleetNode[];
  workloads: FleetWorkload[];
  /** Its pod range, when the snapshot says: a merge into it may not outgrow it. */
  network?: SnapshotNetwork;
  /** How fresh its data is, when the snapshot says. */
  freshness?: ClusterFreshness;
}

export interface FleetLocation {
  name: string;
  regions: { name: string; zones: string[] }[];
  zones: string[];
}

/** The planner's model of a fleet: a validated snapshot with numbers for quantities. */
export interface Fleet {
  takenAt?: string;
  locations: FleetLocation[];
  clusters: FleetCluster[];
}

/**
 * A snapshot read: the planner's model and what was assumed to read it (`warnings`, each with its field path:
 * one per case, such as each node whose allocatable does not say how many pods it may run), or every problem.
 */
export type FleetReading =
  | { ok: true; value: Fleet; warnings: Problem[] }
  | { ok: false; problems: Problem[] };

/** The warning of a node whose allocatable has no `pods`, read as the kubelet default. */
export const defaultPodsWarning = `no pods in allocatable: the kubelet default, ${kubeletDefaultMaxPods}, is used`;

/**
 * Validates a snapshot and turns it into the planner's model; lists every problem with its field path. Read as
 * Kubernetes would: a fraction of an extended resource is refused, and a node without `pods` in its
 * allocatable runs the kubelet default (110), with a warning.
 */
export function readFleet(input: unknown): FleetReading {
  const parsed = fleetSnapshotSchema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: problemsFromZod(parsed.error) };
  const snapshot = parsed.data;
  const problems: Problem[] = [];
  const seen = new Set<string>();
  snapshot.clusters.forEach((cluster, i) => {
    if (seen.has(cluster.name))
      problems.push({
        path: fieldPath(["clusters", i, "name"]),
        message: `cluster ${cluster.name} is listed twice`,
      });
    seen.add(cluster.name);
  });
  const declared = new Map((snapshot.locations ?? []).map((l) => [l.name, l]));
  if (declared.size > 0)
    snapshot.clusters.forEach((cluster, i) => {
      const location = declared.get(cluster.location);
      if (!location)
        problems.push({
          path: fieldPath(["clusters", i, "location"]),
          message: `Location ${cluster.location} is not one of the snapshot's locations`,
        });
      else if (cluster.region && !(location.regions ?? []).some((r) => r.name === cluster.region))
        problems.push({
          path: fieldPath(["clusters", i, "region"]),
          message: `Region ${cluster.region} is not a Region of Location ${cluster.location}`,
        });
    });
  if (problems.length > 0) return { ok: false, problems };

  const warnings: Problem[] = [];
  const clusters = snapshot.clusters.map((c, i): FleetCluster => {
    const nodes = c.nodes.map((n, j): FleetNode => {
      const allocatable = amounts(n.allocatable);
      if (allocatable.pods === undefined) {
        allocatable.pods = kubeletDefaultMaxPods;
        warnings.push({
          path: fieldPath(["clusters", i, "nodes", j, "allocatable", "pods"]),
          message: defaultPodsWarning,
        });
      }
      return {
        name: n.name,
        ...(n.zone ? { zone: n.zone } : {}),
        ...(n.instanceType ? { instanceType: n.instanceType } : {}),
        allocatable,
        labels: n.labels ?? {},
        ...(n.taints && n.taints.length > 0 ? { taints: n.taints } : {}),
      };
    });
    const zones = c.zones ?? [...new Set(nodes.flatMap((n) => (n.zone ? [n.zone] : [])))].sort();
    return {
      name: c.name,
      location: c.location,
      ...(c.region ? { region: c.region } : {}),
      environment: c.environment,
      business: c.business,
      kubernetesVersion: c.kubernetesVersion,
      zones,
      labels: c.labels ?? {},
      nodes,
      workloads: c.workloads.map((w) => fleetWorkload(w, c.business)),
      ...(c.network ? { network: c.network } : {}),
      ...(c.freshness ? { freshness: c.freshness } : {}),
    };
  });
  const locations = [...new Set(clusters.map((c) => c.location))].sort().map((name): FleetLocation => {
    const given = declared.get(name);
    const regions = (given?.regions ?? []).map((r) => ({ name: r.name, zones: [...r.zones] }));
    const zones =
      given?.zones ??
      [...new Set(clusters.filter((c) => c.location === name).flatMap((c) => c.zones))].sort();
    return { name, regions, zones: [...zones] };
  });
  return {
    ok: true,
    value: { ...(snapshot.takenAt ? { takenAt: snapshot.takenAt } : {}), locations, clusters },
    warnings,
  };
}

function fleetWorkload(w: z.output<typeof snapshotWorkload>, clusterBusiness: string): FleetWorkload {
  const zoneSpread = w.topologySpread?.filter((s) => s.topologyKey === zoneTopologyKey).map((s) => s.maxSkew);
  const hostSpread = w.topologySpread
    ?.filter((s) => s.topologyKey === hostnameTopologyKey)
    .map((s) => s.maxSkew);
  const antiAffinity = w.podAntiAffinity?.topologyKey;
  return {
    namespace: w.namespace,
    kind: w.kind,
    name: w.name,
    replicas: w.replicas,
    podRequests: { ...amounts(w.podRequests), pods: 1 },
    ...(w.podUsage ? { podUsage: amounts(w.podUsage) } : {}),
    business: w.business ?? clusterBusiness,
    ...(w.application ? { application: w.application } : {}),
    ...(w.nodeSelector && Object.keys(w.nodeSelector).length > 0 ? { nodeSelector: w.nodeSelector } : {}),
    ...(w.nodeAffinity ? { nodeAffinity: w.nodeAffinity.nodeSelectorTerms } : {}),
    ...(w.tolerations && w.tolerations.length > 0 ? { tolerations: w.tolerations } : {}),
    ...(antiAffinity ? { antiAffinity: antiAffinity === hostnameTopologyKey ? "hostname" : "zone" } : {}),
    ...(zoneSpread && zoneSpread.length > 0 ? { zoneMaxSkew: Math.min(...zoneSpread) } : {}),
    ...(hostSpread && hostSpread.length > 0 ? { hostnameMaxSkew: Math.min(...hostSpread) } : {}),
  } as FleetWorkload;
}

// Quantities the schema has checked: each one parses (one that does not is refused with its field path).
function amounts(quantities: Record<string, string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [resource, text] of Object.entries(quantities)) {
    const parsed = parseQuantity(text);
    if (!parsed.ok) throw new Error(`unchecked quantity ${resource}: ${parsed.reason}`);
    out[resource] = parsed.value;
  }
  return out;
}

/** A workload's key in a plan: `CLUSTER/NAMESPACE/KIND/NAME`. */
export const workloadId = (cluster: string, w: Pick<FleetWorkload, "namespace" | "kind" | "name">) =>
  `${cluster}/${w.namespace}/${w.kind}/${w.name}`;

/** A cluster whose data a plan should not be trusted on without a look: not Reachable, or not heard from lately. */
export interface StaleCluster {
  name: string;
  /** Its Reachable condition, when the snapshot says. */
  reachable?: "True" | "False" | "Unknown";
  /** How long before `now` the hub last heard from it, when known. */
  silentForMs?: number;
}

/**
 * The clusters of a fleet whose data may be stale at `now`: those not Reachable when the snapshot was taken, and
 * those last heard from more than `maxSilenceMs` before `now`. Clusters without freshness (a hand-written
 * snapshot) are not judged.
 */
export function staleClusters(
  fleet: { clusters: ReadonlyArray<{ name: string; freshness?: ClusterFreshness }> },
  now: Date,
  maxSilenceMs: number,
): StaleCluster[] {
  const stale: StaleCluster[] = [];
  for (const cluster of fleet.clusters) {
    const freshness = cluster.freshness;
    if (!freshness) continue;
    const heard = freshness.lastHeartbeatTime ? Date.parse(freshness.lastHeartbeatTime) : Number.NaN;
    const silentForMs = Number.isNaN(heard) ? undefined : Math.max(0, now.getTime() - heard);
    const unreachable = freshness.reachable !== undefined && freshness.reachable !== "True";
    if (unreachable || silentForMs === undefined || silentForMs > maxSilenceMs)
      stale.push({
        name: cluster.name,
        ...(freshness.reachable ? { reachable: freshness.reachable } : {}),
        ...(silentForMs !== undefined ? { silentForMs } : {}),
      });
  }
  return stale;
}
