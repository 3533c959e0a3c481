/**
 * The hub's store of service exports (src/hub/services/service-export-summaries.ts) on both drivers: a Location's
 * rows replaced as a whole, other Locations untouched, filters, the page assembly, and the audit of a scope refusal
 * once per transition — also when two replicas store summaries of one Location at the same moment.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listAudit } from "../../src/hub/audit/audit-log.ts";
import {
  type ExportSummary,
  listServiceExports,
  ServiceExportSummaries,
  storeLocationExports,
} from "../../src/hub/services/service-export-summaries.ts";
import { migrate } from "../../src/store/migrations.ts";
import type { Sql } from "../../src/store/sql.ts";
import { storeDrivers } from "../support/store-drivers.ts";

const drivers = storeDrivers("svcexports");

function exported(cluster: string, name: string, scope?: "global"): ExportSummary {
  return {
    cluster,
    namespace: "shop",
    name,
    region: "north",
    type: "ClusterSetIP",
    ports: [{ name: "http", protocol: "TCP", port: 80 }],
    endpoints: { ready: 1, total: 2 },
    valid: scope
      ? { status: "False", reason: "ExportScopeBeyondLocation", message: `export-scope "${scope}"` }
      : { status: "True", reason: "Valid", message: "ok" },
    conflict: scope
      ? { status: "Unknown", reason: "NotMerged", message: "not merged" }
      : { status: "False", reason: "NoConflicts", message: "all exports agree" },
    exportedSince: "2026-12-03T09:00:00Z",
  };
}

describe.each(drivers)("service exports in the store on %s", (_driver, open) => {
  let sql: Sql;
  let n = 0;
  const store = (location: string, exports: ExportSummary[]) =>
    storeLocationExports(sql, { location, summary: `s:${++n}`, exports, exportsOmitted: 0, at: new Date() });
  const audits = async () =>
    (await listAudit(sql, { kind: "ServiceExport" })).items.map((a) => `${a.actor} ${a.name}`);
  const names = async (filter = {}) =>
    (await listServiceExports(sql, filter)).map((e) => `${e.location}/${e.cluster}/${e.name}`);

  beforeEach(async () => {
    sql = await open();
    await migrate(sql);
  });
  afterEach(async () => {
    await sql.close();
  });

  it("replaces one Location's rows as a whole and audits a scope refusal once per transition", async () => {
    await store("frankfurt", [exported("fra-a", "cart"), exported("fra-a", "wide", "global")]);
    await store("singapore", [exported("sin-a", "cart")]);
    expect(await names()).toEqual(["frankfurt/fra-a/cart", "frankfurt/fra-a/wide", "singapore/sin-a/cart"]);
    expect(await audits()).toEqual(["relay:frankfurt fra-a/shop/wide"]);
    // The same refusal in three more summaries: no new entry.
    for (let i = 0; i < 3; i++)
      await store("frankfurt", [exported("fra-a", "cart"), exported("fra-a", "wide", "global")]);
    expect(await audits()).toHaveLength(1);
    // Unexported: gone from the rows, Singapore's untouched; refused again later: a new transition, audited.
    await store("frankfurt", [exported("fra-b", "cart")]);
    expect(await names()).toEqual(["frankfurt/fra-b/cart", "singapore/sin-a/cart"]);
    await store("frankfurt", [exported("fra-b", "cart"), exported("fra-a", "wide", "global")]);
    expect(await audits()).toHaveLength(2);
    expect(await names({ location: "frankfurt", cluster: "fra-a" })).toEqual(["frankfurt/fra-a/wide"]);
    expect(await names({ namespace: "other" })).toEqual([]);
    const [row] = await listServiceExports(sql, { cluster: "sin-a" });
    expect(row).toMatchObject({
      location: "singapore",
      endpoints: { ready: 1, total: 2 },
      valid: { status: "True" },
    });
  });

  it("audits once when two replicas store summaries of one Location at the same time", async () => {
    const refused = [exported("fra-a", "wide", "global")];
    await Promise.all([
      store("frankfurt", refused),
      store("frankfurt", refused),
      store("frankfurt", refused),
    ]);
    expect(await audits()).toHaveLength(1);
  });

  it("stores a summary once all its pages are in; a newer summary drops an unfinished one", async () => {
    const summaries = new ServiceExportSummaries({
      sql,
      clustersOf: async () => new Set(["fra-a", "fra-b"]),
      log: () => {},
    });
    const page = (summary: string, index: number, pages: number, exports: ExportSummary[]) =>
      summaries.receive({ location: "frankfurt", summary, page: index, pages, exports, exportsOmitted: 0 });
    await page("r:1", 0, 2, [exported("fra-a", "cart")]);
    expect(await names()).toEqual([]);
    // r:2 starts before r:1 is finished: r:1's last page then starts nothing on its own.
    await page("r:2", 0, 2, [exported("fra-b", "cart")]);
    await page("r:1", 1, 2, [exported("fra-a", "late")]);
    expect(await names()).toEqual([]);
    await page("r:3", 1, 2, [exported("fra-b", "two")]);
    await page("r:3", 0, 2, [exported("fra-a", "one"), exported("sin-a", "stray")]);
    // Pages in any order; a cluster not in the Location is not kept.
    expect(await names()).toEqual(["frankfurt/fra-a/one", "frankfurt/fra-b/two"]);
  });
});
