/**
 * Failover in the delivery controller, on a real hub (PGlite) with clusters whose heartbeats and status the test
 * writes as agents would: an unreachable cluster is not a dead one. Its work is never tombstoned because the hub
 * cannot see it; with nowhere to go the placement is kept and says why; a share moves only to a cluster with
 * room, make-before-break (the old work is untouched until the new copies report Ready); only an explicit change
 * — here the placement's — removes a work.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Application, kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";

let dir: string;
let hub: RunningHub;
let beats: NodeJS.Timeout;
// Free cores per cluster (one core per replica); every cluster beats until a test stops it.
const room: Record<string, number> = {
  "lone-a": 10,
  "lone-b": 10,
  "lone-c": 0,
  "move-a": 10,
  "move-b": 10,
  "tight-a": 10,
  "tight-b": 1,
  "tight-c": 0,
  "edit-a": 10,
  "edit-b": 10,
};
const beating = new Set(Object.keys(room));

const doc = (kind: string, name: string, spec: object) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

async function beat(): Promise<void> {
  for (const cluster of beating)
    await hub.sql.query(
      `insert into cluster_heartbeats (cluster, at, replica) values ($1, now(), 'test')
       on conflict (cluster) do update set at = excluded.at`,
      [cluster],
    );
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const app = async (name: string) =>
  (await hub.registry.get(kinds.Application, name, systemCaller)) as unknown as Application;
const cluster = (name: string) => hub.registry.get(kinds.Cluster, name, systemCaller);
const conditionOf = (status: unknown, type: string) =>
  (
    status as { conditions?: Array<{ type: string; status: string; reason: string; message: string }> }
  )?.conditions?.find((c) => c.type === type);
const split = (a: Application) =>
  Object.fromEntries((a.status?.placement?.clusters ?? []).map((c) => [c.name, c.replicas]));

interface WorkRow {
  cluster: string;
  generation: number;
  removed: boolean;
  manifests: Array<{ kind: string; spec?: { replicas?: number } }>;
}
const works = async (application: string) =>
  Object.fromEntries(
    (
      await hub.sql.query<WorkRow>(
        "select cluster, generation, removed, manifests from works where application = $1 order by cluster",
        [application],
      )
    ).map((w) => {
      const manifests = typeof w.manifests === "string" ? JSON.parse(w.manifests) : w.manifests;
      const deployment = (manifests as WorkRow["manifests"]).find((m) => m.kind === "Deployment");
      return [
        w.cluster,
        { generation: w.generation, removed: w.removed, replicas: deployment?.spec?.replicas },
      ];
    }),
  );

/** What an agent reports once it applied a work: the Deployment with `ready` of its replicas ready. */
async function report(application: string, clusterName: string, ready: number): Promise<void> {
  const [row] = await hub.sql.query<{ generation: number; manifests: unknown }>(
    "select generation, manifests from works where application = $1 and cluster = $2",
    [application, clusterName],
  );
  const manifests = (
    typeof row!.manifests === "string" ? JSON.parse(row!.manifests) : row!.manifests
  ) as WorkRow["manifests"];
  const desired = manifests.find((m) => m.kind === "Deployment")!.spec!.replicas!;
  const body = {
    cluster: clusterName,
    application,
    generation: row!.generation,
    objects: [
      { apiVersion: "v1", kind: "Namespace", name: application, state: "Applied" as const, healthy: true },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: application,
        state: "Applied" as const,
        replicas: { desired, ready },
        healthy: ready >= desired,
      },
    ],
    drift: [],
    appliedAt: new Date().toISOString(),
  };
  await hub.works.report(body);
}

/** Makes the controller reconcile the Application `times` more times (a resync enqueues every Application). */
async function reconciledAgain(application: string, times: number): Promise<void> {
  const start = hub.delivery.reconcilesOfApplication(application);
  for (let i = 1; i <= times; i++) {
    await hub.delivery.resync();
    await until(
      `reconcile ${i} of ${times}`,
      async () => hub.delivery.reconcilesOfApplication(application),
      (n) => n >= start + i,
    );
  }
}

const application = (name: string, placement: object) =>
  doc("Application", name, {
    manifests: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name } },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace: name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              containers: [
                { name: "web", image: "shop/web:1", resources: { requests: { cpu: "1", memory: "1Gi" } } },
              ],
            },
          },
        },
      },
    ],
    placement,
  });

const divided = (clusterNames: string[], count: number) => ({
  clusterNames,
  replicas: { mode: "Divided", count, weighting: "AvailableCapacity" },
  failover: { toleranceSeconds: 0, stableSeconds: 600 },
});

async function placed(name: string, expected: Record<string, number>): Promise<Application> {
  return until(
    `${name} to be placed`,
    () => app(name),
    (a) => JSON.stringify(split(a)) === JSON.stringify(expected),
  );
}

async function setNodes(name: string, ready: number): Promise<void> {
  await hub.registry.mergeStatus(kinds.Cluster, name, { nodes: { total: 2, ready } }, systemCaller);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-failover-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {}, healthGraceMs: 1500 });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      ...Object.keys(room).map((name) =>
        doc("Cluster", name, { location: "frankfurt", environment: "prod", business: "shop" }),
      ),
    ],
    systemCaller,
  );
  for (const [name, cores] of Object.entries(room))
    await hub.registry.mergeStatus(
      kinds.Cluster,
      name,
      {
        nodes: { total: 2, ready: 2 },
        allocatable: { cpu: "16", memory: "512Gi", pods: "220" },
        requested: { cpu: String(16 - cores), memory: "0" },
        pods: 0,
      },
      systemCaller,
    );
  await beat();
  beats = setInterval(() => void beat().catch(() => {}), 300);
  for (const name of Object.keys(room))
    await until(
      `${name} to be Ready`,
      () => cluster(name),
      (c) => conditionOf(c.status, "Ready")?.status === "True",
    );
}, 60_000);

afterAll(async () => {
  clearInterval(beats);
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("failover in the delivery controller", () => {
  it("keeps the placement and its works when every chosen cluster is unreachable and nothing else is eligible", async () => {
    await hub.registry.applyAll(
      [application("lone", divided(["lone-a", "lone-b", "lone-c"], 4))],
      systemCaller,
    );
    await placed("lone", { "lone-a": 2, "lone-b": 2 });
    const before = await works("lone");

    beating.delete("lone-a");
    beating.delete("lone-b");
    const blocked = await until(
      "the FailoverBlocked condition",
      () => app("lone"),
      (a) => conditionOf(a.status, "FailoverBlocked")?.status === "True",
    );
    const condition = conditionOf(blocked.status, "FailoverBlocked")!;
    expect(condition.reason).toBe("NoEligibleCluster");
    expect(condition.message).toMatch(/lone-a \(2\).*lone-b \(2\)/);
    expect(condition.message).toMatch(/lone-a: Health: not ready/);
    expect(condition.message).toMatch(/lone-c: Resources: needs 1 cpu per replica/);
    expect(blocked.status?.events?.some((e) => e.type === "Warning" && e.reason === "FailoverBlocked")).toBe(
      true,
    );
    // Three reconciles later: nothing was tombstoned or rewritten, and the placement stands.
    await reconciledAgain("lone", 3);
    expect(await works("lone")).toEqual(before);
    expect(split(await app("lone"))).toEqual({ "lone-a": 2, "lone-b": 2 });
  }, 60_000);

  it("moves a share make-before-break: the old work is untouched until the new copies report Ready", async () => {
    await hub.registry.applyAll([application("move", divided(["move-a", "move-b"], 4))], systemCaller);
    await placed("move", { "move-a": 2, "move-b": 2 });
    await report("move", "move-a", 2);
    await report("move", "move-b", 2);
    const before = await works("move");

    // move-a's nodes fail (it stays reachable): its share goes to move-b, whose work grows first.
    await setNodes("move-a", 0);
    await placed("move", { "move-b": 4 });
    await until(
      "move-b's work to ask for 4",
      () => works("move"),
      (w) => w["move-b"]?.replicas === 4,
    );
    await reconciledAgain("move", 3);
    expect((await works("move"))["move-a"]).toEqual(before["move-a"]);
    const moving = await app("move");
    expect(moving.status?.placement?.leaving).toEqual([{ name: "move-a", replicas: 2 }]);

    // move-b reports 3 of 4 ready: not yet. Then 4: move-a's work is updated to its new share, not removed.
    const reconciled = hub.delivery.reconcilesOfApplication("move");
    await report("move", "move-b", 3);
    await until(
      "the report's reconcile",
      async () => hub.delivery.reconcilesOfApplication("move"),
      (n) => n > reconciled,
    );
    expect((await works("move"))["move-a"]).toEqual(before["move-a"]);
    await report("move", "move-b", 4);
    const after = await until(
      "move-a's work to be updated",
      () => works("move"),
      (w) => w["move-a"]!.generation > before["move-a"]!.generation,
    );
    expect(after["move-a"]).toEqual({
      generation: before["move-a"]!.generation + 1,
      removed: false,
      replicas: 0,
    });
  }, 60_000);

  it("moves a share only to a cluster with room for it, and keeps the rest where it was", async () => {
    await hub.registry.applyAll(
      [application("tight", divided(["tight-a", "tight-b", "tight-c"], 4))],
      systemCaller,
    );
    // tight-b has room for one replica, tight-c for none: capacity 10:1 puts all four on tight-a.
    await placed("tight", { "tight-a": 4 });
    const before = await works("tight");
    beating.delete("tight-a");
    const moved = await placed("tight", { "tight-a": 3, "tight-b": 1 });
    const condition = conditionOf(moved.status, "FailoverBlocked")!;
    expect(condition).toMatchObject({ status: "True", reason: "InsufficientCapacity" });
    expect(condition.message).toMatch(/tight-a \(3\)/);
    const rows = await works("tight");
    expect(rows["tight-a"]).toEqual(before["tight-a"]);
    expect(rows["tight-b"]).toMatchObject({ removed: false, replicas: 1 });
    expect(rows["tight-c"]).toBeUndefined();
  }, 60_000);

  it("removes a cluster's work when the placement leaves it", async () => {
    await hub.registry.applyAll([application("edit", divided(["edit-a", "edit-b"], 4))], systemCaller);
    await placed("edit", { "edit-a": 2, "edit-b": 2 });
    await hub.registry.applyAll([application("edit", divided(["edit-b"], 4))], systemCaller);
    await placed("edit", { "edit-b": 4 });
    const rows = await until(
      "edit-a's work to be tombstoned",
      () => works("edit"),
      (w) => w["edit-a"]?.removed === true,
    );
    expect(rows["edit-b"]).toMatchObject({ removed: false, replicas: 4 });
  }, 60_000);
});
