/**
 * The delivery controller (one replica at a time, under the `delivery` lease): for every Application, schedule
 * it on the fleet as it is now (core/scheduling), render each chosen cluster's work (core/delivery/render),
 * write the works that changed and tombstone those of clusters it left, announce them to the dispatchers
 * (NOTIFY), and write the Application's status from the scheduler's outcome and the agents' reports. It runs
 * on every change to the registry and every second otherwise (failover timings and reports need no change).
 */
import { createHash } from "node:crypto";
import type { Manifest, OverrideRule } from "../../core/delivery/application.ts";
import { clusterFacts } from "../../core/delivery/fleet-facts.ts";
import { renderWork } from "../../core/delivery/render.ts";
import { currentAssignments, scheduleApplication } from "../../core/delivery/schedule-application.ts";
import { applicationStatus, type WorkRecord } from "../../core/delivery/status.ts";
import { canonicalJson } from "../../core/resources/canonical-json.ts";
import {
  type Application,
  type Cluster,
  kinds,
  type Override,
  type Placement,
} from "../../core/resources/kinds.ts";
import type { Assignment, ClusterFacts } from "../../core/scheduling/scheduler.ts";
import type { ResourceStore } from "../../store/resource-store.ts";
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

  /** One pass over every Application. */
  async reconcile(now = Date.now()): Promise<void> {
    this.counters.passes += 1;
    const [clusters, applications, placements, overrides, works] = await Promise.all([
      this.store.list("Cluster"),
      this.store.list("Application"),
      this.store.list("Placement"),
      this.store.list("Override"),
      this.sql.query<StoredWork>(
        "select application, cluster, generation, hash, removed, status, drift from works",
      ),
    ]);
    const fleet = (clusters.items as unknown as Cluster[]).map((c) => clusterFacts(c, now));
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
    now: number,
  ): Promise<void> {
    const name = app.metadata.name;
    const spec = app.spec;
    const previous = currentAssignments(app);
    const placement =
      spec.placement ?? (spec.placementRef ? placements.get(spec.placementRef.name) : undefined);
    let decisions: Assignment[] = previous;
    let unschedulable: string | undefined;
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
      const rules: Array<{ source: string; rule: OverrideRule }> = [
        ...(spec.overrides ?? []).map((rule, i) => ({ source: `spec.overrides[${i}]`, rule })),
        ...overrides
          .filter((o) => !o.spec.applications || o.spec.applications.includes(name))
          .flatMap((o) =>
            o.spec.rules.map((rule, i) => ({ source: `Override ${o.metadata.name} rules[${i}]`, rule })),
          ),
      ];
      const facts = new Map(fleet.map((c) => [c.name, c]));
      const writes: Array<{
        cluster: string;
        location: string;
        generation: number;
        manifests: string;
        hash: string;
      }> = [];
      for (const d of decisions) {
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
      const chosen = new Set(decisions.map((d) => d.cluster));
      for (const w of works.values())
        if (!chosen.has(w.cluster) && !w.removed && locationOf.has(w.cluster)) {
          await this.tombstone(name, w.cluster, w.generation);
          w.removed = true;
          changedClusters.add(w.cluster);
        }
    }

    const records = new Map<string, WorkRecord>();
    for (const w of works.values())
      records.set(w.cluster, {
        cluster: w.cluster,
        generation: w.generation,
        removed: w.removed,
        ...(parse(w.status) ? { status: parse(w.status)! } : {}),
        drift: parse(w.drift) ?? [],
      });
    const status = applicationStatus({
      generation: app.metadata.generation,
      previous: app.status,
      decisions,
      ...(unschedulable ? { unschedulable } : {}),
      ...(problem ? { problem } : {}),
      works: records,
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

function emptyWork(application: string, cluster: string): StoredWork {
  return { application, cluster, generation: 0, hash: "", removed: false, status: null, drift: [] };
}

/** Equal but for times that only move when something else changes. */
function sameStatus(a: Application["status"], b: Application["status"]): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}
