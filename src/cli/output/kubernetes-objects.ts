/**
 * Objects as kubectl prints them: keys in Kubernetes order (apiVersion, kind, metadata, spec, status, then the
 * rest), several objects as a `kind: List`, and an object's name as `kind.group/name` for `-o name`.
 */

/** The keys Kubernetes prints first, in this order; any other key follows in the order it came. */
const leadingKeys = ["apiVersion", "kind", "metadata", "spec", "status"] as const;

/** A Kubernetes object as printed: the keys of its top level in Kubernetes order (nested keys as they came). */
export function inKubernetesOrder<T extends Record<string, unknown>>(object: T): T {
  const ordered: Record<string, unknown> = {};
  for (const key of leadingKeys) if (key in object) ordered[key] = object[key];
  for (const [key, value] of Object.entries(object)) if (!(key in ordered)) ordered[key] = value;
  return ordered as T;
}

/** Several objects as kubectl prints them: a `v1` `List` holding them, each in Kubernetes order. */
export function kubernetesList(items: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "List",
    metadata: { resourceVersion: "" },
    items: items.map((item) => inKubernetesOrder(item)),
  };
}

/**
 * `kind.group/name` as `kubectl get -o name` prints it (`cluster.unitfleet.io/tokyo-shop-prod`): the kind in
 * lower case, then the API group of its apiVersion (none for the core group: `pod/web-0`).
 */
export function qualifiedName(object: {
  apiVersion?: unknown;
  kind?: unknown;
  metadata: { name: string };
}): string {
  const apiVersion = typeof object.apiVersion === "string" ? object.apiVersion : "";
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  const kind = typeof object.kind === "string" ? object.kind.toLowerCase() : "";
  return `${kind}${group ? `.${group}` : ""}/${object.metadata.name}`;
}
