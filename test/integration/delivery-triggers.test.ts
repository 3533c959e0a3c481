/**
 * Which writes reconcile which Applications (issue 12, finding 8; issue 13: one change, one Application), in a
 * real hub (PGlite): writes that cannot change what delivery decides (Locations here) reconcile nothing; a
 * change to one Application reconciles that one only; a Placement change, the Applications that use it; a
 * Cluster change, those whose placement selects it — counted per Application.
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

const doc = (kind: string, name: string, spec: object) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

const frankfurtOnce = { placement: { locations: ["frankfurt"], replicas: { mode: "Duplicated", count: 1 } } };

const configApp = (name: string, value: string, placement: object = frankfurtOnce) =>
  doc("Application", name, {
    manifests: [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace: "default" },
        data: { value },
      },
    ],
    ...placement,
  });

async function writeLocations(count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++)
    await hub.registry.applyAll([doc("Location", `${prefix}-${i}`, {})], systemCaller);
}

async function until(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-delivery-triggers-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {} });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-a", { location: "frankfurt", environment: "prod", business: "shop" }),
    ],
    systemCaller,
  );
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

const observed = async (name: string) => {
  const app = (await hub.registry.get(kinds.Application, name, systemCaller)) as unknown as Application;
  return app.status?.observedGeneration === app.metadata.generation;
};
const reconciles = (name: string) => hub.delivery.reconcilesOfApplication(name);
/** Lets the controller finish what it was doing (its queue empties within a few milliseconds here). */
const settle = () => new Promise((r) => setTimeout(r, 1500));

describe("writes that do not concern Applications", () => {
  it("reconcile nothing while there is no Application", async () => {
    await settle();
    const before = hub.delivery.counters.reconciles;
    await writeLocations(150, "empty");
    await settle();
    expect(hub.delivery.counters.reconciles - before).toBe(0);
  }, 60_000);

  it("reconcile nothing with Applications either, and an Application changed later is still delivered", async () => {
    await hub.registry.applyAll([configApp("settings", "one")], systemCaller);
    await until("the Application's status", () => observed("settings"));
    await settle();
    const before = hub.delivery.counters.reconciles;
    await writeLocations(150, "busy");
    await settle();
    expect(hub.delivery.counters.reconciles - before).toBe(0);

    await hub.registry.applyAll([configApp("settings", "two")], systemCaller);
    await until("the changed Application's status", () => observed("settings"));
  }, 60_000);
});

describe("one change, the Applications it concerns", () => {
  it("reconciles a changed Application, and no other", async () => {
    await hub.registry.applyAll([configApp("alpha", "1"), configApp("beta", "1")], systemCaller);
    await until("both statuses", async () => (await observed("alpha")) && (await observed("beta")));
    await settle();
    const [alpha, beta] = [reconciles("alpha"), reconciles("beta")];
    expect(alpha).toBeGreaterThan(0);
    await hub.registry.applyAll([configApp("alpha", "2")], systemCaller);
    await until("alpha's new generation observed", () => observed("alpha"));
    await settle();
    expect(reconciles("alpha") - alpha).toBeGreaterThanOrEqual(1);
    expect(reconciles("alpha") - alpha).toBeLessThanOrEqual(2);
    expect(reconciles("beta") - beta).toBe(0);
  }, 60_000);

  it("reconciles the Applications that use a changed Placement, and those whose placement selects a changed Cluster", async () => {
    const shared = { locations: ["frankfurt"], replicas: { mode: "Duplicated", count: 1 } };
    await hub.registry.applyAll(
      [
        doc("Location", "oslo", {}),
        doc("Placement", "shared", shared),
        configApp("by-ref", "1", { placementRef: { name: "shared" } }),
        configApp("in-oslo", "1", { placement: { ...shared, locations: ["oslo"] } }),
      ],
      systemCaller,
    );
    await until("both statuses", async () => (await observed("by-ref")) && (await observed("in-oslo")));
    await settle();
    let [byRef, inOslo, alpha] = [reconciles("by-ref"), reconciles("in-oslo"), reconciles("alpha")];
    await hub.registry.applyAll(
      [doc("Placement", "shared", { ...shared, replicas: { mode: "Duplicated", count: 2 } })],
      systemCaller,
    );
    await until("by-ref reconciled", async () => reconciles("by-ref") > byRef);
    await settle();
    expect([reconciles("in-oslo") - inOslo, reconciles("alpha") - alpha]).toEqual([0, 0]);

    // A new cluster in Oslo concerns only the Application placed in Oslo.
    [byRef, inOslo, alpha] = [reconciles("by-ref"), reconciles("in-oslo"), reconciles("alpha")];
    await hub.registry.applyAll(
      [doc("Cluster", "osl-a", { location: "oslo", environment: "prod", business: "shop" })],
      systemCaller,
    );
    await until("in-oslo reconciled", async () => reconciles("in-oslo") > inOslo);
    await settle();
    expect([reconciles("by-ref") - byRef, reconciles("alpha") - alpha]).toEqual([0, 0]);
  }, 60_000);

  it("reconciles the Applications an Override names, and all of them for one that names none", async () => {
    const rule = { clusters: { clusterNames: ["nowhere"] }, imageRegistry: "registry.example" };
    await settle();
    let [alpha, beta, byRef] = [reconciles("alpha"), reconciles("beta"), reconciles("by-ref")];
    await hub.registry.applyAll(
      [doc("Override", "for-alpha", { applications: ["alpha"], rules: [rule] })],
      systemCaller,
    );
    await until("alpha reconciled", async () => reconciles("alpha") > alpha);
    await settle();
    expect([reconciles("beta") - beta, reconciles("by-ref") - byRef]).toEqual([0, 0]);

    [alpha, beta, byRef] = [reconciles("alpha"), reconciles("beta"), reconciles("by-ref")];
    await hub.registry.applyAll([doc("Override", "for-all", { rules: [rule] })], systemCaller);
    await until(
      "every Application reconciled",
      async () => reconciles("alpha") > alpha && reconciles("beta") > beta && reconciles("by-ref") > byRef,
    );
  }, 60_000);
});
