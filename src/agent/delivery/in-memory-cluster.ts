/**
 * A cluster in memory, for the applier's unit tests: `ClusterObjects` over a map of objects, with just enough of
 * the API server's behaviour for delivery to be tested without one — server-side apply that writes only when
 * something changed (a new `resourceVersion`, and a new `generation` when the spec changed), kinds served or
 * not (a CRD's kind once it is Established), objects being deleted, an API server that stops answering. Tests
 * change objects behind the applier's back (`edit`, `deleteByHand`, `setStatus`) as kubectl or a controller
 * would, and read what was asked of it (`calls`).
 */
import { refKey } from "./apply-order.ts";
import {
  type ClusterObject,
  type ClusterObjects,
  KindNotServed,
  type ObjectHeader,
  type ObjectManifest,
} from "./cluster-objects.ts";

type Stored = ClusterObject & { metadata: NonNullable<ClusterObject["metadata"]> } & Record<string, unknown>;

/** What an API server refuses with when it is not there (no HTTP status: the request never got an answer). */
export class Unreachable extends Error {
  constructor() {
    super("connect ECONNREFUSED 127.0.0.1:6443");
  }
}

const builtIn = [
  "v1/Namespace",
  "v1/ServiceAccount",
  "v1/ConfigMap",
  "v1/Secret",
  "v1/PersistentVolumeClaim",
  "v1/Service",
  "apps/v1/Deployment",
  "apiextensions.k8s.io/v1/CustomResourceDefinition",
];
const clusterScoped = new Set(["Namespace", "CustomResourceDefinition"]);
/** Fields that are not the object's desired state. */
const notSpec = new Set(["apiVersion", "kind", "metadata", "status"]);

export class InMemoryCluster implements ClusterObjects {
  readonly objects = new Map<string, Stored>();
  /** Every request, in order: `apply Kind namespace/name`, `read …`, `delete …`, `served apiVersion/Kind`. */
  readonly calls: string[] = [];
  /** While true, every request fails as if the API server were down. */
  down = false;
  /** While set, applies wait for it before doing anything (to hold a reconcile in flight). */
  gate: Promise<void> | undefined;
  /** Applies in flight now, and the most there ever were of one object at once. */
  #applying = new Map<string, number>();
  maxAppliesAtOnceOfOneObject = 0;
  /** CustomResourceDefinitions are Established after this many reads of them (0: at once). */
  crdEstablishedAfterReads = 0;
  /** Namespaces deleted stay, being deleted, until `finishDeletions()`. */
  namespacesLinger = false;
  readonly #served = new Set(builtIn);
  readonly #crdReads = new Map<string, number>();
  #uids = 0;
  #resourceVersion = 0;

  async served(apiVersion: string, kind: string): Promise<boolean> {
    await this.#request(`served ${apiVersion}/${kind}`);
    return this.#serves(apiVersion, kind);
  }

  async apply(manifest: ObjectManifest, fieldManager: string): Promise<ClusterObject> {
    const ref = this.#refOf(manifest);
    const key = this.#key(ref);
    await this.#request(`apply ${describe(ref)}`);
    if (fieldManager !== "unitfleet") throw new Error(`unexpected field manager ${fieldManager}`);
    if (!this.#serves(ref.apiVersion, ref.kind)) throw new KindNotServed(ref.apiVersion, ref.kind);
    const inFlight = (this.#applying.get(key) ?? 0) + 1;
    this.#applying.set(key, inFlight);
    this.maxAppliesAtOnceOfOneObject = Math.max(this.maxAppliesAtOnceOfOneObject, inFlight);
    try {
      if (this.gate) await this.gate;
      if (this.down) throw new Unreachable();
      const live = this.objects.get(key);
      const metadata = manifest.metadata as Stored["metadata"];
      if (!live) {
        const created: Stored = {
          ...structuredClone(manifest),
          metadata: {
            ...structuredClone(metadata),
            ...(ref.namespace ? { namespace: ref.namespace } : {}),
            uid: `uid-${++this.#uids}`,
            resourceVersion: String(++this.#resourceVersion),
            generation: 1,
          },
        };
        this.objects.set(key, created);
        return structuredClone(created);
      }
      const next: Stored = {
        ...structuredClone(manifest),
        metadata: {
          ...live.metadata,
          labels: metadata.labels ?? {},
          annotations: metadata.annotations ?? {},
        },
        ...(live.status ? { status: live.status } : {}),
      };
      this.#write(key, live, next);
      return structuredClone(this.objects.get(key)!);
    } finally {
      this.#applying.set(key, this.#applying.get(key)! - 1);
    }
  }

  async readIfExists(ref: ObjectHeader): Promise<ClusterObject | undefined> {
    await this.#request(`read ${describe(ref)}`);
    if (!this.#serves(ref.apiVersion, ref.kind)) return undefined;
    const live = this.objects.get(this.#key(ref));
    if (!live) return undefined;
    if (live.kind === "CustomResourceDefinition") this.#readCrd(live);
    return structuredClone(live);
  }

  async deleteIfExists(ref: ObjectHeader): Promise<boolean> {
    await this.#request(`delete ${describe(ref)}`);
    const key = this.#key(ref);
    const live = this.objects.get(key);
    if (!live) return false;
    if (ref.kind === "Namespace" && this.namespacesLinger) {
      live.metadata.deletionTimestamp = "2026-12-03T00:00:00Z";
      return true;
    }
    this.objects.delete(key);
    return true;
  }

  /** The object as stored (undefined if absent). */
  get(ref: ObjectHeader): Stored | undefined {
    return this.objects.get(this.#key(ref));
  }

  /** Changes an object as kubectl would (`edit`, `scale`, `label`): written if anything changed. */
  edit(ref: ObjectHeader, change: (object: Stored) => void): void {
    const key = this.#key(ref);
    const live = this.objects.get(key);
    if (!live) throw new Error(`no ${describe(ref)} to edit`);
    const next = structuredClone(live);
    change(next);
    this.#write(key, live, next);
  }

  /** Deletes an object as kubectl would. */
  deleteByHand(ref: ObjectHeader): void {
    if (!this.objects.delete(this.#key(ref))) throw new Error(`no ${describe(ref)} to delete`);
  }

  /** Sets an object's status as its controller would (a new resourceVersion, the same generation). */
  setStatus(ref: ObjectHeader, status: Record<string, unknown>): void {
    const live = this.objects.get(this.#key(ref));
    if (!live) throw new Error(`no ${describe(ref)}`);
    live.status = structuredClone(status);
    live.metadata.resourceVersion = String(++this.#resourceVersion);
  }

  /** Namespaces being deleted are gone. */
  finishDeletions(): void {
    for (const [key, o] of this.objects) if (o.metadata.deletionTimestamp) this.objects.delete(key);
  }

  /** The calls of one kind (`apply`, `read`, `delete`, `served`), without the verb. */
  callsOf(verb: string): string[] {
    return this.calls.filter((c) => c.startsWith(`${verb} `)).map((c) => c.slice(verb.length + 1));
  }

  async #request(call: string): Promise<void> {
    this.calls.push(call);
    await Promise.resolve();
    if (this.down) throw new Unreachable();
  }

  #serves(apiVersion: string, kind: string): boolean {
    return this.#served.has(`${apiVersion}/${kind}`);
  }

  /** Writes `next` in place of `live` if it differs: a new resourceVersion, a new generation if the spec moved. */
  #write(key: string, live: Stored, next: Stored): void {
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const specChanged = !same(specOf(live), specOf(next));
    const metadataChanged =
      !same(live.metadata.labels ?? {}, next.metadata.labels ?? {}) ||
      !same(live.metadata.annotations ?? {}, next.metadata.annotations ?? {});
    if (!specChanged && !metadataChanged) return;
    next.metadata.resourceVersion = String(++this.#resourceVersion);
    next.metadata.generation = (live.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    this.objects.set(key, next);
  }

  /** A CRD read: Established once read enough times; then its kind is served. */
  #readCrd(crd: Stored): void {
    const reads = (this.#crdReads.get(crd.metadata.name!) ?? 0) + 1;
    this.#crdReads.set(crd.metadata.name!, reads);
    if (reads <= this.crdEstablishedAfterReads) return;
    crd.status = { conditions: [{ type: "Established", status: "True" }] };
    const spec = crd.spec as { group: string; names: { kind: string }; versions: Array<{ name: string }> };
    for (const v of spec.versions) this.#served.add(`${spec.group}/${v.name}/${spec.names.kind}`);
  }

  /** Where an object is kept: a namespaced object named without a namespace is in `default`. */
  #key(ref: ObjectHeader): string {
    return refKey(clusterScoped.has(ref.kind) ? ref : { ...ref, namespace: ref.namespace ?? "default" });
  }

  #refOf(manifest: ObjectManifest): ObjectHeader {
    const metadata = manifest.metadata as { name: string; namespace?: string };
    const kind = String(manifest.kind);
    return {
      apiVersion: String(manifest.apiVersion),
      kind,
      ...(clusterScoped.has(kind) ? {} : { namespace: metadata.namespace ?? "default" }),
      name: metadata.name,
    };
  }
}

function specOf(o: Stored): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !notSpec.has(k)));
}

function describe(ref: ObjectHeader): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}
