/**
 * The agent's delivery on a real API server (the lab's fra-shop-dev), driven directly without a hub: a work
 * is applied in dependency order and reported healthy; a new generation prunes what it dropped; a Deployment
 * deleted or scaled by hand is put back within a resync and reported as drift; a kind the cluster does not
 * serve fails alone; an agent restarted on the same dir still holds its work and applies it; removing the
 * work deletes its namespace.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Applier, startApplier, type Work, type WorkStatus } from "../../src/agent/delivery/applier.ts";
import { ObjectApi } from "../../src/agent/kube/object-api.ts";
import { sleep } from "../../src/lab/processes.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const context = "fra-shop-dev";
const namespace = "delivery-e2e";
const application = "delivery-e2e";
const resyncSeconds = 2;

const namespaceManifest = { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } };
const configMap = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "settings", namespace, labels: { tier: "config" } },
  data: { greeting: "hello" },
};
const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace, labels: { app: "web" } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        containers: [
          {
            name: "web",
            image: "registry.example/web:1.0",
            resources: { requests: { cpu: "10m", memory: "16Mi" } },
          },
        ],
        tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
      },
    },
  },
};
const widget = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "gadget", namespace } };

/** A second Application that brings its own kind: a CRD whose schema keeps unknown fields, and an object of it. */
const crdApplication = "delivery-e2e-crd";
const crdNamespace = "delivery-e2e-crd";
const crdName = "gadgets.delivery-e2e.example.com";
const crdWork: Work = {
  application: crdApplication,
  generation: 1,
  // Written object first: the applier applies the CRD and waits for it to be Established before the Gadget.
  manifests: [
    {
      apiVersion: "delivery-e2e.example.com/v1",
      kind: "Gadget",
      metadata: { name: "g1", namespace: crdNamespace },
      spec: { size: 3 },
    },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: crdNamespace } },
    {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: crdName },
      spec: {
        group: "delivery-e2e.example.com",
        names: { kind: "Gadget", plural: "gadgets", singular: "gadget", listKind: "GadgetList" },
        scope: "Namespaced",
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    },
  ],
};

let dir: string;
let applier: Applier | undefined;
const reports: WorkStatus[] = [];
const logs: Array<Record<string, unknown>> = [];

function start(): Promise<Applier> {
  const kc = new KubeConfig();
  kc.loadFromFile(lab.kubeconfig);
  kc.setCurrentContext(context);
  return startApplier({
    api: ObjectApi.for(kc),
    cluster: context,
    dir,
    resyncSeconds,
    pollSeconds: 1,
    report: (body) => reports.push(structuredClone(body)),
    log: (entry) => logs.push(entry),
  });
}

/** Polls until `check` returns something; fails with `what` and the last report after `timeoutMs`. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last report: ${JSON.stringify(reports.at(-1))}`);
    await sleep(200);
  }
}

const objectIn = (report: WorkStatus | undefined, kind: string) =>
  report?.objects.find((o) => o.kind === kind);
const allHealthy = (generation: number) => {
  const last = reports.at(-1);
  return last?.generation === generation && last.objects.every((o) => o.healthy) ? last : undefined;
};
const driftSince = (index: number, kind: string, message: string) =>
  reports
    .slice(index)
    .flatMap((r) => r.drift)
    .find((d) => d.kind === kind && d.message === message);
const get = (args: string[]) =>
  kubectl(lab, context, ["get", ...args, "-n", namespace, "--ignore-not-found", "-o", "name"]);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-delivery-agent-"));
  await kubectl(lab, context, [
    "delete",
    "namespace",
    namespace,
    crdNamespace,
    "--ignore-not-found",
    "--wait=true",
  ]);
  await kubectl(lab, context, ["delete", "crd", crdName, "--ignore-not-found", "--wait=true"]);
});

afterAll(async () => {
  await applier?.stop();
  await kubectl(lab, context, [
    "delete",
    "namespace",
    namespace,
    crdNamespace,
    "--ignore-not-found",
    "--wait=false",
  ]);
  await kubectl(lab, context, ["delete", "crd", crdName, "--ignore-not-found", "--wait=false"]);
  await rm(dir, { recursive: true, force: true });
});

describe("delivery by the agent, on fra-shop-dev", () => {
  const work = (generation: number, manifests: Work["manifests"]): Work => ({
    application,
    generation,
    manifests,
  });

  it("applies a work in dependency order and reports it healthy, 2/2 replicas, without false drift", async () => {
    applier = await start();
    const started = performance.now();
    // Written in the wrong order on purpose: the Namespace is applied first all the same.
    await applier.set(work(1, [deployment, configMap, namespaceManifest]));
    expect(objectIn(reports.at(-1), "Namespace")).toMatchObject({ state: "Applied", healthy: true });
    expect(objectIn(reports.at(-1), "ConfigMap")).toMatchObject({ state: "Applied", namespace });
    const healthy = await until("the work to be healthy", () => allHealthy(1));
    process.stderr.write(`[delivery] generation 1 applied → healthy in ${seconds(started)}\n`);
    expect(objectIn(healthy, "Deployment")?.replicas).toEqual({
      desired: 2,
      ready: 2,
      updated: 2,
      available: 2,
    });
    expect(healthy.objects.map((o) => o.kind)).toEqual(["Deployment", "ConfigMap", "Namespace"]);

    const cm = await kubectlJson<{
      metadata: {
        labels: Record<string, string>;
        annotations: Record<string, string>;
        managedFields: Array<{ manager: string; operation: string }>;
      };
    }>(lab, context, ["get", "configmap", "settings", "-n", namespace, "--show-managed-fields"]);
    expect(cm.metadata.labels).toEqual({ tier: "config", "unitfleet.io/application": application });
    expect(cm.metadata.annotations["unitfleet.io/generation"]).toBe("1");
    expect(cm.metadata.managedFields).toContainEqual(
      expect.objectContaining({ manager: "unitfleet", operation: "Apply" }),
    );
    // Resyncs of a rolling-out Deployment (status updates, no spec change) are not drift.
    await sleep(resyncSeconds * 1000 + 500);
    expect(applier.applies).toBeGreaterThanOrEqual(2);
    expect(reports.flatMap((r) => r.drift)).toEqual([]);
    expect(applier.held()).toEqual([{ application, generation: 1 }]);
  });

  it("prunes the ConfigMap that generation 2 no longer has", async () => {
    await applier!.set(work(2, [namespaceManifest, deployment]));
    // Reports are at most one a second: the one for generation 2 may come a moment later.
    const report = await until("a report of generation 2", () => reports.findLast((r) => r.generation === 2));
    expect(report.objects.map((o) => o.kind)).toEqual(["Namespace", "Deployment"]);
    expect(await get(["configmap", "settings"])).toBe("");
    expect(await get(["deployment", "web"])).toBe("deployment.apps/web\n");
    await until("generation 2 to be healthy", () => allHealthy(2));
  });

  it("recreates a Deployment deleted with kubectl within a resync, and reports the drift", async () => {
    const from = reports.length;
    const deleted = performance.now();
    await kubectl(lab, context, ["delete", "deployment", "web", "-n", namespace]);
    const drift = await until("the deletion to be reported", () =>
      driftSince(from, "Deployment", "deleted outside unitfleet; recreated"),
    );
    process.stderr.write(`[delivery] deleted Deployment recreated and reported after ${seconds(deleted)}\n`);
    expect(drift).toMatchObject({ apiVersion: "apps/v1", namespace, name: "web" });
    expect(await get(["deployment", "web"])).toBe("deployment.apps/web\n");
    await until("2/2 again", () => allHealthy(2));
    // Reported once: the next reports have no drift.
    await sleep(resyncSeconds * 1000 + 500);
    expect(reports.slice(from).flatMap((r) => r.drift)).toHaveLength(1);
  });

  it("puts back a Deployment scaled to 5 with kubectl, and reports the drift", async () => {
    const from = reports.length;
    const scaled = performance.now();
    await kubectl(lab, context, ["scale", "deployment", "web", "-n", namespace, "--replicas=5"]);
    await until("the change to be reported", () =>
      driftSince(from, "Deployment", "changed outside unitfleet; fields put back"),
    );
    process.stderr.write(`[delivery] scaled Deployment put back and reported after ${seconds(scaled)}\n`);
    const live = await kubectlJson<{ spec: { replicas: number } }>(lab, context, [
      "get",
      "deployment",
      "web",
      "-n",
      namespace,
    ]);
    expect(live.spec.replicas).toBe(2);
    await until("2/2 again", () => allHealthy(2));
  });

  it("applies nothing of a generation with a kind the cluster does not serve, and says which", async () => {
    await applier!.set(work(3, [namespaceManifest, deployment, widget]));
    const last = await until("a report of generation 3", () => reports.findLast((r) => r.generation === 3));
    expect(objectIn(last, "Widget")).toMatchObject({ state: "Failed", healthy: false, name: "gadget" });
    expect(objectIn(last, "Widget")?.message).toContain('kind "Widget" in version "example.com/v1"');
    for (const kind of ["Namespace", "Deployment"])
      expect(objectIn(last, kind)).toMatchObject({
        state: "Failed",
        message: "not applied, because Widget gadget is of a kind this cluster does not serve",
      });
    // The objects stay as generation 2 left them.
    const annotations = await kubectl(lab, context, [
      "get",
      "deployment",
      "web",
      "-n",
      namespace,
      "-o",
      "jsonpath={.metadata.annotations.unitfleet\\.io/generation}",
    ]);
    expect(annotations).toBe("2");
  });

  it("holds its work across a restart: a new applier on the same dir applies it again", async () => {
    await applier!.set(work(4, [namespaceManifest, deployment]));
    await applier!.stop();
    applier = undefined;
    // While the agent is down, someone deletes the Deployment.
    await kubectl(lab, context, ["delete", "deployment", "web", "-n", namespace]);
    const from = reports.length;
    const restarted = performance.now();
    applier = await start();
    expect(applier.held()).toEqual([{ application, generation: 4 }]);
    await until("the deletion to be put back and reported", () =>
      driftSince(from, "Deployment", "deleted outside unitfleet; recreated"),
    );
    process.stderr.write(`[delivery] after a restart, Deployment recreated after ${seconds(restarted)}\n`);
    expect(await get(["deployment", "web"])).toBe("deployment.apps/web\n");
    expect(applier.applies).toBeGreaterThanOrEqual(1);
  });

  it("given back while its namespace is still being deleted, waits for it to go, recreates it and reports no drift", async () => {
    const uid = () =>
      kubectl(lab, context, [
        "get",
        "namespace",
        namespace,
        "--ignore-not-found",
        "-o",
        "jsonpath={.metadata.uid}",
      ]);
    const before = await uid();
    const from = reports.length;
    // What a failover and its failback do to a cluster: the work removed, then given back at once.
    await applier!.remove(application);
    await applier!.set(work(5, [namespaceManifest, deployment]));
    const terminating = objectIn(reports.at(-1), "Namespace");
    expect(terminating).toMatchObject({ state: "Failed", healthy: false });
    expect(terminating?.message).toContain("being deleted");
    const started = performance.now();
    await until("generation 5 to be healthy in a new namespace", () => allHealthy(5), 120_000);
    process.stderr.write(`[delivery] given back during deletion: healthy ${seconds(started)} later\n`);
    expect(await uid()).not.toBe(before);
    // The agent deleted the namespace itself: putting it back is not someone else's change.
    await sleep(resyncSeconds * 1000 + 500);
    expect(reports.slice(from).flatMap((r) => r.drift)).toEqual([]);
  });

  it("removes the work: its objects are deleted, the namespace last, and the work forgotten", async () => {
    await applier!.remove(application);
    expect(applier!.held()).toEqual([]);
    expect(await readdir(join(dir, "works"))).toEqual([]);
    const removed = performance.now();
    await until(
      "the namespace to be gone",
      async () =>
        (await kubectl(lab, context, ["get", "namespace", namespace, "--ignore-not-found", "-o", "name"])) ===
        "",
      120_000,
    );
    process.stderr.write(`[delivery] namespace gone ${seconds(removed)} after remove\n`);
    // Nothing is put back afterwards.
    await sleep(resyncSeconds * 1000 + 500);
    expect(
      await kubectl(lab, context, ["get", "namespace", namespace, "--ignore-not-found", "-o", "name"]),
    ).toBe("");
  });

  it("applies a CRD before objects of its kind, waiting until it is Established, and keeps its schema whole", async () => {
    const started = performance.now();
    await applier!.set(crdWork);
    const last = await until("a report of the CRD work", () =>
      reports.findLast((r) => r.application === crdApplication),
    );
    process.stderr.write(`[delivery] CRD + object applied in ${seconds(started)}\n`);
    expect(last.objects.map((o) => [o.kind, o.state, o.healthy])).toEqual([
      ["Gadget", "Applied", true],
      ["Namespace", "Applied", true],
      ["CustomResourceDefinition", "Applied", true],
    ]);
    // `x-kubernetes-preserve-unknown-fields` reached the API server: the Gadget's spec was not pruned.
    const gadget = await kubectlJson<{ spec?: { size?: number } }>(lab, context, [
      "get",
      "gadgets.delivery-e2e.example.com",
      "g1",
      "-n",
      crdNamespace,
    ]);
    expect(gadget.spec?.size).toBe(3);

    await applier!.remove(crdApplication);
    await until(
      "the CRD to be gone",
      async () =>
        (await kubectl(lab, context, ["get", "crd", crdName, "--ignore-not-found", "-o", "name"])) === "",
    );
    await until(
      "the CRD work's namespace to be gone",
      async () =>
        (await kubectl(lab, context, [
          "get",
          "namespace",
          crdNamespace,
          "--ignore-not-found",
          "-o",
          "name",
        ])) === "",
      120_000,
    );
  });
});
