/**
 * The agent's delivery: it holds the works the hub sent (one per Application, kept on disk) and makes the
 * cluster match them, as a keyed reconciler (docs/adr/0017): one key per Application on a `WorkQueue`, so a
 * work is never reconciled twice at once, and every wait — the periodic resync, the read-back of objects not
 * healthy yet, a report held back by the one-a-second limit, a retry — is the queue's `requeueAfter` or backoff,
 * not a timer of its own.
 *
 * Each reconcile looks at what is due for its work and does it: take the latest `set` or `remove`; apply (in
 * dependency order with server-side apply, field manager `unitfleet`, forced; every object labelled with its
 * Application; then prune what an earlier generation applied and this one has not); read back objects not
 * healthy yet; report the work's status — per object: applied or failed, replicas, conditions, healthy — when
 * it changed. Every `resyncSeconds` each work is applied again: what someone deleted or changed is put back and
 * reported as drift. When the API server does not answer, the reconcile is retried with growing delays.
 */
import type { MessageBody } from "../../protocol/messages.ts";
import { type Clock, systemClock } from "../../runtime/clock.ts";
import type { Log } from "../../runtime/runnable.ts";
import { type Result, WorkQueue } from "../../runtime/work-queue.ts";
import type { Manifest } from "./apply-order.ts";
import type { ClusterObjects } from "./cluster-objects.ts";
import type { ObjectStatus } from "./object-status.ts";
import { applyWork, beingDeletedMessage, deleteObjects, readBack, type WorkCluster } from "./work-objects.ts";
import { isApplicationName, type StoredWork, WorkStore } from "./work-store.ts";

/** The desired state of one Application in this cluster (a `work.apply` body without the cluster). */
export interface Work {
  application: string;
  generation: number;
  manifests: Manifest[];
}

export type WorkStatus = MessageBody<"work.status">;
type DriftEntry = WorkStatus["drift"][number];

interface ApplierSettings {
  cluster: string;
  /** The agent's dir: works are kept in its `works/` folder. */
  dir: string;
  /** How often every held work is applied again (drift is put back), in seconds; 30 when absent. */
  resyncSeconds?: number;
  /** How often objects that are not healthy yet are read back, in seconds; 2 when absent. */
  pollSeconds?: number;
  /** How long to wait for a CustomResourceDefinition to be Established, in seconds; 30 when absent. */
  crdWaitSeconds?: number;
  /** Sends a `work.status` body (the agent forwards it to the hub). */
  report: (body: WorkStatus) => void;
  log: Log;
  /** Time, its waits and `appliedAt`; the system clock when absent. */
  clock?: Clock;
}

/**
 * The cluster is reached through `api`: the agent gives `ObjectApi` (client-node), tests an in-memory one.
 */
export type ApplierOptions = ApplierSettings & { api: ClusterObjects };

export interface Applier {
  /**
   * Holds a work (replacing an earlier generation) and applies it; resolves once a reconcile has applied it (or
   * a later generation given meanwhile) and reported. An older generation than the one held is ignored.
   */
  set(work: Work): Promise<void>;
  /** Deletes what was applied for an Application (Namespaces last) and forgets its work; resolves once tried. */
  remove(application: string): Promise<void>;
  /** The works held, for `work.sync`. */
  held(): Array<{ application: string; generation: number }>;
  /** Applies every held work again now (what the periodic resync does); resolves once each was reconciled. */
  resync(): Promise<void>;
  /** Stops reconciling; resolves once the reconciles in flight have ended and no timer is left. */
  stop(): Promise<void>;
  /** Applies of a work so far (each set and each resync of each work): tests and metrics read it. */
  readonly applies: number;
}

/** Works reconciled at once (of different Applications). */
const worksAtOnce = 4;
/** Reports of one Application are at least this far apart. */
const minReportIntervalMs = 1000;
const maxDrift = 100;

/** A change asked for and not yet taken by a reconcile: the latest one wins. */
type Intent = { set: Work } | { remove: true };

interface Held {
  work: StoredWork;
  intent?: Intent;
  /** Callers of `set`, `remove` and `resync` waiting for the next reconcile of this work to end. */
  waiters: Array<() => void>;
  objects: ObjectStatus[];
  /** Drift put back and not reported yet. */
  drift: DriftEntry[];
  /** The last report, as compared (generation and objects). */
  lastReport?: string;
  lastReportAt: number;
  /** When the work is applied next: the resync, or sooner while an object of it is being deleted. */
  applyAt: number;
  /** When objects not healthy yet are read back next; undefined while all are healthy. */
  pollAt?: number;
  /** When a report held back by the one-a-second limit is due; undefined when none is. */
  reportAt?: number;
  /** Applies in a row that found an object of the work still being deleted. */
  deletionRetries: number;
}

export async function startApplier(options: ApplierOptions): Promise<Applier> {
  const { cluster, log } = options;
  const resyncMs = seconds("resyncSeconds", options.resyncSeconds, 30);
  const pollMs = seconds("pollSeconds", options.pollSeconds, 2);
  const crdWaitMs = seconds("crdWaitSeconds", options.crdWaitSeconds, 30);
  const clock = options.clock ?? systemClock;
  const api = options.api;
  const workCluster: WorkCluster = { api, clock, log, crdWaitMs };
  const store = new WorkStore(options.dir);
  const held = new Map<string, Held>();
  let applies = 0;

  const queue = new WorkQueue<string>({
    name: "applier",
    reconcile,
    concurrency: worksAtOnce,
    // A work that cannot be applied (the API server away) is tried again after 1 s, 2 s, 4 s… up to the resync.
    backoff: { baseMs: Math.min(1000, resyncMs), capMs: resyncMs },
    clock,
    log,
  });
  const stopping = new AbortController();

  function hold(work: StoredWork): Held {
    const h: Held = {
      work,
      waiters: [],
      objects: [],
      drift: [],
      lastReportAt: Number.NEGATIVE_INFINITY,
      applyAt: Number.NEGATIVE_INFINITY,
      deletionRetries: 0,
    };
    held.set(work.application, h);
    return h;
  }

  /** Queues the work's reconcile; resolves when the next one has ended (at once when the applier is stopped). */
  function queueAndWait(h: Held): Promise<void> {
    if (!queue.running) return Promise.resolve();
    const ended = new Promise<void>((resolve) => h.waiters.push(resolve));
    queue.add(h.work.application);
    return ended;
  }

  async function reconcile(application: string, signal: AbortSignal): Promise<Result> {
    const h = held.get(application);
    if (!h) return { done: true };
    // Those who wait now are answered by this reconcile; those who come while it runs, by the next.
    const waiters = h.waiters.splice(0);
    try {
      return await reconcileHeld(h, signal);
    } finally {
      // A work forgotten (removed) has no next reconcile: those who came meanwhile are answered now too.
      if (held.get(application) !== h) waiters.push(...h.waiters.splice(0));
      for (const resolve of waiters) resolve();
    }
  }

  async function reconcileHeld(h: Held, signal: AbortSignal): Promise<Result> {
    const intent = h.intent;
    h.intent = undefined;
    if (intent && "set" in intent) {
      h.work = {
        ...h.work,
        generation: intent.set.generation,
        manifests: intent.set.manifests,
        removing: false,
      };
      h.applyAt = Number.NEGATIVE_INFINITY;
      h.deletionRetries = 0;
      // Kept on disk before applying: a crash halfway still leaves the agent holding the new state.
      await store.save(h.work);
    } else if (intent) {
      h.work = { ...h.work, manifests: [], removing: true };
      h.objects = [];
      h.drift = [];
      h.pollAt = undefined;
      h.reportAt = undefined;
      await store.save(h.work);
    }
    if (h.work.removing) return await removeObjects(h);

    // Whatever step fails for a reason that may pass stays due, and the queue retries it with growing delays.
    let failure: unknown;
    if (h.applyAt <= clock.now()) failure = await apply(h, signal);
    else if (h.pollAt !== undefined && h.pollAt <= clock.now()) failure = await refresh(h);
    if (signal.aborted) return { done: true };
    if (h.reportAt !== undefined && h.reportAt <= clock.now()) report(h);
    if (failure !== undefined) return { retry: failure };
    const next = Math.min(
      h.applyAt,
      h.pollAt ?? Number.POSITIVE_INFINITY,
      h.reportAt ?? Number.POSITIVE_INFINITY,
    );
    return { requeueAfter: Math.max(1, next - clock.now()) };
  }

  /** Applies a held work (`applyWork`), keeps what it applied, reports; the failure worth retrying, if any. */
  async function apply(h: Held, signal: AbortSignal): Promise<unknown> {
    applies += 1;
    const { application, generation } = h.work;
    const outcome = await applyWork(workCluster, h.work, signal);
    if (!outcome) return undefined;
    const now = clock.now();
    h.objects = outcome.objects;
    if (outcome.notServed !== undefined) {
      log({
        level: "warn",
        msg: "work not applied: kinds not served",
        application,
        generation,
        kinds: outcome.notServed,
      });
      h.applyAt = now + resyncMs;
      h.pollAt = undefined;
      report(h);
      return undefined;
    }
    const drift = outcome.drift.map((d) => ({ ...d.ref, at: d.at, message: d.message }));
    h.drift = [...h.drift, ...drift].slice(-maxDrift);
    h.work = { ...h.work, applied: outcome.applied, appliedAt: new Date(now).toISOString() };
    await store.save(h.work);
    if (outcome.failure !== undefined) h.applyAt = clock.now();
    else if (h.objects.some((o) => o.message === beingDeletedMessage)) {
      // Again soon, waiting twice as long each time from the poll interval up to the resync interval, so that
      // an object stuck in deletion (a finalizer that never ends) does not have its work applied every few
      // seconds forever.
      h.applyAt = clock.now() + Math.min(resyncMs, pollMs * 2 ** Math.min(h.deletionRetries, 10));
      h.deletionRetries += 1;
    } else {
      h.applyAt = clock.now() + resyncMs;
      h.deletionRetries = 0;
    }
    h.pollAt = notHealthyYet(h) ? clock.now() + pollMs : undefined;
    log({
      level: "info",
      msg: "work applied",
      application,
      generation,
      objects: h.objects.length,
      failed: h.objects.filter((o) => o.state === "Failed").length,
      pruned: outcome.pruned,
    });
    report(h);
    return outcome.failure;
  }

  /** Reads the applied objects back and reports what changed; the failure worth retrying, if any. */
  async function refresh(h: Held): Promise<unknown> {
    const { objects, failure } = await readBack(workCluster, h.objects);
    h.objects = objects;
    const now = clock.now();
    h.pollAt = failure !== undefined ? now : notHealthyYet(h) ? now + pollMs : undefined;
    report(h);
    return failure;
  }

  function notHealthyYet(h: Held): boolean {
    return h.objects.some((o) => o.state === "Applied" && !o.healthy);
  }

  /** Reports the work's status if it changed (or drift was put back), at most once a second. */
  function report(h: Held): void {
    const key = JSON.stringify({ generation: h.work.generation, objects: h.objects });
    if (key === h.lastReport && h.drift.length === 0) {
      h.reportAt = undefined;
      return;
    }
    const due = h.lastReportAt + minReportIntervalMs;
    if (clock.now() < due) {
      h.reportAt = due;
      return;
    }
    options.report({
      cluster,
      application: h.work.application,
      generation: h.work.generation,
      objects: h.objects,
      drift: h.drift,
      appliedAt: h.work.appliedAt ?? new Date(clock.now()).toISOString(),
    });
    h.lastReport = key;
    h.lastReportAt = clock.now();
    h.drift = [];
    h.reportAt = undefined;
  }

  /** Deletes a removed work's objects; forgets the work once they are all gone, retries while some remain. */
  async function removeObjects(h: Held): Promise<Result> {
    const { application } = h.work;
    const notDeleted = await deleteObjects(workCluster, application, h.work.applied);
    if (notDeleted.length > 0) {
      h.work = { ...h.work, applied: notDeleted };
      await store.save(h.work);
      return { retry: new Error(`could not delete ${notDeleted.length} object(s) of the removed work`) };
    }
    if (h.intent) {
      // Given back while being removed: the next reconcile (queued already) takes it.
      h.work = { ...h.work, applied: [] };
      await store.save(h.work);
      return { done: true };
    }
    held.delete(application);
    await store.delete(application);
    log({ level: "info", msg: "work removed", application });
    return { done: true };
  }

  const loaded = await store.load();
  for (const skipped of loaded.skipped)
    log({ level: "warn", msg: "skipped a work file that cannot be read", ...skipped });
  for (const work of loaded.works) hold(work);
  if (loaded.works.length > 0)
    log({ level: "info", msg: "holding works from disk", works: loaded.works.length });
  const running = queue.start(stopping.signal);
  // Apply what is held right away (the cluster may have changed while the agent was down); each work then
  // requeues itself for its resync.
  for (const application of held.keys()) queue.add(application);

  return {
    get applies() {
      return applies;
    },
    set(work) {
      if (!isApplicationName(work.application))
        return Promise.reject(new Error(`not an application name: ${work.application}`));
      if (!queue.running) return Promise.resolve();
      const current = held.get(work.application);
      const holding = !current
        ? undefined
        : current.intent
          ? "set" in current.intent
            ? current.intent.set.generation
            : undefined
          : current.work.removing
            ? undefined
            : current.work.generation;
      if (holding !== undefined && holding > work.generation) {
        log({
          level: "info",
          msg: "ignored an older generation",
          application: work.application,
          generation: work.generation,
          holding,
        });
        return Promise.resolve();
      }
      const h =
        current ??
        hold({ application: work.application, generation: work.generation, manifests: [], applied: [] });
      h.intent = { set: { ...work } };
      return queueAndWait(h);
    },
    remove(application) {
      const h = held.get(application);
      if (!h || !queue.running) return Promise.resolve();
      h.intent = { remove: true };
      return queueAndWait(h);
    },
    held() {
      return [...held.values()].flatMap((h) => {
        const generation = h.intent
          ? "set" in h.intent
            ? h.intent.set.generation
            : undefined
          : h.work.removing
            ? undefined
            : h.work.generation;
        return generation === undefined ? [] : [{ application: h.work.application, generation }];
      });
    },
    async resync() {
      const ended = [...held.values()].map((h) => {
        h.applyAt = Number.NEGATIVE_INFINITY;
        return queueAndWait(h);
      });
      await Promise.all(ended);
    },
    async stop() {
      stopping.abort();
      await running;
      // Reconciles that never came (dropped with the queue) answer their waiters now.
      for (const h of held.values()) for (const resolve of h.waiters.splice(0)) resolve();
    },
  };
}

/** A duration option in seconds, as milliseconds; refused unless above 0. */
function seconds(field: string, value: number | undefined, fallback: number): number {
  const s = value ?? fallback;
  if (!(s > 0) || !Number.isFinite(s))
    throw new Error(`${field}: must be a number of seconds above 0, got ${s}`);
  return s * 1000;
}
