/**
 * Merging the exports of one Location by namespace sameness (KEP-1645, "Constraints and Conflict Resolution";
 * docs/multi-cluster-services.md): every ServiceExport of `namespace/name` in the Location's clusters is one
 * service. For each, the merged import, and for every export its `Valid` and `Conflict` conditions.
 *
 * - **Valid**: False with reason `NoService` (no Service of that name), `InvalidServiceType` (ExternalName),
 *   `TooManyPorts`, `ExportScopeBeyondLocation` (the `unitfleet.io/export-scope` annotation asks for anything
 *   but `location`) or `ClusterNotInLocation`; else True, reason `Valid`. Only valid exports are merged.
 * - **Precedence**: the oldest export (`exportCreatedAt`, then cluster name) wins every conflict.
 * - **Ports**: the union, merged by name, then by protocol and port; a port that clashes with one already taken
 *   (same name, different port; or same protocol and port, different name; or an unnamed port beside others) is
 *   dropped. Port sets that are not identical across exports raise `PortConflict`.
 * - **Type** (headlessness), **session affinity** and its config, **internal traffic policy**, **traffic
 *   distribution** and **IP families** come from the oldest export; a difference raises `TypeConflict`,
 *   `SessionAffinityConflict`, `SessionAffinityConfigConflict`, `InternalTrafficPolicyConflict`,
 *   `TrafficDistributionConflict`, `IPFamilyConflict` (the v1beta1 reasons), joined by commas.
 * - `Conflict` is set on every valid export of a conflicted service (True), else False with `NoConflicts`; an
 *   invalid export takes no part in the merge: its `Conflict` is Unknown, reason `NotMerged`.
 *
 * Deterministic: the answer does not depend on the order of the records. Conditions carry no transition time;
 * the hub stamps it when a condition changes.
 */
import { canonicalJson } from "../resources/canonical-json.ts";
import type { Problem } from "../validation/problems.ts";
import type {
  AddressType,
  EndpointGroup,
  ExportedService,
  ExportRecord,
  ImportType,
  ServicePortRecord,
  SessionAffinityConfig,
} from "./export-record.ts";

/** A Location and the Region of each of its clusters. */
export interface LocationMembers {
  location: string;
  clusters: ReadonlyArray<{ name: string; region: string }>;
}

/** A `metav1.Condition` without its transition time and generation (the hub adds them). */
export interface ExportCondition {
  type: "Valid" | "Conflict";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/** The conditions of one ServiceExport, for its cluster's agent to write into its status. */
export interface ExportStatus {
  cluster: string;
  namespace: string;
  name: string;
  conditions: [ExportCondition, ExportCondition];
}

/** One valid export feeding an import: where it runs and its endpoints. */
export interface ImportSource {
  cluster: string;
  region: string;
  exportCreatedAt: string;
  endpointGroups: EndpointGroup[];
}

/** The service a Location's consumers import under `namespace/name`. */
export interface MergedImport {
  location: string;
  namespace: string;
  name: string;
  type: ImportType;
  ports: ServicePortRecord[];
  sessionAffinity: "None" | "ClientIP";
  sessionAffinityConfig?: SessionAffinityConfig;
  ipFamilies: AddressType[];
  internalTrafficPolicy?: "Cluster" | "Local";
  trafficDistribution?: string;
  /** The cluster of the oldest export, whose values won. */
  oldestExportCluster: string;
  /** Every valid export, by cluster name. */
  sources: ImportSource[];
}

export type MergeResult =
  | { ok: true; imports: MergedImport[]; exports: ExportStatus[] }
  | { ok: false; problems: Problem[] };

/** The Conflict reasons of `multicluster.x-k8s.io/v1beta1`, in the order they are joined. */
export const conflictReasons = [
  "TypeConflict",
  "PortConflict",
  "SessionAffinityConflict",
  "SessionAffinityConfigConflict",
  "InternalTrafficPolicyConflict",
  "TrafficDistributionConflict",
  "IPFamilyConflict",
] as const;
export type ConflictReason = (typeof conflictReasons)[number];

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const serviceKey = (r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`;
const portText = (p: ServicePortRecord) =>
  `${p.name || "(unnamed)"} ${p.protocol}/${p.port}${p.appProtocol ? ` (${p.appProtocol})` : ""}`;

type ValidExport = Extract<ExportRecord, { serviceState: "Found" }> & { region: string };

/** The single-valued fields that the oldest export decides, with their reason and how they read. */
const decidedFields: ReadonlyArray<{
  reason: ConflictReason;
  field: string;
  value: (e: ExportedService) => unknown;
}> = [
  { reason: "TypeConflict", field: "type", value: (e) => e.type },
  { reason: "SessionAffinityConflict", field: "sessionAffinity", value: (e) => e.sessionAffinity },
  {
    reason: "SessionAffinityConfigConflict",
    field: "sessionAffinityConfig",
    value: (e) => e.sessionAffinityConfig ?? null,
  },
  {
    reason: "InternalTrafficPolicyConflict",
    field: "internalTrafficPolicy",
    value: (e) => e.internalTrafficPolicy ?? "Cluster",
  },
  {
    reason: "TrafficDistributionConflict",
    field: "trafficDistribution",
    value: (e) => e.trafficDistribution ?? null,
  },
  { reason: "IPFamilyConflict", field: "ipFamilies", value: (e) => e.ipFamilies },
];

/**
 * Merges the export records of one Location (see the module comment). Two records for the same cluster and
 * `namespace/name` are refused: the hub keeps one record per export.
 */
export function mergeExports(members: LocationMembers, records: readonly ExportRecord[]): MergeResult {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  records.forEach((r, i) => {
    const key = `${r.cluster}/${serviceKey(r)}`;
    const first = seen.get(key);
    if (first !== undefined)
      problems.push({
        path: `records[${i}]`,
        message: `a second record for export ${serviceKey(r)} of cluster "${r.cluster}" (the first is records[${first}])`,
      });
    else seen.set(key, i);
  });
  if (problems.length) return { ok: false, problems };

  const regionOf = new Map(members.clusters.map((c) => [c.name, c.region]));
  const byService = new Map<string, ExportRecord[]>();
  for (const r of records) {
    const list = byService.get(serviceKey(r)) ?? [];
    list.push(r);
    byService.set(serviceKey(r), list);
  }

  const imports: MergedImport[] = [];
  const exports: ExportStatus[] = [];
  for (const key of [...byService.keys()].sort(compareText)) {
    const group = byService.get(key)!;
    const valid: ValidExport[] = [];
    for (const r of group) {
      const refusal = refusalOf(r, members.location, regionOf);
      if (refusal) {
        exports.push({
          cluster: r.cluster,
          namespace: r.namespace,
          name: r.name,
          conditions: [
            { type: "Valid", status: "False", ...refusal },
            {
              type: "Conflict",
              status: "Unknown",
              reason: "NotMerged",
              message: "the export is not valid, so it takes no part in the merge",
            },
          ],
        });
      } else
        valid.push({
          ...(r as Extract<ExportRecord, { serviceState: "Found" }>),
          region: regionOf.get(r.cluster)!,
        });
    }
    if (valid.length === 0) continue;
    valid.sort(byAge);
    const merged = mergeValid(members.location, valid);
    imports.push(merged.import);
    const conflict: ExportCondition = merged.conflicts.length
      ? {
          type: "Conflict",
          status: "True",
          reason: merged.conflicts.map((c) => c.reason).join(","),
          message: merged.conflicts.map((c) => c.message).join("; "),
        }
      : { type: "Conflict", status: "False", reason: "NoConflicts", message: "all exports agree" };
    for (const e of valid)
      exports.push({
        cluster: e.cluster,
        namespace: e.namespace,
        name: e.name,
        conditions: [
          {
            type: "Valid",
            status: "True",
            reason: "Valid",
            message: `exported to the clusters of Location "${members.location}"`,
          },
          conflict,
        ],
      });
  }
  exports.sort((a, b) => compareText(serviceKey(a), serviceKey(b)) || compareText(a.cluster, b.cluster));
  return { ok: true, imports, exports };
}

/** "1 of 3 exports disagree (fra-b)". */
function disagree(others: readonly ValidExport[], total: number): string {
  return `${others.length} of ${total} exports disagree (${others.map((e) => e.cluster).join(", ")})`;
}

/** Oldest first: creation time, then cluster name. */
function byAge(a: ValidExport, b: ValidExport): number {
  return Date.parse(a.exportCreatedAt) - Date.parse(b.exportCreatedAt) || compareText(a.cluster, b.cluster);
}

function refusalOf(
  r: ExportRecord,
  location: string,
  regionOf: ReadonlyMap<string, string>,
): { reason: string; message: string } | undefined {
  if (!regionOf.has(r.cluster))
    return {
      reason: "ClusterNotInLocation",
      message: `cluster "${r.cluster}" is not a cluster of Location "${location}"`,
    };
  if (r.serviceState === "NoService")
    return { reason: "NoService", message: `there is no Service ${serviceKey(r)} in cluster "${r.cluster}"` };
  if (r.serviceState === "Invalid") return { reason: r.reason, message: r.message };
  if (r.requestedScope !== undefined && r.requestedScope !== "location")
    return {
      reason: "ExportScopeBeyondLocation",
      message: `unitfleet.io/export-scope "${r.requestedScope}" asks for more than the Location: services are exported only to the clusters of Location "${location}"`,
    };
  return undefined;
}

function mergeValid(
  location: string,
  valid: readonly ValidExport[],
): { import: MergedImport; conflicts: Array<{ reason: ConflictReason; message: string }> } {
  const oldest = valid[0]!;
  const found: Array<{ reason: ConflictReason; message: string }> = [];
  const disagreeing = (value: (e: ExportedService) => unknown) => {
    const winner = canonicalJson(value(oldest));
    return valid.filter((e) => canonicalJson(value(e)) !== winner);
  };

  for (const field of decidedFields) {
    const others = disagreeing(field.value);
    if (others.length)
      found.push({
        reason: field.reason,
        message: `${field.field}: using ${JSON.stringify(field.value(oldest))} from the oldest export (cluster "${oldest.cluster}"); ${disagree(others, valid.length)}`,
      });
  }

  const ports: ServicePortRecord[] = [];
  const dropped: string[] = [];
  for (const e of valid)
    for (const p of e.ports) {
      const sameName = ports.find((q) => q.name === p.name);
      if (sameName) {
        if (canonicalJson(sameName) !== canonicalJson(p))
          dropped.push(`${portText(p)} of "${e.cluster}" (its name is taken by ${portText(sameName)})`);
        continue;
      }
      if (ports.length > 0 && (p.name === "" || ports.some((q) => q.name === ""))) {
        dropped.push(`${portText(p)} of "${e.cluster}" (an unnamed port can only be a service's one port)`);
        continue;
      }
      const samePort = ports.find((q) => q.protocol === p.protocol && q.port === p.port);
      if (samePort) {
        dropped.push(
          `${portText(p)} of "${e.cluster}" (${p.protocol}/${p.port} is taken by ${portText(samePort)})`,
        );
        continue;
      }
      ports.push(p);
    }
  const portSet = (e: ValidExport) =>
    canonicalJson([...e.ports].sort((a, b) => compareText(canonicalJson(a), canonicalJson(b))));
  const portDifferences = valid.filter((e) => portSet(e) !== portSet(oldest));
  if (portDifferences.length)
    found.push({
      reason: "PortConflict",
      message: `ports: ${disagree(portDifferences, valid.length)}; the import has the union [${ports.map(portText).join(", ")}]${dropped.length ? ` without ${dropped.join(", ")}` : ""}`,
    });
  found.sort((a, b) => conflictReasons.indexOf(a.reason) - conflictReasons.indexOf(b.reason));

  return {
    import: {
      location,
      namespace: oldest.namespace,
      name: oldest.name,
      type: oldest.type,
      ports,
      sessionAffinity: oldest.sessionAffinity,
      ...(oldest.sessionAffinityConfig ? { sessionAffinityConfig: oldest.sessionAffinityConfig } : {}),
      ipFamilies: oldest.ipFamilies,
      ...(oldest.internalTrafficPolicy ? { internalTrafficPolicy: oldest.internalTrafficPolicy } : {}),
      ...(oldest.trafficDistribution ? { trafficDistribution: oldest.trafficDistribution } : {}),
      oldestExportCluster: oldest.cluster,
      sources: [...valid]
        .sort((a, b) => compareText(a.cluster, b.cluster))
        .map((e) => ({
          cluster: e.cluster,
          region: e.region,
          exportCreatedAt: e.exportCreatedAt,
          endpointGroups: e.endpointGroups,
        })),
    },
    conflicts: found,
  };
}
