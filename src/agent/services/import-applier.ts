/**
 * The import side of multi-cluster services in the agent (issue 15): from the export records of every cluster
 * of the Location (`LocationExports`), what this cluster must hold as a consumer, written into its API server.
 *
 * Each pass (coalesced, `coalesceMs` after a change; and every `resyncMs`, to put back what someone changed):
 * `mergeExports` over the Location's records; for each merged import whose namespace exists here,
 * `desiredConsumerObjects` (the ServiceImport, the selector-less derived Service, the EndpointSlices); a diff
 * (`diffObjects`) against what unitfleet manages here now (listed by the managed-by label); the writes offered to
 * a `ConsumerWriteLimiter`, which coalesces and rate-limits them. Creates and updates are server-side applies
 * (field manager `unitfleet-mcs`); a ServiceImport's status goes through the status subresource, and its
 * `spec.ips` are the derived Service's ClusterIPs, read back from the API server. Deletes touch only objects
 * unitfleet manages. The `Valid`/`Conflict` conditions of this cluster's own exports go into their status, with
 * `lastTransitionTime` stamped when a condition's status changes (as `meta.SetStatusCondition` does).
 *
 * A write that the API server took but that still does not read back as desired is not made again until the
 * object changes or the next resync (logged once), so that a field the server rewrites cannot make a write loop.
 */
import type { ChurnPolicy } from "../../core/multicluster-services/churn-limiter.ts";
import { ConsumerWriteLimiter, defaultChurnPolicy } from "../../core/multicluster-services/churn-limiter.ts";
import {
  desiredConsumerObjects,
  type KubeObject,
} from "../../core/multicluster-services/consumer-objects.ts";
import { type ExportCondition, mergeExports } from "../../core/multicluster-services/merge.ts";
import {
  diffObjects,
  holdsDesired,
  isManagedByMcs,
  type ObjectRef,
  objectKey,
  refKey,
  refOf,
} from "../../core/multicluster-services/object-diff.ts";
import {
  derivedServiceName,
  mcsApiVersion,
  serviceNameLabel,
} from "../../core/multicluster-services/object-names.ts";
import { canonicalJson } from "../../core/resources/canonical-json.ts";
import { type Clock, systemClock, type TimerHandle } from "../../runtime/clock.ts";
import type { Log } from "../../runtime/runnable.ts";
import { apiErrorMessage } from "../kube/api-error.ts";
import type { LocationExports } from "./location-exports.ts";
import {
  mcsFieldManager,
  type ServicesClusterView,
  type ServicesClusterWrites,
  type StoredCondition,
  type WatchedServiceExport,
} from "./services-cluster.ts";

/** One write into the cluster, as the limiter holds it. */
type Write =
  | { op: "apply"; object: KubeObject; main: boolean; status: boolean }
  | { op: "delete"; ref: ObjectRef }
  | { op: "export-status"; object: KubeObject };

/** What the applier did, for the end-to-end tests and the benchmark. */
export interface ImportCounters {
  /** Passes: merge, list, diff. */
  passes: number;
  /** Requests that wrote to the API server: every apply (object or status) and every delete. */
  writes: number;
  applies: number;
  statusApplies: number;
  deletes: number;
  exportStatusWrites: number;
  /** Requests that failed (retried by a later pass). */
  failures: number;
  /** Imports left out of the last pass because their namespace does not exist here. */
  skippedImports: number;
  /** Imports in the last pass. */
  imports: number;
}

export interface ImportApplierOptions {
  cluster: string;
  location: string;
  /** The cluster's Region ("" without one). */
  region: string;
  exports: LocationExports;
  view: Pick<ServicesClusterView, "serviceExports" | "namespaceExists" | "zones">;
  writes: ServicesClusterWrites;
  policy?: ChurnPolicy;
  /** How long a change waits for the ones that follow before a pass (default 100 ms). */
  coalesceMs?: number;
  /** How often a pass runs without a change, putting back what someone changed (default 30 s). */
  resyncMs?: number;
  clock?: Clock;
  log: Log;
}

const maxConditionMessage = 32_000;
/** How long a status write is trusted over a watch that has not caught up with it. */
const statusSettleMs = 10_000;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Applies the Location's imports into this cluster (see the module comment). */
export class ImportApplier {
  readonly #options: ImportApplierOptions;
  readonly #clock: Clock;
  readonly #coalesceMs: number;
  readonly #resyncMs: number;
  readonly #limiter: ConsumerWriteLimiter<Write>;
  readonly counters: ImportCounters = {
    passes: 0,
    writes: 0,
    applies: 0,
    statusApplies: 0,
    deletes: 0,
    exportStatusWrites: 0,
    failures: 0,
    skippedImports: 0,
    imports: 0,
  };
  #enabled = false;
  #stopped = false;
  #dirty = false;
  #passAt = 0;
  #resyncAt = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #busy: Promise<void> | undefined;
  #again = false;
  #failuresInRow = 0;
  /** Groups (imports, export statuses) that had writes offered in the last pass. */
  #offered = new Set<string>();
  /** The derived Services' ClusterIPs, by `namespace/name`. */
  readonly #derivedIps = new Map<string, string[]>();
  /** What the last write of each object sent, and the resourceVersion it left. */
  readonly #written = new Map<string, { content: string; resourceVersion?: string }>();
  /** The conditions last written into each own ServiceExport's status, and when. */
  readonly #exportStatusWritten = new Map<string, { content: string; at: number }>();
  readonly #logged = new Set<string>();

  constructor(options: ImportApplierOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#coalesceMs = options.coalesceMs ?? 100;
    this.#resyncMs = options.resyncMs ?? 30_000;
    this.#limiter = new ConsumerWriteLimiter(options.policy ?? defaultChurnPolicy, this.#clock.now());
  }

  /** Passes may run from now on (before: changes are only remembered). */
  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#dirty = true;
    this.#passAt = this.#clock.now();
    this.#schedule(this.#passAt);
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** The records or the cluster changed: a pass in `coalesceMs` (with whatever else changes meanwhile). */
  changed(): void {
    if (this.#stopped) return;
    if (!this.#dirty) {
      this.#dirty = true;
      this.#passAt = this.#clock.now() + this.#coalesceMs;
    }
    if (this.#enabled) this.#schedule(this.#passAt);
  }

  /** Writes waiting in the limiter. */
  get pendingWrites(): number {
    return this.#limiter.pending;
  }

  /** Stops: no more passes or writes; resolves once the one in progress has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#busy;
  }

  #schedule(at: number): void {
    if (this.#stopped || !this.#enabled) return;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#run();
      },
      Math.max(0, at - this.#clock.now()),
    );
  }

  #run(): void {
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = this.#step().finally(() => {
      this.#busy = undefined;
      if (this.#again) {
        this.#again = false;
        this.#schedule(this.#clock.now());
      }
    });
  }

  async #step(): Promise<void> {
    const now = this.#clock.now();
    const resync = now >= this.#resyncAt;
    if (resync) {
      this.#dirty = true;
      this.#passAt = Math.min(this.#passAt, now);
      this.#written.clear();
      this.#resyncAt = now + this.#resyncMs;
    }
    if (this.#dirty && now >= this.#passAt) {
      this.#dirty = false;
      try {
        await this.#pass(now);
        this.#failuresInRow = 0;
      } catch (error) {
        this.#failed("multi-cluster services: the imports could not be computed", error);
      }
    }
    if (this.#stopped) return;
    let wrote = false;
    let nextAt: number | undefined;
    for (;;) {
      const taken = this.#limiter.take(this.#clock.now());
      nextAt = taken.nextAt;
      if (taken.writes.length === 0) break;
      wrote = true;
      for (const write of taken.writes) {
        if (this.#stopped) return;
        try {
          await this.#execute(write);
          this.#failuresInRow = 0;
        } catch (error) {
          this.counters.failures += 1;
          this.#failed("multi-cluster services: a write failed", error, describeWrite(write));
        }
      }
    }
    // Read back what was written (the derived Services' IPs) and check that it holds.
    if (wrote && !this.#dirty) {
      this.#dirty = true;
      this.#passAt = this.#clock.now() + this.#coalesceMs;
    }
    const next = Math.min(
      nextAt ?? Number.POSITIVE_INFINITY,
      this.#dirty ? this.#passAt : Number.POSITIVE_INFINITY,
      this.#resyncAt,
    );
    this.#schedule(next);
  }

  /** A failure: logged, and a pass again after a backoff (0.2 s doubling to 30 s). */
  #failed(msg: string, error: unknown, write?: string): void {
    this.#failuresInRow += 1;
    const delay = Math.min(30_000, 200 * 2 ** Math.min(this.#failuresInRow - 1, 10));
    this.#options.log({
      level: this.#failuresInRow > 3 ? "warn" : "info",
      msg,
      ...(write ? { write } : {}),
      error: apiErrorMessage(error),
      retryInMs: delay,
    });
    this.#dirty = true;
    this.#passAt = this.#clock.now() + delay;
  }

  async #pass(now: number): Promise<void> {
    const { exports, view, writes, cluster, location, region } = this.#options;
    this.counters.passes += 1;
    const merge = mergeExports(exports.members(), exports.records());
    if (!merge.ok) {
      this.#options.log({
        level: "warn",
        msg: "multi-cluster services: records not merged",
        problems: merge.problems,
      });
      return;
    }
    const consumer = { cluster, location, region, zones: view.zones() };
    const current = await writes.listManaged();
    const currentByGroup = new Map<string, KubeObject[]>();
    for (const o of current) {
      const group = importGroup(o);
      currentByGroup.set(group, [...(currentByGroup.get(group) ?? []), o]);
      if (o.kind === "Service")
        this.#derivedIps.set(`${o.metadata.namespace}/${o.metadata.name}`, clusterIps(o));
    }

    const desiredByGroup = new Map<string, KubeObject[]>();
    const leftAlone = new Set<string>();
    let skipped = 0;
    for (const merged of merge.imports) {
      const group = `${merged.namespace}/${merged.name}`;
      if (!view.namespaceExists(merged.namespace)) {
        skipped += 1;
        leftAlone.add(group);
        continue;
      }
      const held = currentByGroup.get(group) ?? [];
      const result = desiredConsumerObjects({
        merged,
        consumer,
        unhealthyClusters: new Set(),
        derivedServiceIps: this.#derivedIps.get(
          `${merged.namespace}/${derivedServiceName(merged.namespace, merged.name)}`,
        ),
        currentSlices: held.filter((o) => o.kind === "EndpointSlice"),
      });
      if (!result.ok) {
        leftAlone.add(group);
        this.#logOnce(`objects:${group}:${result.reason}`, {
          level: "warn",
          msg: "multi-cluster services: import not applied",
          import: group,
          reason: result.reason,
        });
        continue;
      }
      desiredByGroup.set(group, result.objects);
    }
    this.counters.imports = merge.imports.length;
    this.counters.skippedImports = skipped;

    const offered = new Set<string>();
    const currentByKey = new Map(current.map((o) => [objectKey(o), o]));
    const groups = new Set([...desiredByGroup.keys(), ...currentByGroup.keys()]);
    for (const group of [...groups].sort(compareText)) {
      if (leftAlone.has(group)) continue;
      const diff = diffObjects(desiredByGroup.get(group) ?? [], currentByGroup.get(group) ?? []);
      // The list holds only what unitfleet manages: an object to create may exist under another owner (a
      // ServiceImport of another implementation, say). Such an object is left alone, and so is its whole import
      // when it is the ServiceImport.
      const creates: KubeObject[] = [];
      const existing = await Promise.all(diff.creates.map((object) => writes.read(refOf(object))));
      for (const [i, object] of diff.creates.entries()) {
        if (existing[i] && !isManagedByMcs(existing[i]))
          diff.conflicts.push({
            ref: refOf(object),
            reason: `${object.kind} ${group.split("/")[0]}/${object.metadata.name} exists and is not managed by unitfleet: left as it is`,
          });
        else creates.push(object);
      }
      for (const conflict of diff.conflicts)
        this.#logOnce(`conflict:${refKey(conflict.ref)}`, {
          level: "warn",
          msg: "multi-cluster services: object not managed by unitfleet, left as it is",
          reason: conflict.reason,
        });
      if (diff.conflicts.some((c) => c.ref.kind === "ServiceImport")) {
        this.#limiter.offer(group, [], now);
        continue;
      }
      const planned: Array<{ key: string; write: Write }> = [];
      for (const object of creates)
        planned.push({
          key: objectKey(object),
          write: { op: "apply", object, main: true, status: object.status !== undefined },
        });
      for (const object of diff.updates) {
        const have = currentByKey.get(objectKey(object))!;
        const parts =
          object.kind === "ServiceImport" ? changedParts(have, object) : { main: true, status: false };
        if (!this.#unsettled(object, have))
          planned.push({ key: objectKey(object), write: { op: "apply", object, ...parts } });
      }
      for (const ref of diff.deletes) planned.push({ key: refKey(ref), write: { op: "delete", ref } });
      if (planned.length > 0) offered.add(group);
      this.#limiter.offer(group, planned, now);
    }

    // The Valid and Conflict conditions of this cluster's own exports.
    const ownExports = new Map<string, WatchedServiceExport>(
      view.serviceExports().map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]),
    );
    const stamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
    for (const status of merge.exports) {
      if (status.cluster !== cluster) continue;
      const name = `${status.namespace}/${status.name}`;
      const serviceExport = ownExports.get(name);
      if (!serviceExport) continue;
      const group = `status:${name}`;
      const held = serviceExport.status?.conditions ?? [];
      const conditions = stampConditions(status.conditions, held, stamp);
      const content = canonicalJson(conditions.map(({ lastTransitionTime: _t, ...c }) => c));
      const written = this.#exportStatusWritten.get(name);
      const settling = written?.content === content && now - written.at < statusSettleMs;
      if (holdsConditions(held, conditions) || settling) {
        this.#limiter.offer(group, [], now);
        continue;
      }
      offered.add(group);
      this.#limiter.offer(
        group,
        [
          {
            key: `status/${name}`,
            write: {
              op: "export-status",
              object: {
                apiVersion: mcsApiVersion,
                kind: "ServiceExport",
                metadata: { name: status.name, namespace: status.namespace },
                status: { conditions },
              },
            },
          },
        ],
        now,
      );
    }
    for (const group of this.#offered) if (!offered.has(group)) this.#limiter.offer(group, [], now);
    this.#offered = offered;
  }

  /** Whether `desired` was written already and the object has not changed since, yet does not hold it. */
  #unsettled(desired: KubeObject, have: KubeObject): boolean {
    const key = objectKey(desired);
    const written = this.#written.get(key);
    const resourceVersion = have.metadata.resourceVersion as string | undefined;
    if (!written || written.content !== canonicalJson(desired) || written.resourceVersion !== resourceVersion)
      return false;
    this.#logOnce(`unsettled:${key}:${written.content}`, {
      level: "warn",
      msg: "multi-cluster services: an object does not read back as written; not written again until it changes",
      object: key,
    });
    return true;
  }

  async #execute(write: Write): Promise<void> {
    const { writes, log } = this.#options;
    if (write.op === "delete") {
      this.counters.writes += 1;
      this.counters.deletes += 1;
      await writes.delete(write.ref);
      this.#written.delete(refKey(write.ref));
      return;
    }
    if (write.op === "export-status") {
      this.counters.writes += 1;
      this.counters.exportStatusWrites += 1;
      const { name, namespace } = write.object.metadata;
      const conditions = (write.object.status as { conditions: StoredCondition[] }).conditions;
      const done = await writes.applyStatus(write.object, mcsFieldManager);
      if (done)
        this.#exportStatusWritten.set(`${namespace}/${name}`, {
          content: canonicalJson(conditions.map(({ lastTransitionTime: _t, ...c }) => c)),
          at: this.#clock.now(),
        });
      return;
    }
    const object = this.#withIps(write.object);
    const key = objectKey(object);
    const { status, ...main } = object;
    let resourceVersion: string | undefined;
    if (write.main) {
      this.counters.writes += 1;
      this.counters.applies += 1;
      const applied = await writes.apply(main as KubeObject, mcsFieldManager);
      resourceVersion = applied.metadata?.resourceVersion as string | undefined;
      if (object.kind === "Service")
        this.#derivedIps.set(`${object.metadata.namespace}/${object.metadata.name}`, clusterIps(applied));
    }
    if (write.status && status !== undefined) {
      this.counters.writes += 1;
      this.counters.statusApplies += 1;
      const applied = await writes.applyStatus(
        {
          apiVersion: object.apiVersion,
          kind: object.kind,
          metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
          status,
        } as KubeObject,
        mcsFieldManager,
      );
      if (!applied)
        log({ level: "info", msg: "multi-cluster services: object gone before its status", object: key });
      resourceVersion = applied?.metadata?.resourceVersion as string | undefined;
    }
    this.#written.set(key, {
      content: canonicalJson(write.object),
      ...(resourceVersion ? { resourceVersion } : {}),
    });
  }

  /** A ClusterSetIP ServiceImport without IPs gets its derived Service's, when a write of this pass made them. */
  #withIps(object: KubeObject): KubeObject {
    if (object.kind !== "ServiceImport") return object;
    const spec = object.spec as { type?: string; ips?: string[] };
    if (spec.type !== "ClusterSetIP" || (spec.ips?.length ?? 0) > 0) return object;
    const ips = this.#derivedIps.get(
      `${object.metadata.namespace}/${derivedServiceName(object.metadata.namespace!, object.metadata.name)}`,
    );
    return ips?.length ? { ...object, spec: { ...spec, ips: ips.slice(0, 2) } } : object;
  }

  #logOnce(key: string, entry: Record<string, unknown>): void {
    if (this.#logged.has(key)) return;
    if (this.#logged.size > 10_000) this.#logged.clear();
    this.#logged.add(key);
    this.#options.log(entry);
  }
}

/** The import an object of unitfleet's belongs to: `namespace/name` of its ServiceImport. */
function importGroup(o: KubeObject): string {
  const name =
    o.kind === "ServiceImport"
      ? o.metadata.name
      : (o.metadata.labels?.[serviceNameLabel] ?? `?${o.metadata.name}`);
  return `${o.metadata.namespace ?? ""}/${name}`;
}

/** A Service's ClusterIPs (none for a headless one, or before the API server gave them). */
function clusterIps(o: { [field: string]: unknown }): string[] {
  const spec = (o.spec ?? {}) as { clusterIP?: string; clusterIPs?: string[] };
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.filter((ip) => ip !== "" && ip !== "None");
}

/** Which parts of a ServiceImport an update must write: the object (spec, labels) and the status. */
function changedParts(have: KubeObject, want: KubeObject): { main: boolean; status: boolean } {
  return {
    main: !holdsDesired({ ...have, status: want.status }, want),
    status: !holdsDesired({ ...want, status: have.status ?? {} }, want),
  };
}

/** The conditions to write, each with its transition time: kept when its status is unchanged, else `now`. */
export function stampConditions(
  next: readonly ExportCondition[],
  held: readonly StoredCondition[],
  now: string,
): StoredCondition[] {
  return next.map((c) => {
    const old = held.find((h) => h.type === c.type);
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message.slice(0, maxConditionMessage),
      lastTransitionTime:
        old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now,
    };
  });
}

/** Whether the status holds these conditions already (type, status, reason and message). */
function holdsConditions(held: readonly StoredCondition[], want: readonly StoredCondition[]): boolean {
  return want.every((c) => {
    const old = held.find((h) => h.type === c.type);
    return old?.status === c.status && old.reason === c.reason && old.message === c.message;
  });
}

function describeWrite(write: Write): string {
  if (write.op === "delete") return `delete ${refKey(write.ref)}`;
  return `${write.op} ${objectKey(write.object)}`;
}
