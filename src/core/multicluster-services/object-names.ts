/**
 * The names and well-known labels of multi-cluster services (KEP-1645, `multicluster.x-k8s.io/v1beta1`) and the
 * names unitfleet gives the objects it writes into a consumer cluster. Every name is a pure function of what it
 * stands for, so an unchanged import gives the same objects (and no writes), and every name fits a DNS label
 * (at most 63 characters) so it can also be used as a label value.
 */
import { base32, sha256 } from "./sha256.ts";

/** The API group and version of ServiceExport and ServiceImport. */
export const mcsGroup = "multicluster.x-k8s.io";
export const mcsVersion = "v1beta1";
export const mcsApiVersion = `${mcsGroup}/${mcsVersion}`;

/** On an imported EndpointSlice: the ServiceImport it belongs to (KEP-1645, well-known label). */
export const serviceNameLabel = "multicluster.kubernetes.io/service-name";
/** On an imported EndpointSlice: the cluster its endpoints come from (KEP-1645, well-known label). */
export const sourceClusterLabel = "multicluster.kubernetes.io/source-cluster";
/** On a ServiceImport: the name of its derived Service (as the KEP's reference controller does). */
export const derivedServiceAnnotation = "multicluster.kubernetes.io/derived-service";
/** Kubernetes' label tying an EndpointSlice to its Service; kube-proxy reads only slices that carry it. */
export const kubernetesServiceNameLabel = "kubernetes.io/service-name";
/** Kubernetes' label naming the controller of an EndpointSlice (discovery.k8s.io, `LabelManagedBy`). */
export const endpointSliceManagedByLabel = "endpointslice.kubernetes.io/managed-by";
/** The recommended label naming the tool that manages an object; unitfleet deletes only objects carrying it. */
export const managedByLabel = "app.kubernetes.io/managed-by";
/** The value of both managed-by labels on what multi-cluster services write (a label value: no `/`). */
export const mcsManager = "mcs.unitfleet.io";
/** On an imported EndpointSlice: the locality tier of its source cluster for this consumer (locality.ts). */
export const localityTierLabel = "unitfleet.io/locality-tier";
/** On an imported EndpointSlice: the Region of its source cluster. */
export const sourceRegionLabel = "unitfleet.io/source-region";
/**
 * On a ServiceExport: how far the export may reach. Only `location` (the default, when absent) is honoured;
 * any other value asks for more than the Location and the export is refused (merge.ts).
 */
export const exportScopeAnnotation = "unitfleet.io/export-scope";

/** `length` characters of base32(SHA-256(text)): a stable suffix that keeps distinct inputs apart. */
export function nameHash(text: string, length = 10): string {
  return base32(sha256(text)).slice(0, length);
}

/** `prefix` + `readable` (cut so the whole fits `max`) + `-` + `suffix`, never with a dangling `-`. */
function fitted(prefix: string, readable: string, suffix: string, max = 63): string {
  const room = max - prefix.length - 1 - suffix.length;
  const cut = readable.slice(0, Math.max(0, room)).replace(/-+$/, "");
  return cut ? `${prefix}${cut}-${suffix}` : `${prefix}${suffix}`;
}

/**
 * The derived Service of a ClusterSetIP import: `mcs-<name, cut to fit>-<10 base32 chars of SHA-256 of
 * "namespace/name">`, at most 63 characters. It starts with a letter (a DNS-1035 label, as Service names must
 * be), reads as the import it serves, and the hash keeps two long names that share a prefix apart.
 */
export function derivedServiceName(namespace: string, name: string): string {
  return fitted("mcs-", name, nameHash(`${namespace}/${name}`));
}

/**
 * The stem of the imported EndpointSlices of one source cluster and one endpoint group (address type and ports):
 * `mcs-<name, cut>-<10 chars of SHA-256 of "namespace/name/cluster/group">`; the slices are `<stem>-<index>`
 * (index from 0), so the whole stays within 63 characters for an index below 1,000.
 */
export function importedSliceStem(
  namespace: string,
  name: string,
  cluster: string,
  groupKey: string,
): string {
  return fitted("mcs-", name, nameHash(`${namespace}/${name}/${cluster}/${groupKey}`), 59);
}
