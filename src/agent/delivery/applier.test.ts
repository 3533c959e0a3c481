import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock, settle } from "../../runtime/clock.ts";
import { type Applier, type ApplierOptions, startApplier, type Work, type WorkStatus } from "./applier.ts";
import { applicationLabel, generationAnnotation } from "./apply-order.ts";
import { InMemoryCluster } from "./in-memory-cluster.ts";

const application = "shop";
const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } };
const configMap = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "settings", namespace: "shop" },
  data: { greeting: "hello" },
};
const service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "shop" },
  spec: { ports: [{ port: 80 }] },
};
const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop" },
  spec: { replicas: 2, template: { spec: { containers: [{ name: "web", image: "web:1" }] } } },
};
const deploymentRef = { apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web" };
const configMapRef = { apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings" };
const rolledOut = {
  observedGeneration: 1,
  replicas: 2,
  readyReplicas: 2,
  updatedReplicas: 2,
  availableReplicas: 2,
};

const resyncMs = 30_000;
const pollMs = 2_000;
const work = (generation: number, manifests: Work["manifests"], name = application): Work => ({
  application: name,
  generation,
  manifests,
});

const started: Applier[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const applier of started.splice(0)) await applier.stop();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** An applier on an in-memory cluster and a manual clock, with what it reported and logged. */
async function setup(shared?: { dir: string; cluster: InMemoryCluster; clock: ManualClock }) {
  const clock = shared?.clock ?? new ManualClock(Date.parse("2026-12-03T10:00:00Z"));
  const cluster = shared?.cluster ?? new InMemoryCluster();
  const dir = shared?.dir ?? (await mkdtemp(join(tmpdir(), "unitfleet-applier-")));
  if (!shared) dirs.push(dir);
  const reports: WorkStatus[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const options: ApplierOptions = {
    api: cluster,
    cluster: "fra-shop-dev",
    dir,
    resyncSeconds: resyncMs / 1000,
    pollSeconds: pollMs / 1000,
    report: (body) => reports.push(structuredClone(body)),
    log: (entry) => logs.push(entry),
    clock,
  };
  const applier = await startApplier(options);
  started.push(applier);
  const logged = (msg: string) => logs.filter((l) => l.msg === msg).length;
  return {
    applier,
    cluster,
    clock,
    dir,
    reports,
    logs,
    /** Waits until the `n`th apply of a work has ended (its store written) and the queue has its next step. */
    async applied(n: number) {
      await vi.waitFor(() => expect(logged("work applied")).toBeGreaterThanOrEqual(n));
      await settle();
    },
    /** Waits until the `n`th reconcile failure has been handed back to the queue for a retry. */
    async failed(n: number) {
      await vi.waitFor(() => expect(logged("reconcile failed; retrying")).toBeGreaterThanOrEqual(n));
      await settle();
    },
  };
}

describe("the applier, on an in-memory cluster", () => {
  it("applies Namespaces first, then ConfigMaps, Services, workloads, labelled as the Application's", async () => {
    const { applier, cluster, reports } = await setup();
    // Written in the wrong order on purpose.
    await applier.set(work(1, [deployment, service, configMap, namespace]));
    expect(cluster.callsOf("apply")).toEqual([
      "Namespace shop",
      "ConfigMap shop/settings",
      "Service shop/web",
      "Deployment shop/web",
    ]);
    // set() resolved once applied and reported: the report is there, objects in the order written.
    expect(reports).toHaveLength(1);
    expect(reports[0]!.objects.map((o) => [o.kind, o.state])).toEqual([
      ["Deployment", "Applied"],
      ["Service", "Applied"],
      ["ConfigMap", "Applied"],
      ["Namespace", "Applied"],
    ]);
    const live = cluster.get(configMapRef)!;
    expect(live.metadata.labels).toEqual({ [applicationLabel]: application });
    expect(live.metadata.annotations).toEqual({ [generationAnnotation]: "1" });
    expect(applier.held()).toEqual([{ application, generation: 1 }]);
  });

  it("prunes what an earlier generation applied and the new one has not, if it is still labelled ours", async () => {
    const { applier, cluster, clock, reports } = await setup();
    const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "token", namespace: "shop" } };
    const secretRef = { apiVersion: "v1", kind: "Secret", namespace: "shop", name: "token" };
    await applier.set(work(1, [namespace, configMap, secret, deployment]));
    // Someone takes the Secret over: it is no longer the Application's to delete.
    cluster.edit(secretRef, (o) => {
      o.metadata.labels = { [applicationLabel]: "someone-else" };
    });
    await applier.set(work(2, [namespace, deployment]));
    expect(cluster.get(configMapRef)).toBeUndefined();
    expect(cluster.get(secretRef)).toBeDefined();
    expect(cluster.get(deploymentRef)?.metadata.annotations?.[generationAnnotation]).toBe("2");
    // Reports are at most one a second: generation 2's comes when the second is over.
    expect(reports.map((r) => r.generation)).toEqual([1]);
    await clock.advance(1000);
    expect(reports.map((r) => r.generation)).toEqual([1, 2]);
    expect(reports[1]!.objects.map((o) => o.kind)).toEqual(["Namespace", "Deployment"]);
  });

  it("puts back an object changed or deleted by hand at the resync, and reports the drift once", async () => {
    const s = await setup();
    const { applier, cluster, clock, reports } = s;
    await applier.set(work(1, [namespace, configMap]));
    expect(reports.at(-1)!.objects.every((o) => o.healthy)).toBe(true);
    cluster.edit(configMapRef, (o) => {
      o.data = { greeting: "bye" };
    });
    await clock.advance(resyncMs - 1);
    expect(applier.applies).toBe(1);
    await clock.advance(1);
    await s.applied(2);
    expect(cluster.get(configMapRef)?.data).toEqual({ greeting: "hello" });
    expect(reports).toHaveLength(2);
    expect(reports[1]!.drift).toEqual([
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: "shop",
        name: "settings",
        at: "2026-12-03T10:00:30.000Z",
        message: "changed outside unitfleet; fields put back",
      },
    ]);
    // Reported once: the next resync finds nothing changed and sends nothing.
    await clock.advance(resyncMs);
    await s.applied(3);
    expect(reports).toHaveLength(2);

    cluster.deleteByHand(configMapRef);
    await clock.advance(resyncMs);
    await s.applied(4);
    expect(cluster.get(configMapRef)).toBeDefined();
    expect(reports.at(-1)!.drift.map((d) => [d.kind, d.message])).toEqual([
      ["ConfigMap", "deleted outside unitfleet; recreated"],
    ]);
  });

  it("reads an object back until it is healthy, and reports only when its status changes", async () => {
    const { applier, cluster, clock, reports } = await setup();
    await applier.set(work(1, [namespace, deployment]));
    expect(reports.at(-1)!.objects[1]).toMatchObject({ kind: "Deployment", healthy: false });
    const reads = () => cluster.callsOf("read").filter((c) => c === "Deployment shop/web").length;
    const before = reads();
    await clock.advance(pollMs);
    expect(reads()).toBe(before + 1);
    await clock.advance(pollMs);
    expect(reads()).toBe(before + 2);
    expect(reports).toHaveLength(1); // nothing changed, nothing sent
    cluster.setStatus(deploymentRef, rolledOut);
    await clock.advance(pollMs);
    expect(reports).toHaveLength(2);
    expect(reports[1]!.objects[1]).toMatchObject({
      kind: "Deployment",
      healthy: true,
      replicas: { desired: 2, ready: 2, updated: 2, available: 2 },
    });
    // Healthy: no more reads until the resync.
    const readsWhenHealthy = reads();
    await clock.advance(resyncMs - 3 * pollMs - 1);
    expect(reads()).toBe(readsWhenHealthy);
    expect(applier.applies).toBe(1);
  });

  it("retries with growing delays while the API server is down, then applies and reports", async () => {
    const s = await setup();
    const { applier, cluster, clock, reports } = s;
    cluster.down = true;
    await applier.set(work(1, [namespace, configMap]));
    expect(reports.at(-1)!.objects.map((o) => [o.state, o.message])).toEqual([
      ["Failed", "connect ECONNREFUSED 127.0.0.1:6443"],
      ["Failed", "connect ECONNREFUSED 127.0.0.1:6443"],
    ]);
    await s.failed(1);
    // Tried again after 1 s, 2 s, 4 s, 8 s: never sooner.
    const attempts: number[] = [];
    for (const [n, delay] of [1000, 2000, 4000, 8000].entries()) {
      await clock.advance(delay - 1);
      expect(applier.applies).toBe(n + 1);
      await clock.advance(1);
      await s.failed(n + 2);
      attempts.push(applier.applies);
    }
    expect(attempts).toEqual([2, 3, 4, 5]);
    // The same failure is not reported again.
    expect(reports).toHaveLength(1);

    cluster.down = false;
    await clock.advance(16_000);
    await s.applied(6);
    expect(reports.at(-1)!.objects.map((o) => o.state)).toEqual(["Applied", "Applied"]);
    // Back to the resync: the next apply comes 30 s later, not after a backoff.
    await clock.advance(resyncMs - 1);
    expect(applier.applies).toBe(6);
    await clock.advance(1);
    await s.applied(7);
  });

  it("removes a work: deletes its objects, Namespaces last, and forgets it", async () => {
    const s = await setup();
    const { applier, cluster, clock, dir } = s;
    await applier.set(work(1, [deployment, namespace, configMap]));
    cluster.setStatus(deploymentRef, rolledOut);
    await clock.advance(pollMs);
    await applier.remove(application);
    expect(cluster.callsOf("delete")).toEqual([
      "Deployment shop/web",
      "ConfigMap shop/settings",
      "Namespace shop",
    ]);
    expect(cluster.objects.size).toBe(0);
    expect(applier.held()).toEqual([]);
    expect(await readdir(join(dir, "works"))).toEqual([]);
    // Forgotten: nothing waits for it, and no resync applies it again.
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(2 * resyncMs);
    expect(applier.applies).toBe(1);
  });

  it("after a restart, a new applier on the same dir holds the work and applies it again", async () => {
    const first = await setup();
    await first.applier.set(work(4, [namespace, deployment]));
    await first.applier.stop();
    // While the agent is down, someone deletes the Deployment.
    first.cluster.deleteByHand(deploymentRef);
    const second = await setup({ dir: first.dir, cluster: first.cluster, clock: first.clock });
    expect(second.applier.held()).toEqual([{ application, generation: 4 }]);
    await second.applied(1);
    expect(first.cluster.get(deploymentRef)).toBeDefined();
    expect(second.reports.at(-1)!.drift.map((d) => [d.kind, d.message])).toEqual([
      ["Deployment", "deleted outside unitfleet; recreated"],
    ]);
  });

  it("given many generations in a burst, applies the last one after the one in flight, never two at once", async () => {
    const { applier, cluster, clock, reports } = await setup();
    let release = () => {};
    cluster.gate = new Promise((resolve) => {
      release = resolve;
    });
    const first = applier.set(work(1, [configMap]));
    await vi.waitFor(() => expect(cluster.callsOf("apply")).toHaveLength(1));
    const later = [2, 3, 4, 5].map((generation) => applier.set(work(generation, [configMap])));
    // Held at once (what work.sync tells the hub), applied after the reconcile in flight.
    expect(applier.held()).toEqual([{ application, generation: 5 }]);
    // An older generation than the one held is ignored.
    await applier.set(work(3, [configMap]));
    cluster.gate = undefined;
    release();
    await Promise.all([first, ...later]);
    expect(applier.applies).toBe(2);
    expect(cluster.callsOf("apply")).toEqual(["ConfigMap shop/settings", "ConfigMap shop/settings"]);
    expect(cluster.maxAppliesAtOnceOfOneObject).toBe(1);
    expect(cluster.get(configMapRef)?.metadata.annotations?.[generationAnnotation]).toBe("5");
    await clock.advance(1000);
    expect(reports.map((r) => r.generation)).toEqual([1, 5]);
  });

  it("applies a CRD first and the objects of its kind once it is Established", async () => {
    const { applier, cluster, clock, reports } = await setup();
    cluster.crdEstablishedAfterReads = 3;
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "gadgets.example.com" },
      spec: {
        group: "example.com",
        names: { kind: "Gadget", plural: "gadgets" },
        scope: "Namespaced",
        versions: [{ name: "v1", served: true, storage: true }],
      },
    };
    const gadget = {
      apiVersion: "example.com/v1",
      kind: "Gadget",
      metadata: { name: "g1", namespace: "shop" },
    };
    const set = applier.set(work(1, [gadget, namespace, crd]));
    await vi.waitFor(() =>
      expect(cluster.callsOf("read")).toContain("CustomResourceDefinition gadgets.example.com"),
    );
    expect(cluster.callsOf("apply")).not.toContain("Gadget shop/g1");
    for (let i = 0; i < 3; i++) await clock.advance(200);
    await set;
    expect(cluster.callsOf("apply").at(-1)).toBe("Gadget shop/g1");
    expect(reports.at(-1)!.objects.map((o) => [o.kind, o.state, o.healthy])).toEqual([
      ["Gadget", "Applied", true],
      ["Namespace", "Applied", true],
      ["CustomResourceDefinition", "Applied", true],
    ]);
  });

  it("applies nothing of a generation with a kind the cluster does not serve, and says which object", async () => {
    const { applier, cluster, clock, reports } = await setup();
    await applier.set(work(1, [namespace, configMap]));
    const widget = {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "w", namespace: "shop" },
    };
    await applier.set(work(2, [namespace, configMap, widget]));
    await clock.advance(1000);
    expect(reports.at(-1)!.objects.map((o) => [o.kind, o.state, o.message])).toEqual([
      ["Namespace", "Failed", "not applied, because Widget w is of a kind this cluster does not serve"],
      ["ConfigMap", "Failed", "not applied, because Widget w is of a kind this cluster does not serve"],
      [
        "Widget",
        "Failed",
        'no matches for kind "Widget" in version "example.com/v1": the cluster does not serve it',
      ],
    ]);
    expect(cluster.callsOf("apply")).toEqual(["Namespace shop", "ConfigMap shop/settings"]);
    expect(cluster.get(configMapRef)?.metadata.annotations?.[generationAnnotation]).toBe("1");
  });

  it("given back while its Namespace is still being deleted, applies it again once the Namespace is gone", async () => {
    const s = await setup();
    const { applier, cluster, clock, reports } = s;
    cluster.namespacesLinger = true;
    await applier.set(work(1, [namespace, configMap]));
    await applier.remove(application);
    await applier.set(work(2, [namespace, configMap]));
    await clock.advance(1000);
    expect(reports.at(-1)!.objects[0]).toMatchObject({ kind: "Namespace", state: "Failed", healthy: false });
    expect(reports.at(-1)!.objects[0]!.message).toContain("being deleted");
    cluster.finishDeletions();
    await clock.advance(pollMs);
    await s.applied(3);
    expect(reports.at(-1)!.objects.map((o) => [o.kind, o.state])).toEqual([
      ["Namespace", "Applied"],
      ["ConfigMap", "Applied"],
    ]);
    // The agent deleted it itself: putting it back is not drift.
    expect(reports.flatMap((r) => r.drift)).toEqual([]);
  });

  it("stops with nothing left waiting: no timer, no reconcile in flight, every caller answered", async () => {
    const { applier, cluster, clock } = await setup();
    // A Deployment not healthy yet (a read-back due), a report held back, and a CRD wait in flight.
    await applier.set(work(1, [namespace, deployment]));
    await applier.set(work(2, [namespace, deployment]));
    cluster.crdEstablishedAfterReads = Number.POSITIVE_INFINITY;
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "gadgets.example.com" },
      spec: { group: "example.com", names: { kind: "Gadget" }, versions: [{ name: "v1" }] },
    };
    const waiting = applier.set(work(1, [crd], "gadgets"));
    await vi.waitFor(() =>
      expect(cluster.callsOf("read")).toContain("CustomResourceDefinition gadgets.example.com"),
    );
    expect(clock.pendingTimers).toBeGreaterThan(0);
    await applier.stop();
    await waiting;
    expect(clock.pendingTimers).toBe(0);
    // Stopped: a set is answered at once and applies nothing.
    const applies = applier.applies;
    await applier.set(work(3, [namespace, deployment]));
    expect(applier.applies).toBe(applies);
  });

  it("refuses a duration that is not above 0, naming the option", async () => {
    await expect(
      startApplier({
        api: new InMemoryCluster(),
        cluster: "c",
        dir: "/nonexistent",
        resyncSeconds: 0,
        report: () => {},
        log: () => {},
      }),
    ).rejects.toThrow("resyncSeconds: must be a number of seconds above 0, got 0");
  });
});
