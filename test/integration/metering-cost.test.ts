/**
 * What the fleet cost, through a real hub (embedded store): usage hours recorded in the ledger as the tunnel
 * records them, PriceBooks applied, `GET /unitfleet/v1alpha1/cost` and `unitfleet cost` (issue 14). Every figure
 * is worked out by hand below (unit prices: cpu per core-hour, memory per GiB-hour, in micro-units).
 *
 * fra-a, node n1 (4 cores, 16 GiB, the whole hour), hours 11:00 and 12:00 of 2026-12-02; the cpu price doubles
 * at 12:00 (0.04 → 0.08 per core-hour), memory stays 0.005 per GiB-hour:
 *   11:00  cpu 4 × 40,000 = 160,000 → web (1 core) 40,000, indexer (2 cores) 80,000, idle 40,000
 *          memory 16 × 5,000 = 80,000 → web (4 GiB) 20,000, indexer (4 GiB) 20,000, idle 40,000
 *   12:00  cpu 4 × 80,000 = 320,000 → web 80,000, indexer 160,000, idle 80,000; memory as at 11:00
 * fra-b, node n2 (2 cores, 8 GiB), 11:00 only: cpu 80,000 → api (1 core) 40,000, idle 40,000;
 *          memory 40,000 → api (2 GiB) 10,000, idle 30,000
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import type { NodeHour, WorkloadHour } from "../../src/core/metering/usage.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { type CostReport, queryCost } from "../../src/hub/metering/cost-query.ts";
import { recordUsageHours } from "../../src/hub/metering/usage-ledger.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { runCli } from "../support/cli-in-process.ts";

let env: Environment;
let hub: RunningHub;
const gib = 2 ** 30;
const window = "2026-12-02T11:00:00Z/2026-12-02T13:00:00Z";

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

const minutes = (request: number, usage: number) => ({ request, usage, allocated: Math.max(request, usage) });
const workload = (
  cluster: string,
  hour: string,
  namespace: string,
  name: string,
  cores: number,
  gibs: number,
  labels: Record<string, string> = {},
): WorkloadHour => ({
  cluster,
  hour,
  namespace,
  workload: `Deployment/${name}`,
  labels,
  samples: 60,
  cpu: minutes(cores * 1000 * 60, (cores * 1000 * 60) / 2),
  memory: minutes(gibs * gib * 60, (gibs * gib * 60) / 2),
  gpu: minutes(0, 0),
  storage: {},
  loadBalancers: 0,
});

/** Waits until the leader's pass has priced every reported hour into the cost ledger. */
async function priced(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [row] = await hub.sql.query<{ behind: number }>(
      "select count(*)::int as behind from cost_cluster_hours where version <> priced_version",
    );
    if (row?.behind === 0) return;
    if (Date.now() > deadline) throw new Error(`${row?.behind} cluster-hours still not priced`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the CLI in this process (test/support/cli-in-process.ts). */
const unitfleet = (args: string[]) => runCli(args, env);

async function cost(query: string): Promise<{ status: number; body: CostReport & { details?: unknown } }> {
  const { stdout, code } = await unitfleet(["cost", ...query.split(" "), "-o", "json"]);
  return { status: code, body: code === 0 ? JSON.parse(stdout) : ({} as CostReport) };
}

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), "unitfleet-metering-cost-"));
  env = { ...readEnvironment(), home };
  hub = await startHub({
    dir: join(home, "hub"),
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    costMetricsEveryMs: 200,
    costPricingEveryMs: 100,
  });
  const units = (cpu: string) => ({ cpuPerCoreHour: cpu, memoryPerGiBHour: "0.005", gpuPerDeviceHour: "1" });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-a", { location: "frankfurt", environment: "prod", business: "shop" }),
      doc("Cluster", "fra-b", { location: "frankfurt", environment: "prod", business: "shop" }),
      doc("PriceBook", "frankfurt", {
        location: "frankfurt",
        currency: "EUR",
        prices: [
          { from: "2026-11-01", units: units("0.04") },
          { from: "2026-12-02T12:00:00Z", units: units("0.08") },
        ],
      }),
    ],
    systemCaller,
  );
  const place = { location: "frankfurt", business: "shop", environment: "prod" };
  for (const hour of ["2026-12-02T11:00:00Z", "2026-12-02T12:00:00Z"])
    await recordUsageHours(hub.sql, place, {
      cluster: "fra-a",
      source: "kubelet",
      nodes: [node("fra-a", hour, "n1", 4, 16)],
      workloads: [
        workload("fra-a", hour, "shop", "web", 1, 4),
        workload("fra-a", hour, "search", "indexer", 2, 4, { business: "search" }),
      ],
    });
  await recordUsageHours(hub.sql, place, {
    cluster: "fra-b",
    source: "kubelet",
    nodes: [node("fra-b", "2026-12-02T11:00:00Z", "n2", 2, 8)],
    workloads: [workload("fra-b", "2026-12-02T11:00:00Z", "shop", "api", 1, 2)],
  });
  await priced();
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(env.home, { recursive: true, force: true });
});

const totals = (report: CostReport) =>
  Object.fromEntries(report.groups.map((g) => [Object.values(g.keys).join("/"), g.cost.total]));

describe("the cost as metrics", () => {
  it("publishes the last complete hour's cost per Location and business, idle apart", async () => {
    const place = { location: "frankfurt", business: "shop", environment: "prod" };
    const deadline = Date.now() + 20_000;
    let text = "";
    while (Date.now() < deadline) {
      // The last complete hour as of now (again each round, in case the hour turns meanwhile).
      const hour = `${new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000).toISOString().slice(0, 13)}:00:00Z`;
      await recordUsageHours(hub.sql, place, {
        cluster: "fra-b",
        source: "kubelet",
        nodes: [node("fra-b", hour, "n2", 2, 8)],
        workloads: [workload("fra-b", hour, "shop", "api", 1, 2)],
      });
      text = hub.metrics.render();
      if (text.includes('unitfleet_cost_last_hour{location="frankfurt",business="shop",currency="EUR"}'))
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // fra-b's hour at the newer price (cpu 0.08 per core-hour): node cpu 160,000, memory 40,000;
    // api pays cpu 80,000 + memory 10,000; idle cpu 80,000 + memory 30,000.
    expect(text).toContain(
      'unitfleet_cost_last_hour{location="frankfurt",business="shop",currency="EUR"} 0.09',
    );
    expect(text).toContain(
      'unitfleet_cost_last_hour{location="frankfurt",business="__idle__",currency="EUR"} 0.11',
    );
  });
});

describe("unitfleet describe cluster", () => {
  it("shows the cluster's last 24 hours of cost, idle apart, and its costliest namespaces", async () => {
    const hour = `${new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000).toISOString().slice(0, 13)}:00:00Z`;
    await recordUsageHours(
      hub.sql,
      { location: "frankfurt", business: "shop", environment: "prod" },
      {
        cluster: "fra-b",
        source: "kubelet",
        nodes: [node("fra-b", hour, "n2", 2, 8)],
        workloads: [workload("fra-b", hour, "shop", "api", 1, 2)],
      },
    );
    await priced();
    const described = await unitfleet(["describe", "cluster", "fra-b"]);
    expect(described.code).toBe(0);
    // The hour above at the newer price: 0.20 in all, 0.11 of it idle; shop pays 0.09.
    expect(described.stdout).toContain(
      "Cost (last 24 h, 1 hour metered): 0.20 EUR, idle 0.11 (55%)\n  shop: 0.09",
    );
  });
});

describe("the cost of a window", () => {
  it("prices each hour at the price that held then, and keeps the same namespace of two clusters apart", async () => {
    const { status, body } = await cost(`--window ${window} --by namespace`);
    expect(status).toBe(0);
    expect(body.aggregate).toEqual(["cluster", "namespace"]);
    expect(body.hours).toBe(3);
    expect(body.pending).toBe(0);
    expect(totals(body)).toEqual({
      "fra-a/search": 80_000 + 20_000 + 160_000 + 20_000,
      "fra-a/__idle__": 40_000 + 40_000 + 80_000 + 40_000,
      "fra-a/shop": 40_000 + 20_000 + 80_000 + 20_000,
      "fra-b/__idle__": 40_000 + 30_000,
      "fra-b/shop": 40_000 + 10_000,
    });
    const shop = body.groups.find((g) => g.keys.cluster === "fra-a" && g.keys.namespace === "shop")!;
    expect(shop.cost).toEqual({
      cpu: 120_000,
      memory: 40_000,
      gpu: 0,
      storage: 0,
      loadBalancer: 0,
      total: 160_000,
    });
    expect(shop.currency).toBe("EUR");
    expect(shop.efficiency).toEqual({ cpu: 0.5, memory: 0.5 });
  });

  it("sums to what the nodes cost, idle kept apart or shared out, above the cluster too", async () => {
    const nodes = 240_000 + 400_000 + 120_000;
    const separate = (await cost(`--window ${window} --by location`)).body;
    expect(separate.groups).toHaveLength(1);
    expect(separate.groups[0]).toMatchObject({ keys: { location: "frankfurt" }, idle: 270_000 });
    expect(separate.groups[0]!.cost.total).toBe(nodes);
    const shared = (await cost(`--window ${window} --by payer --idle share`)).body;
    expect(shared.groups.map((g) => g.keys.payer).sort()).toEqual(["business=search", "shop/prod"]);
    expect(shared.groups.reduce((sum, g) => sum + g.cost.total, 0)).toBe(nodes);
    expect(shared.groups.every((g) => g.cost.total > 0 && g.idle > 0)).toBe(true);
  });

  it("prints a table and CSV with the amounts in the currency", async () => {
    const csv = await unitfleet(["cost", "--window", window, "--by", "cluster", "-o", "csv"]);
    expect(csv.code).toBe(0);
    expect(csv.stdout.split("\n")[0]).toBe(
      "cluster,currency,cpu,memory,gpu,storage,load-balancers,idle,total,cpu-efficiency,memory-efficiency",
    );
    expect(csv.stdout).toContain("fra-a,EUR,0.48,0.16,0.00,0.00,0.00,0.20,0.64,50%,50%");
    const table = await unitfleet(["cost", "--window", window, "--by", "cluster"]);
    expect(table.stdout).toMatch(/^CLUSTER\s+CURRENCY\s+CPU/);
    expect(table.stdout).toMatch(/fra-b\s+EUR\s+0\.08\s+0\.04\s+0\.00\s+0\.00\s+0\.00\s+0\.07\s+0\.12/);
  });

  it("refuses a malformed window, an unknown dimension and an unknown idle mode, each with its field", async () => {
    const bad = await unitfleet(["cost", "--window", "7x", "--by", "planet,namespace"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("the cost query is not valid");
    expect(bad.stderr).toMatch(/window/);
    expect(bad.stderr).toMatch(/aggregate\[0\].*unknown dimension "planet"/);
    // The CLI offers only the two idle modes; the hub refuses others itself.
    await expect(
      queryCost(hub.sql, { window: "24h", aggregate: [], idle: "sometimes" }, new Date()),
    ).rejects.toMatchObject({
      name: "UserError",
      problems: [{ path: "idle", message: 'must be separate or share, got "sometimes"' }],
    });
  });
});
