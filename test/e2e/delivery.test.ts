/**
 * Delivery end to end on the lab: a hub, the relay of each Location and an agent per cluster. An Application of
 * 10 replicas divided by free capacity over Frankfurt's two Regions reaches 10 ready, split in proportion to
 * what fits; an Override pulls its image from Frankfurt's registry; narrowing the placement moves it; a
 * cluster whose control plane stops loses its share to the other clusters of Frankfurt — never to Singapore —
 * and gets it back after the stable period; with the relay stopped, a Deployment deleted by hand comes back.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Application, kinds } from "../../src/core/resources/kinds.ts";
import type { RunningHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { labStartCluster, labStopCluster } from "../../src/lab/lab.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";
import { unitfleetCli } from "./cli.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";
import { adminCliHome, type LabFleet, startLabFleet, until } from "./lab-fleet.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const graceMs = 4000;
const failover = { toleranceSeconds: 5, stableSeconds: 10 };
let fleet: LabFleet;
let hub: RunningHub;
let relays: Map<string, RunningRelay>;

const app = async () =>
  (await hub.registry.get(kinds.Application, "web", systemCaller)) as unknown as Application;
const split = (a: Application) =>
  Object.fromEntries((a.status?.placement?.clusters ?? []).map((c) => [c.name, c.replicas]));
const isReady = (a: Application) =>
  a.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

const sameCounts = (a: Record<string, number>, b: Record<string, number>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Ready replicas of the Deployment `web` in each cluster, read with kubectl. */
async function readyByCluster(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of lab.topology.spec.clusters) {
    const list = await kubectlJson<{ items: Array<{ status: { readyReplicas?: number } }> }>(lab, c.name, [
      "get",
      "deployments",
      "-n",
      "web",
      "-l",
      "unitfleet.io/application=web",
    ]).catch(() => ({ items: [] }));
    const ready = list.items.reduce((n, d) => n + (d.status.readyReplicas ?? 0), 0);
    if (ready > 0) out[c.name] = ready;
  }
  return out;
}

function application(placement: Record<string, unknown>) {
  return {
    source: "test",
    body: {
      apiVersion: "unitfleet.io/v1alpha1",
      kind: "Application",
      metadata: { name: "web" },
      spec: {
        manifests: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name: "web" } },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "web-settings", namespace: "web" },
            data: { mode: "live" },
          },
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "web", namespace: "web" },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: "web" } },
              template: {
                metadata: { labels: { app: "web" } },
                spec: {
                  tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
                  containers: [
                    {
                      name: "web",
                      image: "shop/web:1.0",
                      resources: { requests: { cpu: "4", memory: "4Gi" } },
                    },
                  ],
                },
              },
            },
          },
        ],
        placement: {
          locations: ["frankfurt"],
          replicas: { mode: "Divided", count: 10 },
          failover,
          ...placement,
        },
      },
    },
  };
}

beforeAll(async () => {
  fleet = await startLabFleet(lab, { prefix: "unitfleet-delivery-e2e-", healthGraceMs: graceMs });
  hub = fleet.hub;
  relays = fleet.relays;
}, 300_000);

afterAll(async () => {
  await hub?.registry.delete(kinds.Application, "web", systemCaller).catch(() => {});
  // The agents prune what the Application had before they stop.
  await until(
    "the web namespaces to be gone",
    readyByCluster,
    (r) => Object.keys(r).length === 0,
    60_000,
  ).catch(() => {});
  await fleet?.stop();
  for (const c of lab.topology.spec.clusters)
    await kubectl(lab, c.name, ["delete", "namespace", "web", "--ignore-not-found", "--wait=false"]).catch(
      () => {},
    );
});

describe("delivery on the lab", () => {
  it("divides 10 replicas over Frankfurt's clusters in proportion to free capacity, with Frankfurt's registry", async () => {
    await hub.registry.applyAll(
      [
        application({}),
        {
          source: "test",
          body: {
            apiVersion: "unitfleet.io/v1alpha1",
            kind: "Override",
            metadata: { name: "frankfurt-registry" },
            spec: {
              rules: [{ clusters: { locations: ["frankfurt"] }, imageRegistry: "registry.fra.example" }],
            },
          },
        },
      ],
      systemCaller,
    );
    const started = Date.now();
    const ready = await until("web to be Ready", app, isReady, 120_000);
    console.log(`web Ready in ${Date.now() - started} ms: ${JSON.stringify(split(ready))}`);
    // Free cpu (the scarcest resource, 4 cores a replica): 80.5, 48, 15, 15 → 20, 12, 3, 3 replicas fit;
    // 10 in proportion, largest remainder: 5, 3, 1, 1.
    expect(split(ready)).toEqual({
      "fra-payments-prod": 3,
      "fra-search-staging": 1,
      "fra-shop-dev": 1,
      "fra-shop-prod": 5,
    });
    expect(ready.status?.summary).toMatchObject({ clusters: 4, ready: 10, desired: 10 });
    await until("the pods to be ready", readyByCluster, (r) => sameCounts(r, split(ready)));
    const deployment = await kubectlJson<{
      metadata: { labels: Record<string, string> };
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    }>(lab, "fra-shop-prod", ["get", "deployment", "-n", "web", "web"]);
    expect(deployment.spec.template.spec.containers[0]!.image).toBe("registry.fra.example/shop/web:1.0");
    expect(deployment.metadata.labels["unitfleet.io/application"]).toBe("web");

    // What a user sees with the CLI.
    const home = await adminCliHome(fleet);
    const rollout = await unitfleetCli(home, ["rollout", "status", "application", "web", "--timeout", "30"]);
    expect(rollout.code, rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain('application "web" successfully rolled out');
    const described = await unitfleetCli(home, ["describe", "application", "web"]);
    // share, ready/desired, objects applied without a failure/objects, generation applied/sent, healthy
    expect(described.stdout).toMatch(/fra-shop-prod\s+5\s+5\/5\s+3\/3\s+1\/1\s+yes/);
    const explained = await unitfleetCli(home, ["explain", "application", "web"]);
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toMatch(/fra-shop-prod\s+frankfurt\s+(chosen|kept)\s+5/);
    expect(explained.stdout).toMatch(/sgp-shop-prod\s+singapore\s+rejected/);
    expect(explained.stdout).toContain("10 replicas on 4 clusters");
    console.log(`explain application web:\n${explained.stdout}`);
    const listed = await unitfleetCli(home, ["get", "applications"]);
    expect(listed.stdout).toMatch(/web\s+4\s+10\/10\s+4\/4\s+True/);
  });

  it("applies nothing where a kind is not served, says so per cluster, and rollout status fails with it", async () => {
    await hub.registry.applyAll(
      [
        {
          source: "test",
          body: {
            apiVersion: "unitfleet.io/v1alpha1",
            kind: "Application",
            metadata: { name: "widgets" },
            spec: {
              manifests: [
                { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "widgets", namespace: "default" } },
                {
                  apiVersion: "example.com/v1",
                  kind: "Widget",
                  metadata: { name: "w", namespace: "default" },
                },
              ],
              placement: { clusterNames: ["fra-shop-dev"], replicas: { mode: "Duplicated", count: 1 } },
            },
          },
        },
      ],
      systemCaller,
    );
    const home = join(fleet.dir, "cli-home");
    const rollout = await unitfleetCli(home, [
      "rollout",
      "status",
      "application",
      "widgets",
      "--timeout",
      "60",
    ]);
    expect(rollout.code).toBe(1);
    expect(rollout.stderr).toContain(
      'application "widgets" failed to apply: fra-shop-dev: ConfigMap widgets: not applied, because Widget w is of a kind this cluster does not serve',
    );
    const widgets = (await hub.registry.get(
      kinds.Application,
      "widgets",
      systemCaller,
    )) as unknown as Application;
    expect(widgets.status?.clusters?.[0]).toMatchObject({
      name: "fra-shop-dev",
      objects: 2,
      failed: 2,
      healthy: false,
    });
    // Nothing of it was applied.
    expect(
      await kubectl(lab, "fra-shop-dev", [
        "get",
        "configmap",
        "widgets",
        "-n",
        "default",
        "--ignore-not-found",
      ]),
    ).toBe("");
    await hub.registry.delete(kinds.Application, "widgets", systemCaller);
  });

  it("moves when the placement's selection changes", async () => {
    await hub.registry.applyAll([application({ environments: ["prod"] })], systemCaller);
    const moved = await until(
      "web to leave the non-production clusters",
      app,
      (a) => isReady(a) && Object.keys(split(a)).length === 2,
      120_000,
    );
    // 20 and 12 fit: 6.25 and 3.75 → 6 and 4.
    expect(split(moved)).toEqual({ "fra-payments-prod": 4, "fra-shop-prod": 6 });
    await until("the pods to follow", readyByCluster, (r) => sameCounts(r, split(moved)));
  });

  it("fails over inside Frankfurt when a cluster's control plane stops, and comes back after the stable period", async () => {
    const stoppedAt = Date.now();
    await labStopCluster(lab.context, "fra-payments-prod");
    try {
      const failedOver = await until(
        "fra-payments-prod's replicas to move",
        app,
        (a) => split(a)["fra-payments-prod"] === undefined,
        120_000,
      );
      const movedAfter = Date.now() - stoppedAt;
      expect(split(failedOver)).toEqual({ "fra-shop-prod": 10 });
      await until("10 ready in fra-shop-prod", readyByCluster, (r) => r["fra-shop-prod"] === 10);
      const readyIn = Date.now() - stoppedAt;
      for (const c of lab.topology.spec.clusters.filter((x) => x.location === "singapore"))
        expect((await readyByCluster())[c.name]).toBeUndefined();
      console.log(`failover: placement moved ${movedAfter} ms after the stop, 10 ready after ${readyIn} ms`);
      expect(failedOver.status?.events?.some((e) => e.reason === "Rescheduled")).toBe(true);
    } finally {
      await labStartCluster(lab.context, "fra-payments-prod");
    }
    const back = await until(
      "fra-payments-prod to get its share back",
      app,
      (a) => (split(a)["fra-payments-prod"] ?? 0) > 0,
      120_000,
    );
    const cluster = await hub.registry.get(kinds.Cluster, "fra-payments-prod", systemCaller);
    const readySince = Date.parse(
      (cluster.status as { conditions: Array<{ type: string; lastTransitionTime: string }> }).conditions.find(
        (c) => c.type === "Ready",
      )!.lastTransitionTime,
    );
    // Not before it has been Ready again for the stable period (no flapping).
    const backAfter = Date.parse(back.status!.placement!.scheduledAt!) - readySince;
    expect(backAfter).toBeGreaterThanOrEqual(failover.stableSeconds * 1000);
    // Back to the capacity split (6/4), within the scheduler's stability tolerance of one replica: the
    // returning cluster's reported requests may still count what it ran before the failure.
    const again = split(back);
    expect(Object.keys(again).sort()).toEqual(["fra-payments-prod", "fra-shop-prod"]);
    expect(again["fra-payments-prod"]! + again["fra-shop-prod"]!).toBe(10);
    expect(Math.abs(again["fra-payments-prod"]! - 4)).toBeLessThanOrEqual(1);
    console.log(`failback split: ${JSON.stringify(again)}`);
    console.log(`failback: ${backAfter} ms after the cluster was Ready again`);
  });

  it("keeps a cut-off Location's desired state: a Deployment deleted by hand comes back with the relay stopped", async () => {
    const relay = relays.get("frankfurt")!;
    const port = Number(new URL(relay.url).port);
    await relay.stop();
    try {
      await kubectl(lab, "fra-shop-prod", ["delete", "deployment", "-n", "web", "web", "--wait=true"]);
      const started = Date.now();
      await until(
        "the agent to recreate the Deployment",
        () =>
          kubectlJson<{ metadata: { uid: string } }>(lab, "fra-shop-prod", [
            "get",
            "deployment",
            "-n",
            "web",
            "web",
          ]),
        (d) => d.metadata.uid !== undefined,
        30_000,
      );
      console.log(`recreated by the agent ${Date.now() - started} ms after the delete, relay stopped`);
    } finally {
      relays.set(
        "frankfurt",
        await startRelay(fleet.relayOptions("frankfurt", "ufb_000000000000.unused", port)),
      );
    }
    // Once the relay is back, the hub hears of it: the drift shows as a condition and an event.
    const drifted = await until(
      "the drift to be reported",
      app,
      (a) => a.status?.conditions?.some((c) => c.type === "Drifted" && c.status === "True") === true,
    );
    // That deletion only: the failover and failback before it (fra-payments-prod's work kept while it was
    // unreachable, scaled to zero once back, then given its share again) are not drift.
    expect(
      drifted.status?.events?.filter((e) => e.reason === "DriftCorrected").map((e) => e.message),
    ).toEqual([
      expect.stringMatching(/^fra-shop-prod: Deployment web\/web deleted outside unitfleet; recreated/),
    ]);
  });

  it("removes nothing when every chosen cluster is unreachable past the tolerance: the placement is kept", async () => {
    const placed = split(await app());
    const uid = async (cluster: string) =>
      (
        await kubectlJson<{ metadata: { uid: string } }>(lab, cluster, [
          "get",
          "deployment",
          "-n",
          "web",
          "web",
        ])
      ).metadata.uid;
    const uids = Object.fromEntries(
      await Promise.all(Object.keys(placed).map(async (c) => [c, await uid(c)])),
    );
    // The whole Location is cut off from the hub: its clusters run on, unseen.
    const relay = relays.get("frankfurt")!;
    const port = Number(new URL(relay.url).port);
    await relay.stop();
    try {
      // The clusters cross the tolerance a heartbeat or two apart: in between, the first one's share may
      // look for room on the other (InsufficientCapacity). Once both are beyond it, nothing is eligible.
      const blocked = await until(
        "FailoverBlocked with nothing eligible",
        app,
        (a) =>
          a.status?.conditions?.some(
            (c) => c.type === "FailoverBlocked" && c.status === "True" && c.reason === "NoEligibleCluster",
          ) === true,
        60_000,
      );
      const condition = blocked.status!.conditions!.find((c) => c.type === "FailoverBlocked")!;
      console.log(`FailoverBlocked: ${condition.reason}: ${condition.message}`);
      const kept = split(blocked);
      for (const c of Object.keys(kept)) expect(condition.message).toContain(`${c} (${kept[c]})`);
      expect(Object.keys(kept).sort()).toEqual(Object.keys(placed).sort());
      expect(Object.values(kept).reduce((a, b) => a + b, 0)).toBe(10);
      expect(
        blocked.status?.events?.some((e) => e.type === "Warning" && e.reason === "FailoverBlocked"),
      ).toBe(true);
      const rows = await hub.sql.query<{ cluster: string; removed: boolean }>(
        "select cluster, removed from works where application = 'web' and not removed",
      );
      expect(rows.map((r) => r.cluster).sort()).toEqual(Object.keys(placed).sort());
    } finally {
      relays.set(
        "frankfurt",
        await startRelay(fleet.relayOptions("frankfurt", "ufb_000000000000.unused", port)),
      );
    }
    await until(
      "FailoverBlocked to clear",
      app,
      (a) => a.status?.conditions?.some((c) => c.type === "FailoverBlocked" && c.status === "False") === true,
      60_000,
    );
    // Nothing was deleted in the real clusters: the same Deployments, their replicas ready.
    for (const c of Object.keys(placed)) expect(await uid(c)).toBe(uids[c]);
    await until("the pods to stay", readyByCluster, (r) => sameCounts(r, placed));
  });
});
