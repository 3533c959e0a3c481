/**
 * The cluster side of one work, step by step, for the applier's reconcile: apply its objects (in dependency
 * order, server-side, labelled as the Application's; a CRD's objects once it is Established; nothing at all when
 * a kind is not served) and prune what an earlier generation left, read applied objects back, delete them. Each
 * step says what it found and which failure is worth retrying soon; when to do which, and what is kept and
 * reported, is the applier's business.
 */
import type { Clock } from "../../runtime/clock.ts";
import type { Log } from "../../runtime/runnable.ts";
import { apiErrorMessage } from "../kube/api-error.ts";
import {
  applicationLabel,
  applyPhases,
  decorate,
  fieldManager,
  manifestProblem,
  type ObjectRef,
  refKey,
  refOf,
  removalOrder,
} from "./apply-order.ts";
import { type ClusterObjects, isTransient, KindNotServed } from "./cluster-objects.ts";
import { type Drift, driftMessages, driftOf, type Observed, observe } from "./drift.ts";
import { failedStatus, missingStatus, type ObjectStatus, objectStatusOf } from "./object-status.ts";
import type { AppliedObject, StoredWork } from "./work-store.ts";

/** What the steps work with. */
export interface WorkCluster {
  api: ClusterObjects;
  clock: Clock;
  log: Log;
  /** How long to wait for a CustomResourceDefinition to be Established. */
  crdWaitMs: number;
}

/** An object put back by an apply: someone else had deleted or changed it. */
export interface DriftFound {
  ref: ObjectRef;
  drift: Drift;
  /** When it was put back (ISO 8601). */
  at: string;
  message: string;
}

export type WorkApplied =
  /** Nothing applied: these objects' kinds are not served (named "Kind name, …"); the statuses say so. */
  | { notServed: string; objects: ObjectStatus[] }
  | {
      notServed?: undefined;
      /** Each manifest's status, in the order written. */
      objects: ObjectStatus[];
      /** What the work has applied and not pruned now (the work's next `applied`). */
      applied: AppliedObject[];
      drift: DriftFound[];
      pruned: number;
      /** The first failure worth retrying soon (the API server did not answer), if any. */
      failure?: unknown;
    };

/** The status of an object that was being deleted when applied: it is applied again once it is gone. */
export const beingDeletedMessage =
  "being deleted (its finalizers are still running); applied again once it is gone";

/** Objects of one work applied at a time. */
const objectsAtOnce = 8;
/** How often a CustomResourceDefinition is read while waiting for it to be Established. */
const crdPollMs = 200;

/**
 * Applies every object of `work` in dependency order, then prunes what an earlier generation applied and this one
 * has not. Undefined when `signal` aborted it between two phases (the next apply does the rest).
 */
export async function applyWork(
  cluster: WorkCluster,
  work: StoredWork,
  signal: AbortSignal,
): Promise<WorkApplied | undefined> {
  const { api, clock, log } = cluster;
  const { application, generation } = work;
  const previous = new Map(work.applied.map((o) => [refKey(o), o]));
  const items = work.manifests.map((manifest, index) => {
    const ref = refOf(manifest, index);
    return { manifest, ref, kind: ref.kind, problem: manifestProblem(manifest) };
  });
  // Nothing half-applied: when an object's kind is not served here (and no CRD of this work brings it), no
  // object of this generation is applied; what the previous generation applied stays as it is.
  const unserved = await unservedKinds(api, items);
  if (unserved.length > 0) {
    const names = unserved.map((i) => `${i.ref.kind} ${i.ref.name}`).join(", ");
    return {
      notServed: names,
      objects: items.map((i) =>
        unserved.includes(i)
          ? failedStatus(i.ref, new KindNotServed(i.ref.apiVersion, i.ref.kind).message)
          : failedStatus(i.ref, `not applied, because ${names} is of a kind this cluster does not serve`),
      ),
    };
  }
  let failure: unknown;
  const drift: DriftFound[] = [];
  const statuses = new Map<(typeof items)[number], ObjectStatus>();
  const appliedNow = new Map<string, AppliedObject>();
  for (const phase of applyPhases(items)) {
    if (signal.aborted) return undefined;
    await inParallel(phase, async (item) => {
      if (item.problem) {
        statuses.set(item, failedStatus(item.ref, item.problem));
        return;
      }
      const before = previous.get(refKey(item.ref));
      // The same manifest as last time: whatever the apply changes, someone else had changed.
      const steady = before?.generation === generation;
      const seen: Observed | "absent" | "unknown" = steady
        ? await api.readIfExists(item.ref).then(
            (o) => (o ? observe(o) : "absent"),
            () => "unknown" as const,
          )
        : "unknown";
      try {
        const after = await api.apply(decorate(item.manifest, application, generation), fieldManager);
        // Being deleted (say a Namespace this agent removed a moment ago, its content still going): the
        // apply only touched an object about to disappear. Not counted as applied; applied again once gone.
        if (after.metadata?.deletionTimestamp) {
          statuses.set(item, failedStatus(item.ref, beingDeletedMessage));
          return;
        }
        // Tracked as written (a namespaced object without a namespace goes to the context's default, every
        // time); reported where it is.
        appliedNow.set(refKey(item.ref), { ...item.ref, generation });
        const ref = {
          ...item.ref,
          ...(after.metadata?.namespace ? { namespace: after.metadata.namespace } : {}),
        };
        const found = driftOf({ steady, before: seen, after: observe(after), application, generation });
        if (found) {
          const at = new Date(clock.now()).toISOString();
          drift.push({ ref, drift: found, at, message: driftMessages[found] });
          log({ level: "warn", msg: "drift put back", application, ...ref, drift: found });
        }
        statuses.set(item, objectStatusOf(ref, after));
      } catch (error) {
        if (failure === undefined && isTransient(error)) failure = error;
        statuses.set(item, failedStatus(item.ref, apiErrorMessage(error)));
      }
    });
    // Objects of a CRD's kind are applied only once the CRD is Established.
    for (const item of phase)
      if (item.kind === "CustomResourceDefinition" && statuses.get(item)?.state === "Applied")
        statuses.set(item, await established(cluster, item.ref, signal));
  }
  const desired = new Set(items.filter((i) => !i.problem).map((i) => refKey(i.ref)));
  // Prune: what an earlier generation applied and this one has not (only objects still labelled ours).
  const stale = work.applied.filter((o) => !desired.has(refKey(o)));
  const notPruned = await deleteObjects(cluster, application, stale);
  if (notPruned.length > 0 && failure === undefined)
    failure = new Error(`could not prune ${notPruned.length} object(s) of an earlier generation`);
  return {
    objects: items.map((i) => statuses.get(i)!),
    applied: [
      ...appliedNow.values(),
      // Still desired but failed this time: still ours, still to prune if dropped later.
      ...work.applied.filter((o) => desired.has(refKey(o)) && !appliedNow.has(refKey(o))),
      ...notPruned,
    ],
    drift,
    pruned: stale.length - notPruned.length,
    ...(failure !== undefined ? { failure } : {}),
  };
}

/**
 * Reads the applied objects back: their statuses now (a failed read keeps the one before), and the first failure
 * worth retrying soon, if any.
 */
export async function readBack(
  cluster: WorkCluster,
  objects: ObjectStatus[],
): Promise<{ objects: ObjectStatus[]; failure?: unknown }> {
  let failure: unknown;
  const now = await Promise.all(
    objects.map(async (o) => {
      if (o.state !== "Applied") return o;
      const { apiVersion, kind, namespace, name } = o;
      const ref = { apiVersion, kind, ...(namespace ? { namespace } : {}), name };
      try {
        const live = await cluster.api.readIfExists(ref);
        return live ? objectStatusOf(ref, live) : missingStatus(ref);
      } catch (error) {
        if (failure === undefined && isTransient(error)) failure = error;
        return o;
      }
    }),
  );
  return { objects: now, ...(failure !== undefined ? { failure } : {}) };
}

/** Deletes objects still labelled as the Application's, Namespaces last; returns those it could not. */
export async function deleteObjects(
  cluster: WorkCluster,
  application: string,
  objects: AppliedObject[],
): Promise<AppliedObject[]> {
  const { api, log } = cluster;
  const failed: AppliedObject[] = [];
  for (const o of removalOrder(objects)) {
    try {
      const live = await api.readIfExists(o);
      if (live?.metadata?.labels?.[applicationLabel] !== application) continue;
      await api.deleteIfExists(o);
      log({ level: "info", msg: "deleted", application, kind: o.kind, namespace: o.namespace, name: o.name });
    } catch (error) {
      failed.push(o);
      log({ level: "warn", msg: "could not delete", application, ...o, error: apiErrorMessage(error) });
    }
  }
  return failed;
}

/** The items whose apiVersion and kind the cluster does not serve and no CRD among the items provides. */
async function unservedKinds<T extends { manifest: unknown; ref: ObjectRef; problem?: string | undefined }>(
  api: ClusterObjects,
  items: T[],
): Promise<T[]> {
  const provided = new Set<string>();
  for (const i of items) {
    const crd = i.manifest as {
      kind?: string;
      spec?: { group?: string; names?: { kind?: string }; versions?: Array<{ name?: string }> };
    };
    if (crd.kind !== "CustomResourceDefinition") continue;
    for (const v of crd.spec?.versions ?? [])
      provided.add(`${crd.spec?.group}/${v.name}/${crd.spec?.names?.kind}`);
  }
  const answers = new Map<string, Promise<boolean>>();
  const unserved: T[] = [];
  for (const i of items) {
    if (i.problem) continue;
    const key = `${i.ref.apiVersion}/${i.ref.kind}`;
    if (provided.has(key)) continue;
    if (!answers.has(key))
      answers.set(
        key,
        api.served(i.ref.apiVersion, i.ref.kind).catch(() => true), // unknown: let the apply say
      );
    if (!(await answers.get(key))) unserved.push(i);
  }
  return unserved;
}

/** Waits (bounded) for a CRD to be Established; its status either way. */
async function established(cluster: WorkCluster, ref: ObjectRef, signal: AbortSignal): Promise<ObjectStatus> {
  const { api, clock } = cluster;
  const deadline = clock.now() + cluster.crdWaitMs;
  for (;;) {
    const live = await api.readIfExists(ref).catch(() => undefined);
    const status = live ? objectStatusOf(ref, live) : missingStatus(ref);
    if (status.healthy || clock.now() >= deadline || signal.aborted) return status;
    await pause(clock, crdPollMs, signal);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (its timer cleared). */
function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const finish = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const timer = clock.setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
  });
}

/** Runs `task` over `items`, at most `objectsAtOnce` at a time. */
async function inParallel<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(objectsAtOnce, items.length) }, worker));
}
