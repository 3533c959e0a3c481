/**
 * Lab benchmark: cold build time, `lab up` time of the default topology, and memory per cluster and of etcd.
 *
 *   node bench/lab-bench.ts [--cold] [--runs 3]
 *
 * --cold builds from nothing: empty Go module and build caches and an empty lab cache, all in a temporary
 * folder (the machine's own caches are left alone), so the figure includes downloading every module.
 * Each `lab up` run uses a fresh unitfleet home on ports of its own and is torn down with `down --purge`.
 * Results go to bench/results/lab-<date>.md and .json, with the machine they were measured on.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, freemem, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readEnvironment } from "../src/config/environment.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import { buildLab } from "../src/lab/build/build.ts";
import { labDown, labStatus, labUp } from "../src/lab/lab.ts";
import { labPaths } from "../src/lab/paths.ts";
import { loadTopology } from "../src/lab/topology-file.ts";
import { labVersions } from "../src/lab/versions.ts";

const { values } = parseArgs({
  options: { cold: { type: "boolean" }, runs: { type: "string", default: "3" } },
});
const env = readEnvironment();
const log = (text: string) => process.stderr.write(`[bench] ${text}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

interface Results {
  date: string;
  machine: Record<string, string>;
  versions: typeof labVersions;
  coldBuildSeconds?: number;
  warmRebuildSeconds?: number;
  cachedBuildSeconds: number;
  labUp: { runs: number[]; medianSeconds: number; perClusterMedianSeconds: Record<string, number> };
  memory: {
    etcdBytes: number;
    perCluster: Record<string, { total: number; byComponent: Record<string, number> }>;
    medianClusterBytes: number;
    totalBytes: number;
  };
}

async function coldBuild(): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), "unitfleet-cold-"));
  const goEnv = { ...env.inherited, GOMODCACHE: join(root, "gomod"), GOCACHE: join(root, "gocache") };
  try {
    log(`cold build in ${root} (empty Go module and build caches)…`);
    let last = 0;
    const result = await buildLab({
      paths: labPaths(join(root, "cache"), join(root, "home")),
      environment: goEnv,
      onProgress: (p) => {
        if (Date.now() - last > 60_000 || p.phase === "done") {
          last = Date.now();
          log(`  ${p.step} ${p.phase} ${p.done ?? ""}/${p.total ?? ""}`);
        }
      },
    });
    return result.seconds;
  } finally {
    execFileSync("go", ["clean", "-modcache"], { env: goEnv, stdio: "ignore" });
    await rm(root, { recursive: true, force: true });
  }
}

async function main() {
  const results: Partial<Results> = {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? "?",
      cores: String(cpus().length),
      memory: formatBytes(totalmem()),
      freeMemoryAtStart: formatBytes(freemem()),
      kernel: release(),
      node: process.version,
      go: execFileSync("go", ["version"], { encoding: "utf8" }).trim(),
    },
    versions: labVersions,
  };
  if (values.cold) results.coldBuildSeconds = await coldBuild();

  const paths = labPaths(env.cacheRoot, env.home);
  const warm = await buildLab({ paths, environment: env.inherited, force: true });
  results.warmRebuildSeconds = warm.seconds;
  const t0 = performance.now();
  await buildLab({ paths, environment: env.inherited });
  results.cachedBuildSeconds = (performance.now() - t0) / 1000;
  log(
    `warm rebuild ${warm.seconds.toFixed(1)} s; cached build check ${results.cachedBuildSeconds.toFixed(3)} s`,
  );

  const runs: number[] = [];
  const perCluster: Record<string, number[]> = {};
  const memorySamples: Array<Awaited<ReturnType<typeof labStatus>>> = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const home = await mkdtemp(join(tmpdir(), "unitfleet-bench-"));
    const context = {
      paths: labPaths(env.cacheRoot, home),
      environment: env.inherited,
      onEvent: (e: { type: string; name?: string; seconds?: number }) => {
        if (e.type !== "cluster-ready" || !e.name) return;
        perCluster[e.name] = [...(perCluster[e.name] ?? []), e.seconds ?? 0];
      },
    };
    const topology = await loadTopology(undefined);
    topology.spec.ports = { etcd: 26790, apiServers: 19440 };
    const started = performance.now();
    try {
      await labUp(context, topology, "default");
      runs.push((performance.now() - started) / 1000);
      log(`lab up run ${i + 1}: ${runs.at(-1)!.toFixed(1)} s`);
      // Memory after the clusters have settled for a while, as a user's lab would be.
      await new Promise((r) => setTimeout(r, 30_000));
      memorySamples.push(await labStatus(context));
    } finally {
      await labDown(context, true);
      await rm(home, { recursive: true, force: true });
    }
  }
  results.labUp = {
    runs,
    medianSeconds: median(runs),
    perClusterMedianSeconds: Object.fromEntries(Object.entries(perCluster).map(([k, v]) => [k, median(v)])),
  };
  const last = memorySamples.at(-1)!;
  const clusterMemory = Object.fromEntries(
    last.clusters.map((c) => [
      c.name,
      {
        total: median(memorySamples.map((s) => s.clusters.find((x) => x.name === c.name)!.memoryBytes)),
        byComponent: Object.fromEntries(
          Object.keys(c.processes).map((k) => [
            k,
            median(
              memorySamples.map((s) => s.clusters.find((x) => x.name === c.name)!.processes[k]!.memoryBytes),
            ),
          ]),
        ),
      },
    ]),
  );
  const etcdBytes = median(memorySamples.map((s) => s.etcd.memoryBytes));
  results.memory = {
    etcdBytes,
    perCluster: clusterMemory,
    medianClusterBytes: median(Object.values(clusterMemory).map((c) => c.total)),
    totalBytes: etcdBytes + Object.values(clusterMemory).reduce((n, c) => n + c.total, 0),
  };
  await writeResults(results as Results);
}

async function writeResults(r: Results) {
  const day = r.date.slice(0, 10);
  const base = join(import.meta.dirname, "results", `lab-${day}`);
  await writeFile(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  const s = (x: number) => `${x.toFixed(1)} s`;
  const lines = [
    `# Lab benchmark, ${day}`,
    "",
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memory} RAM, Linux ${r.machine.kernel}; ${r.machine.node}; ${r.machine.go}.`,
    `Versions: Kubernetes v${r.versions.kubernetes}, etcd v${r.versions.etcd}, kwok v${r.versions.kwok}. Command: \`node bench/lab-bench.ts${r.coldBuildSeconds ? " --cold" : ""} --runs ${r.labUp.runs.length}\`.`,
    "",
    "## Build",
    "",
    "| what | time |",
    "| --- | --- |",
    ...(r.coldBuildSeconds !== undefined
      ? [
          `| cold build (empty Go module and build caches: downloads + compiles everything) | ${s(r.coldBuildSeconds)} (${(r.coldBuildSeconds / 60).toFixed(1)} min) |`,
        ]
      : []),
    `| rebuild with warm Go caches (\`lab build --force\`) | ${s(r.warmRebuildSeconds ?? 0)} |`,
    `| \`lab build\` when the cache is complete | ${(r.cachedBuildSeconds * 1000).toFixed(0)} ms |`,
    "",
    `## \`lab up\` of the default topology (${Object.keys(r.memory.perCluster).length} clusters, ${r.labUp.runs.length} runs)`,
    "",
    `Median ${s(r.labUp.medianSeconds)} (runs: ${r.labUp.runs.map(s).join(", ")}), from nothing to every node Ready and every baseline workload available.`,
    "",
    "| cluster | median time to ready | memory (RSS, all 4 processes) | kube-apiserver | controller-manager | scheduler | kwok |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...Object.entries(r.memory.perCluster).map(
      ([name, m]) =>
        `| ${name} | ${s(r.labUp.perClusterMedianSeconds[name] ?? 0)} | ${formatBytes(m.total)} | ${formatBytes(m.byComponent["kube-apiserver"] ?? 0)} | ${formatBytes(m.byComponent["kube-controller-manager"] ?? 0)} | ${formatBytes(m.byComponent["kube-scheduler"] ?? 0)} | ${formatBytes(m.byComponent.kwok ?? 0)} |`,
    ),
    "",
    `etcd (shared by all clusters): ${formatBytes(r.memory.etcdBytes)}. Median cluster: ${formatBytes(r.memory.medianClusterBytes)}. Whole lab: ${formatBytes(r.memory.totalBytes)}.`,
    "Memory is read from /proc/<pid>/status (VmRSS) 30 s after the lab is up; medians over the runs.",
    "",
  ];
  await writeFile(`${base}.md`, lines.join("\n"));
  process.stdout.write(lines.join("\n"));
}

await main();
