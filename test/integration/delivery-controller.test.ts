/**
 * The delivery controller in a real hub (PGlite), with clusters whose status and heartbeats the test writes as
 * agents would: an Application divided by free capacity is split in proportion over the clusters of one
 * Location, its works are rendered per cluster (overrides per Location), a cluster that stops beating loses
 * its share to the others of its Location only (its work kept as it was, not removed), and gets it back after
 * the stable period. Bad input — a
 * missing Placement, an override that does not apply, a placement nothing satisfies — shows as a condition
 * with its reason, and nothing is sent.
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
const beating = new Set(["fra-a", "fra-b", "fra-c", "sgp-a"]);
let beats: NodeJS.Timeout;

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

async function app(name: string): Promise<Application> {
  return (await hub.registry.get(kinds.Application, name, systemCaller)) as unknown as Application;
}

async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const isReady = (status: unknown) =>
  (status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions?.some(
    (c) => c.type === "Ready" && c.status === "True",
  ) === true;

const split = (a: Application) =>
  Object.fromEntries((a.status?.placement?.clusters ?? []).map((c) => [c.name, c.replicas]));

async function works(application: string) {
  return hub.sql.query<{ cluster: string; generation: number; removed: boolean; manifests: unknown }>(
    "select cluster, generation, removed, manifests from works where application = $1 order by cluster",
    [application],
  );
}

const storefront = (placement: object, overrides?: object[]) =>
  doc("Application", "storefront", {
    manifests: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "storefront", namespace: "shop" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "storefront" } },
          template: {
            metadata: { labels: { app: "storefront" } },
            spec: {
              containers: [
                {
                  name: "web",
                  image: "shop/storefront:4.2",
                  resources: { requests: { cpu: "1", memory: "1Gi" } },
                },
              ],
            },
          },
        },
      },
    ],
    placement,
    ...(overrides ? { overrides } : {}),
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-delivery-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {}, healthGraceMs: 1500 });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Location", "singapore", {}),
      doc("Region", "fra-north", { location: "frankfurt", zones: ["fra-north-1"] }),
      doc("Region", "fra-south", { location: "frankfurt", zones: ["fra-south-1"] }),
      doc("Cluster", "fra-a", {
        location: "frankfurt",
        region: "fra-north",
        environment: "prod",
        business: "shop",
      }),
      doc("Cluster", "fra-b", {
        location: "frankfurt",
        region: "fra-south",
        environment: "prod",
        business: "shop",
      }),
      doc("Cluster", "fra-c", {
        location: "frankfurt",
        region: "fra-south",
        environment: "dev",
        business: "shop",
      }),
      doc("Cluster", "sgp-a", { location: "singapore", environment: "prod", business: "shop" }),
    ],
    systemCaller,
  );
  // Free cpu: fra-a 30 cores, fra-b 10, sgp-a 100 (the most, but in another Location); fra-c is dev.
  const capacity: Record<string, [string, string]> = {
    "fra-a": ["32", "2"],
    "fra-b": ["16", "6"],
    "fra-c": ["16", "0"],
    "sgp-a": ["128", "28"],
  };
  for (const [name, [cpu, requested]] of Object.entries(capacity))
    await hub.registry.mergeStatus(
      kinds.Cluster,
      name,
      {
        nodes: { total: 2, ready: 2 },
        allocatable: { cpu, memory: "512Gi", pods: "220" },
        requested: { cpu: requested, memory: "0" },
        pods: 0,
      },
      systemCaller,
    );
  await beat();
  beats = setInterval(() => void beat().catch(() => {}), 300);
  for (const name of Object.keys(capacity))
    await until(
      `${name} to be Ready`,
      () => hub.registry.get(kinds.Cluster, name, systemCaller),
      (c) => isReady(c.status),
    );
}, 60_000);

afterAll(async () => {
  clearInterval(beats);
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the delivery controller", () => {
  it("divides replicas by free capacity inside one Location, renders overrides per Location, and fails over there", async () => {
    await hub.registry.applyAll(
      [
        storefront(
          {
            locations: ["frankfurt"],
            environments: ["prod"],
            replicas: { mode: "Divided", count: 10, weighting: "AvailableCapacity" },
            failover: { toleranceSeconds: 0, stableSeconds: 3 },
          },
          [{ clusters: { locations: ["frankfurt"] }, imageRegistry: "registry.fra.example" }],
        ),
      ],
      systemCaller,
    );
    // 30 and 10 cores free, one core per replica: 3:1 → 8 and 2 (largest remainder of 7.5 / 2.5).
    const placed = await until(
      "storefront to be placed",
      () => app("storefront"),
      (a) => split(a)["fra-a"] !== undefined,
    );
    expect(split(placed)).toEqual({ "fra-a": 8, "fra-b": 2 });
    const rows = await works("storefront");
    expect(rows.map((r) => [r.cluster, r.generation, r.removed])).toEqual([
      ["fra-a", 1, false],
      ["fra-b", 1, false],
    ]);
    const manifests = rows[0]!.manifests as Array<{
      kind: string;
      spec?: { replicas?: number; template?: { spec: { containers: Array<{ image: string }> } } };
    }>;
    expect(manifests[1]!.spec!.replicas).toBe(8);
    expect(manifests[1]!.spec!.template!.spec.containers[0]!.image).toBe(
      "registry.fra.example/shop/storefront:4.2",
    );
    expect(placed.status?.conditions?.find((c) => c.type === "Scheduled")).toMatchObject({ status: "True" });
    expect(placed.status?.conditions?.find((c) => c.type === "Applied")).toMatchObject({
      status: "False",
      reason: "Pending",
    });

    // fra-b stops beating: after the grace period it is not Ready, and its share moves to fra-a — not to
    // singapore, which has more room.
    beating.delete("fra-b");
    const failedOver = await until(
      "fra-b's replicas to move",
      () => app("storefront"),
      (a) => split(a)["fra-b"] === undefined,
    );
    expect(split(failedOver)).toEqual({ "fra-a": 10 });
    // fra-b's work is not removed (an unreachable cluster is not a dead one): it stays as it was, and the
    // status says so.
    expect((await works("storefront")).map((r) => [r.cluster, r.generation, r.removed])).toEqual([
      ["fra-a", 2, false],
      ["fra-b", 1, false],
    ]);
    expect(failedOver.status?.placement?.leaving).toEqual([{ name: "fra-b", replicas: 2 }]);
    expect(failedOver.status?.events?.at(-1)).toMatchObject({
      reason: "Rescheduled",
      message: "replicas moved: fra-a 8→10, fra-b 2→0",
    });

    // Back, but not before it has been Ready for the stable period (3 s).
    beating.add("fra-b");
    const readyAgain = await until(
      "fra-b to be Ready",
      () => hub.registry.get(kinds.Cluster, "fra-b", systemCaller),
      (c) => isReady(c.status),
    );
    const readySince = Date.parse(
      (
        readyAgain.status as { conditions: Array<{ type: string; lastTransitionTime: string }> }
      ).conditions.find((c) => c.type === "Ready")!.lastTransitionTime,
    );
    const back = await until(
      "fra-b to get replicas again",
      () => app("storefront"),
      (a) => (split(a)["fra-b"] ?? 0) > 0,
    );
    expect(Date.now() - readySince).toBeGreaterThanOrEqual(3000);
    expect(split(back)).toEqual({ "fra-a": 8, "fra-b": 2 });
  }, 60_000);

  it("reports bad input as conditions with reasons, and sends nothing for it", async () => {
    await hub.registry.applyAll(
      [
        doc("Application", "orphan", {
          manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "default" } }],
          placementRef: { name: "no-such-placement" },
        }),
        doc("Application", "nowhere", {
          manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "default" } }],
          placement: {
            locations: ["frankfurt"],
            environments: ["qa"],
            replicas: { mode: "Duplicated", count: 1 },
          },
        }),
        doc("Application", "badpatch", {
          manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "default" } }],
          placement: { clusterNames: ["fra-c"], replicas: { mode: "Duplicated", count: 1 } },
          overrides: [{ jsonPatch: [{ op: "replace", path: "/data/missing", value: "1" }] }],
        }),
      ],
      systemCaller,
    );
    const scheduled = async (name: string) =>
      (
        await until(
          `${name}'s Scheduled condition`,
          () => app(name),
          (a) => a.status?.conditions !== undefined,
        )
      ).status!.conditions!.find((c) => c.type === "Scheduled")!;
    expect(await scheduled("orphan")).toMatchObject({
      status: "False",
      reason: "PlacementNotFound",
      message: 'Placement "no-such-placement" does not exist',
    });
    const nowhere = await scheduled("nowhere");
    expect(nowhere).toMatchObject({ status: "False", reason: "Unschedulable" });
    expect(nowhere.message).toMatch(/^Selection: no cluster matches/);
    expect(await scheduled("badpatch")).toMatchObject({
      status: "False",
      reason: "OverrideFailed",
      message: "spec.overrides[0]: jsonPatch[0]: path /data/missing does not exist in ConfigMap x",
    });
    for (const name of ["orphan", "nowhere", "badpatch"]) expect(await works(name)).toEqual([]);

    // An invalid Application is refused whole, every problem with its path.
    await expect(
      hub.registry.applyAll(
        [
          doc("Application", "broken", {
            manifests: [{ apiVersion: "v1", kind: "configmap", metadata: { name: "x" } }],
            placement: { replicas: { mode: "Divided", count: -1 } },
          }),
        ],
        systemCaller,
      ),
    ).rejects.toMatchObject({
      problems: expect.arrayContaining([
        expect.objectContaining({ path: "test: spec.manifests[0].kind" }),
        expect.objectContaining({ path: "test: spec.placement.replicas.count" }),
      ]),
    });
  }, 60_000);
});
