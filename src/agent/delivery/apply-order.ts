/**
 * The order an Application's objects are applied in, and what the agent adds to each one. Objects others
 * depend on come first: Namespaces and CustomResourceDefinitions (the applier waits for a CRD to be
 * Established before the objects of its kind), then ServiceAccounts, ConfigMaps, Secrets,
 * PersistentVolumeClaims, Services, then everything else. Removal goes the other way: Namespaces last.
 */

/** A Kubernetes object as the hub sent it. */
export type Manifest = Record<string, unknown>;

/** Which object: what a status report and the work store name it by. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export const applicationLabel = "unitfleet.io/application";
export const generationAnnotation = "unitfleet.io/generation";
export const fieldManager = "unitfleet";

const phases: ReadonlyArray<ReadonlyArray<string>> = [
  ["Namespace", "CustomResourceDefinition"],
  ["ServiceAccount"],
  ["ConfigMap"],
  ["Secret"],
  ["PersistentVolumeClaim"],
  ["Service"],
];

/** The phase an object is applied in: 0 (Namespaces, CRDs) to 6 (everything else). */
export function phaseOf(kind: string): number {
  const index = phases.findIndex((kinds) => kinds.includes(kind));
  return index === -1 ? phases.length : index;
}

/** Manifests grouped by phase, in apply order; within a phase, in the order they were written. */
export function applyPhases<T extends { kind: string }>(objects: readonly T[]): T[][] {
  const grouped: T[][] = Array.from({ length: phases.length + 1 }, () => []);
  for (const o of objects) grouped[phaseOf(o.kind)]!.push(o);
  return grouped.filter((g) => g.length > 0);
}

/** The order objects are deleted in: the reverse of the apply order, so Namespaces and CRDs go last. */
export function removalOrder<T extends { kind: string }>(objects: readonly T[]): T[] {
  return applyPhases(objects).reverse().flat();
}

/**
 * The identity of an object across generations: its API group (not version, so that moving a manifest from
 * v1beta1 to v1 does not prune the object), kind, namespace and name.
 */
export function refKey(ref: ObjectRef): string {
  const slash = ref.apiVersion.lastIndexOf("/");
  const group = slash === -1 ? "" : ref.apiVersion.slice(0, slash);
  return `${group}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

/** Why a manifest cannot be applied at all (no kind, no name…), or undefined. */
export function manifestProblem(manifest: Manifest): string | undefined {
  const metadata = manifest.metadata as Record<string, unknown> | undefined;
  if (typeof manifest.apiVersion !== "string" || manifest.apiVersion === "")
    return "the manifest has no apiVersion";
  if (typeof manifest.kind !== "string" || manifest.kind === "") return "the manifest has no kind";
  if (
    typeof metadata !== "object" ||
    metadata === null ||
    typeof metadata.name !== "string" ||
    !metadata.name
  )
    return "the manifest has no metadata.name";
  if (metadata.namespace !== undefined && typeof metadata.namespace !== "string")
    return "metadata.namespace must be a string";
  return undefined;
}

/** The object a manifest names (best effort for a manifest with problems). */
export function refOf(manifest: Manifest, index = 0): ObjectRef {
  const metadata = (manifest.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  return {
    apiVersion: typeof manifest.apiVersion === "string" ? manifest.apiVersion : "",
    kind: typeof manifest.kind === "string" ? manifest.kind : "",
    ...(typeof metadata.namespace === "string" ? { namespace: metadata.namespace } : {}),
    name:
      typeof metadata.name === "string" && metadata.name !== "" ? metadata.name : `(manifest ${index + 1})`,
  };
}

/**
 * The manifest as the agent applies it: the Application's label and the generation's annotation added to
 * the manifest's own. The input is not changed.
 */
export function decorate(manifest: Manifest, application: string, generation: number): Manifest {
  const copy = structuredClone(manifest) as Manifest & {
    metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  };
  copy.metadata.labels = { ...copy.metadata.labels, [applicationLabel]: application };
  copy.metadata.annotations = { ...copy.metadata.annotations, [generationAnnotation]: String(generation) };
  return copy;
}
