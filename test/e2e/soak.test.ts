/**
 * The fleet in compressed time: a hub, the relay of each Location and an agent per cluster on the shared lab,
 * with heartbeats 100× faster than the default (0.1 s instead of 10 s) and the health grace, the agents' resync
 * and the hub's health loop scaled down with them. It runs until every cluster has sent at least 5,000
 * heartbeats — about 14 hours of a real fleet — while the lab's own workloads are scaled up and down and two
 * Applications are changed, and an invariant checker looks at the whole fleet every second:
 *
 * - every cluster is Ready at the hub;
 * - the hub's figures (nodes, pods) equal the lab's, at most a few seconds after each change;
 * - no Application has fewer ready replicas than it should, and its replicas settle on what it wants;
 * - nothing the user did not delete disappears from a cluster;
 * - the relays' queues stay bounded;
 * - the process's memory (hub, relays and agents all run in it) is flat: the heap after a collection at the
 *   end is within a bound of the heap after warm-up.
 *
 * The figures go to the test's output, for the closing note of the work that changed them.
 */

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Application, type Cluster, kinds } from "../../src/core/resources/kinds.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { KubeHttp } from "../../src/lab/kube-http.ts";
import { pkiFiles } from "../../src/lab/pki.ts";
import { planLab } from "../../src/lab/plan.ts";
import { type LabFleet, startLabFleet, until } from "./lab-fleet.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();

/** 100× the default heartbeat of 10 s. */
const heartbeatSeconds = 0.1;
/** The default grace is four heartbeats (40 s); here ten, so that a busy CI machine's pauses are not failures. */
const healthGraceMs = 1000;
const targetHeartbeats = 5000;
/** How long the hub's figures may differ from the lab's after a change before it counts as a violation. */
const settleMs = 8000;
/** Memory growth allowed between the heap after warm-up and the heap at the end, both after a collection. */
const heapGrowthBoundBytes = 48 * 1024 * 1024;
/** No cluster's metadata queue in a relay may ever hold more than this. */
const queueBound = 200;

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
const heapAfterCollection = () => {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
};

let fleet: LabFleet;
const apis = new Map<string, KubeHttp>();
const plan = planLab(lab.topology, lab.context.paths);
const clusters = lab.topology.spec.clusters.map((c) => c.name);

interface Violation {
  at: number;
  invariant: string;
  detail: string;
}

interface WorkloadObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; numberReady?: number };
}

async function list<T>(cluster: string, path: string): Promise<T[]> {
  const response = await apis.get(cluster)!.get<{ items: T[] }>(path, 5000);
  if (response.status !== 200) throw new Error(`${cluster} ${path}: HTTP ${response.status}`);
  return response.body.items;
}

/** What the lab says: nodes and pods as the agent counts them (ready replicas of the cluster's workloads). */
async function labFigures(cluster: string): Promise<{ nodes: number; pods: number }> {
  const [nodes, deployments, statefulSets, daemonSets] = await Promise.all([
    list<unknown>(cluster, "/api/v1/nodes"),
    list<WorkloadObject>(cluster, "/apis/apps/v1/deployments"),
    list<WorkloadObject>(cluster, "/apis/apps/v1/statefulsets"),
    list<WorkloadObject>(cluster, "/apis/apps/v1/daemonsets"),
  ]);
  const pods =
    [...deployments, ...statefulSets].reduce((n, w) => n + (w.status?.readyReplicas ?? 0), 0) +
    daemonSets.reduce((n, w) => n + (w.status?.numberReady ?? 0), 0);
  return { nodes: nodes.length, pods };
}

function application(name: string, placement: Record<string, unknown>, setting: string) {
  return {
    source: "soak",
    body: {
      apiVersion: "unitfleet.io/v1alpha1",
      kind: "Application",
      metadata: { name },
      spec: {
        manifests: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name } },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: `${name}-settings`, namespace: name },
            data: { setting },
          },
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
                  tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
                  containers: [
                    {
                      name,
                      image: `shop/${name}:1.0`,
                      resources: { requests: { cpu: "500m", memory: "512Mi" } },
                    },
                  ],
                },
              },
            },
          },
        ],
        placement,
      },
    },
  };
}

/** Divided over Frankfurt's production clusters; its replica count changes during the soak. */
const divided = (count: number, setting: string) =>
  application(
    "soak-web",
    {
      locations: ["frankfurt"],
      environments: ["prod"],
      replicas: { mode: "Divided", count },
      failover: { toleranceSeconds: 5, stableSeconds: 10 },
    },
    setting,
  );
/** A copy in every cluster of both Locations; its settings change during the soak. */
const duplicated = (setting: string) =>
  application(
    "soak-agent",
    { locations: ["frankfurt", "singapore"], replicas: { mode: "Duplicated", count: 1 } },
    setting,
  );

beforeAll(async () => {
  const pki = pkiFiles(lab.context.paths.pkiDir);
  for (const c of plan.clusters) apis.set(c.name, new KubeHttp(c.apiUrl, pki));
  fleet = await startLabFleet(lab, {
    prefix: "unitfleet-soak-e2e-",
    heartbeatSeconds,
    healthGraceMs,
    resyncSeconds: 0.5,
    hub: { leaseTtlMs: 1500, healthEveryMs: 200 },
  });
}, 300_000);

afterAll(async () => {
  for (const name of ["soak-web", "soak-agent"])
    await fleet?.hub.registry.delete(kinds.Application, name, systemCaller).catch(() => {});
  await until(
    "the soak namespaces to be gone",
    async () => {
      let left = 0;
      for (const c of clusters)
        left += (await list<WorkloadObject>(c, "/api/v1/namespaces?labelSelector=unitfleet.io/application"))
          .length;
      return left;
    },
    (left) => left === 0,
    60_000,
  ).catch(() => {});
  await fleet?.stop();
  for (const api of apis.values()) api.close();
}, 120_000);

describe("a fleet in compressed time", () => {
  it(
    "runs 5,000 heartbeats per cluster with every invariant holding",
    async () => {
      const hub = fleet.hub;
      const violations: Violation[] = [];
      const violate = (invariant: string, detail: string) => {
        if (violations.filter((v) => v.invariant === invariant).length < 20)
          violations.push({ at: Date.now(), invariant, detail });
      };
      const heartbeats = () => hub.heartbeatsReceived();

      // Baseline workloads of the lab, to churn: one per cluster, back to its own size at the end.
      const baseline = new Map<string, { namespace: string; name: string; replicas: number }>();
      for (const c of clusters) {
        const own = (await list<WorkloadObject>(c, "/apis/apps/v1/deployments")).filter(
          (d) => !d.metadata.labels?.["unitfleet.io/application"],
        );
        const pick = own.find((d) => (d.spec?.replicas ?? 0) >= 1);
        if (pick)
          baseline.set(c, {
            namespace: pick.metadata.namespace!,
            name: pick.metadata.name,
            replicas: pick.spec?.replicas ?? 1,
          });
      }
      expect(baseline.size).toBe(clusters.length);
      const scale = async (cluster: string, replicas: number) => {
        const d = baseline.get(cluster)!;
        const response = await apis
          .get(cluster)!
          .send(
            "PATCH",
            `/apis/apps/v1/namespaces/${d.namespace}/deployments/${d.name}/scale`,
            { spec: { replicas } },
            5000,
            "application/merge-patch+json",
          );
        if (response.status !== 200) throw new Error(`scaling ${cluster} ${d.name}: HTTP ${response.status}`);
      };

      let webReplicas = 6;
      let webFloor = 0; // ready replicas soak-web may never go below, once rolled out
      let settingVersion = 1;
      await hub.registry.applyAll([divided(webReplicas, "v1"), duplicated("v1")], systemCaller);

      // Rolled out: soak-web 6 ready in Frankfurt, soak-agent ready in all six clusters.
      const webReady = async () => {
        let ready = 0;
        let wanted = 0;
        for (const c of clusters) {
          const ds = await list<WorkloadObject>(
            c,
            "/apis/apps/v1/namespaces/soak-web/deployments?labelSelector=unitfleet.io/application=soak-web",
          ).catch(() => []);
          for (const d of ds) {
            ready += d.status?.readyReplicas ?? 0;
            wanted += d.spec?.replicas ?? 0;
          }
        }
        return { ready, wanted };
      };
      const agentCopies = async () => {
        const where: string[] = [];
        for (const c of clusters) {
          const ds = await list<WorkloadObject>(c, "/apis/apps/v1/namespaces/soak-agent/deployments").catch(
            () => [],
          );
          if (ds.some((d) => (d.status?.readyReplicas ?? 0) >= 1)) where.push(c);
        }
        return where;
      };
      await until("soak-web to be ready", webReady, (r) => r.ready === 6 && r.wanted === 6, 120_000);
      await until("soak-agent in every cluster", agentCopies, (w) => w.length === clusters.length, 120_000);
      webFloor = 6;

      // Everything labelled by unitfleet that exists now: it may go only when the user's change removes it.
      const seen = new Map<string, { cluster: string; application: string }>();
      const snapshotObjects = async () => {
        const now = new Map<string, { cluster: string; application: string }>();
        for (const c of clusters)
          for (const path of ["/api/v1/namespaces", "/api/v1/configmaps", "/apis/apps/v1/deployments"]) {
            for (const o of await list<WorkloadObject>(c, `${path}?labelSelector=unitfleet.io/application`))
              now.set(`${c}/${path.split("/").pop()}/${o.metadata.namespace ?? ""}/${o.metadata.name}`, {
                cluster: c,
                application: o.metadata.labels!["unitfleet.io/application"]!,
              });
            // The lab's own workloads are nobody's to delete.
            if (path === "/apis/apps/v1/deployments")
              for (const o of await list<WorkloadObject>(c, path))
                if (!o.metadata.labels?.["unitfleet.io/application"])
                  now.set(`${c}/own-deployments/${o.metadata.namespace}/${o.metadata.name}`, {
                    cluster: c,
                    application: "",
                  });
          }
        return now;
      };
      for (const [k, v] of await snapshotObjects()) seen.set(k, v);

      // Warm-up over: the heap from here on must stay flat.
      const heapStart = heapAfterCollection();
      const rssStart = process.memoryUsage().rss;
      const started = Date.now();
      const beatsAtStart = heartbeats();
      let peakQueue = 0;
      let maxSilenceMs = 0;
      let checks = 0;
      let churns = 0;
      let applicationChanges = 0;
      const mismatchSince = new Map<string, number>();

      const check = async () => {
        checks += 1;
        const now = Date.now();
        // Every cluster Ready, and how long the hub has gone without hearing from each.
        const registered = (await hub.registry.list(kinds.Cluster, {}, systemCaller))
          .items as unknown as Cluster[];
        for (const c of registered) {
          const ready = c.status?.conditions?.find((x) => x.type === "Ready");
          if (ready?.status !== "True")
            violate(
              "every cluster Ready",
              `${c.metadata.name}: Ready=${ready?.status} (${ready?.reason}: ${ready?.message})`,
            );
        }
        for (const row of await hub.sql.query<{ cluster: string; at: string }>(
          "select cluster, at::text from cluster_heartbeats",
        ))
          maxSilenceMs = Math.max(maxSilenceMs, now - new Date(row.at).getTime());
        // The hub's figures equal the lab's, at most `settleMs` after a change.
        for (const c of registered) {
          const name = c.metadata.name;
          const truth = await labFigures(name);
          const same = c.status?.nodes?.total === truth.nodes && c.status?.pods === truth.pods;
          if (same) mismatchSince.delete(name);
          else {
            const since = mismatchSince.get(name) ?? now;
            mismatchSince.set(name, since);
            if (now - since > settleMs)
              violate(
                "hub figures equal the lab's",
                `${name}: hub ${c.status?.nodes?.total} nodes / ${c.status?.pods} pods, lab ${truth.nodes} / ${truth.pods}, for ${now - since} ms`,
              );
          }
        }
        // No application below what it should have.
        const web = await webReady();
        if (web.ready < webFloor)
          violate("no replica lost", `soak-web: ${web.ready} ready, at least ${webFloor} wanted`);
        const copies = await agentCopies();
        if (copies.length < clusters.length)
          violate("no replica lost", `soak-agent: ready in ${copies.join(", ")} only`);
        // Nothing disappears that the user did not remove.
        const present = await snapshotObjects();
        const app = (await hub.registry.get(
          kinds.Application,
          "soak-web",
          systemCaller,
        )) as unknown as Application;
        const placed = new Set(
          (app.status?.placement?.clusters ?? []).filter((p) => p.replicas > 0).map((p) => p.name),
        );
        for (const [key, owner] of seen)
          if (!present.has(key)) {
            // soak-web may leave a cluster when its count is changed by the user and the split moves; nothing else may go.
            if (owner.application === "soak-web" && !placed.has(owner.cluster)) seen.delete(key);
            else violate("nothing deleted", `${key} is gone`);
          }
        for (const [k, v] of present) seen.set(k, v);
        // Relay queues bounded.
        for (const relay of fleet.relays.values()) {
          const depth = relay.client.queue.peak;
          peakQueue = Math.max(peakQueue, depth);
          if (depth > queueBound) violate("relay queues bounded", `a relay's queue reached ${depth}`);
        }
      };

      const churn = async (step: number) => {
        const cluster = clusters[step % clusters.length]!;
        const d = baseline.get(cluster)!;
        await scale(cluster, step % 2 === 0 ? d.replicas + 1 : d.replicas);
        churns += 1;
        if (step % 5 === 0) {
          // The user changes the applications: soak-web between 6 and 9 replicas, soak-agent's settings.
          const next = webReplicas === 6 ? 9 : 6;
          webFloor = Math.min(webReplicas, next);
          webReplicas = next;
          settingVersion += 1;
          await hub.registry.applyAll(
            [divided(webReplicas, `v${settingVersion}`), duplicated(`v${settingVersion}`)],
            systemCaller,
          );
          applicationChanges += 1;
        }
      };

      const deadline = started + 15 * 60_000;
      let step = 0;
      let nextChurn = Date.now();
      let lastProgress = Date.now();
      while (
        Math.min(...clusters.map((c) => (heartbeats().get(c) ?? 0) - (beatsAtStart.get(c) ?? 0))) <
        targetHeartbeats
      ) {
        if (Date.now() > deadline)
          throw new Error(`fewer than ${targetHeartbeats} heartbeats per cluster in 15 minutes`);
        if (Date.now() >= nextChurn) {
          await churn(step++);
          nextChurn = Date.now() + 2000;
        }
        await check();
        // soak-web settles on what the user wants; then nothing may take it below that.
        const web = await webReady();
        if (web.wanted === webReplicas && web.ready >= webReplicas) webFloor = webReplicas;
        if (Date.now() - lastProgress > 60_000) {
          lastProgress = Date.now();
          const counts = clusters.map((c) => (heartbeats().get(c) ?? 0) - (beatsAtStart.get(c) ?? 0));
          process.stderr.write(
            `[soak] ${Math.round((Date.now() - started) / 1000)} s: heartbeats per cluster ${Math.min(...counts)}–${Math.max(...counts)}, ${violations.length} violations\n`,
          );
        }
        await new Promise((r) => setTimeout(r, 1000));
      }

      // Back to the lab's own sizes; the fleet must settle once more, all of it checked again.
      for (const c of clusters) await scale(c, baseline.get(c)!.replicas);
      await until(
        "soak-web to settle",
        webReady,
        (r) => r.wanted === webReplicas && r.ready === webReplicas,
        60_000,
      );
      await new Promise((r) => setTimeout(r, settleMs + 2000));
      mismatchSince.clear();
      await check();
      await new Promise((r) => setTimeout(r, settleMs + 1000));
      await check();

      const elapsedMs = Date.now() - started;
      const counts = clusters.map((c) => (heartbeats().get(c) ?? 0) - (beatsAtStart.get(c) ?? 0));
      const heapEnd = heapAfterCollection();
      const rssEnd = process.memoryUsage().rss;
      const figures = {
        wallClockSeconds: Math.round(elapsedMs / 1000),
        heartbeatsPerCluster: { min: Math.min(...counts), max: Math.max(...counts) },
        simulatedHours: Number(((Math.min(...counts) * 10) / 3600).toFixed(1)),
        checks,
        inventoryChurns: churns,
        applicationChanges,
        maxHeartbeatSilenceMs: maxSilenceMs,
        peakRelayQueue: peakQueue,
        heapMiB: { start: mib(heapStart), end: mib(heapEnd) },
        rssMiB: { start: mib(rssStart), end: mib(rssEnd) },
        violations: violations.length,
      };
      process.stderr.write(`[soak] figures ${JSON.stringify(figures)}\n`);
      expect(violations, JSON.stringify(violations.slice(0, 10), null, 2)).toEqual([]);
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(targetHeartbeats);
      expect(heapEnd - heapStart).toBeLessThan(heapGrowthBoundBytes);
    },
    20 * 60_000,
  );
});

const mib = (bytes: number) => Math.round(bytes / (1024 * 1024));
