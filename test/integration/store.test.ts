/**
 * The store test suite, run on both drivers: PGlite (embedded) and a real PostgreSQL server.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InventoryItem } from "../../src/core/inventory/inventory.ts";
import { inventoryText, loadInventories, saveInventory } from "../../src/hub/tunnel/cluster-inventories.ts";
import { migrate } from "../../src/store/migrations.ts";
import { openPglite } from "../../src/store/pglite-sql.ts";
import { openPostgres } from "../../src/store/postgres-sql.ts";
import { ResourceStore, type StoredObject, WatchExpiredError } from "../../src/store/resource-store.ts";
import type { Sql } from "../../src/store/sql.ts";
import { type PostgresServer, startPostgres } from "../support/postgres-server.ts";

const cluster = (name: string, labels: Record<string, string> = {}): StoredObject => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Cluster",
  metadata: { name, labels },
  spec: { business: labels.business ?? "shop" },
});

let server: PostgresServer;
// PGlite takes seconds to start: one instance serves the whole suite, emptied before each test.
let embedded: Sql;
beforeAll(async () => {
  [server, embedded] = await Promise.all([startPostgres(), openPglite(undefined)]);
}, 120_000);
afterAll(async () => {
  await Promise.all([server?.stop(), embedded?.close()]);
});

let databases = 0;
const drivers: Array<[string, () => Promise<Sql>]> = [
  [
    "PGlite",
    async () => {
      await embedded.query("drop schema public cascade");
      await embedded.query("create schema public");
      return { ...embedded, close: async () => {} };
    },
  ],
  [
    "PostgreSQL",
    async () => {
      // A database of its own for each test, so that tests do not see each other's data.
      const name = `store_${process.pid}_${++databases}`;
      const admin = new pg.Client({ connectionString: server.url });
      await admin.connect();
      await admin.query(`create database ${name}`);
      await admin.end();
      return openPostgres(server.url.replace(/\/postgres$/, `/${name}`));
    },
  ],
];

describe.each(drivers)("the resource store on %s", (_driver, open) => {
  async function fresh(): Promise<{ store: ResourceStore; sql: Sql }> {
    const sql = await open();
    await migrate(sql);
    return { store: new ResourceStore(sql), sql };
  }

  it("migrates once: a second run applies nothing", async () => {
    const sql = await open();
    try {
      expect(await migrate(sql)).toEqual([
        "0001-resources.sql",
        "0002-audit-tokens-leases.sql",
        "0003-joining.sql",
        "0004-heartbeats.sql",
        "0005-commands.sql",
        "0006-works.sql",
        "0007-inventories.sql",
        "0008-resource-events-by-name.sql",
        "0009-usage-ledger.sql",
        "0010-cost-ledger.sql",
        "0011-service-exports.sql",
      ]);
      expect(await migrate(sql)).toEqual([]);
    } finally {
      await sql.close();
    }
  });

  it("stores, reads, lists by label selector and paginates with continue tokens", async () => {
    const { store, sql } = await fresh();
    try {
      await store.write(async (tx) => {
        for (let i = 0; i < 7; i++) {
          const labels = { environment: i % 2 ? "prod" : "dev", business: i < 4 ? "shop" : "ads" };
          await tx.put("Cluster", cluster(`c${i}`, labels), labels);
        }
      });
      expect((await store.get("Cluster", "c3"))?.metadata.labels).toEqual({
        environment: "prod",
        business: "shop",
      });
      expect(await store.get("Cluster", "missing")).toBeUndefined();

      const prod = await store.list("Cluster", {
        requirements: [{ key: "environment", op: "in", values: ["prod"] }],
      });
      expect(prod.items.map((o) => o.metadata.name)).toEqual(["c1", "c3", "c5"]);
      const notShop = await store.list("Cluster", {
        requirements: [{ key: "business", op: "notin", values: ["shop"] }],
      });
      expect(notShop.items.map((o) => o.metadata.name)).toEqual(["c4", "c5", "c6"]);
      const scoped = await store.list("Cluster", { restrictTo: { label: "business", values: ["ads"] } });
      expect(scoped.items).toHaveLength(3);

      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const page = await store.list("Cluster", { limit: 3, ...(token ? { continue: token } : {}) });
        pages.push(page.items.map((o) => o.metadata.name));
        token = page.continue;
      } while (token);
      expect(pages).toEqual([["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6"]]);
    } finally {
      await sql.close();
    }
  });

  it("gives every write a higher resourceVersion and records ADDED, MODIFIED and DELETED events", async () => {
    const { store, sql } = await fresh();
    try {
      const a = await store.write((tx) => tx.put("Cluster", cluster("a"), {}));
      const a2 = await store.write((tx) => tx.put("Cluster", { ...a, spec: { business: "ads" } }, {}));
      const gone = await store.write((tx) => tx.remove("Cluster", "a"));
      expect(BigInt(a2.metadata.resourceVersion as string)).toBeGreaterThan(
        BigInt(a.metadata.resourceVersion as string),
      );
      expect(BigInt(gone!.metadata.resourceVersion as string)).toBeGreaterThan(
        BigInt(a2.metadata.resourceVersion as string),
      );
      const events = await store.eventsSince("0", "Cluster");
      expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([
        ["ADDED", "a"],
        ["MODIFIED", "a"],
        ["DELETED", "a"],
      ]);
      expect(await store.write((tx) => tx.remove("Cluster", "a"))).toBeUndefined();
    } finally {
      await sql.close();
    }
  });

  it("loses no event between a list and the watch that follows it", async () => {
    const { store, sql } = await fresh();
    try {
      await store.write((tx) => tx.put("Cluster", cluster("before"), {}));
      const listed = await store.list("Cluster");
      await store.write((tx) => tx.put("Cluster", cluster("after"), {}));
      const events = await store.eventsSince(listed.resourceVersion, "Cluster");
      expect(listed.items.map((o) => o.metadata.name)).toEqual(["before"]);
      expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([["ADDED", "after"]]);
    } finally {
      await sql.close();
    }
  });

  it("applies all of a transaction or nothing of it", async () => {
    const { store, sql } = await fresh();
    try {
      await expect(
        store.write(async (tx) => {
          await tx.put("Cluster", cluster("first"), {});
          throw new Error("the second document is invalid");
        }),
      ).rejects.toThrow("second document");
      expect(await store.get("Cluster", "first")).toBeUndefined();
      expect(await store.eventsSince("0")).toEqual([]);
    } finally {
      await sql.close();
    }
  });

  it("notifies subscribers of committed writes", async () => {
    const { store, sql } = await fresh();
    try {
      const seen: string[] = [];
      const stop = await store.subscribe((rv) => seen.push(rv));
      const written = await store.write((tx) => tx.put("Cluster", cluster("n"), {}));
      const deadline = Date.now() + 5000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual([written.metadata.resourceVersion]);
      await stop();
    } finally {
      await sql.close();
    }
  });

  it("expires watches from before the compacted history", async () => {
    const { store, sql } = await fresh();
    try {
      for (let i = 0; i < 5; i++) await store.write((tx) => tx.put("Cluster", cluster(`c${i}`), {}));
      expect(await store.compact(2)).toBe(3);
      await expect(store.eventsSince("1")).rejects.toBeInstanceOf(WatchExpiredError);
      const recent = await store.eventsSince("3");
      expect(recent.map((e) => e.object.metadata.name)).toEqual(["c3", "c4"]);
    } finally {
      await sql.close();
    }
  });

  it("keeps each cluster's last inventory items, replaced whole, read for the clusters asked", async () => {
    const { sql } = await fresh();
    try {
      const items = (replicas: number) =>
        new Map<string, InventoryItem>([
          ["cluster", { kubernetesVersion: "v1.36.3" }],
          [
            "workload/shop/Deployment/storefront",
            {
              namespace: "shop",
              kind: "Deployment",
              name: "storefront",
              replicas,
              podRequests: { cpu: "2", memory: "4Gi" },
              pods: replicas,
              topologySpread: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }],
            },
          ],
        ]);
      await saveInventory(sql, "fra-shop-prod", 1, inventoryText(items(12)));
      await saveInventory(
        sql,
        "sgp-shop-dev",
        1,
        inventoryText(new Map([["cluster", { kubernetesVersion: "v1.35.2" }]])),
      );
      await saveInventory(sql, "fra-shop-prod", 2, inventoryText(items(14)));
      const read = await loadInventories(sql, ["fra-shop-prod", "fra-shop-dev"]);
      expect([...read.keys()]).toEqual(["fra-shop-prod"]);
      expect(Object.fromEntries(read.get("fra-shop-prod")!)).toEqual(Object.fromEntries(items(14)));
      expect(await loadInventories(sql, [])).toEqual(new Map());
    } finally {
      await sql.close();
    }
  });
});
