/**
 * The cost ledger on both drivers, PGlite and a real PostgreSQL server (src/hub/metering/cost-ledger.ts): every
 * reported cluster-hour priced once, queries summing daily, hourly and per-payer sums to exactly what pricing the
 * usage rows again gives, records sent again costing nothing, and a late record or a corrected price appended as
 * correction rows without editing a row already written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { payerName } from "../../src/core/metering/allocation.ts";
import type { PriceBookLike } from "../../src/core/metering/price-book.ts";
import type { NodeHour, WorkloadHour } from "../../src/core/metering/usage.ts";
import { priceCostLedger } from "../../src/hub/metering/cost-ledger.ts";
import { type NodeRow, priceUsageRows, type WorkloadRow } from "../../src/hub/metering/cost-pricing.ts";
import { type CostReport, queryCost } from "../../src/hub/metering/cost-query.ts";
import { type ClusterPlacement, recordUsageHours } from "../../src/hub/metering/usage-ledger.ts";
import { parseUsageWindow } from "../../src/hub/metering/usage-window.ts";
import { migrate } from "../../src/store/migrations.ts";
import type { Sql } from "../../src/store/sql.ts";
import { storeDrivers } from "../support/store-drivers.ts";

const drivers = storeDrivers("cost_ledger");

const gib = 2 ** 30;
const now = new Date("2026-11-06T00:00:00Z");
const options = { now, retentionDays: 35 };

const places: Record<string, ClusterPlacement> = {
  "fra-a": { location: "frankfurt", region: "fra-north", business: "shop", environment: "prod" },
  "fra-b": { location: "frankfurt", business: "payments", environment: "staging" },
  "sin-a": { location: "singapore", business: "shop", environment: "prod" },
};

const book = (location: string, currency: string, prices: object[]): PriceBookLike =>
  ({ metadata: { name: location }, spec: { location, currency, prices } }) as unknown as PriceBookLike;
const units = (cpu: string, memory: string) => ({
  cpuPerCoreHour: cpu,
  memoryPerGiBHour: memory,
  gpuPerDeviceHour: "1",
});
const books: PriceBookLike[] = [
  book("frankfurt", "EUR", [
    {
      from: "2026-10-01",
      units: units("0.04", "0.005"),
      storage: [{ storageClass: "standard", perGiBMonth: "0.1" }],
    },
    {
      from: "2026-11-03T12:00:00Z",
      units: units("0.05", "0.006"),
      storage: [{ storageClass: "standard", perGiBMonth: "0.1" }],
    },
  ]),
  book("singapore", "USD", [
    {
      from: "2026-10-01",
      nodes: [{ instanceType: "m6.xlarge", perHour: "0.2" }],
      storage: [{ storageClass: "*", perGiBMonth: "0.08" }],
    },
  ]),
];

/** Every hour of `days` UTC days from `from`. */
function hoursOf(from: string, days: number): string[] {
  const start = Date.parse(from);
  return Array.from({ length: days * 24 }, (_, i) =>
    new Date(start + i * 3_600_000).toISOString().replace(".000Z", "Z"),
  );
}

/** A varied but deterministic fleet-hour: usage swings with the hour, one payer label, one shared namespace. */
function recordsOf(
  cluster: string,
  hour: string,
  i: number,
): { workloads: WorkloadHour[]; nodes: NodeHour[] } {
  const m = (cores: number) => Math.round(cores * 1000 * 60);
  const w = (namespace: string, name: string, request: number, usage: number, labels = {}, extra = {}) => ({
    cluster,
    hour,
    namespace,
    workload: `Deployment/${name}`,
    labels,
    samples: 60,
    cpu: { request: m(request), usage: m(usage), allocated: Math.max(m(request), m(usage)) },
    memory: {
      request: m(request) * 4_000_000,
      usage: m(usage) * 3_000_000,
      allocated: Math.max(m(request) * 4_000_000, m(usage) * 3_000_000),
    },
    gpu: { request: 0, usage: 0, allocated: 0 },
    storage: {},
    loadBalancers: 0,
    ...extra,
  });
  const swing = (i % 7) / 7;
  return {
    nodes: [
      {
        cluster,
        hour,
        node: `${cluster}-n1`,
        instanceType: "m6.xlarge",
        samples: 60,
        allocatable: { cpu: m(4), memory: 16 * gib * 60, gpu: 0 },
      },
      {
        cluster,
        hour,
        node: `${cluster}-n2`,
        instanceType: "m6.xlarge",
        samples: i % 5 === 0 ? 30 : 60,
        allocatable: {
          cpu: m(4) / (i % 5 === 0 ? 2 : 1),
          memory: 16 * gib * (i % 5 === 0 ? 30 : 60),
          gpu: 0,
        },
      },
    ],
    workloads: [
      w("shop", "web", 1, 0.5 + swing, { team: "storefront" }),
      w("shop", "cart", 0.5, 0.2, {}, { storage: { standard: 20 * gib * 60 } }),
      w("search", "indexer", 1.5, 1 + 2 * swing, { business: "search" }),
      w("kube-system", "coredns", 0.2, 0.1),
    ],
  };
}

async function report(sql: Sql, window: string, aggregate: string[], idle: "separate" | "share") {
  return queryCost(sql, { window, aggregate, idle }, now);
}

/** What pricing the usage rows of the window again gives, summed per group in memory: the reference. */
async function expected(
  sql: Sql,
  window: string,
  aggregate: string[],
  idle: "separate" | "share",
): Promise<Record<string, number>> {
  const w = parseUsageWindow(window, now);
  const range = [w.start.toISOString(), w.end.toISOString()];
  const priced = priceUsageRows(
    await sql.query<WorkloadRow>("select * from usage_workload_hours where hour >= $1 and hour < $2", range),
    await sql.query<NodeRow>("select * from usage_node_hours where hour >= $1 and hour < $2", range),
    books,
    idle,
  );
  const sums: Record<string, number> = {};
  for (const h of priced.hours)
    for (const row of h.allocation.rows) {
      const keys = aggregate.map((d) =>
        d === "payer"
          ? row.kind === "idle"
            ? "__idle__"
            : payerName(row.payer)
          : d === "namespace"
            ? row.namespace
            : d === "cluster" || d === "workload"
              ? row[d]
              : d.startsWith("label:")
                ? (row.labels[d.slice(6)] ?? null)
                : ((h.place as unknown as Record<string, string | null>)[d] ?? null),
      );
      if (row.kind === "idle" && row.totalCost === 0) continue;
      const key = [...keys, h.currency].join("/");
      sums[key] = (sums[key] ?? 0) + row.totalCost;
    }
  return sums;
}

const totals = (r: CostReport) =>
  Object.fromEntries(r.groups.map((g) => [[...Object.values(g.keys), g.currency].join("/"), g.cost.total]));

describe.each(drivers)("the cost ledger on %s", (_driver, open) => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await open();
    await migrate(sql);
    // Three days of three clusters, every hour.
    for (const cluster of Object.keys(places))
      for (const [i, hour] of hoursOf("2026-11-02T00:00:00Z", 3).entries()) {
        const { workloads, nodes } = recordsOf(cluster, hour, i);
        await recordUsageHours(sql, places[cluster]!, { cluster, source: "kubelet", workloads, nodes });
      }
  }, 120_000);
  afterAll(async () => {
    await sql?.close();
  });

  it("prices every reported hour once, and a query sums exactly what pricing the usage again gives", async () => {
    const first = await priceCostLedger(sql, books, options);
    expect(first).toMatchObject({
      hoursPriced: 3 * 72,
      tooLate: 0,
      locationsRepriced: ["frankfurt", "singapore"],
    });
    expect(await priceCostLedger(sql, books, options)).toMatchObject({ hoursPriced: 0, rowsWritten: 0 });
    // A window with partial days at both ends (hourly rows) around a whole day (daily sums), and whole days only.
    for (const window of [
      "2026-11-02T05:00:00Z/2026-11-04T17:00:00Z",
      "2026-11-02/2026-11-05",
      "2026-11-03T12:00:00Z/2026-11-03T15:00:00Z",
    ])
      for (const idle of ["separate", "share"] as const)
        for (const aggregate of [
          [],
          ["location"],
          ["business", "environment"],
          ["payer"],
          ["cluster", "payer"],
          ["namespace"],
          ["business", "namespace"],
          ["label:team"],
          ["region", "workload"],
        ]) {
          const got = await report(sql, window, aggregate, idle);
          const applied = got.aggregate;
          expect(totals(got), `${window} by ${aggregate.join(",")} idle ${idle}`).toEqual(
            await expected(sql, window, applied, idle),
          );
        }
    const whole = await report(sql, "2026-11-02/2026-11-05", ["cluster"], "separate");
    expect(whole.hours).toBe(3 * 72);
    expect(whole.pending).toBe(0);
    expect(whole.unpriced).toEqual([]);
  }, 120_000);

  it("costs nothing for records sent again, and appends a late record's difference without editing a row", async () => {
    const hour = "2026-11-03T08:00:00Z";
    const { workloads, nodes } = recordsOf("fra-b", hour, 32);
    const before = await sql.query<Record<string, unknown>>(
      "select * from cost_rows where cluster = 'fra-b' and hour = $1 order by namespace, workload, kind",
      [hour],
    );
    // The whole hour again (a resend after a relay outage): nothing new, nothing to price.
    expect(
      await recordUsageHours(sql, places["fra-b"]!, {
        cluster: "fra-b",
        source: "kubelet",
        workloads,
        nodes,
      }),
    ).toEqual({
      workloads: 0,
      nodes: 0,
    });
    expect((await report(sql, "2026-11-03/2026-11-04", [], "separate")).pending).toBe(0);
    // A workload whose record came late (its agent's message was held back): the hour is priced again.
    const late: WorkloadHour = { ...workloads[0]!, namespace: "batch", workload: "Job/nightly", labels: {} };
    await recordUsageHours(sql, places["fra-b"]!, {
      cluster: "fra-b",
      source: "kubelet",
      workloads: [late],
      nodes: [],
    });
    expect((await report(sql, "2026-11-03/2026-11-04", [], "separate")).pending).toBe(1);
    const again = await priceCostLedger(sql, books, options);
    expect(again.hoursPriced).toBe(1);
    // The new namespace's row, and the idle it took from: two rows, and nothing else changed.
    expect(again.rowsWritten).toBeGreaterThanOrEqual(2);
    const after = await sql.query<Record<string, unknown>>(
      "select * from cost_rows where cluster = 'fra-b' and hour = $1 order by namespace, workload, kind",
      [hour],
    );
    const kept = after.filter((r) => before.some((b) => JSON.stringify(b) === JSON.stringify(r)));
    expect(kept).toHaveLength(before.length);
    expect(after).toHaveLength(before.length + again.rowsWritten);
    for (const idle of ["separate", "share"] as const)
      expect(totals(await report(sql, "2026-11-03/2026-11-04", ["namespace"], idle))).toEqual(
        await expected(sql, "2026-11-03/2026-11-04", ["cluster", "namespace"], idle),
      );
  });

  it("prices a Location's hours again when its PriceBook changes, as correction rows", async () => {
    const rowsBefore = (await sql.query<{ n: number }>("select count(*)::int as n from cost_rows"))[0]!.n;
    const corrected = [
      book("frankfurt", "EUR", [
        {
          from: "2026-10-01",
          units: units("0.04", "0.005"),
          storage: [{ storageClass: "standard", perGiBMonth: "0.1" }],
        },
        // The new price held from midnight, not noon: twelve hours of three days corrected.
        {
          from: "2026-11-03T00:00:00Z",
          units: units("0.05", "0.006"),
          storage: [{ storageClass: "standard", perGiBMonth: "0.1" }],
        },
      ]),
      books[1]!,
    ];
    // Found a day later.
    const since = new Date("2026-11-07T00:00:00Z");
    const outcome = await priceCostLedger(sql, corrected, { ...options, now: since });
    expect(outcome.locationsRepriced).toEqual(["frankfurt"]);
    expect(outcome.hoursPriced).toBe(2 * 72);
    const rowsAfter = (await sql.query<{ n: number }>("select count(*)::int as n from cost_rows"))[0]!.n;
    expect(rowsAfter - rowsBefore).toBe(outcome.rowsWritten);
    // Only the twelve hours whose price changed got rows (in both clusters of Frankfurt): nothing for the others.
    const hoursCorrected = await sql.query<{ hour: Date }>(
      "select distinct hour from cost_rows where written_at >= $1",
      [since],
    );
    expect(hoursCorrected.length).toBe(12);
    const byDay = await report(sql, "2026-11-02/2026-11-05", ["location", "cluster"], "separate");
    const reference = priceUsageRows(
      await sql.query<WorkloadRow>("select * from usage_workload_hours"),
      await sql.query<NodeRow>("select * from usage_node_hours"),
      corrected,
      "separate",
    );
    const perCluster: Record<string, number> = {};
    for (const h of reference.hours)
      for (const row of h.allocation.rows)
        perCluster[`${h.place.location}/${h.place.cluster}/${h.currency}`] =
          (perCluster[`${h.place.location}/${h.place.cluster}/${h.currency}`] ?? 0) + row.totalCost;
    expect(totals(byDay)).toEqual(perCluster);
  });

  it("keeps the daily sums after the hourly rows expire, and leaves out records that come after that", async () => {
    const later = { now: new Date("2026-12-15T00:00:00Z"), retentionDays: 35, rowRetentionDays: 35 };
    const before = await report(sql, "2026-11-02/2026-11-05", ["business"], "separate");
    const outcome = await priceCostLedger(sql, books, later);
    expect(outcome.rowsRemoved).toBeGreaterThan(0);
    expect((await sql.query<{ n: number }>("select count(*)::int as n from cost_rows"))[0]!.n).toBe(0);
    const after = await queryCost(
      sql,
      { window: "2026-11-02/2026-11-05", aggregate: ["business"] },
      later.now,
    );
    expect(totals(after)).toEqual(totals(before));
    // A record of an hour whose others are gone cannot be priced whole: it is left out, and said so.
    const { workloads } = recordsOf("fra-a", "2026-11-02T03:00:00Z", 3);
    await recordUsageHours(sql, places["fra-a"]!, {
      cluster: "fra-a",
      source: "kubelet",
      workloads: [{ ...workloads[0]!, namespace: "late", labels: {} }],
      nodes: [],
    });
    expect((await priceCostLedger(sql, books, later)).tooLate).toBe(1);
    const still = await queryCost(
      sql,
      { window: "2026-11-02/2026-11-05", aggregate: ["business"] },
      later.now,
    );
    expect(totals(still)).toEqual(totals(before));
  });
});
