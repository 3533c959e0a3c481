/**
 * `GET /unitfleet/v1alpha1/fleet-snapshot` (hub in this process, embedded store): the registry's fleet with the
 * inventory items in the store, whichever replica wrote them; scoped tokens see their businesses' clusters.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import type { InventoryItem } from "../../src/core/inventory/inventory.ts";
import { type FleetSnapshot, readFleet } from "../../src/core/planning/fleet-snapshot.ts";
import { UserError } from "../../src/errors/user-error.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { inventoryText, saveInventory } from "../../src/hub/tunnel/cluster-inventories.ts";

const path = "/unitfleet/v1alpha1/fleet-snapshot";
let dir: string;
let hub: RunningHub;
let admin: HubClient;
let caCert: string;

const document = (kind: string, name: string, spec: Record<string, unknown>) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

const items = (nodes: number, workload: { name: string; replicas: number }) =>
  new Map<string, InventoryItem>([
    ["cluster", { kubernetesVersion: "v1.36.3" }],
    ...Array.from({ length: nodes }, (_, i): [string, InventoryItem] => [
      `node/n${i}`,
      {
        name: `n${i}`,
        zone: `fra-north-${(i % 2) + 1}`,
        ready: true,
        capacity: { cpu: "16", memory: "64Gi", pods: "110" },
        allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
        kubeletVersion: "v1.36.3",
        kernelVersion: "6.12",
        containerRuntimeVersion: "containerd://2.1.4",
        labels: { "node.kubernetes.io/instance-type": "m6.4xlarge" },
      },
    ]),
    [
      `workload/shop/Deployment/${workload.name}`,
      {
        namespace: "shop",
        kind: "Deployment",
        name: workload.name,
        replicas: workload.replicas,
        podRequests: { cpu: "2", memory: "4Gi" },
        pods: workload.replicas,
        podAntiAffinity: { topologyKey: "kubernetes.io/hostname" },
      },
    ],
  ]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-snapshot-api-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {} });
  caCert = await readFile(hub.caFile, "utf8");
  admin = new HubClient({
    server: hub.url,
    token: (await readFile(hub.adminTokenFile, "utf8")).trim(),
    caCert,
  });
  await hub.registry.applyAll(
    [
      document("Location", "frankfurt", {}),
      document("Region", "fra-north", { location: "frankfurt", zones: ["fra-north-1", "fra-north-2"] }),
      document("Cluster", "fra-shop-prod", {
        location: "frankfurt",
        region: "fra-north",
        environment: "prod",
        business: "shop",
      }),
      document("Cluster", "fra-payments-prod", {
        location: "frankfurt",
        region: "fra-north",
        environment: "prod",
        business: "payments",
      }),
      document("Cluster", "fra-search-dev", {
        location: "frankfurt",
        environment: "dev",
        business: "search",
      }),
    ],
    systemCaller,
  );
  // As replicas holding the clusters' sessions write them; this replica holds none.
  await saveInventory(
    hub.sql,
    "fra-shop-prod",
    3,
    inventoryText(items(3, { name: "storefront", replicas: 6 })),
  );
  await saveInventory(
    hub.sql,
    "fra-payments-prod",
    1,
    inventoryText(items(2, { name: "ledger", replicas: 2 })),
  );
}, 60_000);

afterAll(async () => {
  admin?.close();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the fleet snapshot API", () => {
  it("answers the registry's fleet with the stored inventories, leaving out clusters that never reported", async () => {
    const snapshot = await admin.send<FleetSnapshot>("GET", path);
    expect(snapshot.clusters.map((c) => [c.name, c.nodes.length, c.workloads.map((w) => w.name)])).toEqual([
      ["fra-payments-prod", 2, ["ledger"]],
      ["fra-shop-prod", 3, ["storefront"]],
    ]);
    expect(snapshot.locations).toEqual([
      { name: "frankfurt", regions: [{ name: "fra-north", zones: ["fra-north-1", "fra-north-2"] }] },
    ]);
    expect(Date.parse(snapshot.takenAt ?? "")).toBeGreaterThan(Date.now() - 60_000);
    const read = readFleet(snapshot);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    expect(read.value.clusters[1]!.workloads[0]).toMatchObject({ replicas: 6, antiAffinity: "hostname" });
  });

  it("gives a token scoped to a business its clusters only", async () => {
    const { token } = await admin.send<{ token: string }>("POST", "/unitfleet/v1alpha1/api-tokens", {
      name: "shop-viewer",
      role: "viewer",
      businesses: ["shop"],
    });
    const scoped = new HubClient({ server: hub.url, token, caCert });
    try {
      const snapshot = await scoped.send<FleetSnapshot>("GET", path);
      expect(snapshot.clusters.map((c) => c.name)).toEqual(["fra-shop-prod"]);
    } finally {
      scoped.close();
    }
  });

  it("refuses a caller without a token, and other methods", async () => {
    const anonymous = new HubClient({ server: hub.url, token: "none", caCert });
    try {
      const refused = await anonymous.send("GET", path).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UserError);
      expect((refused as UserError).code).toBe("Unauthorized");
    } finally {
      anonymous.close();
    }
    const posted = await admin.send("POST", path, {}).catch((e: unknown) => e);
    expect((posted as UserError).message).toBe("method POST is not allowed here");
  });
});
