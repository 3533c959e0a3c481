/** The fleet registry's rules, on the embedded store (PGlite). */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { kinds } from "../../src/core/resources/kinds.ts";
import type { Caller } from "../../src/hub/registry/caller.ts";
import { Registry } from "../../src/hub/registry/registry.ts";
import { openPglite } from "../../src/store/pglite-sql.ts";
import { ResourceStore } from "../../src/store/resource-store.ts";
import type { Sql } from "../../src/store/sql.ts";
import { freshSchema } from "../support/fresh-schema.ts";
import { refusal } from "../support/refusal.ts";

const admin: Caller = { name: "admin", role: "admin" };
const viewer: Caller = { name: "reader", role: "viewer" };
const shopOnly: Caller = { name: "shop-team", role: "operator", businesses: ["shop"] };

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind,
  metadata: { name },
  spec,
});
const fleet = [
  doc("Location", "frankfurt", { displayName: "Frankfurt" }),
  doc("Location", "singapore", {}),
  doc("Region", "fra-north", { location: "frankfurt", zones: ["fra-north-1", "fra-north-2"] }),
  doc("Cluster", "fra-shop-prod", {
    location: "frankfurt",
    region: "fra-north",
    environment: "prod",
    business: "shop",
  }),
  doc("Cluster", "sgp-ads-dev", { location: "singapore", environment: "dev", business: "ads" }),
];

let sql: Sql;
let registry: Registry;
let clock = 0;
beforeAll(async () => {
  sql = await openPglite(undefined);
}, 60_000);
afterAll(() => sql.close());
beforeEach(async () => {
  await freshSchema(sql);
  let uid = 0;
  registry = new Registry({
    store: new ResourceStore(sql),
    now: () => new Date(Date.UTC(2026, 10, 25, 12, 0, clock++)),
    newUid: () => `uid-${++uid}`,
  });
  await registry.applyAll(
    fleet.map((body, i) => ({ source: `fleet.yaml[${i}]`, body })),
    admin,
  );
});

async function auditRows() {
  return sql.query<{ actor: string; verb: string; name: string; result: string; reason: string | null }>(
    "select actor, verb, name, result, reason from audit_log order by id",
  );
}

describe("the fleet registry", () => {
  it("applies a multi-document fleet in dependency order and fills server-owned metadata", async () => {
    const cluster = await registry.get(kinds.Cluster, "fra-shop-prod", admin);
    expect(cluster.metadata).toMatchObject({
      name: "fra-shop-prod",
      uid: expect.stringMatching(/^uid-/),
      generation: 1,
      creationTimestamp: expect.stringMatching(/^2026-11-25T12:00:\d\dZ$/),
      labels: { location: "frankfurt", region: "fra-north", environment: "prod", business: "shop" },
    });
    const again = await registry.applyAll([{ source: "again", body: fleet[3] }], admin);
    expect(again.map((r) => r.action)).toEqual(["unchanged"]);
  });

  it("bumps generation on spec changes only, and writes status only through the status subresource", async () => {
    const before = await registry.get(kinds.Cluster, "fra-shop-prod", admin);
    const patched = await registry.patch(
      kinds.Cluster,
      "fra-shop-prod",
      { spec: { zones: ["fra-north-1"] }, status: { kubernetesVersion: "v9" } },
      admin,
    );
    expect(patched.metadata).toMatchObject({ generation: 2 });
    expect(patched.status).toBeUndefined();
    const withStatus = await registry.replaceStatus(
      kinds.Cluster,
      "fra-shop-prod",
      { status: { kubernetesVersion: "v1.36.3" }, spec: { business: "ignored" } },
      admin,
    );
    expect(withStatus.status).toEqual({ kubernetesVersion: "v1.36.3" });
    expect((withStatus.spec as { business: string }).business).toBe("shop");
    expect(withStatus.metadata).toMatchObject({ generation: 2 });
    expect(Number(withStatus.metadata.resourceVersion)).toBeGreaterThan(
      Number(before.metadata.resourceVersion),
    );
  });

  it("merges status fields from two writers without one undoing the other", async () => {
    await registry.mergeStatus(
      kinds.Cluster,
      "fra-shop-prod",
      { kubernetesVersion: "v1.36.3", nodes: { total: 8, ready: 8 } },
      admin,
    );
    await registry.mergeStatus(
      kinds.Cluster,
      "fra-shop-prod",
      { conditions: [{ type: "Ready", status: "True" }] },
      admin,
    );
    await registry.mergeStatus(kinds.Cluster, "fra-shop-prod", { nodes: { total: 8, ready: 7 } }, admin);
    const status = (await registry.get(kinds.Cluster, "fra-shop-prod", admin)).status;
    expect(status).toEqual({
      kubernetesVersion: "v1.36.3",
      nodes: { total: 8, ready: 7 },
      conditions: [{ type: "Ready", status: "True" }],
    });
  });

  it("refuses a viewer token writing, and audits the refusal", async () => {
    const error = await refusal(registry.create(doc("Location", "paris", {}), viewer));
    expect(error.code).toBe("Forbidden");
    expect(error.message).toContain("needs role operator");
    const last = (await auditRows()).at(-1);
    expect(last).toMatchObject({ actor: "reader", verb: "create", name: "paris", result: "refused" });
    await expect(registry.get(kinds.Location, "paris", admin)).rejects.toThrow(/not found/);
  });

  it("keeps a business-scoped token to its own businesses' clusters", async () => {
    const listed = await registry.list(kinds.Cluster, {}, shopOnly);
    expect(listed.items.map((o) => o.metadata.name)).toEqual(["fra-shop-prod"]);
    expect((await refusal(registry.get(kinds.Cluster, "sgp-ads-dev", shopOnly))).code).toBe("Forbidden");
    const write = await refusal(
      registry.create(
        doc("Cluster", "sgp-ads-prod", { location: "singapore", environment: "prod", business: "ads" }),
        shopOnly,
      ),
    );
    expect(write.code).toBe("Forbidden");
    const events = await registry.changesSince(kinds.Cluster, "0", shopOnly);
    expect(new Set(events.map((e) => e.object.metadata.name))).toEqual(new Set(["fra-shop-prod"]));
  });

  it("refuses a stale resourceVersion", async () => {
    const current = await registry.get(kinds.Cluster, "fra-shop-prod", admin);
    await registry.patch(
      kinds.Cluster,
      "fra-shop-prod",
      { metadata: { labels: { team: "checkout" } } },
      admin,
    );
    const stale = { ...current, spec: { ...(current.spec as object), zones: ["fra-north-2"] } };
    const error = await refusal(registry.replace(kinds.Cluster, "fra-shop-prod", stale, admin));
    expect(error.code).toBe("Conflict");
    expect(error.message).toContain("the object has been modified");
  });

  it("refuses a Cluster whose Region is in another Location", async () => {
    const error = await refusal(
      registry.create(
        doc("Cluster", "sgp-shop-prod", {
          location: "singapore",
          region: "fra-north",
          environment: "prod",
          business: "shop",
        }),
        admin,
      ),
    );
    expect(error.code).toBe("InvalidInput");
    expect(error.problems).toEqual([
      { path: "spec.region", message: 'Region "fra-north" belongs to Location "frankfurt", not "singapore"' },
    ]);
  });

  it("applies nothing of a multi-document file with one bad document, and names every problem", async () => {
    const error = await refusal(
      registry.applyAll(
        [
          { source: "new.yaml[0]", body: doc("Location", "paris", {}) },
          {
            source: "new.yaml[1]",
            body: doc("Cluster", "par-web-prod", { location: "paris", environment: "prod", business: "web" }),
          },
          {
            source: "new.yaml[2]",
            body: doc("Cluster", "par-web-dev", {
              location: "paris",
              region: "fra-north",
              environment: "dev",
              business: "web",
            }),
          },
        ],
        admin,
      ),
    );
    expect(error.problems).toEqual([
      {
        path: "new.yaml[2]: spec.region",
        message: 'Region "fra-north" belongs to Location "frankfurt", not "paris"',
      },
    ]);
    await expect(registry.get(kinds.Location, "paris", admin)).rejects.toThrow(/not found/);
    await expect(registry.get(kinds.Cluster, "par-web-prod", admin)).rejects.toThrow(/not found/);
  });

  it("refuses to delete a Location that Regions or Clusters still use", async () => {
    const error = await refusal(registry.delete(kinds.Location, "frankfurt", admin));
    expect(error.code).toBe("Conflict");
    expect(error.message).toContain('region "fra-north"');
    await registry.delete(kinds.Cluster, "sgp-ads-dev", admin);
    await registry.delete(kinds.Location, "singapore", admin);
    const names = (await registry.list(kinds.Location, {}, admin)).items.map((o) => o.metadata.name);
    expect(names).toEqual(["frankfurt"]);
  });

  it("audits every allowed change with before and after", async () => {
    await registry.patch(kinds.Cluster, "sgp-ads-dev", { spec: { environment: "staging" } }, admin);
    const rows = await sql.query<{
      verb: string;
      name: string;
      before: { spec: { environment: string } };
      after: { spec: { environment: string } };
    }>("select verb, name, before, after from audit_log where verb = 'patch'");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.before.spec.environment).toBe("dev");
    expect(rows[0]!.after.spec.environment).toBe("staging");
  });
});

describe("placements' references", () => {
  const manifests = [
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "web" } },
  ];
  const divided = { mode: "Divided", count: 3 };

  it("refuses a placement naming a Location or Region that does not exist, inline or as a Placement", async () => {
    const error = await refusal(
      registry.applyAll(
        [
          {
            source: "web.yaml[0]",
            body: doc("Application", "web", {
              manifests,
              placement: { locations: ["tokyo"], replicas: divided },
            }),
          },
          {
            source: "web.yaml[1]",
            body: doc("Placement", "asia", {
              locations: ["singapore", "osaka"],
              regions: ["sgp-west"],
              replicas: divided,
            }),
          },
        ],
        admin,
      ),
    );
    expect(error.code).toBe("InvalidInput");
    expect(error.problems).toEqual([
      { path: "web.yaml[0]: spec.placement.locations[0]", message: 'Location "tokyo" does not exist' },
      { path: "web.yaml[1]: spec.locations[1]", message: 'Location "osaka" does not exist' },
      { path: "web.yaml[1]: spec.regions[0]", message: 'Region "sgp-west" does not exist' },
    ]);
    await expect(registry.get(kinds.Application, "web", admin)).rejects.toThrow(/not found/);
    const single = await refusal(
      registry.create(doc("Placement", "tokyo-only", { locations: ["tokyo"], replicas: divided }), admin),
    );
    expect(single.problems).toEqual([
      { path: "spec.locations[0]", message: 'Location "tokyo" does not exist' },
    ]);
  });

  it("accepts the Location created in the same apply, whatever the order of the documents", async () => {
    const applied = await registry.applyAll(
      [
        {
          source: "tokyo.yaml[0]",
          body: doc("Application", "web", {
            manifests,
            placement: { locations: ["tokyo"], replicas: divided },
          }),
        },
        {
          source: "tokyo.yaml[1]",
          body: doc("Placement", "tokyo-only", { locations: ["tokyo"], replicas: divided }),
        },
        { source: "tokyo.yaml[2]", body: doc("Location", "tokyo", {}) },
      ],
      admin,
    );
    expect(applied.map((r) => [r.object.kind, r.action])).toEqual([
      ["Location", "created"],
      ["Application", "created"],
      ["Placement", "created"],
    ]);
    // Now named by both, tokyo cannot be deleted until they stop naming it.
    const error = await refusal(registry.delete(kinds.Location, "tokyo", admin));
    expect(error.code).toBe("Conflict");
    expect(error.message).toBe(
      'location "tokyo" is still referred to by placement "tokyo-only", application "web"',
    );
    await registry.delete(kinds.Placement, "tokyo-only", admin);
    await registry.delete(kinds.Application, "web", admin);
    await registry.delete(kinds.Location, "tokyo", admin);
  });
});
