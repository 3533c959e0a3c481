/**
 * Hub benchmark: list and watch latency with 10,000 clusters in the store, and writes per second through the
 * API, on the embedded store (PGlite) and on a PostgreSQL server, side by side in one run.
 *
 *   node bench/hub-bench.ts [--clusters 10000] [--repeats 20] [--watches 1000] [--watch-rate 10] [--label name]
 *
 * With --watches N, N watches of Locations stay open (in a worker thread, `watch-load.ts`) while Locations are
 * written at --watch-rate writes per second: how late the events reach them (every watch, every event) and how
 * long a GET takes meanwhile. --label names the results file
 * (hub-DAY-label.md) so that runs of one day do not overwrite each other.
 *
 * The PostgreSQL server is a throwaway one started from the machine's binaries, as the tests start it (fsync
 * off); PGlite runs with its defaults.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { HubClient } from "../src/cli/client/hub-client.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import { startHub } from "../src/hub/hub.ts";
import { systemCaller } from "../src/hub/registry/caller.ts";
import { startPostgres } from "../test/support/postgres-server.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "10000" },
    repeats: { type: "string", default: "20" },
    watches: { type: "string", default: "1000" },
    "watch-rate": { type: "string", default: "10" },
    label: { type: "string", default: "" },
  },
});
const watchCount = Number(values.watches);
const watchRate = Number(values["watch-rate"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const location = (name: string) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Location",
  metadata: { name },
  spec: {},
});
const clusterCount = Number(values.clusters);
const repeats = Number(values.repeats);
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const quantile = (xs: number[], q: number) =>
  xs.length === 0
    ? Number.NaN
    : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const p95 = (xs: number[]) => quantile(xs, 0.95);
const p99 = (xs: number[]) => quantile(xs, 0.99);

const base = "/apis/unitfleet.io/v1alpha1";
const envs = ["prod", "staging", "dev"];
const businesses = ["shop", "payments", "search", "ads", "media"];

function clusterDoc(i: number) {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "Cluster",
    metadata: { name: `c-${String(i).padStart(5, "0")}` },
    spec: {
      location: i % 2 ? "frankfurt" : "singapore",
      environment: envs[i % 3],
      business: businesses[i % 5],
    },
  };
}

interface Figures {
  store: string;
  seedSeconds: number;
  listAllMs: number;
  listAllP95Ms: number;
  listPageMs: number;
  listSelectorMs: number;
  selectorItems: number;
  watchLatencyMs: number;
  watchLatencyP95Ms: number;
  writesPerSecondSerial: number;
  writesPerSecondConcurrent8: number;
  /** With `watchCount` watches open: event lag (write sent → event at each watch), GET latency, writes/s. */
  watched?: {
    lagP50Ms: number;
    lagP99Ms: number;
    getP50Ms: number;
    getP99Ms: number;
    writesPerSecond: number;
  };
}

async function measure(store: "pglite" | "postgres", databaseUrl?: string): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), `unitfleet-hubbench-${store}-`));
  const hub = await startHub({
    dir,
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    ...(databaseUrl ? { databaseUrl } : {}),
  });
  try {
    const client = new HubClient({
      server: hub.url,
      token: (await readFile(hub.adminTokenFile, "utf8")).trim(),
      caCert: await readFile(join(dir, "ca.crt"), "utf8"),
    });
    const seedStart = performance.now();
    await hub.registry.applyAll(
      [
        {
          source: "seed",
          body: {
            apiVersion: "unitfleet.io/v1alpha1",
            kind: "Location",
            metadata: { name: "frankfurt" },
            spec: {},
          },
        },
        {
          source: "seed",
          body: {
            apiVersion: "unitfleet.io/v1alpha1",
            kind: "Location",
            metadata: { name: "singapore" },
            spec: {},
          },
        },
      ],
      systemCaller,
    );
    for (let i = 0; i < clusterCount; i += 500) {
      const batch = Array.from({ length: Math.min(500, clusterCount - i) }, (_, j) => ({
        source: "seed",
        body: clusterDoc(i + j),
      }));
      await hub.registry.applyAll(batch, systemCaller);
    }
    const seedSeconds = (performance.now() - seedStart) / 1000;
    log(`${store}: seeded ${clusterCount} clusters in ${seedSeconds.toFixed(1)} s`);

    const time = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      return performance.now() - t;
    };
    const all: number[] = [];
    const page: number[] = [];
    const selector: number[] = [];
    let selectorItems = 0;
    for (let r = 0; r < repeats; r++) {
      all.push(await time(() => client.send("GET", `${base}/clusters`)));
      page.push(await time(() => client.send("GET", `${base}/clusters?limit=500`)));
      selector.push(
        await time(async () => {
          const list = await client.send<{ items: unknown[] }>(
            "GET",
            `${base}/clusters?labelSelector=${encodeURIComponent("environment=prod,business=shop")}`,
          );
          selectorItems = list.items.length;
        }),
      );
    }

    // Watch latency: time from a write's response to the event reaching a watcher on the same hub.
    const list = await client.send<{ metadata: { resourceVersion: string } }>(
      "GET",
      `${base}/clusters?limit=1`,
    );
    const arrivals = new Map<string, number>();
    const stop = new AbortController();
    const watching = client.watch(
      `${base}/clusters?watch=true&resourceVersion=${list.metadata.resourceVersion}`,
      (e) => arrivals.set((e.object.metadata as { name: string }).name, performance.now()),
      stop.signal,
    );
    await new Promise((r) => setTimeout(r, 300));
    const watchLatency: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const name = `w-${r}`;
      const sent = performance.now();
      await client.send("POST", `${base}/clusters`, { ...clusterDoc(r), metadata: { name } });
      while (!arrivals.has(name)) await new Promise((res) => setTimeout(res, 1));
      watchLatency.push(arrivals.get(name)! - sent);
    }
    stop.abort();
    await watching;

    const writes = 300;
    const serialStart = performance.now();
    for (let i = 0; i < writes; i++)
      await client.send("POST", `${base}/clusters`, { ...clusterDoc(i), metadata: { name: `s-${i}` } });
    const serial = writes / ((performance.now() - serialStart) / 1000);
    const concurrentStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < writes) {
          const i = next++;
          await client.send("POST", `${base}/clusters`, { ...clusterDoc(i), metadata: { name: `p-${i}` } });
        }
      }),
    );
    const concurrent = writes / ((performance.now() - concurrentStart) / 1000);

    let watched: Figures["watched"];
    if (watchCount > 0) {
      const from = await client.send<{ metadata: { resourceVersion: string } }>("GET", `${base}/locations`);
      const worker = new Worker(new URL("./watch-load.ts", import.meta.url), {
        workerData: {
          server: hub.url,
          token: (await readFile(hub.adminTokenFile, "utf8")).trim(),
          caCert: await readFile(join(dir, "ca.crt"), "utf8"),
          path: `${base}/locations?watch=true&resourceVersion=${from.metadata.resourceVersion}`,
          watches: watchCount,
        },
      });
      const ready = new Promise<void>((resolve) =>
        worker.on("message", (m: { type: string }) => m.type === "ready" && resolve()),
      );
      // Probe writes until every watch has seen one: all are open and streaming.
      for (let probe = 0; ; probe++) {
        await client.send("POST", `${base}/locations`, location(`probe-${probe}`));
        const open = await Promise.race([ready.then(() => true), sleep(2000).then(() => false)]);
        if (open) break;
      }
      const gets: number[] = [];
      const watchedWrites = repeats * 3;
      const start = performance.now();
      for (let r = 0; r < watchedWrites; r++) {
        // Paced: write r goes out at start + r / rate (or at once when the previous one ran late).
        await sleep(start + (r * 1000) / watchRate - performance.now());
        const name = `watched-${r}`;
        worker.postMessage({ type: "sent", name, at: performance.timeOrigin + performance.now() });
        await client.send("POST", `${base}/locations`, location(name));
        gets.push(await time(() => client.send("GET", `${base}/clusters?limit=100`)));
      }
      const writesPerSecond = watchedWrites / ((performance.now() - start) / 1000);
      const done = new Promise<{ lags: number[]; missing: number }>((resolve) =>
        worker.on("message", (m: { type: string; lags: number[]; missing: number }) => {
          if (m.type === "done") resolve(m);
        }),
      );
      worker.postMessage({ type: "finish" });
      const { lags, missing } = await done;
      await worker.terminate();
      if (missing > 0) log(`${store}: ${missing} watch events had not arrived after 60 s (not counted)`);
      watched = {
        lagP50Ms: median(lags),
        lagP99Ms: p99(lags),
        getP50Ms: median(gets),
        getP99Ms: p99(gets),
        writesPerSecond,
      };
      log(`${store}: ${watchCount} watches: ${JSON.stringify(watched)}`);
    }
    client.close();
    return {
      store,
      seedSeconds,
      listAllMs: median(all),
      listAllP95Ms: p95(all),
      listPageMs: median(page),
      listSelectorMs: median(selector),
      selectorItems,
      watchLatencyMs: median(watchLatency),
      watchLatencyP95Ms: p95(watchLatency),
      writesPerSecondSerial: serial,
      writesPerSecondConcurrent8: concurrent,
      ...(watched ? { watched } : {}),
    };
  } finally {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const pg = await startPostgres();
const results: Figures[] = [];
try {
  results.push(await measure("pglite"));
  results.push(await measure("postgres", pg.url));
} finally {
  await pg.stop();
}
const day = `${new Date().toISOString().slice(0, 10)}${values.label ? `-${values.label}` : ""}`;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const [a, b] = results as [Figures, Figures];
const lines = [
  `# Hub benchmark, ${day}`,
  "",
  `Machine: ${cpus()[0]?.model}, ${cpus().length} cores, ${formatBytes(totalmem())} RAM, Linux ${release()}; ${process.version}.`,
  `Command: \`node bench/hub-bench.ts --clusters ${clusterCount} --repeats ${repeats} --watches ${watchCount}\`. Hub over HTTPS on loopback, one process; the client in the same process, the ${watchCount} watches in a worker thread (another core).`,
  `PostgreSQL: a throwaway Debian PostgreSQL server (fsync off). PGlite: in-process, in a data directory. Medians of ${repeats} runs unless noted.`,
  "",
  "| figure | PGlite | PostgreSQL |",
  "| --- | --- | --- |",
  `| seed ${clusterCount} clusters (registry, batches of 500 in one transaction each) | ${a.seedSeconds.toFixed(1)} s | ${b.seedSeconds.toFixed(1)} s |`,
  `| list all ${clusterCount} clusters (JSON) | ${ms(a.listAllMs)} (p95 ${ms(a.listAllP95Ms)}) | ${ms(b.listAllMs)} (p95 ${ms(b.listAllP95Ms)}) |`,
  `| list one page (limit=500) | ${ms(a.listPageMs)} | ${ms(b.listPageMs)} |`,
  `| list with selector environment=prod,business=shop (${a.selectorItems} items) | ${ms(a.listSelectorMs)} | ${ms(b.listSelectorMs)} |`,
  `| watch latency: write acknowledged → event at the watcher | ${ms(a.watchLatencyMs)} (p95 ${ms(a.watchLatencyP95Ms)}) | ${ms(b.watchLatencyMs)} (p95 ${ms(b.watchLatencyP95Ms)}) |`,
  `| writes per second through the API (POST, one client) | ${a.writesPerSecondSerial.toFixed(0)} | ${b.writesPerSecondSerial.toFixed(0)} |`,
  `| writes per second through the API (POST, 8 concurrent clients) | ${a.writesPerSecondConcurrent8.toFixed(0)} | ${b.writesPerSecondConcurrent8.toFixed(0)} |`,
  ...(a.watched && b.watched
    ? [
        `| with ${watchCount} watches open, ${watchRate} writes/s: event lag, write sent → event at each watch | ${ms(a.watched.lagP50Ms)} (p99 ${ms(a.watched.lagP99Ms)}) | ${ms(b.watched.lagP50Ms)} (p99 ${ms(b.watched.lagP99Ms)}) |`,
        `| with ${watchCount} watches open: GET clusters?limit=100 | ${ms(a.watched.getP50Ms)} (p99 ${ms(a.watched.getP99Ms)}) | ${ms(b.watched.getP50Ms)} (p99 ${ms(b.watched.getP99Ms)}) |`,
        `| with ${watchCount} watches open: writes per second reached (paced at ${watchRate}, a GET after each) | ${a.watched.writesPerSecond.toFixed(0)} | ${b.watched.writesPerSecond.toFixed(0)} |`,
      ]
    : []),
  "",
];
await writeFile(join(import.meta.dirname, "results", `hub-${day}.md`), lines.join("\n"));
await writeFile(
  join(import.meta.dirname, "results", `hub-${day}.json`),
  `${JSON.stringify(results, null, 2)}\n`,
);
process.stdout.write(lines.join("\n"));
