/**
 * Metering ledger benchmark: how many hourly rows a second the hub's ingest (hub/metering/usage-ledger.ts) writes
 * from `usage.hours` messages of 500 records, on the embedded store (PGlite, on disk, as the hub runs it) and on
 * a PostgreSQL server, side by side in one run; the same messages sent again (every row a duplicate: the cost of
 * an agent's resends); several senders at once (relays of several Locations); and one rollup pass over it all.
 *
 *   node bench/metering-bench.ts [--messages 200] [--senders 4] [--label name]
 *
 * The PostgreSQL server is a throwaway one started from the machine's binaries, as the tests start it (fsync
 * off); PGlite runs with its defaults. Results go to bench/results/metering-DAY[-label].md.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { WorkloadHour } from "../src/core/metering/usage.ts";
import {
  type ClusterPlacement,
  recordUsageHours,
  type UsageHours,
} from "../src/hub/metering/usage-ledger.ts";
import { queryUsage } from "../src/hub/metering/usage-query.ts";
import { rollUpUsage } from "../src/hub/metering/usage-rollup.ts";
import { migrate } from "../src/store/migrations.ts";
import { openPglite } from "../src/store/pglite-sql.ts";
import { openPostgres } from "../src/store/postgres-sql.ts";
import type { Sql } from "../src/store/sql.ts";
import { startPostgres } from "../test/support/postgres-server.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "200" },
    senders: { type: "string", default: "4" },
    label: { type: "string", default: "" },
  },
});
const messageCount = Number(values.messages);
const senders = Number(values.senders);
const recordsPerMessage = 500;
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);

const placement: ClusterPlacement = {
  location: "frankfurt",
  region: "fra-north",
  business: "shop",
  environment: "prod",
};

/** Message `m`: one cluster-hour of 500 workloads (30 namespaces), as an agent sends a completed hour. */
function messageOf(m: number, prefix = "bench"): UsageHours {
  const cluster = `${prefix}-${m % 1000}`;
  const hour = new Date(Date.UTC(2026, 10, 1) + Math.floor(m / 1000) * 3_600_000)
    .toISOString()
    .replace(".000Z", "Z");
  const workloads: WorkloadHour[] = Array.from({ length: recordsPerMessage }, (_, w) => {
    const cpu = 6_000 + ((m * 7 + w * 13) % 60_000);
    return {
      cluster,
      hour,
      namespace: `ns-${w % 30}`,
      workload: `Deployment/app-${w}`,
      labels: { team: `team-${w % 12}`, business: "shop" },
      samples: 60,
      cpu: { request: cpu, usage: Math.floor(cpu / 2), allocated: cpu + 600 },
      memory: { request: cpu * 8_388_608, usage: cpu * 4_194_304, allocated: cpu * 8_388_608 },
      gpu: { request: 0, usage: 0, allocated: 0 },
      storage: (w % 5 === 0 ? { standard: 644_245_094_400 } : {}) as Record<string, number>,
      loadBalancers: w % 50 === 0 ? 60 : 0,
    };
  });
  return { cluster, source: "kubelet", workloads, nodes: [] };
}

interface Result {
  store: string;
  rowsPerSecond: number;
  duplicatesPerSecond: number;
  concurrentRowsPerSecond: number;
  rollupRowsPerSecond: number;
  queryMs: number;
}

async function measure(store: string, sql: Sql): Promise<Result> {
  await migrate(sql);
  const messages = Array.from({ length: messageCount }, (_, m) => messageOf(m));
  const rows = messageCount * recordsPerMessage;
  // One session's frames are handled one after another: sequential inserts are what one relay gets.
  let started = performance.now();
  for (const body of messages) await recordUsageHours(sql, placement, body);
  const rowsPerSecond = rows / ((performance.now() - started) / 1000);
  log(`${store}: ${rows} rows, ${Math.round(rowsPerSecond)} rows/s`);
  started = performance.now();
  let inserted = 0;
  for (const body of messages) inserted += (await recordUsageHours(sql, placement, body)).workloads;
  if (inserted !== 0) throw new Error(`duplicates were inserted: ${inserted}`);
  const duplicatesPerSecond = rows / ((performance.now() - started) / 1000);
  log(`${store}: the same again, ${Math.round(duplicatesPerSecond)} duplicate rows/s`);
  // Several relays at once, each its own sequence of messages.
  const concurrent = Array.from({ length: messageCount }, (_, m) => messageOf(m, "other"));
  started = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async (_, s) => {
      for (let m = s; m < concurrent.length; m += senders)
        await recordUsageHours(sql, placement, concurrent[m]!);
    }),
  );
  const concurrentRowsPerSecond = rows / ((performance.now() - started) / 1000);
  log(`${store}: ${senders} senders, ${Math.round(concurrentRowsPerSecond)} rows/s`);
  started = performance.now();
  const rolled = await rollUpUsage(sql, { retentionDays: 3650, now: new Date(Date.UTC(2026, 11, 3)) });
  const rollupRowsPerSecond = rolled.workloadHoursRolled / ((performance.now() - started) / 1000);
  log(`${store}: rollup of ${rolled.workloadHoursRolled} rows, ${Math.round(rollupRowsPerSecond)} rows/s`);
  started = performance.now();
  await queryUsage(
    sql,
    { window: "2026-11-01/2026-11-02", aggregate: ["business", "namespace"] },
    new Date(Date.UTC(2026, 11, 3)),
  );
  const queryMs = performance.now() - started;
  return { store, rowsPerSecond, duplicatesPerSecond, concurrentRowsPerSecond, rollupRowsPerSecond, queryMs };
}

const dir = await mkdtemp(join(tmpdir(), "unitfleet-metering-bench-"));
const server = await startPostgres();
const results: Result[] = [];
try {
  const embedded = await openPglite(join(dir, "pglite"));
  results.push(await measure("PGlite", embedded));
  await embedded.close();
  const postgres = await openPostgres(server.url);
  results.push(await measure("PostgreSQL", postgres));
  await postgres.close();
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}

const n = (x: number) => Math.round(x).toLocaleString("en");
const day = new Date().toISOString().slice(0, 10);
const file = join(
  import.meta.dirname,
  "results",
  `metering-${day}${values.label ? `-${values.label}` : ""}.md`,
);
const rows = messageCount * recordsPerMessage;
await writeFile(
  file,
  `# Metering ledger ingest, ${day}

\`node bench/metering-bench.ts --messages ${messageCount} --senders ${senders}\` on ${cpus().length} × ${cpus()[0]?.model ?? "cpu"},
${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}.

${messageCount} \`usage.hours\` messages of ${recordsPerMessage} workload records (${n(rows)} hourly rows; 30 namespaces,
two payer labels, storage on one in five) through \`recordUsageHours\` (one \`insert … select from
jsonb_to_recordset … on conflict (key) do nothing\` per message), then the same messages again (every row a
duplicate), then ${n(rows)} other rows from ${senders} senders at once, then one rollup pass over all ${n(2 * rows)} rows, then
a query of one day by business and namespace (read from the rollup: one row per cluster and workload, as each
cluster sent one hour; the 30-day query over 21.6 million hourly rows of issue 14 is not measured here).

| store      | ingest rows/s (one sender) | duplicate rows/s | ingest rows/s (${senders} senders) | rollup rows/s | query, 1 day (ms) |
| ---------- | -------------------------: | ---------------: | ----------------------------: | ------------: | ----------------: |
${results
  .map(
    (r) =>
      `| ${r.store.padEnd(10)} | ${n(r.rowsPerSecond)} | ${n(r.duplicatesPerSecond)} | ${n(r.concurrentRowsPerSecond)} | ${n(r.rollupRowsPerSecond)} | ${n(r.queryMs)} |`,
  )
  .join("\n")}

What it means: a fleet of 1,000 clusters × 500 workloads sends 500,000 rows an hour, about 140 a second on
average; the slowest figure above is the headroom over that, for a backlog after a long outage too. PGlite is
one process and one connection: several senders share it. The PostgreSQL server runs with fsync off, as in the
tests (a production server with fsync pays for its WAL flushes).
`,
);
log(`written ${file}`);
