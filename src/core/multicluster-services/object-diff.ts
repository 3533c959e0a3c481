/**
 * The writes that bring a consumer cluster from the objects it holds to the objects it must hold
 * (consumer-objects.ts): creates, updates and deletes — deletes only of objects unitfleet manages (labelled
 * `app.kubernetes.io/managed-by` or `endpointslice.kubernetes.io/managed-by` = `mcs.unitfleet.io`). An object that
 * should be written but exists unmanaged is a conflict, never overwritten.
 *
 * "Holds what it must" means: every field unitfleet sets has its value in the current object (fields the API
 * server adds — uid, resourceVersion, a Service's clusterIP and defaults — are ignored); every label and
 * annotation unitfleet may set is present exactly when desired; and the optional fields unitfleet may leave out
 * (a Service's `trafficDistribution`) are absent when not desired. So desired objects compared with themselves as
 * read back give no writes (idempotent), and a change of any field unitfleet owns gives one update.
 *
 * Pass both sides over the same scope (all imports of one consumer, or one import and its own objects).
 */
import type { KubeObject } from "./consumer-objects.ts";
import {
  derivedServiceAnnotation,
  endpointSliceManagedByLabel,
  kubernetesServiceNameLabel,
  localityTierLabel,
  managedByLabel,
  mcsManager,
  serviceNameLabel,
  sourceClusterLabel,
  sourceRegionLabel,
} from "./object-names.ts";

/** Which object: group (not version), kind, namespace, name. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface ObjectDiff {
  creates: KubeObject[];
  updates: KubeObject[];
  deletes: ObjectRef[];
  /** Objects unitfleet should write but someone else owns: left alone, reported. */
  conflicts: Array<{ ref: ObjectRef; reason: string }>;
}

/** Labels and annotations unitfleet may set on what it writes: compared exactly, present or absent. */
const ownedLabels = [
  serviceNameLabel,
  sourceClusterLabel,
  endpointSliceManagedByLabel,
  managedByLabel,
  localityTierLabel,
  sourceRegionLabel,
  kubernetesServiceNameLabel,
];
const ownedAnnotations = [derivedServiceAnnotation];
/** Optional fields, by kind, that unitfleet sets or leaves out and the API server never defaults. */
const ownedOptionalFields: Record<string, ReadonlyArray<readonly string[]>> = {
  Service: [["spec", "trafficDistribution"]],
  ServiceImport: [
    ["spec", "ips"],
    ["spec", "sessionAffinityConfig"],
    ["spec", "ipFamilies"],
    ["spec", "internalTrafficPolicy"],
    ["spec", "trafficDistribution"],
    ["status", "servingTier"],
  ],
};

const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0]! : "");
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The identity of an object across versions of its API. */
export function objectKey(o: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): string {
  return `${groupOf(o.apiVersion)}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** The identity of the object `ref` names (the same key as `objectKey`). */
export function refKey(ref: ObjectRef): string {
  return `${groupOf(ref.apiVersion)}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

export function refOf(o: KubeObject): ObjectRef {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}),
    name: o.metadata.name,
  };
}

/** Whether unitfleet manages `o` (and so may update or delete it). */
export function isManagedByMcs(o: KubeObject): boolean {
  const labels = o.metadata.labels ?? {};
  return labels[managedByLabel] === mcsManager || labels[endpointSliceManagedByLabel] === mcsManager;
}

/** Whether `current` holds everything `desired` says (see the module comment). */
export function holdsDesired(current: KubeObject, desired: KubeObject): boolean {
  for (const [field, keys] of [
    ["labels", ownedLabels],
    ["annotations", ownedAnnotations],
  ] as const) {
    const have = (current.metadata[field] as Record<string, string> | undefined) ?? {};
    const want = desired.metadata[field] ?? {};
    if (keys.some((k) => have[k] !== want[k])) return false;
  }
  for (const path of ownedOptionalFields[desired.kind] ?? [])
    if (valueAt(desired, path) === undefined && valueAt(current, path) !== undefined) return false;
  const { metadata: _desiredMeta, ...desiredRest } = desired;
  const { metadata: _currentMeta, ...currentRest } = current;
  return covers(currentRest, desiredRest) && covers(current.metadata, withoutLabels(desired.metadata));
}

function withoutLabels(metadata: KubeObject["metadata"]) {
  const { labels: _labels, annotations: _annotations, ...rest } = metadata;
  return rest;
}

function valueAt(o: unknown, path: readonly string[]): unknown {
  let at = o;
  for (const segment of path) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<string, unknown>)[segment];
  }
  return at;
}

/** `have` has every value of `want`: objects by their keys, arrays element by element at equal length. */
function covers(have: unknown, want: unknown): boolean {
  if (want === undefined) return true;
  if (want === null || typeof want !== "object") return have === want;
  if (Array.isArray(want))
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => covers(have[i], w));
  if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
  return Object.entries(want).every(([k, w]) => covers((have as Record<string, unknown>)[k], w));
}

/** The writes from `current` to `desired` (see the module comment), each list sorted by object key. */
export function diffObjects(desired: readonly KubeObject[], current: readonly KubeObject[]): ObjectDiff {
  const currentByKey = new Map(current.map((o) => [objectKey(o), o]));
  const desiredKeys = new Set(desired.map(objectKey));
  const diff: ObjectDiff = { creates: [], updates: [], deletes: [], conflicts: [] };
  for (const want of [...desired].sort((a, b) => compareText(objectKey(a), objectKey(b)))) {
    const have = currentByKey.get(objectKey(want));
    if (!have) diff.creates.push(want);
    else if (!isManagedByMcs(have))
      diff.conflicts.push({
        ref: refOf(want),
        reason: `${want.kind} ${want.metadata.namespace ?? ""}/${want.metadata.name} exists and is not managed by unitfleet: left as it is`,
      });
    else if (!holdsDesired(have, want)) diff.updates.push(want);
  }
  for (const have of [...current].sort((a, b) => compareText(objectKey(a), objectKey(b))))
    if (!desiredKeys.has(objectKey(have)) && isManagedByMcs(have)) diff.deletes.push(refOf(have));
  return diff;
}

/** The number of writes a diff makes. */
export function writeCount(diff: ObjectDiff): number {
  return diff.creates.length + diff.updates.length + diff.deletes.length;
}
