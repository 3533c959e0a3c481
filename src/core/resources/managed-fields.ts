/**
 * Field ownership for server-side apply, as Kubernetes records it in `metadata.managedFields` (FieldsV1): which
 * field manager set which fields of `spec`, `metadata.labels` and `metadata.annotations`. Pure: the time comes in.
 *
 * Maps are merged key by key and each key is owned on its own; scalars are owned as a whole; lists are atomic (a
 * list is one field, replaced whole and owned by whoever set it last), as Kubernetes treats lists without merge
 * keys. An apply that sets a field another manager owns, to a different value, is a conflict unless forced; forced,
 * it takes the field. Fields a manager applied before and no longer applies are removed when nobody else owns them.
 */
import { canonicalJson } from "./canonical-json.ts";

/** One manager's fields in FieldsV1: `{"f:spec": {"f:displayName": {}}}`. */
export type FieldsV1 = { [key: string]: FieldsV1 };

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: FieldsV1;
}

/** A field: the keys from the object's root, e.g. ["spec", "displayName"] or ["metadata", "labels", "app"]. */
export type FieldPath = readonly string[];

/** A field another manager owns with a different value. */
export interface FieldConflict {
  manager: ManagedFieldsEntry;
  path: FieldPath;
}

type Json = Record<string, unknown>;

/** Reads an object's `metadata.managedFields`, keeping only well-formed entries. */
export function managedFieldsOf(object: unknown): ManagedFieldsEntry[] {
  const entries = (object as { metadata?: { managedFields?: unknown } } | undefined)?.metadata?.managedFields;
  if (!Array.isArray(entries)) return [];
  return entries.filter(
    (e): e is ManagedFieldsEntry =>
      isMap(e) && typeof e.manager === "string" && (e.operation === "Apply" || e.operation === "Update"),
  );
}

/** The part of an object field managers own: spec, labels and annotations. */
export function managedPart(object: unknown): Json {
  const o = (isMap(object) ? object : {}) as { metadata?: unknown; spec?: unknown };
  const metadata = isMap(o.metadata) ? o.metadata : {};
  const part: Json = {};
  const meta: Json = {};
  if (metadata.labels !== undefined) meta.labels = metadata.labels;
  if (metadata.annotations !== undefined) meta.annotations = metadata.annotations;
  if (Object.keys(meta).length > 0) part.metadata = meta;
  if (o.spec !== undefined) part.spec = o.spec;
  return part;
}

/**
 * Every field a value sets: its leaves (scalars, lists, null), maps walked into. An empty map sets no field: it
 * owns nothing and takes nothing from others.
 */
export function leafPaths(value: unknown, prefix: FieldPath = []): FieldPath[] {
  if (!isMap(value)) return [prefix];
  return Object.entries(value).flatMap(([key, item]) => leafPaths(item, [...prefix, key]));
}

/** Fields as FieldsV1. */
export function toFieldsV1(paths: readonly FieldPath[]): FieldsV1 {
  const root: FieldsV1 = {};
  for (const path of paths) {
    let node = root;
    for (const key of path) {
      const field = `f:${key}`;
      node[field] ??= {};
      node = node[field]!;
    }
  }
  return root;
}

/** The fields a FieldsV1 names (its leaves); keys that are not `f:` fields are ignored. */
export function fromFieldsV1(fields: unknown, prefix: FieldPath = []): FieldPath[] {
  if (!isMap(fields)) return [];
  const keys = Object.keys(fields).filter((k) => k.startsWith("f:"));
  if (keys.length === 0) return prefix.length > 0 ? [prefix] : [];
  return keys.flatMap((k) => fromFieldsV1(fields[k], [...prefix, k.slice(2)]));
}

/** A field as Kubernetes prints it in a conflict: `.spec.displayName`. */
export function fieldPathText(path: FieldPath): string {
  return path.map((key) => `.${key}`).join("");
}

/** The message Kubernetes gives a refused apply, naming every conflicting manager and field. */
export function conflictMessage(conflicts: readonly FieldConflict[]): string {
  if (conflicts.length === 1)
    return `Apply failed with 1 conflict: conflict with ${managerText(conflicts[0]!.manager)}: ${fieldPathText(conflicts[0]!.path)}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const key = managerText(c.manager);
    byManager.set(key, [...(byManager.get(key) ?? []), fieldPathText(c.path)]);
  }
  const lines = [...byManager.keys()]
    .sort()
    .flatMap((m) => [`conflicts with ${m}:`, ...byManager.get(m)!.map((p) => `- ${p}`)]);
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
}

/** A manager as Kubernetes names it in a conflict: `"kubectl"`, or `"kubectl-edit" using v1` for an update. */
export function managerText(entry: ManagedFieldsEntry): string {
  const name = JSON.stringify(entry.manager);
  return entry.operation === "Update" ? `${name} using ${entry.apiVersion}` : name;
}

export interface ApplyRequest {
  /** The live object, or undefined when the apply creates it. */
  live: unknown;
  /** The applied configuration (its spec, labels and annotations are what the manager sets). */
  config: unknown;
  manager: string;
  force: boolean;
  apiVersion: string;
  /** The time recorded in the manager's entry (RFC 3339, seconds). */
  time: string;
}

export type ApplyOutcome =
  | {
      ok: true;
      /** The live object's managed part with the configuration applied (the caller rebuilds the object). */
      merged: Json;
      managedFields: ManagedFieldsEntry[];
    }
  | { ok: false; conflicts: FieldConflict[] };

/** Server-side apply of one manager's configuration to a live object (or to nothing: a create). */
export function applyConfiguration(request: ApplyRequest): ApplyOutcome {
  const config = managedPart(request.config);
  const live = managedPart(request.live);
  const entries = managedFieldsOf(request.live);
  const applied = leafPaths(config).filter((p) => p.length > 0);
  const setPaths = applied.filter((p) => valueAt(config, p) !== null);
  const mine = entries.find((e) => e.manager === request.manager && e.operation === "Apply");
  let others = entries.filter((e) => e !== mine).map((e) => ({ entry: e, paths: fromFieldsV1(e.fieldsV1) }));

  const conflicts: FieldConflict[] = [];
  for (const other of others)
    for (const p of applied)
      if (
        other.paths.some((q) => related(p, q)) &&
        !sameValue(valueAt(live, p), valueAt(config, p) ?? undefined)
      )
        conflicts.push({ manager: other.entry, path: p });
  if (conflicts.length > 0 && !request.force) return { ok: false, conflicts };
  // Forced: the conflicting fields change hands.
  others = others.map((o) => ({
    entry: o.entry,
    paths: o.paths.filter((q) => !conflicts.some((c) => c.manager === o.entry && related(c.path, q))),
  }));

  const merged = mergeConfiguration(live, config);
  const dropped = fromFieldsV1(mine?.fieldsV1).filter((q) => !applied.some((p) => related(p, q)));
  for (const q of dropped)
    if (!others.some((o) => o.paths.some((r) => related(q, r)))) removeField(merged, q);

  const managedFields = others
    .filter((o) => o.paths.length > 0)
    .map((o) => ({ ...o.entry, fieldsV1: toFieldsV1(o.paths) }));
  if (setPaths.length > 0)
    managedFields.push({
      manager: request.manager,
      operation: "Apply",
      apiVersion: request.apiVersion,
      time: request.time,
      fieldsType: "FieldsV1",
      fieldsV1: toFieldsV1(setPaths),
    });
  return { ok: true, merged, managedFields };
}

/**
 * Records a write that is not an apply (create, update, patch) by `manager`, operation Update, as Kubernetes
 * does: the manager owns every field whose value it changed, which no other manager owns any more; fields it
 * removed are no one's.
 */
export function recordUpdate(
  entries: readonly ManagedFieldsEntry[],
  before: unknown,
  after: unknown,
  manager: string,
  apiVersion: string,
  time: string,
): ManagedFieldsEntry[] {
  const old = managedPart(before);
  const next = managedPart(after);
  const changed = leafPaths(next).filter(
    (p) => p.length > 0 && !sameValue(valueAt(old, p), valueAt(next, p)),
  );
  const removed = leafPaths(old).filter((p) => p.length > 0 && valueAt(next, p) === undefined);
  const touched = [...changed, ...removed];
  const mine = entries.find((e) => e.manager === manager && e.operation === "Update");
  const result: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    if (e === mine) continue;
    const kept = fromFieldsV1(e.fieldsV1).filter((q) => !touched.some((p) => related(p, q)));
    if (kept.length > 0) result.push({ ...e, fieldsV1: toFieldsV1(kept) });
  }
  const owned = [
    ...fromFieldsV1(mine?.fieldsV1).filter(
      (q) => !removed.some((p) => related(p, q)) && !changed.some((p) => related(p, q)),
    ),
    ...changed,
  ];
  if (owned.length > 0)
    result.push({
      manager,
      operation: "Update",
      apiVersion,
      time: changed.length > 0 ? time : (mine?.time ?? time),
      fieldsType: "FieldsV1",
      fieldsV1: toFieldsV1(owned),
    });
  return result;
}

/** One path is the other, or inside it. */
function related(a: FieldPath, b: FieldPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function valueAt(value: unknown, path: FieldPath): unknown {
  let node = value;
  for (const key of path) {
    if (!isMap(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** The configuration over the live part: maps merged key by key, anything else replaced, null removing. */
function mergeConfiguration(live: unknown, config: unknown): Json {
  const result: Json = isMap(live) ? { ...live } : {};
  for (const [key, value] of Object.entries(config as Json)) {
    if (value === null) delete result[key];
    else if (isMap(value)) result[key] = mergeConfiguration(result[key], value);
    else result[key] = structuredClone(value);
  }
  return result;
}

/** Removes a field, then the maps it leaves empty (never a top-level field such as `spec`). */
function removeField(root: Json, path: FieldPath): void {
  const parents: Json[] = [];
  let node: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (!isMap(node)) return;
    parents.push(node);
    node = node[key];
  }
  if (!isMap(node)) return;
  delete node[path.at(-1)!];
  for (let depth = path.length - 1; depth > 1; depth--) {
    const parent = parents[depth - 1]!;
    const key = path[depth - 1]!;
    const child = parent[key];
    if (isMap(child) && Object.keys(child).length === 0) delete parent[key];
    else break;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

function isMap(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
