/**
 * The export record (issue 15, docs/multi-cluster-services.md): what an agent tells the hub about one
 * ServiceExport of its cluster — metadata only (names, ports, addresses, conditions), never a pod's content.
 * `exportRecordSchema` is the contract with its bounds; `buildExportRecord` makes a record from the objects as
 * the Kubernetes API returns them (the ServiceExport, its Service, the Service's EndpointSlices).
 *
 * Bounds, and why:
 * - **ports**: at most 100 per Service and per endpoint group — the EndpointSlice limit of `discovery.k8s.io`
 *   v1beta1 (v1 raised it to 20,000, which no real Service needs and no frame could carry). A Service with more
 *   is not exported (`Invalid`, reason `TooManyPorts`).
 * - **endpoints**: at most 1,000 per record — the most one EndpointSlice holds and the capacity of the legacy
 *   Endpoints object. At the longest fields (IPv6 address, 63-character hostname and zone, 253-character node
 *   name) 1,000 endpoints take about 520 KB, so one record always fits a 1 MiB protocol frame. Beyond 1,000 the
 *   record keeps ready endpoints first, then serving, then by address, and says how many it left out
 *   (`endpointsOmitted`).
 */
import { z } from "zod";
import { dns1123Label } from "../validation/names.ts";
import {
  endpointSliceManagedByLabel,
  exportScopeAnnotation,
  kubernetesServiceNameLabel,
  mcsManager,
} from "./object-names.ts";

/** The most ports a record carries per Service and per endpoint group. */
export const maxExportPorts = 100;
/** The most endpoints one record carries (see the module comment). */
export const maxExportEndpoints = 1000;
/** The most endpoint groups (address type × port set) one record carries. */
export const maxEndpointGroups = 20;

export type Protocol = "TCP" | "UDP" | "SCTP";
export type ImportType = "ClusterSetIP" | "Headless";
export type AddressType = "IPv4" | "IPv6";

/** A port of the exported Service: what consumers connect to (`ServiceImport.spec.ports[]`). */
export interface ServicePortRecord {
  /** Empty only when it is the Service's one port. */
  name: string;
  protocol: Protocol;
  port: number;
  appProtocol?: string;
}

/** A port of the endpoints (the Service's target port, resolved): where the traffic lands. */
export interface EndpointPortRecord {
  name: string;
  protocol: Protocol;
  port: number;
  appProtocol?: string;
}

/** One endpoint of the exported Service, from its EndpointSlices (first address only, as consumers use). */
export interface EndpointRecord {
  address: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zone?: string;
  nodeName?: string;
  /** For a headless Service: `<hostname>.<cluster>.<svc>.<ns>.svc.clusterset.local`. */
  hostname?: string;
}

/** Endpoints that share an address type and a port set (the unit an EndpointSlice holds). */
export interface EndpointGroup {
  addressType: AddressType;
  ports: EndpointPortRecord[];
  endpoints: EndpointRecord[];
}

export interface SessionAffinityConfig {
  clientIP?: { timeoutSeconds?: number };
}

/** What the hub needs of an exported Service to merge it (the fields ServiceImport v1beta1 carries). */
export interface ExportedService {
  type: ImportType;
  ports: ServicePortRecord[];
  sessionAffinity: "None" | "ClientIP";
  sessionAffinityConfig?: SessionAffinityConfig;
  ipFamilies: AddressType[];
  internalTrafficPolicy?: "Cluster" | "Local";
  trafficDistribution?: string;
}

interface ExportIdentity {
  cluster: string;
  namespace: string;
  name: string;
  /** The ServiceExport's `metadata.creationTimestamp` (RFC 3339): the oldest export wins a conflict. */
  exportCreatedAt: string;
  /** The ServiceExport's `unitfleet.io/export-scope` annotation, when it has one. */
  requestedScope?: string;
}

/** Why an export cannot be merged, in the KEP's reasons where it has one. */
export type InvalidExportReason = "InvalidServiceType" | "TooManyPorts";

export type ExportRecord = ExportIdentity &
  (
    | ({ serviceState: "Found" } & ExportedService & {
          endpointGroups: EndpointGroup[];
          /** Endpoints left out beyond `maxExportEndpoints`. */
          endpointsOmitted: number;
        })
    | { serviceState: "NoService" }
    | { serviceState: "Invalid"; reason: InvalidExportReason; message: string }
  );

const dnsLabel = z
  .string()
  .max(63)
  .regex(dns1123Label, "must be a DNS label (lower-case letters, digits, -)");
const protocol = z.enum(["TCP", "UDP", "SCTP"]);
const addressType = z.enum(["IPv4", "IPv6"]);
const portNumber = z.number().int().min(1).max(65535);
const portName = z.union([z.literal(""), dnsLabel]);
const appProtocol = z.string().min(1).max(317);
const rfc3339 = z
  .string()
  .max(40)
  .refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), "must be an RFC 3339 time");

const servicePort = z.strictObject({
  name: portName,
  protocol,
  port: portNumber,
  appProtocol: appProtocol.optional(),
});

/** Port names unique (and present when there are several); for a Service's ports, protocol/port unique too. */
const uniquePorts =
  (protocolAndPort: boolean) =>
  <T extends { name: string; protocol: string; port: number }>(ports: T[], ctx: z.RefinementCtx) => {
    ports.forEach((p, i) => {
      const earlier = ports.findIndex((q) => q.name === p.name);
      const samePort = ports.findIndex((q) => q.protocol === p.protocol && q.port === p.port);
      if (protocolAndPort && samePort < i)
        ctx.addIssue({
          code: "custom",
          path: [i, "port"],
          message: `repeats the protocol and port of ports[${samePort}]`,
        });
      if (earlier < i)
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `repeats the name of ports[${earlier}]` });
      else if (p.name === "" && ports.length > 1)
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          message: "a port must be named when there are several",
        });
    });
  };

const endpoint = z.strictObject({
  address: z.string().min(1).max(45),
  ready: z.boolean(),
  serving: z.boolean(),
  terminating: z.boolean(),
  zone: z.string().min(1).max(63).optional(),
  nodeName: z.string().min(1).max(253).optional(),
  hostname: dnsLabel.optional(),
});

const endpointGroup = z.strictObject({
  addressType,
  ports: z.array(servicePort).max(maxExportPorts).superRefine(uniquePorts(false)),
  endpoints: z.array(endpoint).max(maxExportEndpoints),
});

const identity = {
  cluster: dnsLabel,
  namespace: dnsLabel,
  name: dnsLabel,
  exportCreatedAt: rfc3339,
  requestedScope: z.string().min(1).max(63).optional(),
};

/** The export record as it crosses the tunnel, with the bounds of the module comment. */
export const exportRecordSchema = z.discriminatedUnion("serviceState", [
  z
    .strictObject({
      ...identity,
      serviceState: z.literal("Found"),
      type: z.enum(["ClusterSetIP", "Headless"]),
      ports: z.array(servicePort).max(maxExportPorts).superRefine(uniquePorts(true)),
      sessionAffinity: z.enum(["None", "ClientIP"]),
      sessionAffinityConfig: z
        .strictObject({
          clientIP: z
            .strictObject({ timeoutSeconds: z.number().int().min(1).max(86400).optional() })
            .optional(),
        })
        .optional(),
      ipFamilies: z
        .array(addressType)
        .max(2)
        .refine((f) => new Set(f).size === f.length, "must not repeat a family"),
      internalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
      trafficDistribution: z.string().min(1).max(63).optional(),
      endpointGroups: z.array(endpointGroup).max(maxEndpointGroups),
      endpointsOmitted: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    })
    .superRefine((record, ctx) => {
      const total = record.endpointGroups.reduce((n, g) => n + g.endpoints.length, 0);
      if (total > maxExportEndpoints)
        ctx.addIssue({
          code: "custom",
          path: ["endpointGroups"],
          message: `at most ${maxExportEndpoints} endpoints per record (has ${total}); leave the rest out and count them in endpointsOmitted`,
        });
    }),
  z.strictObject({ ...identity, serviceState: z.literal("NoService") }),
  z.strictObject({
    ...identity,
    serviceState: z.literal("Invalid"),
    reason: z.enum(["InvalidServiceType", "TooManyPorts"]),
    message: z.string().max(1000),
  }),
]);

/** The parts of a ServiceExport that the record reads, as the Kubernetes API returns it. */
export interface ServiceExportObject {
  metadata: {
    name: string;
    namespace: string;
    creationTimestamp: string;
    annotations?: Record<string, string>;
  };
}

/** The parts of a Service that the record reads. */
export interface ServiceObject {
  metadata: { name: string; namespace: string };
  spec: {
    type?: string;
    clusterIP?: string;
    ports?: Array<{ name?: string; protocol?: string; port: number; appProtocol?: string }>;
    sessionAffinity?: string;
    sessionAffinityConfig?: SessionAffinityConfig;
    ipFamilies?: string[];
    internalTrafficPolicy?: string;
    trafficDistribution?: string;
  };
}

/** The parts of an EndpointSlice that the record reads. */
export interface EndpointSliceObject {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  addressType: string;
  ports?: Array<{ name?: string; protocol?: string; port?: number; appProtocol?: string }> | null;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    zone?: string;
    nodeName?: string;
    hostname?: string;
  }> | null;
}

const asProtocol = (p: string | undefined): Protocol => (p === "UDP" || p === "SCTP" ? p : "TCP");

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A port set as one string, for grouping and names: `name/protocol/port/appProtocol`, sorted. */
export function portSetKey(ports: readonly EndpointPortRecord[]): string {
  return ports
    .map((p) => `${p.name}/${p.protocol}/${p.port}/${p.appProtocol ?? ""}`)
    .sort(compareText)
    .join(",");
}

/**
 * Builds the export record of `serviceExport` in `cluster`: from its Service (absent when the cluster has none
 * of that name: `NoService`) and the EndpointSlices of that Service (those labelled
 * `kubernetes.io/service-name=<name>` in its namespace; slices unitfleet imported are skipped). An ExternalName
 * Service is `Invalid` (`InvalidServiceType`). Endpoints are de-duplicated by address (a ready copy wins),
 * sorted, and cut at `maxExportEndpoints`.
 */
export function buildExportRecord(input: {
  cluster: string;
  serviceExport: ServiceExportObject;
  service: ServiceObject | undefined;
  endpointSlices: readonly EndpointSliceObject[];
}): ExportRecord {
  const { cluster, serviceExport, service } = input;
  const { name, namespace, creationTimestamp, annotations } = serviceExport.metadata;
  const scope = annotations?.[exportScopeAnnotation];
  const identity: ExportIdentity = {
    cluster,
    namespace,
    name,
    exportCreatedAt: creationTimestamp,
    // cut to the record's bound: any value but "location" is refused, whatever its length
    ...(scope !== undefined ? { requestedScope: scope.slice(0, 63) || "(empty)" } : {}),
  };
  if (!service || service.metadata.name !== name || service.metadata.namespace !== namespace)
    return { ...identity, serviceState: "NoService" };
  const spec = service.spec;
  if (spec.type === "ExternalName")
    return {
      ...identity,
      serviceState: "Invalid",
      reason: "InvalidServiceType",
      message: `Service ${namespace}/${name} is of type ExternalName, which cannot be exported`,
    };
  const ports = (spec.ports ?? []).map(
    (p): ServicePortRecord => ({
      name: p.name ?? "",
      protocol: asProtocol(p.protocol),
      port: p.port,
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    }),
  );
  if (ports.length > maxExportPorts)
    return {
      ...identity,
      serviceState: "Invalid",
      reason: "TooManyPorts",
      message: `Service ${namespace}/${name} has ${ports.length} ports; at most ${maxExportPorts} can be exported`,
    };

  const groups = new Map<
    string,
    { addressType: AddressType; ports: EndpointPortRecord[]; byAddress: Map<string, EndpointRecord> }
  >();
  for (const slice of input.endpointSlices) {
    if (slice.metadata.namespace !== namespace) continue;
    if (slice.metadata.labels?.[kubernetesServiceNameLabel] !== name) continue;
    if (slice.metadata.labels?.[endpointSliceManagedByLabel] === mcsManager) continue;
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePorts = (slice.ports ?? [])
      .filter((p) => p.port !== undefined)
      .slice(0, maxExportPorts)
      .map(
        (p): EndpointPortRecord => ({
          name: p.name ?? "",
          protocol: asProtocol(p.protocol),
          port: p.port!,
          ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
        }),
      )
      .sort((a, b) => compareText(a.name, b.name));
    const key = `${slice.addressType}|${portSetKey(slicePorts)}`;
    let group = groups.get(key);
    if (!group) {
      group = { addressType: slice.addressType, ports: slicePorts, byAddress: new Map() };
      groups.set(key, group);
    }
    for (const e of slice.endpoints ?? []) {
      const address = e.addresses[0];
      if (!address) continue;
      const ready = e.conditions?.ready ?? true;
      const record: EndpointRecord = {
        address,
        ready,
        serving: e.conditions?.serving ?? ready,
        terminating: e.conditions?.terminating ?? false,
        ...(e.zone ? { zone: e.zone } : {}),
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        ...(e.hostname ? { hostname: e.hostname } : {}),
      };
      const seen = group.byAddress.get(address);
      if (!seen || rank(record) < rank(seen)) group.byAddress.set(address, record);
    }
  }

  // Cut at the bound across all groups: ready first, then serving, then by address.
  const all = [...groups.entries()].flatMap(([key, g]) => [...g.byAddress.values()].map((e) => ({ key, e })));
  all.sort(
    (a, b) => rank(a.e) - rank(b.e) || compareText(a.e.address, b.e.address) || compareText(a.key, b.key),
  );
  const kept = all.slice(0, maxExportEndpoints);
  const endpointGroups: EndpointGroup[] = [...groups.keys()]
    .sort(compareText)
    .map((key) => {
      const g = groups.get(key)!;
      return {
        addressType: g.addressType,
        ports: g.ports,
        endpoints: kept
          .filter((k) => k.key === key)
          .map((k) => k.e)
          .sort((a, b) => compareText(a.address, b.address)),
      };
    })
    .filter((g) => g.endpoints.length > 0)
    .slice(0, maxEndpointGroups);
  const keptCount = endpointGroups.reduce((n, g) => n + g.endpoints.length, 0);

  return {
    ...identity,
    serviceState: "Found",
    type: spec.clusterIP === "None" ? "Headless" : "ClusterSetIP",
    ports,
    sessionAffinity: spec.sessionAffinity === "ClientIP" ? "ClientIP" : "None",
    ...(spec.sessionAffinity === "ClientIP" && spec.sessionAffinityConfig
      ? { sessionAffinityConfig: spec.sessionAffinityConfig }
      : {}),
    ipFamilies: (spec.ipFamilies ?? []).filter((f): f is AddressType => f === "IPv4" || f === "IPv6"),
    ...(spec.internalTrafficPolicy === "Cluster" || spec.internalTrafficPolicy === "Local"
      ? { internalTrafficPolicy: spec.internalTrafficPolicy }
      : {}),
    ...(spec.trafficDistribution ? { trafficDistribution: spec.trafficDistribution } : {}),
    endpointGroups,
    endpointsOmitted: all.length - keptCount,
  };
}

/** Ready before serving-only before neither: the order in which endpoints are kept. */
function rank(e: EndpointRecord): number {
  return e.ready ? 0 : e.serving ? 1 : 2;
}
