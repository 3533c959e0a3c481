/**
 * What the applier needs of a cluster's API server, and nothing more: server-side apply of one object, read,
 * delete, and whether a kind is served. `ObjectApi` (src/agent/kube) implements it over client-node; unit tests
 * hand the applier an in-memory one (`InMemoryCluster`). Also which failures are worth retrying soon.
 */
import { apiErrorCode } from "../kube/api-error.ts";

/** Which object, as a request names it. */
export interface ObjectHeader {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** An object as the API server returns it (plain JSON, or client-node's model: the field names are the same). */
export interface ClusterObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    /** Set once deletion was asked for and finalizers still run (a `Date` from client-node's model). */
    deletionTimestamp?: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** A manifest to apply: any object with its apiVersion, kind and metadata. */
export type ObjectManifest = Record<string, unknown> & { apiVersion?: string; kind?: string };

export interface ClusterObjects {
  /** Whether the cluster serves `kind` in `apiVersion`. */
  served(apiVersion: string, kind: string): Promise<boolean>;
  /**
   * Server-side apply of `manifest` as written, as `fieldManager`, taking over conflicting fields (`force`).
   * Throws `KindNotServed` when the cluster does not serve its kind.
   */
  apply(manifest: ObjectManifest, fieldManager: string): Promise<ClusterObject>;
  /** The object, or undefined if it does not exist (or its kind is not served). */
  readIfExists(ref: ObjectHeader): Promise<ClusterObject | undefined>;
  /** Deletes an object (dependents in the background); false if it was not there. */
  deleteIfExists(ref: ObjectHeader): Promise<boolean>;
}

/** The cluster does not serve this apiVersion and kind (no such API group, or no CRD for it). */
export class KindNotServed extends Error {
  constructor(apiVersion: string, kind: string) {
    super(`no matches for kind "${kind}" in version "${apiVersion}": the cluster does not serve it`);
    this.name = "KindNotServed";
  }
}

/**
 * Whether a failed request may succeed if tried again soon: the API server did not answer (down, unreachable,
 * timed out), was overloaded (429) or failed itself (5xx). A refusal of the object (400, 403, 404, 422) or a
 * kind not served will not change by retrying.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof KindNotServed) return false;
  const code = apiErrorCode(error);
  return code === undefined || code === 429 || code >= 500;
}
