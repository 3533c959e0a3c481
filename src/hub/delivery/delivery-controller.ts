/**
 * The delivery controller (one replica at a time, under the `delivery` lease): for every Application, schedule
 * it on the fleet as it is now (core/scheduling), render each chosen cluster's work (core/delivery/render),
 * write the works that changed, announce them to the dispatchers (NOTIFY), and write the Application's status
 * from the scheduler's outcome and the agents' reports. It runs on changes that concern Applications
 * (`concernsDelivery`) and every second otherwise (failover timings and reports need no change); with no
 * Application and no live work, a pass reads no Clusters.
 *
 * An unreachable cluster is not a dead one (ADR 0013, core/delivery/handover.ts): a work is tombstoned only for
 * an explicit change — the placement leaves the cluster, the Application or the Cluster is deleted. A work
 * whose share shrinks is rewritten only once the new placement's replicas report Ready (make-before-break),
 * and never while its cluster is unreachable.
 */
import { createHash } from "node:crypto";
import type { Manifest, OverrideRule } from "../../core/delivery/application.ts";
import { clusterFacts } from "../../core/delivery/fleet-facts.ts";
import { type HandoverWork, planHandover } from "../../core/delivery/handover.ts";
import { renderWork } from "../../core/delivery/render.ts";
import { currentAssignments, scheduleApplication } from "../../core/delivery/schedule-application.ts";
import { applicationStatus, clusterStatus, type WorkRecord } from "../../core/delivery/status.ts";
import { canonicalJson } from "../../core/resources/canonical-json.ts";
import {
  type Application,
  type Cluster,
  kinds,
  type Override,
  type Placement,
} from "../../core/resources/kinds.ts";
import type { Assignment, ClusterFacts } from "../../core/scheduling/scheduler.ts";
import { type ChangeEvent, type ResourceStore, WatchExpiredError } from "../../store/resource-store.ts";
import type { Sql } from "../../store/sql.ts";
import { systemCaller } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";
import { worksChannel } from "./work-dispatcher.ts";

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

export class DeliveryController {
  private readonly sql: Sql;
  private readonly store: ResourceStore;
  private readonly registry: Registry;
  private readonly log: (entry: Record<string, unknown>) => void;
  /** Passes made, works written: tests and metrics read them. */
  readonly counters = { passes: 0, worksWritten: 0 };

  constructor(deps: {
    sql: Sql;
    store: ResourceStore;
    registry: Registry;
    log: (entry: Record<string, unknown>) => void;
  }) {
    this.sql = deps.sql;
    this.store = deps.store;
    this.registry = deps.registry;
    this.log = deps.log;
  }

  /**
   * Whether the changes after `afterVersion` up to `throughVersion` can alter what a pass decides: Applications,
   * Placements, Overrides, and Clusters other than a bare heartbeat. Locations, Regions and the like cannot.
   * Changes compacted away count as concerning (the pass is level-based, running it is always safe).
   */
  async changesConcernDelivery(afterVersion: string, throughVersion: string): Promise<boolean> {
    let from = afterVersion;
    while (BigInt(from) < BigInt(throughVersion)) {
      let events: ChangeEvent[];
      try {
        events = await this.store.eventsSince(from, undefined, 1000, {
          through: throughVersion,
          previous: true,
        });
      } catch (error) {
        if (error instanceof WatchExpiredError) return true;
        throw error;
      }
      if (events.some(concernsDelivery)) return true;
      if (events.length < 1000) return false;
      from = events.at(-1)!.resourceVersion;
    }
    return false;
  }

  /** One pass over every Application; with no Application and no live work, nothing to do (no pass). */
  async reconcile(now = Date.now()): Promise<void> {
    const [applications, works] = await Promise.all([
      this.store.list("Application"),
      this.sql.query<StoredWork>(
        "select application, cluster, generation, hash, removed, status, drift from works",
      ),
    ]);
    if (applications.items.length === 0 && works.every((w) => w.removed)) return;
    this.counters.passes += 1;
    const [clusters, placements, overrides] = await Promise.all([
      this.store.list("Cluster"),
      this.store.list("Placement"),
      this.store.list("Override"),
    ]);
    const fleet = (clusters.items as unknown as Cluster[]).map((c) => clusterFacts(c, now));
    const unreachable = new Set(
      (clusters.items as unknown as Cluster[])
        .filter((c) => c.status?.conditions?.find((k) => k.type === "Reachable")?.status !== "True")
        .map((c) => c.metadata.name),
    );
    const locationOf = new Map(fleet.map((c) => [c.name, c.location]));
    const placementByName = new Map(
      (placements.items as unknown as Placement[]).map((p) => [p.metadata.name, p.spec]),
    );
    const overrideList = (overrides.items as unknown as Override[]).sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name),
    );
    const worksByApp = new Map<string, Map<string, StoredWork>>();
    for (const w of works) {
      const map = worksByApp.get(w.application) ?? new Map();
      map.set(w.cluster, w);
      worksByApp.set(w.application, map);
    }
    const changedClusters = new Set<string>();
    for (const app of applications.items as unknown as Application[]) {
      try {
        await this.reconcileApplication(
          app,
          fleet,
          locationOf,
          placementByName,
          overrideList,
          worksByApp.get(app.metadata.name) ?? new Map(),
          changedClusters,
          unreachable,
          now,
        );
      } catch (error) {
        this.log({
          level: "error",
          msg: "delivery failed",
          application: app.metadata.name,
          error: String(error),
        });
      }
    }
    // Works of Applications that were deleted: tombstones, so that agents prune them.
    const alive = new Set((applications.items as unknown as Application[]).map((a) => a.metadata.name));
    for (const [application, byCluster] of worksByApp) {
      if (alive.has(application)) continue;
      for (const w of byCluster.values())
        if (!w.removed) {
          await this.tombstone(application, w.cluster, w.generation);
          changedClusters.add(w.cluster);
        }
    }
    // The changed clusters, comma-separated, a few hundred per notification (payloads stay under 8,000 bytes).
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length > 0) await this.sql.query("select pg_notify($1, $2)", [worksChannel, batch.join(",")]);
      batch = [];
    };
    for (const cluster of changedClusters) {
      if (batch.join(",").length + cluster.length > 7000) await flush();
      batch.push(cluster);
    }
    await flush();
  }

  private async reconcileApplication(
    app: Application,
    fleet: ClusterFacts[],
    locationOf: Map<string, string>,
    placements: Map<string, Placement["spec"]>,
    overrides: Override[],
    works: Map<string, StoredWork>,
    changedClusters: Set<string>,
    unreachable: ReadonlySet<string>,
    now: number,
  ): Promise<void> {
    const name = app.metadata.name;
    const spec = app.spec;
    const previous = currentAssignments(app);
    const placement =
      spec.placement ?? (spec.placementRef ? placements.get(spec.placementRef.name) : undefined);
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
    if (!sameStatus(app.status, status))
      await this.registry.mergeStatus(
        kinds.Application,
        name,
        status as Record<string, unknown>,
        systemCaller,
      );
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
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

/** The kinds whose every change can alter scheduling or rendering. */
const deliveryKinds = new Set(["Application", "Placement", "Override"]);

/** Whether one change can alter what a delivery pass decides (see `changesConcernDelivery`). */
export function concernsDelivery(event: ChangeEvent): boolean {
  if (deliveryKinds.has(event.kind)) return true;
  if (event.kind !== "Cluster") return false;
  if (event.type !== "MODIFIED" || !event.previous) return true;
  return clusterFactsOf(event.object) !== clusterFactsOf(event.previous);
}

/** A Cluster as the scheduler sees it: spec, labels and status, without heartbeat times. */
function clusterFactsOf(object: unknown): string {
  const cluster = object as Cluster;
  const { lastHeartbeatTime: _, ...status } = cluster.status ?? {};
  return canonicalJson({ spec: cluster.spec, labels: cluster.metadata?.labels ?? {}, status });
}
