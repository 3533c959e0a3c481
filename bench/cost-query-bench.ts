/**
 * Cost query benchmark (issue 14): "what did each business cost over the last 30 days" over a fleet of 1,000
 * clusters × 30 namespaces × 30 days of hourly cost (21.6 million workload cluster-hours, plus two idle rows per
 * cluster-hour), on a PostgreSQL server, through `queryCost` (hub/metering/cost-query.ts) as the API runs it.
 *
 *   node bench/cost-query-bench.ts [--clusters 1000] [--namespaces 30] [--days 30] [--runs 7]
 *                                  [--pricing-clusters 20] [--label name]
 *
 * The ledger is filled as the leader's pricing pass leaves it (cost-ledger.ts): hourly cost rows, then the daily,
 * per-payer hourly and per-payer daily sums computed from them by SQL (the pass adds each batch into them; the
 * totals are the same). Filling 21.6 million rows through the pricing pass itself would take an hour here; that
 * pass is measured on its own, end to end from `usage.hours` messages, on a smaller fleet (`--pricing-clusters`
 * × 30 namespaces × 24 hours), on PostgreSQL and on PGlite. Results go to bench/results/cost-query-DAY[-label].md.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { PriceBookLike } from "../src/core/metering/price-book.ts";
import type { WorkloadHour } from "../src/core/metering/usage.ts";
import { costColumns, detailColumns, priceCostLedger } from "../src/hub/metering/cost-ledger.ts";
import { queryCost } from "../src/hub/metering/cost-query.ts";
import { recordUsageHours } from "../src/hub/metering/usage-ledger.ts";
import { migrate } from "../src/store/migrations.ts";
import { openPglite } from "../src/store/pglite-sql.ts";
import { openPostgres } from "../src/store/postgres-sql.ts";
import type { Sql } from "../src/store/sql.ts";
import { startPostgres } from "../test/support/postgres-server.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "1000" },
    namespaces: { type: "string", default: "30" },
    days: { type: "string", default: "30" },
    runs: { type: "string", default: "7" },
    "pricing-clusters": { type: "string", default: "20" },
    label: { type: "string", default: "" },
  },
});
const clusters = Number(values.clusters);
const namespaces = Number(values.namespaces);
const days = Number(values.days);
const runs = Number(values.runs);
const pricingClusters = Number(values["pricing-clusters"]);
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);
const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

/** Fills the cost ledger of `clusters` × `namespaces` × the `days` days before `end` (an hour), day by day. */
async function fill(
  sql: Sql,
  end: Date,
): Promise<{ rows: number; fillSeconds: number; sumsSeconds: number }> {
  const start = new Date(end.getTime() - days * dayMs);
  const t0 = process.hrtime.bigint();
  const rowColumns = [...costColumns, ...detailColumns];
  const values = (seed: string) =>
    // Deterministic, varied money (micro-units) and amounts; share mode adds a tenth as idle.
    rowColumns
      .map((c, i) =>
        c.startsWith("sep_") || c.startsWith("shr_")
          ? `(((${seed}) * ${7 + i}) % 90000 + 1000)${c.startsWith("shr_") ? " * 11 / 10" : ""}`
          : `(((${seed}) * ${13 + i}) % 600000 + 6000)`,
      )
      .join(", ");
  for (let d = 0; d < days; d++) {
    const dayStart = new Date(start.getTime() + d * dayMs).toISOString();
    await sql.query(
      `insert into cost_rows (cluster, hour, location, region, business, environment, currency, kind, payer,
         namespace, workload, labels, ${rowColumns.join(", ")})
       select 'cluster-' || c, $1::timestamptz + h * interval '1 hour', 'location-' || (c % 4),
         'region-' || (c % 12), 'business-' || (c % 40), case when c % 3 = 0 then 'staging' else 'prod' end, 'EUR',
         'workload', case when n % 5 = 0 then 'team=team-' || (n % 7) else 'business-' || (c % 40) || '/prod' end,
         'ns-' || n, 'Deployment/app-' || n, jsonb_build_object('team', 'team-' || (n % 7)), ${values("c * 31 + n * 17 + h")}
       from generate_series(0, ${clusters - 1}) as c, generate_series(0, ${namespaces - 1}) as n,
         generate_series(0, 23) as h`,
      [dayStart],
    );
    // Idle cpu and memory of each cluster-hour.
    await sql.query(
      `insert into cost_rows (cluster, hour, location, region, business, environment, currency, kind, payer,
         namespace, workload, labels, ${rowColumns.join(", ")})
       select 'cluster-' || c, $1::timestamptz + h * interval '1 hour', 'location-' || (c % 4),
         'region-' || (c % 12), 'business-' || (c % 40), case when c % 3 = 0 then 'staging' else 'prod' end, 'EUR',
         'idle', '__idle__', '__idle__', r, '{}'::jsonb, ${values("c * 29 + h + length(r)")}
       from generate_series(0, ${clusters - 1}) as c, generate_series(0, 23) as h, unnest(array['cpu', 'memory']) as r`,
      [dayStart],
    );
    log(
      `filled day ${d + 1}/${days} (${((d + 1) * clusters * (namespaces + 2) * 24).toLocaleString()} rows)`,
    );
  }
  const fillSeconds = ms(t0) / 1000;
  const t1 = process.hrtime.bigint();
  const sums = costColumns.map((c) => `sum(${c})`).join(", ");
  const payer = "location, region, business, environment, currency, kind, payer";
  await sql.query(
    `insert into cost_days (day, cluster, ${payer}, namespace, workload, labels, ${costColumns.join(", ")})
     select (hour at time zone 'UTC')::date, cluster, ${payer}, namespace, workload, labels, ${sums}
     from cost_rows group by 1, cluster, ${payer}, namespace, workload, labels`,
  );
  log("daily sums written");
  await sql.query(
    `insert into cost_payer_hours (hour, cluster, ${payer}, ${costColumns.join(", ")})
     select hour, cluster, ${payer}, ${sums} from cost_rows group by hour, cluster, ${payer}`,
  );
  await sql.query(
    `insert into cost_payer_days (day, cluster, ${payer}, ${costColumns.join(", ")})
     select (hour at time zone 'UTC')::date, cluster, ${payer}, ${sums} from cost_payer_hours group by 1, cluster, ${payer}`,
  );
  await sql.query(
    `insert into cost_cluster_hours (cluster, hour, location, version, priced_version, priced_at)
     select cluster, hour, min(location), 1, 1, now() from cost_payer_hours group by cluster, hour`,
  );
  await sql.query("analyze");
  log("per-payer sums written, analysed");
  const [{ n }] = (await sql.query<{ n: number }>("select count(*)::int as n from cost_rows")) as [
    { n: number },
  ];
  return { rows: n, fillSeconds, sumsSeconds: ms(t1) / 1000 };
}

async function sizes(sql: Sql): Promise<Array<{ table: string; rows: number; size: string }>> {
  const out = [];
  for (const table of [
    "cost_rows",
    "cost_days",
    "cost_payer_hours",
    "cost_payer_days",
    "cost_cluster_hours",
  ]) {
    const [r] = (await sql.query<{ rows: number; size: string }>(
      `select (select count(*) from ${table})::int as rows, pg_size_pretty(pg_total_relation_size('${table}')) as size`,
    )) as [{ rows: number; size: string }];
    out.push({ table, ...r });
  }
  return out;
}

interface Timed {
  what: string;
  window: string;
  aggregate: string[];
  groups: number;
  median: number;
  max: number;
}

async function timeQueries(sql: Sql, now: Date, end: Date): Promise<Timed[]> {
  const monthStart = new Date(end.getTime() - days * dayMs);
  const firstWholeDay = new Date(Math.ceil(monthStart.getTime() / dayMs) * dayMs).toISOString().slice(0, 10);
  const lastWholeDay = new Date(Math.floor(end.getTime() / dayMs) * dayMs).toISOString().slice(0, 10);
  const cases: Array<Omit<Timed, "groups" | "median" | "max">> = [
    { what: `by business, last ${days} days`, window: `${days}d`, aggregate: ["business"] },
    {
      what: `by location, business, environment, last ${days} days`,
      window: `${days}d`,
      aggregate: ["location", "business", "environment"],
    },
    { what: "by payer, whole days", window: `${firstWholeDay}/${lastWholeDay}`, aggregate: ["payer"] },
    {
      what: `by business, namespace, last ${days} days`,
      window: `${days}d`,
      aggregate: ["business", "namespace"],
    },
    { what: "by cluster, namespace, last 24 hours", window: "24h", aggregate: ["cluster", "namespace"] },
  ];
  const out: Timed[] = [];
  for (const c of cases) {
    const times: number[] = [];
    let groups = 0;
    for (let r = 0; r < runs + 1; r++) {
      const t = process.hrtime.bigint();
      const report = await queryCost(sql, { window: c.window, aggregate: c.aggregate }, now);
      // The first run warms the cache and is not counted.
      if (r > 0) times.push(ms(t));
      groups = report.groups.length;
    }
    out.push({ ...c, groups, median: median(times), max: Math.max(...times) });
    log(`${c.what}: ${groups} groups, median ${median(times).toFixed(0)} ms`);
  }
  return out;
}

/** The pricing pass end to end: `usage.hours` messages of a day of `pricingClusters` clusters, then one pass. */
async function timePricing(sql: Sql): Promise<{ clusterHours: number; rows: number; seconds: number }> {
  const place = { location: "frankfurt", business: "shop", environment: "prod" };
  const day = Date.UTC(2026, 10, 20);
  for (let c = 0; c < pricingClusters; c++)
    for (let h = 0; h < 24; h++) {
      const cluster = `pricing-${c}`;
      const hour = new Date(day + h * hourMs).toISOString().replace(".000Z", "Z");
      const workloads: WorkloadHour[] = Array.from({ length: namespaces }, (_, n) => {
        const cpu = 30_000 + ((c * 31 + n * 17 + h) % 60_000);
        return {
          cluster,
          hour,
          namespace: `ns-${n}`,
          workload: `Deployment/app-${n}`,
          labels: { team: `team-${n % 7}` },
          samples: 60,
          cpu: { request: cpu, usage: Math.floor(cpu / 2), allocated: cpu },
          memory: { request: cpu * 4_000_000, usage: cpu * 2_000_000, allocated: cpu * 4_000_000 },
          gpu: { request: 0, usage: 0, allocated: 0 },
          storage: {},
          loadBalancers: 0,
        };
      });
      const nodes = Array.from({ length: 8 }, (_, i) => ({
        cluster,
        hour,
        node: `${cluster}-n${i}`,
        instanceType: "m6.2xlarge",
        samples: 60,
        allocatable: { cpu: 8000 * 60, memory: 32 * 2 ** 30 * 60, gpu: 0 },
      }));
      await recordUsageHours(sql, place, { cluster, source: "kubelet", workloads, nodes });
    }
  const books = [
    {
      metadata: { name: "frankfurt" },
      spec: {
        location: "frankfurt",
        currency: "EUR",
        prices: [{ from: "2026-10-01", nodes: [{ instanceType: "m6.2xlarge", perHour: "0.384" }] }],
      },
    },
  ] as unknown as PriceBookLike[];
  const t = process.hrtime.bigint();
  const outcome = await priceCostLedger(sql, books, { now: new Date(day + dayMs), retentionDays: 35 });
  return { clusterHours: outcome.hoursPriced, rows: outcome.rowsWritten, seconds: ms(t) / 1000 };
}

const server = await startPostgres();
const pg = await openPostgres(server.url);
await migrate(pg);
const now = new Date();
const end = new Date(Math.floor(now.getTime() / hourMs) * hourMs);
log(`filling ${clusters} clusters × ${namespaces} namespaces × ${days} days on PostgreSQL…`);
const filled = await fill(pg, end);
const tables = await sizes(pg);
const queries = await timeQueries(pg, now, end);
log("pricing pass on PostgreSQL…");
const pgPricing = await timePricing(pg);
await pg.close();
await server.stop();

const dir = await mkdtemp(join(tmpdir(), "unitfleet-cost-bench-"));
const lite = await openPglite(join(dir, "pglite"));
await migrate(lite);
log("pricing pass on PGlite…");
const litePricing = await timePricing(lite);
await lite.close();
await rm(dir, { recursive: true, force: true });

const date = new Date().toISOString().slice(0, 10);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
const text = `# Cost query over a month of a fleet, ${date}

\`node bench/cost-query-bench.ts --clusters ${clusters} --namespaces ${namespaces} --days ${days} --runs ${runs}\` on ${machine}.
PostgreSQL ${"server"} from the machine's binaries, fsync off, as in the tests; every query through \`queryCost\`
(hub/metering/cost-query.ts) as the API runs it; median and slowest of ${runs} runs after one warm-up.

The ledger: ${filled.rows.toLocaleString()} hourly cost rows (${clusters.toLocaleString()} clusters × ${namespaces} namespaces × ${days * 24} hours, plus idle cpu and
memory per cluster-hour), written in ${filled.fillSeconds.toFixed(0)} s; the sums computed from them in ${filled.sumsSeconds.toFixed(0)} s.

| table | rows | size |
| --- | ---: | ---: |
${tables.map((t) => `| ${t.table} | ${t.rows.toLocaleString()} | ${t.size} |`).join("\n")}

| query | window | groups | median (ms) | slowest (ms) |
| --- | --- | ---: | ---: | ---: |
${queries.map((q) => `| ${q.what} | \`${q.window}\` | ${q.groups} | ${q.median.toFixed(0)} | ${q.max.toFixed(0)} |`).join("\n")}

The pricing pass end to end (${pricingClusters} clusters × ${namespaces} namespaces × 24 hours of \`usage.hours\`, 8 nodes a cluster, then one
pass): PostgreSQL ${pgPricing.clusterHours} cluster-hours, ${pgPricing.rows.toLocaleString()} cost rows in ${pgPricing.seconds.toFixed(1)} s
(${(pgPricing.clusterHours / pgPricing.seconds).toFixed(0)} cluster-hours/s); PGlite ${litePricing.clusterHours} cluster-hours in ${litePricing.seconds.toFixed(1)} s
(${(litePricing.clusterHours / litePricing.seconds).toFixed(0)} cluster-hours/s).

What makes the month fast: a query by location, region, cluster, business, environment or payer reads the
per-payer sums (whole days from \`cost_payer_days\`, the partial first and last day from \`cost_payer_hours\`),
never the hourly rows of each namespace; a query that needs namespaces, workloads or labels reads \`cost_days\`
and, for partial days, \`cost_rows\`. The leader keeps all four in step in each pricing transaction.
`;
const file = join(
  import.meta.dirname,
  "results",
  `cost-query-${date}${values.label ? `-${values.label}` : ""}.md`,
);
await writeFile(file, text);
log(`wrote ${file}`);
process.stdout.write(text);
