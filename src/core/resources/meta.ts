/**
 * Kubernetes object conventions shared by every unitfleet resource: metadata, conditions, and the envelope
 * `apiVersion` / `kind` / `metadata` / `spec` / `status`.
 */

export const group = "unitfleet.io";
export const version = "v1alpha1";
export const apiVersion = `${group}/${version}`;

/** Metadata the server owns: users may send them (kubectl does), but the server decides their values. */
export interface ObjectMeta {
  name: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A condition in Kubernetes' shape: `Ready`, `Reachable`… with a reason a program can match on. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface Resource<K extends string = string, Spec = unknown, Status = unknown> {
  apiVersion: typeof apiVersion;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** What a user writes: metadata without the server-owned fields (which are optional and checked if given). */
export interface ResourceInput<K extends string = string, Spec = unknown> {
  apiVersion: string;
  kind: K;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: Spec;
}
