/**
 * The FOCUS export through a real hub (embedded store, HTTPS): usage hours recorded in the ledger, PriceBooks
 * applied, `GET /unitfleet/v1alpha1/cost/export?format=focus&month=2026-11` and `unitfleet cost export` (issue 14).
 * The CSV is read back with the RFC 4180 parser below, every mandatory FOCUS 1.3 column checked for presence and
 * type, and BilledCost summed per currency against the cost query over the same month, to the micro-unit.
 *
 * Worked by hand (unit prices: cpu per core-hour, memory per GiB-hour, in micro-units):
 *   fra-a (frankfurt, EUR): node n1 of 4 cores and 16 GiB; cpu 0.04 per core-hour until 2026-11-15T00:00Z, then
 *     0.08; memory 0.005. Hours in November: 11-01 00:00 and 11-14 23:00 at 160,000 + 80,000 = 240,000; 11-15
 *     00:00 and 11-30 23:00 at 320,000 + 80,000 = 400,000. Together 1,280,000. Hours 10-31 23:00 and 12-01 00:00
 *     are recorded too, and are not November's.
 *   sin-a (singapore, USD): node m1 of 2 cores and 8 GiB at 0.05 and 0.006: 100,000 + 48,000 = 148,000; web's
 *     10 GiB of `standard` at 0.073 per GiB-month: 1,000; one LoadBalancer at 0.025: 25,000. Together 174,000.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import type { PriceBookLike } from "../../src/core/metering/price-book.ts";
import type { NodeHour, WorkloadHour } from "../../src/core/metering/usage.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { priceCostLedger } from "../../src/hub/metering/cost-ledger.ts";
import { queryCost } from "../../src/hub/metering/cost-query.ts";
import { recordUsageHours } from "../../src/hub/metering/usage-ledger.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { runCli } from "../support/cli-in-process.ts";

let env: Environment;
let hub: RunningHub;
let token: string;
let ca: string;
const gib = 2 ** 30;

/** FOCUS 1.3's mandatory columns of the Cost and Usage dataset (ProviderName and PublisherName deprecated). */
const mandatory = {
  BilledCost: "Decimal",
  BillingAccountId: "String",
  BillingAccountName: "String",
  BillingCurrency: "Currency",
  BillingPeriodEnd: "DateTime",
  BillingPeriodStart: "DateTime",
  ChargeCategory: "ChargeCategory",
  ChargeClass: "ChargeClass",
  ChargeDescription: "String",
  ChargePeriodEnd: "DateTime",
  ChargePeriodStart: "DateTime",
  ContractedCost: "Decimal",
  EffectiveCost: "Decimal",
  HostProviderName: "String",
  InvoiceIssuerName: "String",
  ListCost: "Decimal",
  PricingQuantity: "Decimal",
  PricingUnit: "String",
  ProviderName: "String",
  PublisherName: "String",
  ServiceCategory: "ServiceCategory",
  ServiceName: "String",
  ServiceProviderName: "String",
} as const;

/** The split cost allocation columns of FOCUS 1.3 and our own, which the brief of issue 14 names. */
const allocationColumns = [
  "AllocatedMethodId",
  "AllocatedMethodDetails",
  "AllocatedResourceId",
  "AllocatedResourceName",
  "AllocatedTags",
];
const ours = ["x_Location", "x_Region", "x_Cluster", "x_Namespace", "x_Workload", "x_Payer"];

/** A value of each FOCUS type, as FOCUS's attributes describe them (NumericFormat, DateTimeFormat, ISO 4217…). */
const valid: Record<string, (value: string) => boolean> = {
  Decimal: (v) => /^-?(0|[1-9]\d*)(\.\d{1,6})?$/.test(v),
  DateTime: (v) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(v) &&
    new Date(v).toISOString() === `${v.slice(0, 19)}.000Z`,
  Currency: (v) => ["EUR", "USD"].includes(v),
  ChargeCategory: (v) => ["Usage", "Purchase", "Tax", "Credit", "Adjustment"].includes(v),
  ChargeClass: (v) => v === "" || v === "Correction",
  ServiceCategory: (v) => v === "Compute",
  String: (v) => v.length > 0,
};

/** Reads CSV as RFC 4180 writes it: CRLF records, fields quoted when they hold commas, quotes or line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i += 1;
      } else {
        field += c;
        i += 1;
      }
    } else if (c === '"') {
      if (field !== "") throw new Error(`a quote inside an unquoted field at ${i}`);
      quoted = true;
      i += 1;
    } else if (c === ",") {
      record.push(field);
      field = "";
      i += 1;
    } else if (c === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 2;
    } else if (c === "\n" || c === "\r") {
      throw new Error(`a bare line break at ${i}: records end with CRLF`);
    } else {
      field += c;
      i += 1;
    }
  }
  if (quoted) throw new Error("an unterminated quoted field");
  if (field !== "" || record.length > 0) throw new Error("the last record does not end with CRLF");
  return records;
}

/** The CSV as objects by header, checking every record has as many fields as the header. */
function readFocus(text: string): Array<Record<string, string>> {
  const [header, ...records] = parseCsv(text);
  return records.map((r, n) => {
    if (r.length !== header!.length)
      throw new Error(`record ${n + 1} has ${r.length} fields of ${header!.length}`);
    return Object.fromEntries(header!.map((name, i) => [name, r[i]!]));
  });
}

/** An exact decimal with up to six places as micro-units. */
const micros = (decimal: string) => {
  const [whole, fraction = ""] = decimal.replace("-", "").split(".");
  const value = BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, "0"));
  return decimal.startsWith("-") ? -value : value;
};

const doc = (kind: string, name: string, spec: object) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

const node = (cluster: string, hour: string, name: string, cores: number, gibs: number): NodeHour => ({
  cluster,
  hour,
  node: name,
  samples: 60,
  allocatable: { cpu: cores * 1000 * 60, memory: gibs * gib * 60, gpu: 0 },
});

const minutes = (request: number) => ({ request, usage: request / 2, allocated: request });
const workload = (
  cluster: string,
  hour: string,
  namespace: string,
  name: string,
  cores: number,
  gibs: number,
  extra: Partial<WorkloadHour> = {},
): WorkloadHour => ({
  cluster,
  hour,
  namespace,
  workload: `Deployment/${name}`,
  labels: {},
  samples: 60,
  cpu: minutes(cores * 1000 * 60),
  memory: minutes(gibs * gib * 60),
  gpu: minutes(0),
  storage: {},
  loadBalancers: 0,
  ...extra,
});

/** Runs the CLI in this process (test/support/cli-in-process.ts). */
const unitfleet = (args: string[]) => runCli(args, env);

/** One GET to the hub over HTTPS with the admin token. */
function get(path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, hub.url),
      { method: "GET", ca, headers: { authorization: `Bearer ${token}`, accept: "text/csv" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const books = async () => (await hub.store.list("PriceBook")).items as unknown as PriceBookLike[];
const exportPath = "/unitfleet/v1alpha1/cost/export?format=focus&month=2026-11";

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), "unitfleet-metering-focus-"));
  env = { ...readEnvironment(), home };
  // The cost ledger is priced below at fixed times, so that these hours stay within its retention whenever the
  // test runs and their rows are written when a hub would have written them; the hub's own pass is kept idle.
  hub = await startHub({
    dir: join(home, "hub"),
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    costPricingEveryMs: 86_400_000,
  });
  token = (await readFile(hub.adminTokenFile, "utf8")).trim();
  ca = await readFile(hub.caFile, "utf8");
  const units = (cpu: string, memory: string) => ({
    cpuPerCoreHour: cpu,
    memoryPerGiBHour: memory,
    gpuPerDeviceHour: "1",
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Location", "singapore", {}),
      doc("Region", "sin-east", { location: "singapore", zones: ["sin-east-1"] }),
      doc("Cluster", "fra-a", { location: "frankfurt", environment: "prod", business: "shop" }),
      doc("Cluster", "sin-a", {
        location: "singapore",
        region: "sin-east",
        environment: "staging",
        business: "ads",
      }),
      doc("PriceBook", "frankfurt", {
        location: "frankfurt",
        currency: "EUR",
        prices: [
          { from: "2026-10-01", units: units("0.04", "0.005") },
          { from: "2026-11-15T00:00:00Z", units: units("0.08", "0.005") },
        ],
      }),
      doc("PriceBook", "singapore", {
        location: "singapore",
        currency: "USD",
        prices: [
          {
            from: "2026-10-01",
            units: units("0.05", "0.006"),
            storage: [{ storageClass: "standard", perGiBMonth: "0.073" }],
            loadBalancerPerHour: "0.025",
          },
        ],
      }),
    ],
    systemCaller,
  );
  const fra = { location: "frankfurt", business: "shop", environment: "prod" };
  for (const hour of [
    "2026-10-31T23:00:00Z",
    "2026-11-01T00:00:00Z",
    "2026-11-14T23:00:00Z",
    "2026-11-15T00:00:00Z",
    "2026-11-30T23:00:00Z",
    "2026-12-01T00:00:00Z",
  ])
    await recordUsageHours(hub.sql, fra, {
      cluster: "fra-a",
      source: "kubelet",
      nodes: [node("fra-a", hour, "n1", 4, 16)],
      workloads: [
        workload("fra-a", hour, "shop", "web", 1, 4),
        workload("fra-a", hour, "search", "indexer", 2, 4, { labels: { business: "search" } }),
        workload("fra-a", hour, "kube-system", "coredns", 0.2, 0.5),
      ],
    });
  const hour = "2026-11-10T05:00:00Z";
  await recordUsageHours(
    hub.sql,
    { location: "singapore", region: "sin-east", business: "ads", environment: "staging" },
    {
      cluster: "sin-a",
      source: "kubelet",
      nodes: [node("sin-a", hour, "m1", 2, 8)],
      workloads: [
        workload("sin-a", hour, "ads", "web", 1, 2, {
          labels: { team: "bidding, east" },
          storage: { standard: 10 * gib * 60 },
          loadBalancers: 60,
        }),
      ],
    },
  );
  // Priced as the hub would have, once each hour was reported: every row written before its month closed.
  await priceCostLedger(hub.sql, await books(), { now: new Date("2026-11-01T01:00:00Z"), retentionDays: 35 });
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(env.home, { recursive: true, force: true });
});

describe("the FOCUS export of a month", () => {
  it("answers text/csv with every mandatory column, each value of its type, our columns last", async () => {
    const answer = await get(exportPath);
    expect(answer.status).toBe(200);
    expect(answer.type).toMatch(/^text\/csv/);
    const rows = readFocus(answer.body);
    const header = parseCsv(answer.body)[0]!;
    for (const name of [...Object.keys(mandatory), ...allocationColumns, ...ours])
      expect(header).toContain(name);
    const firstOurs = header.findIndex((h) => h.startsWith("x_"));
    expect(header.slice(firstOurs).every((h) => h.startsWith("x_"))).toBe(true);
    // fra-a: 4 November hours × (3 workloads + idle cpu + idle memory); sin-a: web, idle cpu, idle memory.
    expect(rows).toHaveLength(4 * 5 + 3);
    for (const [n, row] of rows.entries())
      for (const [name, type] of Object.entries(mandatory))
        expect(
          valid[type]!(row[name]!),
          `row ${n + 1} ${name} = ${JSON.stringify(row[name])} (${type})`,
        ).toBe(true);
    for (const row of rows) {
      expect(row.ChargeCategory).toBe("Usage");
      expect(row.BillingPeriodStart).toBe("2026-11-01T00:00:00Z");
      expect(row.BillingPeriodEnd).toBe("2026-12-01T00:00:00Z");
      expect(
        row.ChargePeriodStart! >= "2026-11-01T00:00:00Z" && row.ChargePeriodEnd! <= "2026-12-01T00:00:00Z",
      ).toBe(true);
      expect(Date.parse(row.ChargePeriodEnd!) - Date.parse(row.ChargePeriodStart!)).toBe(3_600_000);
      for (const json of ["Tags", "AllocatedMethodDetails"])
        expect(() => JSON.parse(row[json]!)).not.toThrow();
      expect(row.AllocatedMethodId).toBe("unitfleet-v1-idle-separate-shared-weighted");
      if (row.x_Namespace === "__idle__") expect(row.AllocatedResourceId).toBe("");
      else expect(JSON.parse(row.AllocatedTags!)["unitfleet.io/namespace"]).toBe(row.x_Namespace);
    }
  });

  it("sums BilledCost per currency to the cost API's total for the same window, exactly", async () => {
    const rows = readFocus((await get(exportPath)).body);
    const billed: Record<string, bigint> = {};
    for (const row of rows)
      billed[row.BillingCurrency!] = (billed[row.BillingCurrency!] ?? 0n) + micros(row.BilledCost!);
    const report = await queryCost(
      hub.sql,
      { window: "2026-11-01/2026-12-01", aggregate: [] },
      new Date("2027-01-01T00:00:00Z"),
    );
    const api = Object.fromEntries(report.groups.map((g) => [g.currency, BigInt(g.cost.total)]));
    expect(billed).toEqual(api);
    // And both are the hand computation of the header.
    expect(billed).toEqual({ EUR: 1_280_000n, USD: 174_000n });
    // The cost query's cluster filter (describe cluster) keeps to the clusters named.
    const sin = await queryCost(
      hub.sql,
      { window: "2026-11-01/2026-12-01", aggregate: ["cluster"], clusters: ["sin-a"] },
      new Date("2027-01-01T00:00:00Z"),
    );
    expect(sin.groups.map((g) => [g.keys.cluster, g.currency, g.cost.total])).toEqual([
      ["sin-a", "USD", 174_000],
    ]);
  });

  it("prices each hour at the price that held then, and divides each cluster-hour's PricingQuantity into one hour", async () => {
    const rows = readFocus((await get(exportPath)).body);
    const hourTotal = (start: string) =>
      rows
        .filter((r) => r.x_Cluster === "fra-a" && r.ChargePeriodStart === start)
        .reduce((sum, r) => sum + micros(r.BilledCost!), 0n);
    expect(hourTotal("2026-11-14T23:00:00Z")).toBe(240_000n);
    expect(hourTotal("2026-11-15T00:00:00Z")).toBe(400_000n);
    const quantities = new Map<string, bigint>();
    for (const r of rows) {
      const key = `${r.x_Cluster} ${r.ChargePeriodStart}`;
      quantities.set(key, (quantities.get(key) ?? 0n) + micros(r.PricingQuantity!));
    }
    expect([...quantities.values()]).toEqual(Array(5).fill(1_000_000n));
  });

  it("keeps a label with a comma whole, storage and LoadBalancers on the workload, region and payer", async () => {
    const rows = readFocus((await get(exportPath)).body);
    const web = rows.find((r) => r.x_Cluster === "sin-a" && r.x_Workload === "Deployment/web")!;
    expect(JSON.parse(web.AllocatedTags!).team).toBe("bidding, east");
    expect(web).toMatchObject({
      BillingCurrency: "USD",
      SubAccountId: "ads",
      RegionId: "sin-east",
      x_Location: "singapore",
      x_Region: "sin-east",
      x_Payer: "team=bidding, east",
    });
    const parts = JSON.parse(web.AllocatedMethodDetails!).Elements.map(
      (e: { x_Resource: string }) => e.x_Resource,
    );
    expect(parts).toEqual(["cpu", "memory", "storage", "loadBalancer"]);
    // cpu 50,000 + memory 12,000 + storage 1,000 + LoadBalancer 25,000.
    expect(web.BilledCost).toBe("0.088");
  });

  it("writes the same file from `unitfleet cost export --file`, and shares idle out when asked", async () => {
    const file = join(env.home, "november.csv");
    const cli = await unitfleet([
      "cost",
      "export",
      "--format",
      "focus",
      "--month",
      "2026-11",
      "--file",
      file,
    ]);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toContain("wrote 23 FOCUS rows for 2026-11");
    expect(await readFile(file, "utf8")).toBe((await get(exportPath)).body);
    const shared = await unitfleet(["cost", "export", "--month", "2026-11", "--idle", "share"]);
    const rows = readFocus(shared.stdout);
    expect(rows.some((r) => r.x_Namespace === "__idle__")).toBe(false);
    expect(rows.reduce((sum, r) => sum + micros(r.BilledCost!), 0n)).toBe(1_280_000n + 174_000n);
    // `unitfleet cost` itself still reads its flags.
    const cost = await unitfleet([
      "cost",
      "--window",
      "2026-11-01/2026-12-01",
      "--by",
      "location",
      "-o",
      "csv",
    ]);
    expect(cost.code).toBe(0);
    expect(cost.stdout).toContain("frankfurt,EUR,");
  });

  it("bills a price corrected after the month closed as Correction rows of the month it is found in, the closed month unchanged", async () => {
    const november = (await get(exportPath)).body;
    // On 10 December the platform team finds that 0.06, not 0.04, held from 14 November (until the 15th's 0.08).
    await hub.registry.applyAll(
      [
        doc("PriceBook", "frankfurt", {
          location: "frankfurt",
          currency: "EUR",
          prices: [
            {
              from: "2026-10-01",
              units: { cpuPerCoreHour: "0.04", memoryPerGiBHour: "0.005", gpuPerDeviceHour: "1" },
            },
            {
              from: "2026-11-14T00:00:00Z",
              units: { cpuPerCoreHour: "0.06", memoryPerGiBHour: "0.005", gpuPerDeviceHour: "1" },
            },
            {
              from: "2026-11-15T00:00:00Z",
              units: { cpuPerCoreHour: "0.08", memoryPerGiBHour: "0.005", gpuPerDeviceHour: "1" },
            },
          ],
        }),
      ],
      systemCaller,
    );
    const found = new Date("2026-12-10T00:00:00Z");
    const outcome = await priceCostLedger(hub.sql, await books(), { now: found, retentionDays: 35 });
    expect(outcome.locationsRepriced).toEqual(["frankfurt"]);
    // November closed on 3 December: its file is what it was, to the byte.
    expect((await get(exportPath)).body).toBe(november);
    // December's file carries the difference for the one hour concerned: 4 cores × 0.02 more = 0.08.
    const december = readFocus((await get(exportPath.replace("2026-11", "2026-12"))).body);
    const corrections = december.filter((r) => r.ChargeClass === "Correction");
    expect(corrections.length).toBeGreaterThan(0);
    for (const row of corrections) {
      expect(row.ChargePeriodStart).toBe("2026-11-14T23:00:00Z");
      expect(row.BillingPeriodStart).toBe("2026-12-01T00:00:00Z");
      expect(row.PricingQuantity).toBe("0");
    }
    expect(corrections.reduce((sum, r) => sum + micros(r.BilledCost!), 0n)).toBe(80_000n);
    expect(
      december
        .filter((r) => r.ChargeClass !== "Correction")
        .every((r) => r.ChargePeriodStart!.startsWith("2026-12")),
    ).toBe(true);
    // The cost as priced now is the closed month plus its corrections.
    const now = await queryCost(hub.sql, { window: "2026-11-01/2026-12-01", aggregate: [] }, found);
    expect(now.groups.find((g) => g.currency === "EUR")?.cost.total).toBe(1_280_000 + 80_000);
    // And the CLI says so.
    const cli = await unitfleet(["cost", "export", "--month", "2026-12"]);
    expect(cli.stderr).toContain(`note: ${corrections.length} Correction rows for hours of earlier months`);
  });

  it("refuses an unknown format and a malformed month, each with its field, over the API and the CLI", async () => {
    const bad = await get("/unitfleet/v1alpha1/cost/export?format=pdf&month=2026-13");
    expect(bad.status).toBe(400);
    const status = JSON.parse(bad.body) as {
      message: string;
      details?: { causes?: Array<{ field: string }> };
    };
    expect(status.message).toContain("the cost export is not valid");
    expect(status.details?.causes?.map((c) => c.field).sort()).toEqual(["format", "month"]);
    const cli = await unitfleet(["cost", "export", "--month", "November"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/month.*YYYY-MM/);
  });
});
