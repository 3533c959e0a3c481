/**
 * The fleet registry's kinds — Location, Region, Cluster; for delivery Application, Placement, Override; for
 * planning ConsolidationPolicy; for metering PriceBook; for the network plan NetworkPool — with their schemas, the labels the hub derives from their specs, their reference rules and the columns
 * kubectl prints for them.
 */
import { z } from "zod";
import {
  type ApplicationClusterStatus,
  type ApplicationPlacementStatus,
  type ApplicationSpec,
  applicationSpec,
  type OverrideSpec,
  overrideSpec,
} from "../delivery/application.ts";
import { type PriceBookSpec, priceBookConflicts, priceBookSpec } from "../metering/price-book.ts";
import { type NetworkPoolStatus, retiredIdsOf } from "../network/cluster-id-retirement.ts";
import { clusterNetworkProblems, clusterNetworkSpec } from "../network/cluster-network.ts";
import { type NetworkPoolSpec, networkPoolConflicts, networkPoolSpec } from "../network/network-pool.ts";
import type { ObservedClusterNetwork } from "../network/observed-network.ts";
import { type ConsolidationPolicySpec, consolidationPolicySpec } from "../planning/consolidation-policy.ts";
import { type PlacementSpec, placementSpec } from "../scheduling/placement.ts";
import { labelKeyProblem } from "../validation/names.ts";
import { fieldPath, type Problem, type Validated } from "../validation/problems.ts";
import { annotationMap, checkedString, dnsName, labelMap, labelValue } from "../validation/zod-fields.ts";
import { problemsFromZod } from "../validation/zod-problems.ts";
import { apiVersion, type Condition, type Resource } from "./meta.ts";

const labels = labelMap;

const metadataInput = z.object({
  name: dnsName,
  labels: labels.optional(),
  annotations: annotationMap.optional(),
  // Server-owned fields: accepted (kubectl sends them back) and replaced by the server's values.
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().nullable().optional(),
  managedFields: z.array(z.unknown()).optional(),
});

const taint = z.strictObject({
  key: checkedString(labelKeyProblem),
  value: labelValue.optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
});

export const locationSpec = z
  .strictObject({
    displayName: z.string().max(200).optional().describe("Human name of the Location, e.g. Frankfurt."),
    description: z.string().max(2000).optional().describe("Free text: what this Location serves."),
  })
  .describe("A site where users gather; the boundary user data never leaves.");

export const regionSpec = z
  .strictObject({
    location: dnsName.describe("The Location this Region belongs to."),
    zones: z.array(dnsName).min(1).describe("The zones (failure domains) of the Region."),
    displayName: z.string().max(200).optional().describe("Human name of the Region."),
  })
  .describe("A part of a Location, joined to its sibling Regions by intranet; holds units.");

export const clusterSpec = z
  .strictObject({
    location: dnsName.describe("The Location the cluster runs in."),
    region: dnsName.optional().describe("The Region it belongs to; must be a Region of its Location."),
    zones: z.array(dnsName).optional().describe("Zones it spans; each must be a zone of its Region."),
    environment: labelValue.describe("prod, staging, dev… (also set as the label `environment`)."),
    business: labelValue.describe("The business that owns it (also set as the label `business`)."),
    taints: z
      .array(taint)
      .optional()
      .describe("Taints that keep applications away unless they tolerate them."),
    network: clusterNetworkSpec
      .optional()
      .describe(
        "Its place in the network plan: maxNodes, and the ranges and ID given (docs/network-plan.md).",
      ),
  })
  .describe("One member Kubernetes cluster — a unit in the later stage.");

export type LocationSpec = z.infer<typeof locationSpec>;
export type RegionSpec = z.infer<typeof regionSpec>;
export type ClusterSpec = z.infer<typeof clusterSpec>;

/** What the agent reports of a cluster (filled in by the next capability). */
export interface ClusterStatus {
  kubernetesVersion?: string;
  nodes?: { total: number; ready: number };
  capacity?: Record<string, string>;
  allocatable?: Record<string, string>;
  requested?: Record<string, string>;
  pods?: number;
  /** Zones the cluster's nodes are in. */
  observedZones?: string[];
  namespaces?: Record<string, { requested: Record<string, string>; pods: number }>;
  lastHeartbeatTime?: string;
  /** When the cluster last stopped being Ready (absent: never, since it joined). */
  lastNotReadyTime?: string;
  /** The addresses the cluster really uses, as its agent observed them (core/network/observed-network.ts). */
  observedNetwork?: ObservedClusterNetwork;
  conditions?: Condition[];
}

export type Location = Resource<"Location", LocationSpec, { conditions?: Condition[] }>;
export type Region = Resource<"Region", RegionSpec, { conditions?: Condition[] }>;
export type Cluster = Resource<"Cluster", ClusterSpec, ClusterStatus>;
/** What the delivery controller and the agents report of an Application. */
export interface ApplicationStatus {
  observedGeneration?: number;
  placement?: ApplicationPlacementStatus;
  clusters?: ApplicationClusterStatus[];
  /**
   * replicas: ready/desired, in application replicas (one pod of each Deployment and StatefulSet), desired
   * counting those that fit nowhere; applied: chosen clusters that applied the current manifests without a
   * failure / chosen clusters.
   */
  summary?: { clusters: number; replicas: string; ready: number; desired: number; applied?: string };
  conditions?: Condition[];
  /** The latest notable happenings (failover moves, drift put back), newest last. */
  events?: Array<{ at: string; type: "Normal" | "Warning"; reason: string; message: string }>;
}

export type Application = Resource<"Application", ApplicationSpec, ApplicationStatus>;
export type Placement = Resource<"Placement", PlacementSpec, { conditions?: Condition[] }>;
export type Override = Resource<"Override", OverrideSpec, { conditions?: Condition[] }>;
export type ConsolidationPolicy = Resource<
  "ConsolidationPolicy",
  ConsolidationPolicySpec,
  Record<string, never>
>;
export type PriceBook = Resource<"PriceBook", PriceBookSpec, Record<string, never>>;
export type NetworkPool = Resource<"NetworkPool", NetworkPoolSpec, NetworkPoolStatus>;
export type FleetResource =
  | Location
  | Region
  | Cluster
  | Application
  | Placement
  | Override
  | ConsolidationPolicy
  | PriceBook
  | NetworkPool;

/** A column kubectl prints, read from the object by a JSONPath-like accessor. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date";
  /** JSONPath as the OpenAPI extension and CRD printer columns write it. */
  jsonPath: string;
  /** How a value that is an object, or a list of objects, reads in a cell (./columns.ts). */
  format?: (value: object) => string;
  /** Shown only with `-o wide`. */
  wide?: boolean;
  description: string;
}

export interface KindInfo {
  kind: FleetResource["kind"];
  plural: string;
  singular: string;
  shortNames: string[];
  spec: z.ZodType;
  /** Labels the hub derives from the spec (so that `-l environment=prod` selects on them). */
  derivedLabels: (spec: never) => Record<string, string>;
  columns: PrinterColumn[];
}

const age: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description: "time since creation",
};

export const kinds: Record<FleetResource["kind"], KindInfo> = {
  Location: {
    kind: "Location",
    plural: "locations",
    singular: "location",
    shortNames: ["loc"],
    spec: locationSpec,
    derivedLabels: () => ({}),
    columns: [
      { name: "Display Name", type: "string", jsonPath: ".spec.displayName", description: "human name" },
      age,
    ],
  },
  Region: {
    kind: "Region",
    plural: "regions",
    singular: "region",
    shortNames: ["reg"],
    spec: regionSpec,
    derivedLabels: (spec: RegionSpec) => ({ location: spec.location }),
    columns: [
      {
        name: "Location",
        type: "string",
        jsonPath: ".spec.location",
        description: "the Location it belongs to",
      },
      { name: "Zones", type: "string", jsonPath: ".spec.zones", description: "its zones" },
      age,
    ],
  },
  Cluster: {
    kind: "Cluster",
    plural: "clusters",
    singular: "cluster",
    shortNames: ["cl"],
    spec: clusterSpec,
    derivedLabels: (spec: ClusterSpec) => ({
      location: spec.location,
      ...(spec.region ? { region: spec.region } : {}),
      environment: spec.environment,
      business: spec.business,
    }),
    columns: [
      { name: "Location", type: "string", jsonPath: ".spec.location", description: "its Location" },
      { name: "Region", type: "string", jsonPath: ".spec.region", description: "its Region" },
      {
        name: "Environment",
        type: "string",
        jsonPath: ".spec.environment",
        description: "prod, staging, dev…",
      },
      {
        name: "Business",
        type: "string",
        jsonPath: ".spec.business",
        description: "the business that owns it",
      },
      {
        name: "Version",
        type: "string",
        jsonPath: ".status.kubernetesVersion",
        description: "Kubernetes version",
      },
      { name: "Nodes", type: "integer", jsonPath: ".status.nodes.total", description: "nodes" },
      {
        name: "Ready",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Ready")].status',
        description: "the Ready condition",
      },
      {
        name: "Zones",
        type: "string",
        jsonPath: ".status.observedZones",
        description: "zones its nodes are in",
        wide: true,
      },
      {
        name: "CPU",
        type: "string",
        jsonPath: ".status.capacity.cpu",
        description: "cpu capacity of its nodes",
        wide: true,
      },
      {
        name: "Memory",
        type: "string",
        jsonPath: ".status.capacity.memory",
        description: "memory capacity",
        wide: true,
      },
      {
        name: "CPU Req",
        type: "string",
        jsonPath: ".status.requested.cpu",
        description: "cpu requested by running pods",
        wide: true,
      },
      {
        name: "Mem Req",
        type: "string",
        jsonPath: ".status.requested.memory",
        description: "memory requested by running pods",
        wide: true,
      },
      {
        name: "Pods",
        type: "integer",
        jsonPath: ".status.pods",
        description: "running pods of its workloads",
        wide: true,
      },
      age,
    ],
  },
  Application: {
    kind: "Application",
    plural: "applications",
    singular: "application",
    shortNames: ["app"],
    spec: applicationSpec,
    derivedLabels: () => ({}),
    columns: [
      {
        name: "Clusters",
        type: "integer",
        jsonPath: ".status.summary.clusters",
        description: "clusters it runs in",
      },
      {
        name: "Replicas",
        type: "string",
        jsonPath: ".status.summary.replicas",
        description: "ready/desired replicas over all its clusters, desired counting those that fit nowhere",
      },
      {
        name: "Applied",
        type: "string",
        jsonPath: ".status.summary.applied",
        description: "chosen clusters that applied the current manifests without a failure / chosen clusters",
      },
      {
        name: "Ready",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Ready")].status',
        description: "every object healthy in every chosen cluster",
      },
      {
        name: "Placement",
        type: "string",
        jsonPath: ".status.placement.clusters",
        description: "where it runs: cluster=replicas",
        wide: true,
        format: (clusters) =>
          (clusters as Array<{ name: string; replicas: number }>)
            .map((c) => `${c.name}=${c.replicas}`)
            .join(","),
      },
      age,
    ],
  },
  Placement: {
    kind: "Placement",
    plural: "placements",
    singular: "placement",
    shortNames: ["pl"],
    spec: placementSpec,
    derivedLabels: () => ({}),
    columns: [
      { name: "Mode", type: "string", jsonPath: ".spec.replicas.mode", description: "Duplicated or Divided" },
      { name: "Count", type: "integer", jsonPath: ".spec.replicas.count", description: "replicas" },
      { name: "Locations", type: "string", jsonPath: ".spec.locations", description: "Locations allowed" },
      age,
    ],
  },
  Override: {
    kind: "Override",
    plural: "overrides",
    singular: "override",
    shortNames: ["ov"],
    spec: overrideSpec,
    derivedLabels: () => ({}),
    columns: [
      {
        name: "Applications",
        type: "string",
        jsonPath: ".spec.applications",
        description: "the Applications it changes (all when empty)",
      },
      age,
    ],
  },
  ConsolidationPolicy: {
    kind: "ConsolidationPolicy",
    plural: "consolidationpolicies",
    singular: "consolidationpolicy",
    shortNames: ["cpol"],
    spec: consolidationPolicySpec,
    derivedLabels: () => ({}),
    columns: [
      { name: "Scope", type: "string", jsonPath: ".spec.scope", description: "Location or Region" },
      {
        name: "Headroom",
        type: "integer",
        jsonPath: ".spec.headroomPercent",
        description: "percent of every node kept free",
      },
      {
        name: "Max Nodes",
        type: "integer",
        jsonPath: ".spec.maxClusterSize.nodes",
        description: "the largest cluster the team operates",
      },
      age,
    ],
  },
  PriceBook: {
    kind: "PriceBook",
    plural: "pricebooks",
    singular: "pricebook",
    shortNames: ["pb"],
    spec: priceBookSpec,
    derivedLabels: (spec: PriceBookSpec) => ({ location: spec.location }),
    columns: [
      { name: "Location", type: "string", jsonPath: ".spec.location", description: "the Location it prices" },
      { name: "Currency", type: "string", jsonPath: ".spec.currency", description: "ISO 4217 code" },
      {
        name: "From",
        type: "string",
        jsonPath: ".spec.prices",
        description: "when each period of prices starts",
        format: (periods) => (periods as Array<{ from: string }>).map((p) => p.from).join(","),
      },
      age,
    ],
  },
  NetworkPool: {
    kind: "NetworkPool",
    plural: "networkpools",
    singular: "networkpool",
    shortNames: ["np"],
    spec: networkPoolSpec,
    derivedLabels: (spec: NetworkPoolSpec) => ({
      location: spec.location,
      ...(spec.region ? { region: spec.region } : {}),
    }),
    columns: [
      { name: "Location", type: "string", jsonPath: ".spec.location", description: "the Location it serves" },
      {
        name: "Region",
        type: "string",
        jsonPath: ".spec.region",
        description: "the Region it narrows (none: the Location's pool)",
      },
      { name: "Pods", type: "string", jsonPath: ".spec.pods", description: "pod supernets" },
      { name: "Services", type: "string", jsonPath: ".spec.services", description: "Service supernets" },
      { name: "Nodes", type: "string", jsonPath: ".spec.nodes", description: "node supernets", wide: true },
      {
        name: "Cluster IDs",
        type: "string",
        jsonPath: ".spec.clusterIds",
        description: "the cluster IDs it hands out (1..255 unless set)",
        wide: true,
        format: (ids) => `${(ids as { first: number }).first}..${(ids as { last: number }).last}`,
      },
      {
        name: "Retired IDs",
        type: "string",
        jsonPath: ".status.retiredClusterIds",
        description: "cluster IDs of deleted clusters, quarantined",
        wide: true,
        format: (entries) => (entries as Array<{ clusterId: number }>).map((e) => e.clusterId).join(","),
      },
      age,
    ],
  },
};

/** Finds a kind by any name kubectl or a user may use: Kind, plural, singular or short name. */
export function kindByName(name: string): KindInfo | undefined {
  const lower = name.toLowerCase();
  return Object.values(kinds).find(
    (k) =>
      k.kind.toLowerCase() === lower ||
      k.plural === lower ||
      k.singular === lower ||
      k.shortNames.includes(lower),
  );
}

/** A document as a user wrote it, checked: envelope, metadata and spec, every problem with its path. */
export interface ValidInput {
  kind: KindInfo;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resourceVersion: string | undefined;
  spec: Record<string, unknown>;
}

const envelope = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: metadataInput,
  spec: z.unknown(),
  status: z.unknown().optional(),
});

/** Validates a document of one of the registry's kinds. `status` in input is ignored, as Kubernetes does. */
export function validateInput(input: unknown): Validated<ValidInput> {
  const parsed = envelope.safeParse(input);
  const problems: Problem[] = parsed.success ? [] : problemsFromZod(parsed.error);
  const raw = (input ?? {}) as { apiVersion?: unknown; kind?: unknown; spec?: unknown };
  if (typeof raw.apiVersion === "string" && raw.apiVersion !== apiVersion)
    problems.push({ path: "apiVersion", message: `must be ${apiVersion}` });
  const kind = typeof raw.kind === "string" ? kinds[raw.kind as FleetResource["kind"]] : undefined;
  if (typeof raw.kind === "string" && !kind)
    problems.push({
      path: "kind",
      message: `unknown kind "${raw.kind}" (known: ${Object.keys(kinds).join(", ")})`,
    });
  let spec: Record<string, unknown> | undefined;
  if (kind) {
    const specResult = kind.spec.safeParse(raw.spec);
    if (specResult.success) spec = specResult.data as Record<string, unknown>;
    else problems.push(...problemsFromZod(specResult.error, ["spec"]));
  }
  if (problems.length > 0 || !parsed.success || !kind || !spec)
    return { ok: false, problems: sortByPath(problems) };
  const meta = parsed.data.metadata;
  // Labels derived from the spec always win: `-l environment=prod` selects on the spec's value.
  const derived = kind.derivedLabels(spec as never);
  const userLabels = meta.labels ?? {};
  return {
    ok: true,
    value: {
      kind,
      name: meta.name,
      labels: { ...userLabels, ...derived },
      annotations: meta.annotations ?? {},
      resourceVersion: meta.resourceVersion || undefined,
      spec,
    },
  };
}

/** What reference checks need to know of the registry. */
export interface RegistryLookup {
  location(name: string): Location | undefined;
  region(name: string): Region | undefined;
  /** The PriceBooks of a Location, to refuse one that overlaps another (core/metering/price-book.ts). */
  priceBooks(location: string): PriceBook[];
  /** The NetworkPools of a Location, with their status (core/network/network-pool.ts). */
  networkPools(location: string): NetworkPool[];
  /** The Clusters of a Location, to refuse a `spec.network` that overlaps another's (core/network/cluster-network.ts). */
  clusters(location: string): Cluster[];
  /** The time of the check, for retired cluster IDs' quarantine. */
  now: Date;
}

/**
 * The Locations and Regions a placement names (a Placement's spec, or an Application's inline placement),
 * with their field paths. Clusters named are not references: they may join later.
 */
export function placementReferences(
  kind: FleetResource["kind"],
  spec: Record<string, unknown>,
): Array<{ kind: "Location" | "Region"; name: string; path: string }> {
  const at: Array<string | number> | undefined =
    kind === "Placement" ? ["spec"] : kind === "Application" ? ["spec", "placement"] : undefined;
  const placement = (kind === "Application" ? spec.placement : spec) as PlacementSpec | undefined;
  if (!at || !placement) return [];
  return [
    ...(placement.locations ?? []).map((name, i) => ({
      kind: "Location" as const,
      name,
      path: fieldPath([...at, "locations", i]),
    })),
    ...(placement.regions ?? []).map((name, i) => ({
      kind: "Region" as const,
      name,
      path: fieldPath([...at, "regions", i]),
    })),
  ];
}

/**
 * Checks the references of a valid document: a Region's Location, a Cluster's Location, Region and zones, the
 * Locations and Regions a placement names, a PriceBook's Location and its overlaps with the Location's other books,
 * a NetworkPool's Location, Region and conflicts with the Location's other pools, and a Cluster's `spec.network`
 * against its Location's pools and other Clusters.
 */
export function referenceProblems(input: ValidInput, lookup: RegistryLookup): Problem[] {
  const problems: Problem[] = [];
  for (const ref of placementReferences(input.kind.kind, input.spec))
    if (!(ref.kind === "Location" ? lookup.location(ref.name) : lookup.region(ref.name)))
      problems.push({ path: ref.path, message: `${ref.kind} "${ref.name}" does not exist` });
  if (input.kind.kind === "Region") {
    const spec = input.spec as RegionSpec;
    if (!lookup.location(spec.location))
      problems.push({ path: "spec.location", message: `Location "${spec.location}" does not exist` });
  }
  if (input.kind.kind === "PriceBook") {
    const spec = input.spec as PriceBookSpec;
    if (!lookup.location(spec.location))
      problems.push({ path: "spec.location", message: `Location "${spec.location}" does not exist` });
    else
      problems.push(
        ...priceBookConflicts({ metadata: { name: input.name }, spec }, lookup.priceBooks(spec.location)),
      );
  }
  if (input.kind.kind === "NetworkPool") {
    const spec = input.spec as NetworkPoolSpec;
    const region = spec.region === undefined ? undefined : lookup.region(spec.region);
    if (!lookup.location(spec.location))
      problems.push({ path: "spec.location", message: `Location "${spec.location}" does not exist` });
    else if (spec.region !== undefined && !region)
      problems.push({ path: "spec.region", message: `Region "${spec.region}" does not exist` });
    else if (region && region.spec.location !== spec.location)
      problems.push({
        path: "spec.region",
        message: `Region "${spec.region}" belongs to Location "${region.spec.location}", not "${spec.location}"`,
      });
    else
      problems.push(
        ...networkPoolConflicts({ metadata: { name: input.name }, spec }, lookup.networkPools(spec.location)),
      );
  }
  if (input.kind.kind === "Cluster") {
    const spec = input.spec as ClusterSpec;
    if (!lookup.location(spec.location))
      problems.push({ path: "spec.location", message: `Location "${spec.location}" does not exist` });
    else if (spec.network) {
      const pools = lookup.networkPools(spec.location);
      problems.push(
        ...clusterNetworkProblems(
          { metadata: { name: input.name }, spec },
          {
            pools,
            retiredIds: retiredIdsOf(pools),
            clusters: lookup.clusters(spec.location),
            now: lookup.now.getTime(),
          },
        ),
      );
    }
    if (spec.region) {
      const region = lookup.region(spec.region);
      if (!region) problems.push({ path: "spec.region", message: `Region "${spec.region}" does not exist` });
      else if (region.spec.location !== spec.location)
        problems.push({
          path: "spec.region",
          message: `Region "${spec.region}" belongs to Location "${region.spec.location}", not "${spec.location}"`,
        });
      else
        (spec.zones ?? []).forEach((zone, i) => {
          if (!region.spec.zones.includes(zone))
            problems.push({
              path: fieldPath(["spec", "zones", i]),
              message: `zone "${zone}" is not one of Region "${region.metadata.name}"'s zones [${region.spec.zones.join(", ")}]`,
            });
        });
    }
  }
  return problems;
}

function sortByPath(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true }));
}
