/**
 * Which writes start a delivery pass (issue 12, finding 8), in a real hub (PGlite): writes that cannot change
 * what delivery decides (Locations here) start none — with no Application there is no pass at all, and with
 * Applications only the once-a-second pass runs — while a change to an Application is still delivered.
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

const configApp = (name: string, value: string) =>
  doc("Application", name, {
    manifests: [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace: "default" },
        data: { value },
      },
    ],
    placement: { locations: ["frankfurt"], replicas: { mode: "Duplicated", count: 1 } },
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

describe("writes that do not concern Applications", () => {
  it("start no delivery pass at all while there is no Application", async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const before = hub.delivery.counters.passes;
    await writeLocations(150, "empty");
    await new Promise((r) => setTimeout(r, 1500));
    expect(hub.delivery.counters.passes - before).toBe(0);
  }, 60_000);

  it("with an Application, start no pass beyond the once-a-second one, and the Application is still delivered", async () => {
    await hub.registry.applyAll([configApp("settings", "one")], systemCaller);
    // The controller's word on the Application (its cluster is not Ready: the status says why).
    const observed = async () => {
      const app = (await hub.registry.get(
        kinds.Application,
        "settings",
        systemCaller,
      )) as unknown as Application;
      return app.status?.observedGeneration === app.metadata.generation;
    };
    await until("the Application's status", observed);

    const before = hub.delivery.counters.passes;
    const started = Date.now();
    await writeLocations(150, "busy");
    const seconds = (Date.now() - started) / 1000;
    // One pass a second at most (plus the one under way), not one per write.
    expect(hub.delivery.counters.passes - before).toBeLessThanOrEqual(Math.ceil(seconds) + 2);

    await hub.registry.applyAll([configApp("settings", "two")], systemCaller);
    await until("the changed Application's status", observed);
  }, 60_000);
});
