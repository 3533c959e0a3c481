/**
 * The delivery controller (one replica at a time, leader-only): reconciles one Application per key. Each
 * reconcile schedules that Application on the fleet as it is now (core/scheduling), renders each chosen
 * cluster's work (core/delivery/render), writes the works that changed, announces them to the dispatchers
 * (NOTIFY), and writes the Application's status from the scheduler's outcome and the agents' reports.
 *
 * It reads Applications, Placements, Overrides and Clusters from informers (src/hub/cache), and a change
 * enqueues only the Applications it concerns (`applicationsConcerned`): the Application itself; those naming
 * a changed Placement or named by a changed Override; for a Cluster whose facts changed (not a bare heartbeat),
 * those that run on it or whose placement selects it, before or after. An agent's report enqueues its
 * Application (NOTIFY on `unitfleet_work_reports`). Time alone changes a decision only when a selected cluster's
 * failover tolerance or stable period ends (core/delivery/decision-timing.ts): the reconcile asks to run again
 * then. Every Application is also enqueued on start and on a slow resync, in case a notification was lost.
 *
 * An unreachable cluster is not a dead one (ADR 0013, core/delivery/handover.ts): a work is tombstoned only for
 * an explicit change — the placement leaves the cluster, the Application or the Cluster is deleted. A work
 * whose share shrinks is rewritten only once the new placement's replicas report Ready (make-before-break),
 * and never while its cluster is unreachable.
 */
import { createHash } from "node:crypto";
import type { Manifest, OverrideRule } from "../../core/delivery/application.ts";
import { nextTimedDecision } from "../../core/delivery/decision-timing.ts";
import { clusterFacts } from "../../core/delivery/fleet-facts.ts";
import { type HandoverWork, planHandover } from "../../core/delivery/handover.ts";
import { renderWork } from "../../core/delivery/render.ts";
import { currentAssignments, scheduleApplication } from "../../core/delivery/schedule-application.ts";
import { applicationStatus, clusterStatus, type WorkRecord } from "../../core/delivery/status.ts";
import { canonicalJson, sameJson } from "../../core/resources/canonical-json.ts";
import {
  type Application,
  type Cluster,
  kinds,
  type Override,
  type Placement,
} from "../../core/resources/kinds.ts";
import { type Assignment, type ClusterFacts, placementSelects } from "../../core/scheduling/scheduler.ts";
import type { ResourceStore } from "../../store/resource-store.ts";
import type { Sql } from "../../store/sql.ts";
import { type InformedChange, Informer, type InformerFeed } from "../cache/informer.ts";
import { systemCaller } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";
import { workReportsChannel, worksChannel } from "./work-dispatcher.ts";

interface StoredWork {
  application: string;
  cluster: string;
  generation: number;
  hash: string;
  removed: boolean;
  status: WorkRecord["status"] | string | null;
  drift: WorkRecord["drift"] | string;
}

const parse = <T>(value: T | string | null): T | undefined =>
  value === null ? undefined : typeof value === "string" ? (JSON.parse(value) as T) : value;

/** How long reports wait to be reconciled together (see `start`). */
const reportBatchMs = 200;

export interface DeliveryDependencies {
  sql: Sql;
  store: ResourceStore;
  registry: Registry;
  feed: InformerFeed;
  log: (entry: Record<string, unknown>) => void;
  now?: () => number;
}

export class DeliveryController {
  private readonly sql: Sql;
  private readonly registry: Registry;
  private readonly log: (entry: Record<string, unknown>) => void;
  private readonly now: () => number;
  private readonly informers: {
    applications: Informer;
    placements: Informer;
    overrides: Informer;
    clusters: Informer;
  };
  private enqueue: (application: string, afterMs?: number) => void = () => {};
  private unlisten: (() => Promise<void>) | undefined;
  /** Reconciles made (all, and per Application while it exists), works written: tests and metrics read them. */
  readonly counters = { reconciles: 0, worksWritten: 0 };
  private readonly reconcilesOf = new Map<string, number>();

  constructor(deps: DeliveryDependencies) {
    this.sql = deps.sql;
    this.registry = deps.registry;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    const informer = (kind: string) =>
      new Informer({ kind, store: deps.store, feed: deps.feed, log: deps.log });
    this.informers = {
      applications: informer("Application"),
      placements: informer("Placement"),
      overrides: informer("Override"),
      clusters: informer("Cluster"),
    };
  }

  /** How many times this Application was reconciled (0 once it is gone). */
  reconcilesOfApplication(name: string): number {
    return this.reconcilesOf.get(name) ?? 0;
  }

  /**
   * Fills the caches and starts following changes, each enqueued through `enqueue`; then enqueues every
   * Application, and every one that still has live works (deleted while this replica was not the leader).
   * Agents' reports are enqueued `reportBatchMs` later: the reports of one apply over many clusters arrive
   * together and make one reconcile, not one each.
   */
  async start(enqueue: (application: string, afterMs?: number) => void): Promise<void> {
    this.enqueue = enqueue;
    for (const informer of Object.values(this.informers)) {
      informer.onChange((change) => {
        for (const application of this.applicationsConcerned(change)) this.enqueue(application);
      });
      await informer.start();
    }
    this.unlisten = await this.sql.listen(workReportsChannel, (application) =>
      this.enqueue(application, reportBatchMs),
    );
    await this.resync();
  }

  /** Enqueues every Application and every Application with live works. */
  async resync(): Promise<void> {
    for (const app of this.informers.applications.list()) this.enqueue(app.metadata.name);
    const orphans = await this.sql.query<{ application: string }>(
      "select distinct application from works where not removed",
    );
    for (const { application } of orphans)
      if (!this.informers.applications.get(application)) this.enqueue(application);
  }

  async stop(): Promise<void> {
    for (const informer of Object.values(this.informers)) informer.stop();
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /** The Applications a change can concern (see the module's comment). */
  applicationsConcerned(change: InformedChange): string[] {
    const applications = () => this.informers.applications.list() as unknown as Application[];
    switch (change.kind) {
      case "Application":
        return [change.name];
      case "Placement":
        return applications()
          .filter((a) => a.spec.placementRef?.name === change.name)
          .map((a) => a.metadata.name);
      case "Override": {
        // An Override that names no Applications applies to all of them, before or after the change.
        const versions = [change.before, change.after].filter(
          (o) => o !== undefined,
        ) as unknown as Override[];
        if (versions.some((o) => o.spec.applications === undefined))
          return applications().map((a) => a.metadata.name);
        return [...new Set(versions.flatMap((o) => o.spec.applications ?? []))];
      }
      case "Cluster": {
        if (
          change.before &&
          change.after &&
          sameJson(clusterFactsOf(change.before), clusterFactsOf(change.after))
        )
          return [];
        const now = this.now();
        const states = [change.before, change.after]
          .filter((c) => c !== undefined)
          .map((c) => clusterFacts(c as unknown as Cluster, now));
        return applications()
          .filter((a) => {
            if (runsOn(a, change.name)) return true;
            const placement = this.placementOf(a);
            return placement !== undefined && states.some((c) => placementSelects(placement, c));
          })
          .map((a) => a.metadata.name);
      }
      default:
        return [];
    }
  }

  /**
   * Reconciles one Application: its works and status as the fleet is now; tombstones the works of one that is
   * gone. Returns when to run again for time alone (ms from now), if ever.
   */
  async reconcile(name: string): Promise<{ requeueAfterMs?: number }> {
    this.counters.reconciles += 1;
    const now = this.now();
    const works = await this.sql.query<StoredWork>(
      "select application, cluster, generation, hash, removed, status, drift from works where application = $1",
      [name],
    );
    const app = this.informers.applications.get(name) as unknown as Application | undefined;
    const changedClusters = new Set<string>();
    let requeueAfterMs: number | undefined;
    if (!app) {
      this.reconcilesOf.delete(name);
      for (const w of works)
        if (!w.removed) {
          await this.tombstone(name, w.cluster, w.generation);
          changedClusters.add(w.cluster);
        }
    } else {
      this.reconcilesOf.set(name, (this.reconcilesOf.get(name) ?? 0) + 1);
      const clusters = this.informers.clusters.list() as unknown as Cluster[];
      const fleet = clusters.map((c) => clusterFacts(c, now));
      const unreachable = new Set(
        clusters
          .filter((c) => c.status?.conditions?.find((k) => k.type === "Reachable")?.status !== "True")
          .map((c) => c.metadata.name),
      );
      const locationOf = new Map(fleet.map((c) => [c.name, c.location]));
      const overrides = (this.informers.overrides.list() as unknown as Override[]).sort((a, b) =>
        a.metadata.name.localeCompare(b.metadata.name),
      );
      const placement = this.placementOf(app);
      await this.reconcileApplication(
        app,
        placement,
        fleet,
        locationOf,
        overrides,
        new Map(works.map((w) => [w.cluster, w])),
        changedClusters,
        unreachable,
        now,
      );
      const next = placement ? nextTimedDecision(placement, fleet, now) : undefined;
      if (next !== undefined) requeueAfterMs = next - now;
    }
    await this.announce(changedClusters);
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  private placementOf(app: Application): Placement["spec"] | undefined {
    if (app.spec.placement) return app.spec.placement;
    const ref = app.spec.placementRef?.name;
    const placement = ref
      ? (this.informers.placements.get(ref) as unknown as Placement | undefined)
      : undefined;
    return placement?.spec;
  }

  /** Tells the dispatchers which clusters' works changed: a few hundred names per notification (under 8,000 bytes). */
  private async announce(changedClusters: ReadonlySet<string>): Promise<void> {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length > 0) await this.sql.query("select pg_notify($1, $2)", [worksChannel, batch.join(",")]);
      batch = [];
    };
    let length = 0;
    for (const cluster of changedClusters) {
      if (length + cluster.length > 7000) {
        await flush();
        length = 0;
      }
      batch.push(cluster);
      length += cluster.length + 1;
    }
    await flush();
  }

  private async reconcileApplication(
    app: Application,
    placement: Placement["spec"] | undefined,
    fleet: ClusterFacts[],
    locationOf: Map<string, string>,
    overrides: Override[],
    works: Map<string, StoredWork>,
    changedClusters: Set<string>,
    unreachable: ReadonlySet<string>,
    now: number,
  ): Promise<void> {
    const name = app.metadata.name;
    const spec = app.spec;
    const previous = currentAssignments(app);
    let decisions: Assignment[] = previous;
    let unschedulable: string | undefined;
    let failoverBlocked: { reason: string; message: string } | undefined;
    // Works kept above their share: as they were, unless this pass decides again (it does when scheduling).
    let leaving: Assignment[] = (app.status?.placement?.leaving ?? []).map((l) => ({
      cluster: l.name,
      replicas: l.replicas,
    }));
    const notes: Array<{ type: "Normal" | "Warning"; reason: string; message: string }> = [];
    let problem: { reason: string; message: string } | undefined;
    if (!placement) {
      problem = {
        reason: "PlacementNotFound",
        message: `Placement "${spec.placementRef?.name}" does not exist`,
      };
    } else {
      const manifests = spec.manifests as Manifest[];
      const outcome = scheduleApplication(app, placement, fleet, now, "placed");
      decisions = outcome.decisions.filter((d) => d.replicas > 0 || placement.replicas.mode === "Duplicated");
      unschedulable = outcome.unschedulable?.reason;
      failoverBlocked = outcome.failoverBlocked;
      const rules: Array<{ source: string; rule: OverrideRule }> = [
        ...(spec.overrides ?? []).map((rule, i) => ({ source: `spec.overrides[${i}]`, rule })),
        ...overrides
          .filter((o) => !o.spec.applications || o.spec.applications.includes(name))
          .flatMap((o) =>
            o.spec.rules.map((rule, i) => ({ source: `Override ${o.metadata.name} rules[${i}]`, rule })),
          ),
      ];
      const facts = new Map(fleet.map((c) => [c.name, c]));
      const target = new Map(decisions.map((d) => [d.cluster, d.replicas]));
      const traced = new Map(outcome.trace.map((t) => [t.cluster, t]));
      // What each live work asks for now: its share in the last placement, or the share it was kept at.
      const asked = new Map(previous.map((p) => [p.cluster, p.replicas]));
      for (const l of app.status?.placement?.leaving ?? []) asked.set(l.name, l.replicas);
      const handoverWorks: HandoverWork[] = [];
      for (const w of works.values()) {
        if (w.removed) continue;
        const t = traced.get(w.cluster);
        const record = recordOf(w);
        const report = clusterStatus(w.cluster, record, asked.get(w.cluster) ?? 0);
        handoverWorks.push({
          cluster: w.cluster,
          asks: asked.get(w.cluster) ?? 0,
          ready: report.appliedGeneration === report.generation ? report.replicas.ready : 0,
          reachable: !unreachable.has(w.cluster),
          registered: locationOf.has(w.cluster),
          ...(t ? { trace: t } : {}),
        });
      }
      const handover = planHandover({ target, works: handoverWorks });
      leaving = handover.keep.map((k) => ({ cluster: k.cluster, replicas: k.replicas }));
      const kept = new Set(handover.keep.map((k) => k.cluster));
      const writes: Array<{
        cluster: string;
        location: string;
        generation: number;
        manifests: string;
        hash: string;
      }> = [];
      // Every chosen cluster, and the clusters left that keep a work at their new share (0).
      const shares: Assignment[] = [
        ...decisions,
        ...handover.shrinkToZero.map((cluster) => ({ cluster, replicas: 0 })),
      ];
      for (const d of shares) {
        if (kept.has(d.cluster)) continue;
        const cluster = facts.get(d.cluster)!;
        const rendered = renderWork(manifests, rules, cluster, d.replicas);
        if (!rendered.ok) {
          problem = { reason: "OverrideFailed", message: rendered.problem };
          continue;
        }
        const hash = createHash("sha256").update(canonicalJson(rendered.manifests)).digest("hex");
        const existing = works.get(d.cluster);
        if (existing && !existing.removed && existing.hash === hash) continue;
        const generation = (existing?.generation ?? 0) + 1;
        writes.push({
          cluster: d.cluster,
          location: cluster.location,
          generation,
          manifests: JSON.stringify(rendered.manifests),
          hash,
        });
        works.set(d.cluster, {
          ...(existing ?? emptyWork(name, d.cluster)),
          generation,
          hash,
          removed: false,
        });
        this.counters.worksWritten += 1;
        changedClusters.add(d.cluster);
      }
      for (const r of handover.released)
        notes.push({
          type: "Normal",
          reason: "HandoverComplete",
          message: `${r.cluster}: work updated from ${r.from} to ${r.to} replicas, the new placement's replicas being ready`,
        });
      // One statement for all of this application's changed works, however many clusters.
      if (writes.length > 0)
        await this.sql.query(
          `insert into works (application, cluster, location, generation, manifests, hash)
           select $1, c, l, g, m::jsonb, h
           from unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::text[]) as w(c, l, g, m, h)
           on conflict (application, cluster) do update set generation = excluded.generation,
             manifests = excluded.manifests, hash = excluded.hash, removed = false, updated_at = now()`,
          [
            name,
            writes.map((w) => w.cluster),
            writes.map((w) => w.location),
            writes.map((w) => w.generation),
            writes.map((w) => w.manifests),
            writes.map((w) => w.hash),
          ],
        );
      for (const cluster of handover.remove) {
        const w = works.get(cluster)!;
        await this.tombstone(name, cluster, w.generation);
        w.removed = true;
        changedClusters.add(cluster);
      }
    }

    const records = new Map<string, WorkRecord>();
    for (const w of works.values()) records.set(w.cluster, recordOf(w));
    const status = applicationStatus({
      generation: app.metadata.generation,
      previous: app.status,
      decisions,
      ...(placement ? { wanted: placement.replicas } : {}),
      ...(unschedulable ? { unschedulable } : {}),
      ...(problem ? { problem } : {}),
      works: records,
      unreachable,
      leaving,
      ...(failoverBlocked ? { failoverBlocked } : {}),
      notes,
      now: new Date(now).toISOString(),
    });
    if (!sameStatus(app.status, status)) {
      const stored = await this.registry.mergeStatus(
        kinds.Application,
        name,
        status as Record<string, unknown>,
        systemCaller,
      );
      // Its own write is no news to the controller: the cache has it before the change comes back.
      this.informers.applications.remember(stored);
    }
  }

  private async tombstone(application: string, cluster: string, generation: number): Promise<void> {
    await this.sql.query(
      "update works set removed = true, generation = $3, updated_at = now() where application = $1 and cluster = $2",
      [application, cluster, generation + 1],
    );
    this.counters.worksWritten += 1;
  }
}

function recordOf(w: StoredWork): WorkRecord {
  const status = parse(w.status);
  return {
    cluster: w.cluster,
    generation: w.generation,
    removed: w.removed,
    ...(status ? { status } : {}),
    drift: parse(w.drift) ?? [],
  };
}

function emptyWork(application: string, cluster: string): StoredWork {
  return { application, cluster, generation: 0, hash: "", removed: false, status: null, drift: [] };
}

/** Equal but for times that only move when something else changes. */
function sameStatus(a: Application["status"], b: Application["status"]): boolean {
  return sameJson(a ?? {}, b ?? {});
}

/** Whether the Application runs on the cluster, or keeps a work there, as its status records. */
function runsOn(app: Application, cluster: string): boolean {
  const placement = app.status?.placement;
  return (
    (placement?.clusters ?? []).some((c) => c.name === cluster) ||
    (placement?.leaving ?? []).some((c) => c.name === cluster) ||
    (app.status?.clusters ?? []).some((c) => c.name === cluster)
  );
}

/** A Cluster as the scheduler sees it: spec, labels and status, without heartbeat times. */
function clusterFactsOf(object: unknown): unknown {
  const cluster = object as Cluster;
  const { lastHeartbeatTime: _, ...status } = cluster.status ?? {};
  return { spec: cluster.spec, labels: cluster.metadata?.labels ?? {}, status };
}
