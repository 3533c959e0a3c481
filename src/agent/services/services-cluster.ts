/**
 * What multi-cluster services need of their cluster's API server, and nothing more (issue 15): a view of the
 * ServiceExports, Services, EndpointSlices, Namespaces and Node zones filled by watches, and the writes an
 * agent makes — server-side apply of an object or of its status, delete, a list of what unitfleet manages, and
 * whether a CRD is Established. `kubeServicesCluster` (src/agent/kube/services-cluster-api.ts) implements it
 * over client-node; unit tests use `InMemoryServicesCluster`.
 */
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import type {
  EndpointSliceObject,
  ServiceExportObject,
  ServiceObject,
} from "../../core/multicluster-services/export-record.ts";
import type { ObjectRef } from "../../core/multicluster-services/object-diff.ts";

/** The field manager of every write multi-cluster services make (server-side apply). */
export const mcsFieldManager = "unitfleet-mcs";

/** A `metav1.Condition` as it stands in a ServiceExport's status. */
export interface StoredCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** A ServiceExport as the watch holds it: what the export record reads, its uid and its status. */
export interface WatchedServiceExport extends ServiceExportObject {
  metadata: ServiceExportObject["metadata"] & { uid?: string };
  status?: { conditions?: StoredCondition[] };
}

/** The kinds the watches follow; a change names the kind it concerns. */
export type WatchedKind = "ServiceExport" | "Service" | "EndpointSlice" | "Namespace" | "Node";

/** The cluster as the watches last saw it. */
export interface ServicesClusterView {
  /** Every ServiceExport, of all namespaces. */
  serviceExports(): readonly WatchedServiceExport[];
  service(namespace: string, name: string): ServiceObject | undefined;
  /** The EndpointSlices of one namespace labelled `kubernetes.io/service-name=<service>`. */
  endpointSlices(namespace: string, service: string): readonly EndpointSliceObject[];
  namespaceExists(namespace: string): boolean;
  /** The zones of the cluster's nodes (`topology.kubernetes.io/zone`), sorted, without repeats. */
  zones(): string[];
}

/** The view, filled by list-then-watch of each kind (re-listing when a watch expires). */
export interface ServicesClusterWatches extends ServicesClusterView {
  /** Lists every kind, then watches; resolves once every list is in. `onChange` is called after each change. */
  start(onChange: (kind: WatchedKind) => void): Promise<void>;
  stop(): Promise<void>;
}

/** The requests multi-cluster services make of the API server. */
export interface ServicesClusterWrites {
  /** Server-side apply of `object` (its status, if any, is ignored by the API server). */
  apply(object: KubeObject, fieldManager: string): Promise<KubeObject>;
  /** Server-side apply of `object`'s status through the status subresource; undefined if the object is gone. */
  applyStatus(object: KubeObject, fieldManager: string): Promise<KubeObject | undefined>;
  /** The object as the API server has it now, or undefined. */
  read(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** Deletes an object; false if it was not there. */
  delete(ref: ObjectRef): Promise<boolean>;
  /**
   * The ServiceImports, Services and EndpointSlices of every namespace that carry unitfleet's managed-by label
   * (`app.kubernetes.io/managed-by=mcs.unitfleet.io`), as the API server has them now.
   */
  listManaged(): Promise<KubeObject[]>;
  /** Whether the CustomResourceDefinition `name` exists and is Established. */
  crdEstablished(name: string): Promise<boolean>;
}
