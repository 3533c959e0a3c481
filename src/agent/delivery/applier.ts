/**
 * The agent's delivery: it holds the works the hub sent (one per Application, kept on disk) and makes the
 * cluster match them. Each apply goes in dependency order with server-side apply (field manager `unitfleet`,
 * forced), labels every object with its Application, then prunes what an earlier generation applied and this
 * one has not. Every `resyncSeconds` it applies every work again: what someone deleted or changed is put back
 * and reported as drift. It reports each work's status — per object: applied or failed, replicas, conditions,
 * healthy — when it changes, reading objects back every few seconds until they are healthy.
 */
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { MessageBody } from "../../protocol/messages.ts";
import { apiErrorMessage } from "../kube/api-error.ts";
import { KindNotServed, ObjectApi } from "../kube/object-api.ts";
import {
  applicationLabel,
  applyPhases,
  decorate,
  fieldManager,
  type Manifest,
  manifestProblem,
  type ObjectRef,
  refKey,
  refOf,
  removalOrder,
} from "./apply-order.ts";
import { driftMessages, driftOf, type Observed, observe } from "./drift.ts";
import { failedStatus, missingStatus, type ObjectStatus, objectStatusOf } from "./object-status.ts";
import { type AppliedObject, isApplicationName, type StoredWork, WorkStore } from "./work-store.ts";

/** The desired state of one Application in this cluster (a `work.apply` body without the cluster). */
export interface Work {
  application: string;
  generation: number;
  manifests: Manifest[];
}

export type WorkStatus = MessageBody<"work.status">;
type DriftEntry = WorkStatus["drift"][number];

export interface ApplierOptions {
  kc: KubeConfig;
  cluster: string;
  /** The agent's dir: works are kept in its `works/` folder. */
  dir: string;
  /** How often every held work is applied again (drift is put back), in seconds. */
  resyncSeconds?: number;
  /** How often objects that are not healthy yet are read back, in seconds. */
  pollSeconds?: number;
  /** How long to wait for a CustomResourceDefinition to be Established, in seconds. */
  crdWaitSeconds?: number;
  /** Sends a `work.status` body (the agent forwards it to the hub). */
  report: (body: WorkStatus) => void;
  log: (entry: Record<string, unknown>) => void;
  now?: () => Date;
}

export interface Applier {
  /** Holds a work (replacing an earlier generation) and applies it; resolves once applied and reported. */
  set(work: Work): Promise<void>;
  /** Deletes what was applied for an Application (Namespaces last) and forgets its work. */
  remove(application: string): Promise<void>;
  /** The works held, for `work.sync`. */
  held(): Array<{ application: string; generation: number }>;
  /** Applies every held work again now (what the resync timer does). */
  resync(): Promise<void>;
  stop(): Promise<void>;
  /** Applies of a work so far (each set and each resync of each work): tests and metrics read it. */
  readonly applies: number;
}

/** Objects of one work applied at a time. */
const concurrency = 8;
/** Reports of one Application are at least this far apart. */
const minReportIntervalMs = 1000;
const maxDrift = 100;
const beingDeletedMessage = "being deleted (its finalizers are still running); applied again once it is gone";

interface Held {
  work: StoredWork;
  objects: ObjectStatus[];
  /** Drift put back and not reported yet. */
  drift: DriftEntry[];
  /** The last report, as compared (generation and objects). */
  lastReport?: string;
  lastReportAt: number;
  reportTimer?: NodeJS.Timeout;
  pollTimer?: NodeJS.Timeout;
  /** A re-apply soon, while an object of the work is still being deleted; how many in a row so far. */
  retryTimer?: NodeJS.Timeout;
  retries: number;
  /** A resync of this work is queued: the timer does not queue another. */
  resyncQueued: boolean;
}

export async function startApplier(options: ApplierOptions): Promise<Applier> {
  const { cluster, log } = options;
  const resyncMs = (options.resyncSeconds ?? 30) * 1000;
  const pollMs = (options.pollSeconds ?? 2) * 1000;
  const crdWaitMs = (options.crdWaitSeconds ?? 30) * 1000;
  const now = options.now ?? (() => new Date());
  const api = ObjectApi.for(options.kc);
  const store = new WorkStore(options.dir);
  const held = new Map<string, Held>();
  /** One operation at a time per Application: applies, polls and removals never interleave. */
  const chains = new Map<string, Promise<void>>();
  let applies = 0;
  let stopped = false;

  function enqueue(application: string, operation: () => Promise<void>): Promise<void> {
    const next = (chains.get(application) ?? Promise.resolve()).then(async () => {
      if (stopped) return;
      try {
        await operation();
      } catch (error) {
        log({ level: "error", msg: "delivery failed", application, error: (error as Error).message });
      }
    });
    chains.set(application, next);
    void next.then(() => {
      if (chains.get(application) === next) chains.delete(application);
    });
    return next;
  }

  function hold(work: StoredWork): Held {
    const h: Held = { work, objects: [], drift: [], lastReportAt: 0, resyncQueued: false, retries: 0 };
    held.set(work.application, h);
    return h;
  }

  /** Applies a held work: every object in dependency order, then prunes, saves and reports. */
  async function apply(h: Held): Promise<void> {
    applies += 1;
    const { application, generation } = h.work;
    const previous = new Map(h.work.applied.map((o) => [refKey(o), o]));
    const items = h.work.manifests.map((manifest, index) => {
      const ref = refOf(manifest, index);
      return { manifest, ref, kind: ref.kind, problem: manifestProblem(manifest) };
    });
    // Nothing half-applied: when an object's kind is not served here (and no CRD of this work brings it), no
    // object of this generation is applied; what the previous generation applied stays as it is.
    const unserved = await unservedKinds(items);
    if (unserved.length > 0) {
      const names = unserved.map((i) => `${i.ref.kind} ${i.ref.name}`).join(", ");
      h.objects = items.map((i) =>
        unserved.includes(i)
          ? failedStatus(i.ref, new KindNotServed(i.ref.apiVersion, i.ref.kind).message)
          : failedStatus(i.ref, `not applied, because ${names} is of a kind this cluster does not serve`),
      );
      log({
        level: "warn",
        msg: "work not applied: kinds not served",
        application,
        generation,
        kinds: names,
      });
      report(h);
      return;
    }
    const statuses = new Map<(typeof items)[number], ObjectStatus>();
    const appliedNow = new Map<string, AppliedObject>();
    for (const phase of applyPhases(items)) {
      if (stopped) return;
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
          const after = await api.apply(
            decorate(item.manifest, application, generation) as KubernetesObject,
            fieldManager,
          );
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
          const drift = driftOf({ steady, before: seen, after: observe(after), application, generation });
          if (drift) {
            h.drift = [...h.drift, { ...ref, at: now().toISOString(), message: driftMessages[drift] }].slice(
              -maxDrift,
            );
            log({ level: "warn", msg: "drift put back", application, ...ref, drift });
          }
          statuses.set(item, objectStatusOf(ref, after));
        } catch (error) {
          statuses.set(item, failedStatus(item.ref, apiErrorMessage(error)));
        }
      });
      // Objects of a CRD's kind are applied only once the CRD is Established.
      for (const item of phase)
        if (item.kind === "CustomResourceDefinition" && statuses.get(item)?.state === "Applied")
          statuses.set(item, await established(item.ref));
    }
    const desired = new Set(items.filter((i) => !i.problem).map((i) => refKey(i.ref)));
    // Prune: what an earlier generation applied and this one has not (only objects still labelled ours).
    const stale = h.work.applied.filter((o) => !desired.has(refKey(o)));
    const notPruned = await deleteObjects(application, stale);
    h.work = {
      ...h.work,
      applied: [
        ...appliedNow.values(),
        // Still desired but failed this time: still ours, still to prune if dropped later.
        ...h.work.applied.filter((o) => desired.has(refKey(o)) && !appliedNow.has(refKey(o))),
        ...notPruned,
      ],
      appliedAt: now().toISOString(),
    };
    await store.save(h.work);
    h.objects = items.map((i) => statuses.get(i)!);
    if (h.objects.some((o) => o.message === beingDeletedMessage)) scheduleRetry(h);
    else h.retries = 0;
    log({
      level: "info",
      msg: "work applied",
      application,
      generation,
      objects: items.length,
      failed: h.objects.filter((o) => o.state === "Failed").length,
      pruned: stale.length - notPruned.length,
    });
    report(h);
    schedulePoll(h);
  }

  /** The items whose apiVersion and kind the cluster does not serve and no CRD among the items provides. */
  async function unservedKinds<T extends { manifest: unknown; ref: ObjectRef; problem?: string | undefined }>(
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
  async function established(ref: ObjectRef): Promise<ObjectStatus> {
    const deadline = Date.now() + crdWaitMs;
    for (;;) {
      const live = await api.readIfExists(ref).catch(() => undefined);
      const status = live ? objectStatusOf(ref, live) : missingStatus(ref);
      if (status.healthy || Date.now() > deadline || stopped) return status;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Deletes objects still labelled as the Application's, Namespaces last; returns those it could not. */
  async function deleteObjects(application: string, objects: AppliedObject[]): Promise<AppliedObject[]> {
    const failed: AppliedObject[] = [];
    for (const o of removalOrder(objects)) {
      try {
        const live = await api.readIfExists(o);
        if (live?.metadata?.labels?.[applicationLabel] !== application) continue;
        await api.deleteIfExists(o);
        log({
          level: "info",
          msg: "deleted",
          application,
          kind: o.kind,
          namespace: o.namespace,
          name: o.name,
        });
      } catch (error) {
        failed.push(o);
        log({ level: "warn", msg: "could not delete", application, ...o, error: apiErrorMessage(error) });
      }
    }
    return failed;
  }

  /** Reads the applied objects back and reports what changed; again later while some are not healthy. */
  async function refresh(h: Held): Promise<void> {
    h.objects = await Promise.all(
      h.objects.map(async (o) => {
        if (o.state !== "Applied") return o;
        const { apiVersion, kind, namespace, name } = o;
        const ref = { apiVersion, kind, ...(namespace ? { namespace } : {}), name };
        try {
          const live = await api.readIfExists(ref);
          return live ? objectStatusOf(ref, live) : missingStatus(ref);
        } catch {
          return o;
        }
      }),
    );
    report(h);
    schedulePoll(h);
  }

  /**
   * Applies the work again soon: an object of it was still being deleted. The wait doubles from the poll
   * interval up to the resync interval, so an object stuck in deletion (a finalizer that never ends) does not
   * have its work applied every few seconds forever.
   */
  function scheduleRetry(h: Held): void {
    clearTimeout(h.retryTimer);
    if (stopped) return;
    const wait = Math.min(resyncMs, pollMs * 2 ** Math.min(h.retries, 10));
    h.retries += 1;
    h.retryTimer = setTimeout(() => {
      if (held.get(h.work.application) === h && !h.work.removing)
        void enqueue(h.work.application, () => apply(h));
    }, wait);
  }

  function schedulePoll(h: Held): void {
    clearTimeout(h.pollTimer);
    if (stopped || !h.objects.some((o) => o.state === "Applied" && !o.healthy)) return;
    h.pollTimer = setTimeout(() => {
      if (held.get(h.work.application) === h) void enqueue(h.work.application, () => refresh(h));
    }, pollMs);
  }

  /** Reports the work's status if it changed (or drift was put back), at most once a second. */
  function report(h: Held): void {
    const key = JSON.stringify({ generation: h.work.generation, objects: h.objects });
    if (key === h.lastReport && h.drift.length === 0) return;
    const wait = h.lastReportAt + minReportIntervalMs - Date.now();
    if (wait > 0) {
      h.reportTimer ??= setTimeout(() => {
        h.reportTimer = undefined;
        if (!stopped && held.get(h.work.application) === h) report(h);
      }, wait);
      return;
    }
    options.report({
      cluster,
      application: h.work.application,
      generation: h.work.generation,
      objects: h.objects,
      drift: h.drift,
      appliedAt: h.work.appliedAt ?? now().toISOString(),
    });
    h.lastReport = key;
    h.lastReportAt = Date.now();
    h.drift = [];
  }

  /** Deletes a removed work's objects; forgets the work once they are all gone. */
  async function removeObjects(h: Held): Promise<void> {
    const notDeleted = await deleteObjects(h.work.application, h.work.applied);
    if (notDeleted.length === 0) {
      held.delete(h.work.application);
      await store.delete(h.work.application);
      log({ level: "info", msg: "work removed", application: h.work.application });
      return;
    }
    h.work = { ...h.work, applied: notDeleted };
    await store.save(h.work);
  }

  function forget(h: Held): void {
    clearTimeout(h.pollTimer);
    clearTimeout(h.retryTimer);
    clearTimeout(h.reportTimer);
    h.reportTimer = undefined;
  }

  async function resync(): Promise<void> {
    // One work at a time: a resync of many works does not flood the API server.
    for (const h of [...held.values()]) {
      if (stopped) return;
      if (h.resyncQueued) continue;
      h.resyncQueued = true;
      await enqueue(h.work.application, async () => {
        h.resyncQueued = false;
        if (held.get(h.work.application) !== h) return;
        await (h.work.removing ? removeObjects(h) : apply(h));
      });
    }
  }

  const loaded = await store.load();
  for (const skipped of loaded.skipped)
    log({ level: "warn", msg: "skipped a work file that cannot be read", ...skipped });
  for (const work of loaded.works) hold(work);
  if (loaded.works.length > 0)
    log({ level: "info", msg: "holding works from disk", works: loaded.works.length });
  // Apply what is held right away (the cluster may have changed while the agent was down), then periodically;
  // a resync that takes longer than the interval is not overlapped by the next.
  let resyncing = false;
  const tick = () => {
    if (resyncing) return;
    resyncing = true;
    void resync().finally(() => {
      resyncing = false;
    });
  };
  tick();
  const resyncTimer = setInterval(tick, resyncMs);

  return {
    get applies() {
      return applies;
    },
    set(work) {
      if (!isApplicationName(work.application))
        return Promise.reject(new Error(`not an application name: ${work.application}`));
      return enqueue(work.application, async () => {
        const current = held.get(work.application);
        if (current && !current.work.removing && current.work.generation > work.generation) {
          log({
            level: "info",
            msg: "ignored an older generation",
            application: work.application,
            generation: work.generation,
            holding: current.work.generation,
          });
          return;
        }
        const h =
          current ??
          hold({ application: work.application, generation: work.generation, manifests: [], applied: [] });
        h.work = { ...h.work, generation: work.generation, manifests: work.manifests, removing: false };
        // Kept on disk before applying: a crash halfway still leaves the agent holding the new state.
        await store.save(h.work);
        await apply(h);
      });
    },
    remove(application) {
      return enqueue(application, async () => {
        const h = held.get(application);
        if (!h) return;
        forget(h);
        h.work = { ...h.work, manifests: [], removing: true };
        await store.save(h.work);
        await removeObjects(h);
      });
    },
    held() {
      return [...held.values()]
        .filter((h) => !h.work.removing)
        .map((h) => ({ application: h.work.application, generation: h.work.generation }));
    },
    resync,
    async stop() {
      stopped = true;
      clearInterval(resyncTimer);
      for (const h of held.values()) forget(h);
      await Promise.allSettled([...chains.values()]);
    },
  };
}

/** Runs `task` over `items`, at most `concurrency` at a time. */
async function inParallel<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
