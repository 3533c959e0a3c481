/**
 * A cluster in memory for the unit tests of multi-cluster services: the watches' view and the writes over one
 * map of objects, with just enough of an API server — server-side apply that changes `resourceVersion` only when
 * something changed, ClusterIPs given to Services, status written only through the status subresource (and
 * ServiceExport conditions merged by type, as their list-map schema says), CRDs Established after a number of
 * reads, an API server that stops answering. Tests change the cluster as kubectl or a controller would
 * (`put`, `remove`) and read what was asked of it (`calls`, `writes`).
 */
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import type { EndpointSliceObject, ServiceObject } from "../../core/multicluster-services/export-record.ts";
import {
  isManagedByMcs,
  type ObjectRef,
  objectKey,
  refKey,
} from "../../core/multicluster-services/object-diff.ts";
import { canonicalJson } from "../../core/resources/canonical-json.ts";
import type {
  ServicesClusterWatches,
  ServicesClusterWrites,
  StoredCondition,
  WatchedKind,
  WatchedServiceExport,
} from "./services-cluster.ts";

const watchedKinds: Record<string, WatchedKind> = {
  ServiceExport: "ServiceExport",
  Service: "Service",
  EndpointSlice: "EndpointSlice",
  Namespace: "Namespace",
  Node: "Node",
};
const serverFields = new Set(["uid", "resourceVersion", "creationTimestamp"]);

export class InMemoryServicesCluster implements ServicesClusterWatches, ServicesClusterWrites {
  readonly objects = new Map<string, KubeObject>();
  /** Every write request, in order: `apply Kind ns/name`, `status Kind ns/name`, `delete Kind ns/name`. */
  readonly calls: string[] = [];
  /** While true, every request fails as if the API server were down. */
  down = false;
  /** What the API server does to an object it stores (defaults, pruning), when a test wants it to. */
  rewrite: ((object: KubeObject) => KubeObject) | undefined;
  /** CRDs are Established after this many reads of them. */
  crdEstablishedAfterReads = 0;
  #crdReads = 0;
  #resourceVersion = 0;
  #uids = 0;
  #ips = 0;
  #onChange: ((kind: WatchedKind) => void) | undefined;

  /** Write requests made so far. */
  get writes(): number {
    return this.calls.length;
  }

  // The watches' view.

  async start(onChange: (kind: WatchedKind) => void): Promise<void> {
    this.#check();
    this.#onChange = onChange;
  }

  async stop(): Promise<void> {
    this.#onChange = undefined;
  }

  serviceExports(): WatchedServiceExport[] {
    return this.#ofKind("ServiceExport") as unknown as WatchedServiceExport[];
  }

  service(namespace: string, name: string): ServiceObject | undefined {
    return this.objects.get(
      objectKey({ apiVersion: "v1", kind: "Service", metadata: { namespace, name } }),
    ) as ServiceObject | undefined;
  }

  endpointSlices(namespace: string, service: string): EndpointSliceObject[] {
    return this.#ofKind("EndpointSlice").filter(
      (s) =>
        s.metadata.namespace === namespace && s.metadata.labels?.["kubernetes.io/service-name"] === service,
    ) as unknown as EndpointSliceObject[];
  }

  namespaceExists(namespace: string): boolean {
    return this.#ofKind("Namespace").some((n) => n.metadata.name === namespace);
  }

  zones(): string[] {
    const zones = this.#ofKind("Node")
      .map((n) => n.metadata.labels?.["topology.kubernetes.io/zone"])
      .filter((z): z is string => !!z);
    return [...new Set(zones)].sort();
  }

  // Changes made behind the agent's back, as kubectl or a controller would.

  /** Creates or replaces an object as written (status included), and tells the watches. */
  put(object: KubeObject): KubeObject {
    const key = objectKey(object);
    const live = this.objects.get(key);
    const stored = structuredClone(object);
    stored.metadata = {
      ...stored.metadata,
      uid: live?.metadata.uid ?? `uid-${++this.#uids}`,
      resourceVersion: String(++this.#resourceVersion),
      creationTimestamp:
        object.metadata.creationTimestamp ?? live?.metadata.creationTimestamp ?? "2026-12-03T10:00:00Z",
    };
    this.objects.set(key, stored);
    this.#changed(stored.kind);
    return stored;
  }

  /** Deletes an object behind the agent's back, and tells the watches. */
  remove(ref: ObjectRef): void {
    if (this.objects.delete(refKey(ref))) this.#changed(ref.kind);
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(
      objectKey({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }),
    );
  }

  /** Objects of a kind, in key order. */
  list(kind: string): KubeObject[] {
    return this.#ofKind(kind);
  }

  // The writes.

  async apply(object: KubeObject, fieldManager: string): Promise<KubeObject> {
    this.#check();
    this.#expectManager(fieldManager);
    this.calls.push(`apply ${describe(object)}`);
    const key = objectKey(object);
    const live = this.objects.get(key);
    const namespace = object.metadata.namespace;
    if (namespace !== undefined && !this.namespaceExists(namespace))
      throw Object.assign(new Error(`namespaces "${namespace}" not found`), { code: 404 });
    const { status: _ignored, ...written } = structuredClone(object);
    const next: KubeObject = {
      ...written,
      metadata: { ...written.metadata, ...pick(live?.metadata ?? {}, serverFields) },
      ...(live?.status !== undefined ? { status: live.status } : {}),
    };
    if (next.kind === "Service") {
      const spec = (next.spec ?? {}) as Record<string, unknown>;
      const liveSpec = (live?.spec ?? {}) as Record<string, unknown>;
      const ip = liveSpec.clusterIP ?? (spec.clusterIP === "None" ? "None" : `10.96.0.${++this.#ips}`);
      next.spec = {
        internalTrafficPolicy: "Cluster",
        ipFamilies: ["IPv4"],
        ...spec,
        clusterIP: ip,
        clusterIPs: [ip],
      };
    }
    return this.#store(key, next, live);
  }

  async applyStatus(object: KubeObject, fieldManager: string): Promise<KubeObject | undefined> {
    this.#check();
    this.#expectManager(fieldManager);
    this.calls.push(`status ${describe(object)}`);
    const key = objectKey(object);
    const live = this.objects.get(key);
    if (!live) return undefined;
    let status = structuredClone(object.status) as Record<string, unknown>;
    if (object.kind === "ServiceExport") {
      const mine = (status.conditions as StoredCondition[] | undefined) ?? [];
      const others = (
        (live.status as { conditions?: StoredCondition[] } | undefined)?.conditions ?? []
      ).filter((c) => !mine.some((m) => m.type === c.type));
      status = { ...(live.status ?? {}), conditions: [...others, ...mine] };
    }
    return this.#store(key, { ...live, status }, live);
  }

  async read(ref: ObjectRef): Promise<KubeObject | undefined> {
    this.#check();
    const live = this.objects.get(refKey(ref));
    return live && structuredClone(live);
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    this.#check();
    this.calls.push(`delete ${ref.kind} ${ref.namespace ?? ""}/${ref.name}`);
    const existed = this.objects.delete(refKey(ref));
    if (existed) this.#changed(ref.kind);
    return existed;
  }

  async listManaged(): Promise<KubeObject[]> {
    this.#check();
    return ["ServiceImport", "Service", "EndpointSlice"]
      .flatMap((kind) =>
        this.#ofKind(kind).filter(
          (o) => isManagedByMcs(o) && o.metadata.labels?.["app.kubernetes.io/managed-by"],
        ),
      )
      .map((o) => structuredClone(o));
  }

  async crdEstablished(name: string): Promise<boolean> {
    this.#check();
    const crd = this.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", undefined, name);
    if (!crd) return false;
    return ++this.#crdReads > this.crdEstablishedAfterReads;
  }

  #store(key: string, written: KubeObject, live: KubeObject | undefined): KubeObject {
    const next = this.rewrite ? this.rewrite(written) : written;
    if (live && canonicalJson(withoutVersion(live)) === canonicalJson(withoutVersion(next)))
      return structuredClone(live);
    next.metadata = {
      ...next.metadata,
      uid: live?.metadata.uid ?? `uid-${++this.#uids}`,
      resourceVersion: String(++this.#resourceVersion),
      creationTimestamp: live?.metadata.creationTimestamp ?? "2026-12-03T10:00:00Z",
    };
    this.objects.set(key, next);
    this.#changed(next.kind);
    return structuredClone(next);
  }

  #ofKind(kind: string): KubeObject[] {
    return [...this.objects.entries()]
      .filter(([, o]) => o.kind === kind)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
  }

  #changed(kind: string): void {
    const watched = watchedKinds[kind];
    if (watched) this.#onChange?.(watched);
  }

  #check(): void {
    if (this.down) throw new Error("connect ECONNREFUSED 127.0.0.1:6443");
  }

  #expectManager(fieldManager: string): void {
    if (fieldManager !== "unitfleet-mcs") throw new Error(`unexpected field manager ${fieldManager}`);
  }
}

function describe(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

function pick(record: Record<string, unknown>, keys: ReadonlySet<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => keys.has(k)));
}

function withoutVersion(o: KubeObject): unknown {
  const { resourceVersion: _rv, ...metadata } = o.metadata;
  return { ...o, metadata };
}
