/**
 * Multi-cluster services' view of and writes to a real cluster (`ServicesClusterWatches` and
 * `ServicesClusterWrites`, src/agent/services/services-cluster.ts) over client-node: informers (list, then watch,
 * listing again when the watch expires with 410) on ServiceExports, Services, EndpointSlices, Namespaces and
 * Nodes; server-side apply of objects and of their status subresource; deletes; lists by label.
 *
 * Requests go to fixed resource paths rather than through discovery: the kinds are few and known, and a
 * discovery cache taken before the ServiceExport CRD was installed would not know it. Bodies are read as plain
 * JSON (client-node's typed models would turn timestamps into Dates and drop fields they do not know).
 */
import {
  ERROR,
  HttpMethod,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  ListWatch,
  PatchStrategy,
  Watch,
} from "@kubernetes/client-node";
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import type { EndpointSliceObject, ServiceObject } from "../../core/multicluster-services/export-record.ts";
import type { ObjectRef } from "../../core/multicluster-services/object-diff.ts";
import {
  managedByLabel,
  mcsGroup,
  mcsManager,
  mcsVersion,
} from "../../core/multicluster-services/object-names.ts";
import type {
  ServicesClusterWatches,
  ServicesClusterWrites,
  WatchedKind,
  WatchedServiceExport,
} from "../services/services-cluster.ts";
import { apiErrorCode } from "./api-error.ts";

/** Where each kind multi-cluster services read or write lives: API prefix and plural. */
const resources: Record<string, { prefix: string; plural: string; clusterScoped?: boolean }> = {
  ServiceExport: { prefix: `/apis/${mcsGroup}/${mcsVersion}`, plural: "serviceexports" },
  ServiceImport: { prefix: `/apis/${mcsGroup}/${mcsVersion}`, plural: "serviceimports" },
  Service: { prefix: "/api/v1", plural: "services" },
  EndpointSlice: { prefix: "/apis/discovery.k8s.io/v1", plural: "endpointslices" },
  Namespace: { prefix: "/api/v1", plural: "namespaces", clusterScoped: true },
  Node: { prefix: "/api/v1", plural: "nodes", clusterScoped: true },
  CustomResourceDefinition: {
    prefix: "/apis/apiextensions.k8s.io/v1",
    plural: "customresourcedefinitions",
    clusterScoped: true,
  },
};

const apiVersionOf: Record<string, string> = {
  ServiceImport: `${mcsGroup}/${mcsVersion}`,
  Service: "v1",
  EndpointSlice: "discovery.k8s.io/v1",
};

function collectionPath(kind: string): string {
  const r = resources[kind];
  if (!r) throw new Error(`multi-cluster services do not handle kind ${kind}`);
  return `${r.prefix}/${r.plural}`;
}

function objectPath(kind: string, namespace: string | undefined, name: string): string {
  const r = resources[kind];
  if (!r) throw new Error(`multi-cluster services do not handle kind ${kind}`);
  const scope = r.clusterScoped ? "" : `/namespaces/${encodeURIComponent(namespace ?? "")}`;
  return `${r.prefix}${scope}/${r.plural}/${encodeURIComponent(name)}`;
}

/** Plain-JSON requests to fixed paths, with the kubeconfig's server and credentials. */
class JsonApi extends KubernetesObjectApi {
  async json(
    method: HttpMethod,
    path: string,
    options: { query?: Record<string, string>; body?: unknown; contentType?: string } = {},
  ): Promise<Record<string, unknown>> {
    const request = this.configuration.baseServer.makeRequestContext(path, method);
    request.setHeaderParam("Accept", "application/json");
    for (const [key, value] of Object.entries(options.query ?? {})) request.setQueryParam(key, value);
    if (options.body !== undefined) {
      request.setHeaderParam("Content-Type", options.contentType ?? "application/json");
      request.setBody(JSON.stringify(options.body));
    }
    // "any": the body as parsed, except the top-level metadata (which these callers read only names from).
    return (await this.requestPromise(request, "any")) as Record<string, unknown>;
  }
}

/**
 * A watch that opens nothing once stopped: an informer that is (re)connecting when it is stopped still opens
 * its watch afterwards, which would then stay open (and keep the API server from shutting down).
 */
class StoppableWatch extends Watch {
  stopped = false;

  override async watch(...args: Parameters<Watch["watch"]>): Promise<AbortController> {
    if (this.stopped) {
      const aborted = new AbortController();
      aborted.abort();
      return aborted;
    }
    const controller = await super.watch(...args);
    if (this.stopped) controller.abort();
    return controller;
  }
}

type Listed = KubernetesObject & Record<string, unknown>;

/** The view and writes over a real cluster (see the module comment). */
export function kubeServicesCluster(kc: KubeConfig): ServicesClusterWatches & ServicesClusterWrites {
  const api = kc.makeApiClient(JsonApi);
  const watches: StoppableWatch[] = [];
  const restarts = new Set<NodeJS.Timeout>();
  const listedOnce = new Set<WatchedKind>();
  let stopped = false;
  let onListed = () => {};

  const informer = (kind: WatchedKind): Informer<Listed> & ListWatch<Listed> => {
    const watch = new StoppableWatch(kc);
    watches.push(watch);
    const path = collectionPath(kind);
    return new ListWatch<Listed>(
      path,
      watch,
      async () => {
        const list = await api.json(HttpMethod.GET, path);
        listedOnce.add(kind);
        onListed();
        return list as never;
      },
      false,
    );
  };
  const informers = {
    ServiceExport: informer("ServiceExport"),
    Service: informer("Service"),
    EndpointSlice: informer("EndpointSlice"),
    Namespace: informer("Namespace"),
    Node: informer("Node"),
  } satisfies Record<WatchedKind, unknown>;

  const items = async (kind: string, labelSelector: string): Promise<KubeObject[]> => {
    const list = await api.json(HttpMethod.GET, collectionPath(kind), { query: { labelSelector } });
    return ((list.items as KubeObject[] | undefined) ?? []).map((o) => ({
      ...o,
      apiVersion: apiVersionOf[kind]!,
      kind,
    }));
  };

  const applyAt = async (path: string, object: KubeObject, fieldManager: string) =>
    (await api.json(HttpMethod.PATCH, path, {
      query: { fieldManager, force: "true" },
      body: object,
      contentType: PatchStrategy.ServerSideApply,
    })) as unknown as KubeObject;

  return {
    async start(onChange) {
      for (const [kind, i] of Object.entries(informers) as Array<[WatchedKind, ListWatch<Listed>]>) {
        for (const verb of ["add", "update", "delete"] as const) i.on(verb, () => !stopped && onChange(kind));
        // client-node stops an informer on a watch error (not on 410, which it lists again for): start it again
        // after a pause. Stopping an informer aborts its watch, which is reported as an error too: not that one.
        i.on(ERROR, () => {
          if (stopped) return;
          const restart = setTimeout(() => {
            restarts.delete(restart);
            if (!stopped) void i.start().catch(() => {});
          }, 2000);
          restarts.add(restart);
        });
      }
      const all = Object.keys(informers).length;
      const listed = new Promise<void>((resolve) => {
        onListed = () => {
          if (listedOnce.size === all || stopped) resolve();
        };
        onListed();
      });
      await Promise.all(Object.values(informers).map((i) => i.start().catch(() => {})));
      await listed;
    },
    async stop() {
      stopped = true;
      onListed();
      for (const watch of watches) watch.stopped = true;
      for (const restart of restarts) clearTimeout(restart);
      restarts.clear();
      await Promise.all(Object.values(informers).map((i) => i.stop()));
    },
    serviceExports: () => informers.ServiceExport.list() as unknown as WatchedServiceExport[],
    service: (namespace, name) =>
      informers.Service.get(name, namespace) as unknown as ServiceObject | undefined,
    endpointSlices: (namespace, service) =>
      informers.EndpointSlice.list(namespace).filter(
        (s) => s.metadata?.labels?.["kubernetes.io/service-name"] === service,
      ) as unknown as EndpointSliceObject[],
    namespaceExists: (namespace) => informers.Namespace.get(namespace) !== undefined,
    zones: () =>
      [
        ...new Set(
          informers.Node.list()
            .map((n) => n.metadata?.labels?.["topology.kubernetes.io/zone"])
            .filter((z): z is string => !!z),
        ),
      ].sort(),

    apply: (object, fieldManager) =>
      applyAt(objectPath(object.kind, object.metadata.namespace, object.metadata.name), object, fieldManager),
    async applyStatus(object, fieldManager) {
      try {
        return await applyAt(
          `${objectPath(object.kind, object.metadata.namespace, object.metadata.name)}/status`,
          object,
          fieldManager,
        );
      } catch (error) {
        if (apiErrorCode(error) === 404) return undefined;
        throw error;
      }
    },
    async read(ref: ObjectRef) {
      try {
        const o = await api.json(HttpMethod.GET, objectPath(ref.kind, ref.namespace, ref.name));
        return { ...o, apiVersion: ref.apiVersion, kind: ref.kind } as unknown as KubeObject;
      } catch (error) {
        if (apiErrorCode(error) === 404) return undefined;
        throw error;
      }
    },
    async delete(ref: ObjectRef) {
      try {
        await api.json(HttpMethod.DELETE, objectPath(ref.kind, ref.namespace, ref.name));
        return true;
      } catch (error) {
        if (apiErrorCode(error) === 404) return false;
        throw error;
      }
    },
    async listManaged() {
      const selector = `${managedByLabel}=${mcsManager}`;
      const lists = await Promise.all(
        ["ServiceImport", "Service", "EndpointSlice"].map((kind) => items(kind, selector)),
      );
      return lists.flat();
    },
    async crdEstablished(name) {
      try {
        const crd = await api.json(HttpMethod.GET, objectPath("CustomResourceDefinition", undefined, name));
        const conditions = (
          crd.status as { conditions?: Array<{ type: string; status: string }> } | undefined
        )?.conditions;
        return conditions?.some((c) => c.type === "Established" && c.status === "True") ?? false;
      } catch (error) {
        if (apiErrorCode(error) === 404) return false;
        throw error;
      }
    },
  };
}
