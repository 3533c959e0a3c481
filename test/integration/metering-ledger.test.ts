/**
 * The metering ledger on both drivers, PGlite and a real PostgreSQL server: metered hours go in once per
 * idempotency key, daily rollups and retention change no sum, and queries group, filter and refuse as documented
 * (src/hub/metering/).
 */
import { afterAll, describe, expect, it } from "vitest";
import type { NodeHour, WorkloadHour } from "../../src/core/metering/usage.ts";
import { UserError } from "../../src/errors/user-error.ts";
import { type ClusterPlacement, recordUsageHours } from "../../src/hub/metering/usage-ledger.ts";
import { queryUsage, type UsageGroup, type UsageQuery } from "../../src/hub/metering/usage-query.ts";
import { rollUpUsage } from "../../src/hub/metering/usage-rollup.ts";
import { migrate } from "../../src/store/migrations.ts";
import type { Sql } from "../../src/store/sql.ts";
import { storeDrivers } from "../support/store-drivers.ts";

const drivers = storeDrivers("ledger");

const frankfurtShop: ClusterPlacement = {
  location: "frankfurt",
  region: "fra-north",
  business: "shop",
  environment: "prod",
};
const frankfurtPayments: ClusterPlacement = {
  location: "frankfurt",
  business: "payments",
  environment: "prod",
};
const singaporeShop: ClusterPlacement = { location: "singapore", business: "shop", environment: "prod" };

/** A workload's hour: cpu in millicore-minutes, memory in byte-minutes (usage below request unless given). */
function hourOf(
  cluster: string,
  hour: string,
  namespace: string,
  workload: string,
  cpu: [request: number, usage: number, allocated?: number],
  labels: Record<string, string> = {},
  more: Partial<WorkloadHour> = {},
): WorkloadHour {
  const [request, usage, allocated = Math.max(request, usage)] = cpu;
  return {
    cluster,
    hour,
    namespace,
    workload,
    labels,
    samples: 60,
    cpu: { request, usage, allocated },
    memory: { request: request * 1_000_000, usage: usage * 1_000_000, allocated: allocated * 1_000_000 },
    gpu: { request: 0, usage: 0, allocated: 0 },
    storage: {},
    loadBalancers: 0,
    ...more,
  };
}

function nodeOf(cluster: string, hour: string, node: string, cpu: number): NodeHour {
  return {
    cluster,
    hour,
    node,
    instanceType: "m6.xlarge",
    samples: 60,
    allocatable: { cpu, memory: cpu * 4_000_000, gpu: 0 },
  };
}

const send = (sql: Sql, placement: ClusterPlacement, workloads: WorkloadHour[], nodes: NodeHour[] = []) =>
  recordUsageHours(sql, placement, {
    cluster: (workloads[0] ?? nodes[0])!.cluster,
    source: "kubelet",
    workloads,
    nodes,
  });

/** A group's figures in plain numbers, for readable expectations. */
const plain = (g: UsageGroup) => ({
  keys: g.keys,
  cpu: [Number(g.cpu.request), Number(g.cpu.usage), Number(g.cpu.allocated)],
  memory: Number(g.memory.allocated),
  efficiency: g.efficiency.cpu,
});

/** Every hour of the given UTC days, `2026-11-29T00:00:00Z`… */
function hoursOf(from: string, days: number): string[] {
  const start = Date.parse(from);
  return Array.from({ length: days * 24 }, (_, i) =>
    new Date(start + i * 3_600_000).toISOString().replace(".000Z", "Z"),
  );
}

describe.each(drivers)("the metering ledger on %s", (_driver, open) => {
  let sql: Sql;
  async function fresh(): Promise<Sql> {
    await sql?.close();
    sql = await open();
    await migrate(sql);
    return sql;
  }
  afterAll(async () => {
    await sql?.close();
  });

  const now = new Date("2026-12-03T14:20:00Z");
  const query = (q: Partial<UsageQuery>) => queryUsage(sql, { window: "1h", aggregate: [], ...q }, now);

  it("sums exactly, and keeps the same namespace in two clusters apart unless grouped above the cluster", async () => {
    await fresh();
    const hour = "2026-12-03T13:00:00Z";
    await send(sql, frankfurtShop, [
      hourOf("fra-shop-prod", hour, "web", "Deployment/front", [120_000, 30_000]),
      hourOf("fra-shop-prod", hour, "web", "Deployment/cart", [60_000, 90_000, 95_000]),
      hourOf("fra-shop-prod", hour, "kube-system", "DaemonSet/proxy", [6_000, 1_200]),
    ]);
    await send(sql, frankfurtPayments, [
      hourOf("fra-pay-prod", hour, "web", "Deployment/front", [30_000, 15_000]),
    ]);
    await send(sql, singaporeShop, [
      hourOf("sgp-shop-prod", hour, "web", "Deployment/front", [12_000, 12_000]),
    ]);
    // An hour outside the window counts nowhere.
    await send(sql, frankfurtShop, [
      hourOf("fra-shop-prod", "2026-12-03T12:00:00Z", "web", "Deployment/front", [1, 1]),
    ]);

    const byNamespace = await query({ aggregate: ["namespace"] });
    expect(byNamespace.aggregate).toEqual(["cluster", "namespace"]);
    expect(byNamespace.window).toEqual({
      start: "2026-12-03T13:00:00.000Z",
      end: "2026-12-03T14:00:00.000Z",
    });
    expect(byNamespace.groups.map(plain)).toEqual([
      {
        keys: { cluster: "fra-pay-prod", namespace: "web" },
        cpu: [30_000, 15_000, 30_000],
        memory: 30_000_000_000,
        efficiency: 0.5,
      },
      {
        keys: { cluster: "fra-shop-prod", namespace: "kube-system" },
        cpu: [6_000, 1_200, 6_000],
        memory: 6_000_000_000,
        efficiency: 0.2,
      },
      {
        keys: { cluster: "fra-shop-prod", namespace: "web" },
        cpu: [180_000, 120_000, 215_000],
        memory: 215_000_000_000,
        efficiency: 120_000 / 180_000,
      },
      {
        keys: { cluster: "sgp-shop-prod", namespace: "web" },
        cpu: [12_000, 12_000, 12_000],
        memory: 12_000_000_000,
        efficiency: 1,
      },
    ]);
    // Above the cluster: the Location's `web` namespaces are one row.
    const byLocation = await query({ aggregate: ["location", "namespace"], filters: { namespace: ["web"] } });
    expect(byLocation.groups.map(plain)).toEqual([
      {
        keys: { location: "frankfurt", namespace: "web" },
        cpu: [210_000, 135_000, 245_000],
        memory: 245_000_000_000,
        efficiency: 135_000 / 210_000,
      },
      {
        keys: { location: "singapore", namespace: "web" },
        cpu: [12_000, 12_000, 12_000],
        memory: 12_000_000_000,
        efficiency: 1,
      },
    ]);
    const byBusiness = await query({ aggregate: ["business", "environment"] });
    expect(byBusiness.groups.map((g) => [g.keys, Number(g.cpu.allocated)])).toEqual([
      [{ business: "payments", environment: "prod" }, 30_000],
      [{ business: "shop", environment: "prod" }, 233_000],
    ]);
    // A Cluster without a Region is grouped under null, not under an empty name.
    const byRegion = await query({ aggregate: ["region"] });
    expect(byRegion.groups.map((g) => [g.keys.region, Number(g.cpu.request)])).toEqual([
      ["fra-north", 186_000],
      [null, 42_000],
    ]);
    const total = await query({ aggregate: [] });
    expect(total.groups.map(plain)).toEqual([
      { keys: {}, cpu: [228_000, 148_200, 263_000], memory: 263_000_000_000, efficiency: 148_200 / 228_000 },
    ]);
  });

  it("counts a record sent twice once, whatever the second copy says", async () => {
    await fresh();
    const hour = "2026-12-03T13:00:00Z";
    const records = [
      hourOf("fra-shop-prod", hour, "web", "Deployment/front", [120_000, 30_000]),
      hourOf("fra-shop-prod", hour, "web", "Deployment/cart", [60_000, 90_000]),
    ];
    const node = nodeOf("fra-shop-prod", hour, "node-0", 240_000);
    expect(await send(sql, frankfurtShop, records, [node])).toEqual({ workloads: 2, nodes: 1 });
    // A relay's disk buffer sends it again; another replica gets a copy; a changed copy is still the same key.
    expect(await send(sql, frankfurtShop, records, [node])).toEqual({ workloads: 0, nodes: 0 });
    const changed = hourOf("fra-shop-prod", hour, "web", "Deployment/front", [999_000, 999_000]);
    const fresh3 = hourOf("fra-shop-prod", hour, "web", "Job/migrate", [1_000, 500]);
    expect(await send(sql, frankfurtShop, [changed, fresh3])).toEqual({ workloads: 1, nodes: 0 });
    const report = await query({ aggregate: ["workload"] });
    expect(report.groups.map((g) => [g.keys.workload, Number(g.cpu.request)])).toEqual([
      ["Deployment/cart", 60_000],
      ["Deployment/front", 120_000],
      ["Job/migrate", 1_000],
    ]);
    const nodes = await sql.query<{ n: number }>("select count(*)::int as n from usage_node_hours");
    expect(nodes[0]!.n).toBe(1);
  });

  it("groups and filters by payer labels, and sums storage and load balancers per group", async () => {
    await fresh();
    const hour = "2026-12-03T13:00:00Z";
    await send(sql, frankfurtShop, [
      hourOf(
        "fra-shop-prod",
        hour,
        "web",
        "Deployment/front",
        [100, 50],
        { team: "checkout" },
        {
          storage: { standard: 1_000, fast: 10 },
          loadBalancers: 60,
        },
      ),
      hourOf(
        "fra-shop-prod",
        hour,
        "web",
        "Deployment/cart",
        [200, 50],
        { team: "checkout" },
        { storage: { standard: 500 } },
      ),
      hourOf("fra-shop-prod", hour, "search", "StatefulSet/index", [400, 100], { team: "search" }),
      hourOf("fra-shop-prod", hour, "tools", "Pod/debug", [8, 8]),
    ]);
    const byTeam = await query({ aggregate: ["label:team"] });
    expect(
      byTeam.groups.map((g) => ({
        team: g.keys["label:team"],
        cpu: Number(g.cpu.request),
        storage: g.storage,
        loadBalancers: g.loadBalancers,
      })),
    ).toEqual([
      { team: "checkout", cpu: 300, storage: { fast: 10n, standard: 1_500n }, loadBalancers: 60n },
      { team: "search", cpu: 400, storage: {}, loadBalancers: 0n },
      { team: null, cpu: 8, storage: {}, loadBalancers: 0n },
    ]);
    const checkout = await query({
      aggregate: ["workload"],
      filters: { "label:team": ["checkout"], business: ["shop"] },
    });
    expect(checkout.groups.map((g) => g.keys.workload)).toEqual(["Deployment/cart", "Deployment/front"]);
    const none = await query({ aggregate: ["namespace"], filters: { location: ["singapore"] } });
    expect(none.groups).toEqual([]);
  });

  it("reads whole days from rollups and partial days from hours: the same sums before and after rollup and retention", async () => {
    await fresh();
    // Four days of hourly rows for two clusters; the window cuts the first and the last day.
    const hours = hoursOf("2026-11-29T00:00:00Z", 4);
    let records = 0;
    for (const [i, hour] of hours.entries()) {
      await send(
        sql,
        frankfurtShop,
        [
          hourOf(
            "fra-shop-prod",
            hour,
            "web",
            "Deployment/front",
            [1_000 + i, 500 + i],
            { team: "a" },
            { storage: { standard: i } },
          ),
          hourOf("fra-shop-prod", hour, "web", "Deployment/cart", [2_000, 3_000 + i]),
        ],
        [nodeOf("fra-shop-prod", hour, "node-0", 8_000)],
      );
      await send(sql, frankfurtPayments, [
        hourOf("fra-pay-prod", hour, "web", "Deployment/front", [700, 100]),
      ]);
      records += 3;
    }
    const later = new Date("2026-12-03T14:20:00Z");
    const ask = (window: string, aggregate: string[]) =>
      queryUsage(sql, { window, aggregate }, later).then((r) => r.groups);
    const windows = [
      "2026-11-29T05:00:00Z/2026-12-02T19:00:00Z",
      "2026-11-30/2026-12-02",
      "2026-11-29T05:00:00Z/2026-11-29T06:00:00Z",
      "5d",
    ];
    const aggregations = [["namespace"], ["business", "label:team"], ["workload"], []];
    const answers = async () => {
      const all = [];
      for (const w of windows) for (const a of aggregations) all.push(await ask(w, a));
      return all;
    };
    const before = await answers();
    // The hand sum of the first window for Deployment/front: hours 5..90 of the 96 (i = 5 … 90).
    const front = before[2]!.find(
      (g) => g.keys.cluster === "fra-shop-prod" && g.keys.workload === "Deployment/front",
    )!;
    let request = 0;
    for (let i = 5; i < 91; i++) request += 1_000 + i;
    expect(Number(front.cpu.request)).toBe(request);
    expect(front.storage.standard).toBe(BigInt((5 + 90) * 43));

    // Roll up in small batches, as a large backlog would be.
    const rolled = await rollUpUsage(sql, { retentionDays: 30, now: later, batch: 50 });
    expect(rolled.workloadHoursRolled).toBe(records);
    expect(rolled.nodeHoursRolled).toBe(hours.length);
    expect(rolled.workloadHoursRemoved).toBe(0);
    const days = await sql.query<{ n: number }>("select count(*)::int as n from usage_workload_days");
    expect(days[0]!.n).toBe(4 * 3);
    expect(await answers()).toEqual(before);
    // A second pass finds nothing to do and changes nothing.
    expect(await rollUpUsage(sql, { retentionDays: 30, now: later, batch: 50 })).toEqual({
      workloadHoursRolled: 0,
      nodeHoursRolled: 0,
      workloadHoursRemoved: 0,
      nodeHoursRemoved: 0,
    });
    expect(await answers()).toEqual(before);

    // Retention of two days (before 2026-12-03 at that time: 2026-12-01 and 2026-12-02 kept) drops two days of hours;
    // whole days still come from the rollups.
    const retained = await rollUpUsage(sql, { retentionDays: 2, now: later });
    expect(retained.workloadHoursRemoved).toBe(2 * 24 * 3);
    expect(retained.nodeHoursRemoved).toBe(2 * 24);
    const wholeDays = await ask("2026-11-29/2026-12-03", ["business"]);
    expect(wholeDays.map((g) => [g.keys.business, Number(g.cpu.request)])).toEqual([
      ["payments", 700 * 96],
      ["shop", hours.reduce((sum, _h, i) => sum + 1_000 + i + 2_000, 0)],
    ]);

    // A record for a day rolled long ago (a relay cut off for days) is added by the next pass, once.
    await send(sql, frankfurtPayments, [
      hourOf("fra-pay-prod", "2026-11-29T03:00:00Z", "batch", "Job/late", [5_000, 5_000]),
    ]);
    const lateBefore = await ask("2026-11-29/2026-11-30", ["namespace"]);
    await rollUpUsage(sql, { retentionDays: 2, now: later });
    const lateAfter = await ask("2026-11-29/2026-11-30", ["namespace"]);
    expect(lateAfter).toEqual(lateBefore);
    expect(lateAfter.map((g) => [g.keys.cluster, g.keys.namespace, Number(g.cpu.request)])).toEqual([
      ["fra-pay-prod", "batch", 5_000],
      ["fra-pay-prod", "web", 700 * 24],
      ["fra-shop-prod", "web", hours.slice(0, 24).reduce((sum, _h, i) => sum + 1_000 + i + 2_000, 0)],
    ]);
    const nodeDays = await sql.query<{ day: string; hours: number; cpu: string }>(
      "select day::text as day, hours, cpu_allocatable::text as cpu from usage_node_days order by day",
    );
    expect(nodeDays).toEqual(
      ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"].map((day) => ({
        day,
        hours: 24,
        cpu: String(24 * 8_000),
      })),
    );
  });

  it("refuses a malformed window or an unknown aggregation with its field, and reads nothing", async () => {
    await fresh();
    for (const [q, path] of [
      [{ window: "2026-11-31/2026-12-01" }, "window"],
      [{ window: "last week" }, "window"],
      [{ aggregate: ["team"] }, "aggregate[0]"],
      [{ filters: { node: ["n-1"] } }, "filters.node"],
    ] as const) {
      const error = await query(q as Partial<UsageQuery>).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).problems.map((p) => p.path)).toEqual([path]);
    }
  });
});
