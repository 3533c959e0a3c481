/**
 * Generic Kubernetes objects for the applier: server-side apply, read, delete, whether a kind is served — the
 * applier's `ClusterObjects` (src/agent/delivery/cluster-objects.ts) over client-node's `KubernetesObjectApi`,
 * except that `apply` sends the manifest exactly as written: its own `patch` first passes built-in kinds through
 * the typed model serializer, which silently drops fields the model does not know (a typo the API server should
 * refuse) and fields whose wire name differs from the model's (`x-kubernetes-preserve-unknown-fields` in a
 * CustomResourceDefinition's schema).
 */
import {
  HttpMethod,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from "@kubernetes/client-node";
import {
  type ClusterObjects,
  KindNotServed,
  type ObjectHeader,
  type ObjectManifest,
} from "../delivery/cluster-objects.ts";
import { apiErrorCode } from "./api-error.ts";

/** An object as the API server returns it. */
export type KubeObject = KubernetesObject & {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

export class ObjectApi extends KubernetesObjectApi implements ClusterObjects {
  static for(kc: KubeConfig): ObjectApi {
    const api = kc.makeApiClient(ObjectApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  /** Whether the cluster serves `kind` in `apiVersion` (discovery, cached per apiVersion by client-node). */
  async served(apiVersion: string, kind: string): Promise<boolean> {
    try {
      return (await this.resource(apiVersion, kind)) !== undefined;
    } catch (error) {
      if (apiErrorCode(error) === 404) return false;
      throw error;
    }
  }

  /** Server-side apply of a manifest as written, taking over conflicting fields (`force`). */
  async apply(manifest: ObjectManifest, fieldManager: string): Promise<KubeObject> {
    const { apiVersion = "", kind = "" } = manifest;
    if (!(await this.served(apiVersion, kind))) throw new KindNotServed(apiVersion, kind);
    const body = structuredClone(manifest) as KubernetesObject;
    const path = await this.specUriPath(body, "patch");
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.PATCH);
    request.setHeaderParam("Accept", "application/json");
    request.setHeaderParam("Content-Type", PatchStrategy.ServerSideApply);
    request.setQueryParam("fieldManager", fieldManager);
    request.setQueryParam("force", "true");
    request.setBody(JSON.stringify(body));
    return (await this.requestPromise(request)) as KubeObject;
  }

  /** The object, or undefined if it does not exist (or its kind is not served). */
  async readIfExists(ref: ObjectHeader): Promise<KubeObject | undefined> {
    if (!(await this.served(ref.apiVersion, ref.kind))) return undefined;
    try {
      return (await this.read(header(ref))) as KubeObject;
    } catch (error) {
      if (apiErrorCode(error) === 404) return undefined;
      throw error;
    }
  }

  /** Deletes an object (dependents in the background); false if it was not there. */
  async deleteIfExists(ref: ObjectHeader): Promise<boolean> {
    if (!(await this.served(ref.apiVersion, ref.kind))) return false;
    try {
      await this.delete(header(ref), undefined, undefined, undefined, undefined, "Background");
      return true;
    } catch (error) {
      if (apiErrorCode(error) === 404) return false;
      throw error;
    }
  }
}

function header(ref: ObjectHeader) {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
  };
}
