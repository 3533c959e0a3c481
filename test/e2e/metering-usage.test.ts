/**
 * Metering on a lab cluster: pods annotated with a known usage (kwok's `kwok.x-k8s.io/usage-*`) are metered
 * from kwok's kubelet resource metrics, and the hour's WorkloadHour of their Deployment carries that usage
 * times the samples. Hours are compressed (8 s of one-second "minutes").
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { kubeClusterReader } from "../../src/agent/kube/metering-reader.ts";
import { metering } from "../../src/agent/metering/metering.ts";
import { UsageSampler } from "../../src/agent/metering/sampler.ts";
import type { UsageHoursBody } from "../../src/core/metering/hourly.ts";
import { sleep } from "../../src/lab/processes.ts";
import { sharedLab } from "./shared-lab.ts";

const namespace = "e2e-metering";
const name = "metered";
const Mi = 2 ** 20;

describe("metering usage from kwok's kubelet resource metrics", () => {
  const lab = sharedLab();
  const cluster = "fra-search-staging";
  const kc = new KubeConfig();
  kc.loadFromFile(lab.kubeconfig);
  kc.setCurrentContext(cluster);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const dirs: string[] = [];

  afterAll(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("a Deployment's hour has its pods' annotated usage × samples, its requests, and the nodes' hours", async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name, namespace },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: {
              labels: { app: name, team: "metering" },
              annotations: { "kwok.x-k8s.io/usage-cpu": "250m", "kwok.x-k8s.io/usage-memory": "300Mi" },
            },
            spec: {
              containers: [
                {
                  name,
                  image: "registry.example/metered:1.0",
                  resources: { requests: { cpu: "500m", memory: "1Gi" } },
                },
              ],
              tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
            },
          },
        },
      },
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
      if (pods.items.filter((p) => p.status?.phase === "Running").length === 2) break;
      if (Date.now() > deadline) throw new Error("the metered pods did not start");
      await sleep(250);
    }

    const dir = await mkdtemp(join(tmpdir(), "unitfleet-e2e-metering-"));
    dirs.push(dir);
    const sent: UsageHoursBody[] = [];
    const logs: Array<Record<string, unknown>> = [];
    const run = metering({
      cluster,
      dir,
      sampler: new UsageSampler({ reader: kubeClusterReader(kc), log: (e) => logs.push(e) }),
      send: (body) => sent.push(body),
      connected: () => true,
      intervalMs: 1000,
      hourMs: 8000,
      log: (e) => logs.push(e),
    });
    const controller = new AbortController();
    const running = run.start(controller.signal, () => {});
    // The first hour may be partial (the agent starts mid-hour): wait for two.
    const until = Date.now() + 40_000;
    while (new Set(sent.map((b) => b.nodes[0]?.hour ?? b.workloads[0]?.hour)).size < 2 && Date.now() < until)
      await sleep(200);
    controller.abort();
    await running;

    expect(logs.filter((e) => e.level === "warn")).toEqual([]);
    const hours = [...new Set(sent.map((b) => b.workloads[0]?.hour))];
    expect(hours.length).toBeGreaterThanOrEqual(2);
    const full = sent.filter((b) => b.workloads[0]?.hour === hours[1]);
    expect(full.every((b) => b.source === "kubelet")).toBe(true);
    const record = full.flatMap((b) => b.workloads).find((w) => w.namespace === namespace);
    expect(record?.workload).toBe(`Deployment/${name}`);
    expect(record?.labels).toEqual({ team: "metering" });
    const samples = record?.samples ?? 0;
    expect(samples).toBeGreaterThanOrEqual(7);
    // Two pods of 500m and 1Gi requested, each using 250m and 300Mi, every sample.
    expect(record?.cpu.request).toBe(2 * 500 * samples);
    expect(record?.cpu.usage).toBeGreaterThan(2 * 250 * samples * 0.9);
    expect(record?.cpu.usage).toBeLessThan(2 * 250 * samples * 1.1);
    expect(record?.cpu.allocated).toBe(2 * 500 * samples);
    expect(record?.memory).toEqual({
      request: 2 * 1024 * Mi * samples,
      usage: 2 * 300 * Mi * samples,
      allocated: 2 * 1024 * Mi * samples,
    });
    // Both nodes of the cluster, Ready every sample, with their instance type and allocatable.
    const nodes = full.flatMap((b) => b.nodes);
    expect(nodes.map((n) => n.node).sort()).toEqual([
      "fra-search-staging-general-0",
      "fra-search-staging-general-1",
    ]);
    for (const n of nodes) {
      expect(n.instanceType).toBe("m6.2xlarge");
      expect(n.allocatable.cpu).toBe(8000 * n.samples);
    }
    // The topology's indexer (usage 1500m of a 1-core request) pays for its usage, not its request.
    const indexer = full.flatMap((b) => b.workloads).find((w) => w.workload === "Deployment/indexer");
    expect(indexer?.cpu.allocated).toBeGreaterThan((indexer?.cpu.request ?? 0) * 1.3);
  });
});
