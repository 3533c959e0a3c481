/**
 * What metering costs the agent (issue 14): the same `unitfleet agent` process on the same lab cluster (20 kwok
 * nodes, 1,000 pods with usage, bench/agent-metering-topology.yaml), run with metering and with `--no-metering`,
 * alternated (on, off, on, off…) and one after the other (two agents of one cluster would replace each other's
 * session at the hub). Each run is measured over the same window after its tunnel is open and the Cluster Ready:
 * CPU time and RSS from /proc.
 *
 * Two time scales: real time (a minute sample every 60 s, the production figure), and
 * `UNITFLEET_METERING_TIME_SCALE=60` (a sample a second), where the extra CPU time divided by the samples taken
 * gives the cost of one minute sample, measurably. Last, one metered run at scale 60 for `--disk-minutes` real
 * minutes (as many metering hours) says how much the agent keeps on disk in `<agent dir>/metering`.
 *
 *   node bench/agent-metering-bench.ts [--pairs 3] [--measure 120] [--fast-measure 60] [--disk-minutes 4]
 *
 * The lab lives in a temporary home under /tmp on the topology's ports (etcd 26790, API server 19441) and the
 * hub on 19980, away from the default lab and the e2e labs. Results: bench/results/agent-metering-DAY.md.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readEnvironment } from "../src/config/environment.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import { type ClusterStatus, kinds } from "../src/core/resources/kinds.ts";
import { startHub } from "../src/hub/hub.ts";
import { createBootstrapToken } from "../src/hub/joining/joining.ts";
import { systemCaller } from "../src/hub/registry/caller.ts";
import { labDown, labUp } from "../src/lab/lab.ts";
import { labPaths } from "../src/lab/paths.ts";
import { loadTopology } from "../src/lab/topology-file.ts";

const { values } = parseArgs({
  options: {
    pairs: { type: "string", default: "3" },
    measure: { type: "string", default: "120" },
    "fast-measure": { type: "string", default: "60" },
    settle: { type: "string", default: "10" },
    "disk-minutes": { type: "string", default: "4" },
    "hub-port": { type: "string", default: "19980" },
    topology: { type: "string", default: join(import.meta.dirname, "agent-metering-topology.yaml") },
  },
});
const pairs = Number(values.pairs);
const measureSeconds = Number(values.measure);
const fastMeasureSeconds = Number(values["fast-measure"]);
const settleSeconds = Number(values.settle);
const diskMinutes = Number(values["disk-minutes"]);
const hubPort = Number(values["hub-port"]);
const fastScale = 60;
const env = readEnvironment();
const log = (t: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${t}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system; the kernel counts in ticks of 1/100 s) and resident bytes of a process. */
function procStats(pid: number): { cpuSeconds: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, rss };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface RunResult {
  metering: boolean;
  scale: number;
  seconds: number;
  cpuSeconds: number;
  /** CPU time over the window ÷ its length, in percent of one core. */
  cpuPercent: number;
  rssMedian: number;
  /** Minute samples taken in the window (metered runs). */
  samples: number;
  load: number;
}

const home = await mkdtemp("/tmp/unitfleet-meterbench-");
const paths = labPaths(env.cacheRoot, home);
const context = { paths, environment: env.inherited, readyTimeoutMs: 900_000 };
const topology = await loadTopology(values.topology);
const cluster = topology.spec.clusters[0]!;
const pods = (cluster.workloads ?? []).reduce((n, w) => n + w.replicas, 0);
const nodes = cluster.nodePools.reduce((n, p) => n + p.count, 0);
const hubDir = join(home, "hub");
const joinedDir = join(home, "joined");
let agent: ChildProcess | undefined;
try {
  log(`lab up in ${home}: ${cluster.name}, ${nodes} nodes, ${pods} pods`);
  const labStarted = Date.now();
  await labUp(context, topology, values.topology);
  log(`lab Ready in ${((Date.now() - labStarted) / 1000).toFixed(0)} s`);
  const hub = await startHub({ dir: hubDir, host: "127.0.0.1", port: hubPort, log: () => {} });
  await hub.registry.applyAll(
    [
      {
        source: "bench",
        body: {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Location",
          metadata: { name: cluster.location },
          spec: {},
        },
      },
    ],
    systemCaller,
  );
  const { token } = await createBootstrapToken(hub.sql, cluster.location, 600_000, new Date());

  /** Reads the minute samples the agent has taken: those of completed hours (its log) and of the current one. */
  const samplesTaken = async (dir: string, logFile: string): Promise<number> => {
    for (;;) {
      const completed = () =>
        readFileSync(logFile, "utf8")
          .split("\n")
          .filter((l) => l.includes('"usage hour completed"'))
          .reduce((n, l) => n + (JSON.parse(l) as { samples: number }).samples, 0);
      const before = completed();
      const current = await readFile(join(dir, "metering", "current.json"), "utf8")
        .then((t) => (JSON.parse(t) as { samples: number }).samples)
        .catch(() => 0);
      if (completed() === before) return before + current;
    }
  };

  const diskUse = async (dir: string): Promise<{ bytes: number; files: number }> => {
    let bytes = 0;
    let files = 0;
    for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      bytes += (await stat(join(entry.parentPath, entry.name))).size;
      files += 1;
    }
    return { bytes, files };
  };

  let runNumber = 0;
  /** One agent process, from start to stop; measured over `seconds` after Ready and a settling time. */
  const run = async (metering: boolean, scale: number, seconds: number) => {
    runNumber += 1;
    const dir = join(home, "agents", `run-${runNumber}`);
    await mkdir(dir, { recursive: true });
    // The same identity every run: the first run joins, the others start from its credentials.
    if (runNumber > 1)
      for (const file of await readdir(joinedDir)) await copyFile(join(joinedDir, file), join(dir, file));
    const logFile = join(dir, "agent.log");
    await writeFile(logFile, "");
    const logStream = createWriteStream(logFile, { flags: "a" });
    agent = spawn(
      process.execPath,
      [
        join(import.meta.dirname, "../bin/unitfleet.ts"),
        "agent",
        ...["--hub", hub.url, "--hub-ca", hub.caFile, "--token", token],
        ...["--kubeconfig", paths.kubeconfig, "--context", cluster.name, "--cluster", cluster.name],
        ...["--location", cluster.location, "--environment", cluster.environment],
        ...["--business", cluster.business, "--dir", dir],
        ...(metering ? [] : ["--no-metering"]),
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...env.inherited, UNITFLEET_HOME: home, UNITFLEET_METERING_TIME_SCALE: String(scale) },
      },
    );
    agent.stderr!.pipe(logStream);
    const exited = new Promise<void>((resolve) => agent!.once("exit", () => resolve()));
    const started = Date.now();
    for (;;) {
      if (agent.exitCode !== null) throw new Error(`the agent exited: see ${logFile}`);
      if (Date.now() - started > 180_000) throw new Error(`the agent was not Ready in 180 s: see ${logFile}`);
      const open = readFileSync(logFile, "utf8").includes('"tunnel open"');
      const c = open
        ? await hub.registry.get(kinds.Cluster, cluster.name, systemCaller).catch(() => undefined)
        : undefined;
      const status = c?.status as ClusterStatus | undefined;
      if (status?.conditions?.some((x) => x.type === "Ready" && x.status === "True")) break;
      await sleep(250);
    }
    const readySeconds = (Date.now() - started) / 1000;
    if (runNumber === 1) {
      await mkdir(joinedDir, { recursive: true });
      for (const file of ["client.crt", "client.key", "hub-ca.crt", "fleet-ca.crt"])
        await copyFile(join(dir, file), join(joinedDir, file)).catch(() => {});
    }
    await sleep(settleSeconds * 1000);
    const pid = agent.pid!;
    const samplesBefore = metering ? await samplesTaken(dir, logFile) : 0;
    const before = procStats(pid);
    const t0 = Date.now();
    const rss: number[] = [];
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(Math.min(5000, seconds * 1000 - (Date.now() - t0)));
      rss.push(procStats(pid).rss);
    }
    const after = procStats(pid);
    const elapsed = (Date.now() - t0) / 1000;
    const samples = metering ? (await samplesTaken(dir, logFile)) - samplesBefore : 0;
    const result: RunResult = {
      metering,
      scale,
      seconds: elapsed,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100,
      rssMedian: median(rss),
      samples,
      load: loadavg()[0]!,
    };
    agent.kill("SIGTERM");
    const killer = setTimeout(() => agent?.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(killer);
    agent = undefined;
    logStream.end();
    log(
      `run ${runNumber}: metering ${metering ? "on " : "off"} ×${scale}, Ready in ${readySeconds.toFixed(1)} s, ` +
        `CPU ${result.cpuPercent.toFixed(2)} %, RSS ${formatBytes(result.rssMedian)}, samples ${samples}, load ${result.load.toFixed(2)}`,
    );
    return { result, dir };
  };

  const results: RunResult[] = [];
  for (const [scale, seconds] of [
    [1, measureSeconds],
    [fastScale, fastMeasureSeconds],
  ] as const) {
    for (let i = 0; i < pairs; i++) {
      results.push((await run(true, scale, seconds)).result);
      results.push((await run(false, scale, seconds)).result);
    }
  }
  log(`disk: one metered run at ×${fastScale} for ${diskMinutes} min`);
  const disk = await run(true, fastScale, diskMinutes * 60);
  const kept = await diskUse(join(disk.dir, "metering"));
  const hourFiles = (await readdir(join(disk.dir, "metering", "hours"))).filter((f) => f.endsWith(".json"));
  const hourBytes = await Promise.all(
    hourFiles.map(async (f) => (await stat(join(disk.dir, "metering", "hours", f))).size),
  );
  await hub.close();

  // Per scale: medians of each mode's runs, and the median of the pairs' differences (on − off).
  const summary = [1, fastScale].map((scale) => {
    const on = results.filter((r) => r.scale === scale && r.metering);
    const off = results.filter((r) => r.scale === scale && !r.metering);
    const diffs = on.map((r, i) => ({
      cpu: r.cpuPercent - off[i]!.cpuPercent,
      rss: r.rssMedian - off[i]!.rssMedian,
      perSample:
        r.samples > 0 ? (r.cpuSeconds - off[i]!.cpuSeconds * (r.seconds / off[i]!.seconds)) / r.samples : 0,
    }));
    return {
      scale,
      on,
      off,
      cpuOn: median(on.map((r) => r.cpuPercent)),
      cpuOff: median(off.map((r) => r.cpuPercent)),
      cpuDiff: median(diffs.map((d) => d.cpu)),
      rssOn: median(on.map((r) => r.rssMedian)),
      rssOff: median(off.map((r) => r.rssMedian)),
      rssDiff: median(diffs.map((d) => d.rss)),
      samples: median(on.map((r) => r.samples)),
      perSample: median(diffs.map((d) => d.perSample)),
    };
  });
  const [real, fast] = summary as [(typeof summary)[0], (typeof summary)[0]];
  // One sample a minute: the CPU time of a sample spread over 60 s, in millicores (and percent of a core).
  const realTimeMillicores = (fast.perSample / 60) * 1000;
  const perHour = hourBytes.length > 0 ? median(hourBytes) : 0;
  /** A difference with its sign, and no "-0.00" for one that rounds to zero. */
  const signed = (x: number, digits: number) => {
    const rounded = Number(x.toFixed(digits)) || 0;
    return `${rounded >= 0 ? "+" : ""}${rounded.toFixed(digits)}`;
  };
  const signedBytes = (x: number) => `${x >= 0 ? "+" : "−"}${formatBytes(Math.abs(x))}B`;
  const day = new Date().toISOString().slice(0, 10);
  const cpu0 = cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    `# Agent metering benchmark, ${day}`,
    "",
    `Machine: ${cpu0}, ${cpus().length} cores, ${formatBytes(totalmem())} RAM, Linux ${release()}; Node ${process.version}.`,
    "Other test runs shared the machine (1-minute load average per run below).",
    `Command: \`node bench/agent-metering-bench.ts --pairs ${pairs} --measure ${measureSeconds} --fast-measure ${fastMeasureSeconds} --disk-minutes ${diskMinutes}\`.`,
    "",
    `One \`unitfleet agent\` process for the lab cluster ${cluster.name} (${nodes} kwok nodes, ${pods} pods in`,
    `${cluster.workloads?.length ?? 0} Deployments, each pod with usage annotations: bench/agent-metering-topology.yaml),`,
    "with metering and with `--no-metering`, alternated (on, off, on, off…), one process at a time, reporting",
    `to a hub on the same machine. Each run is measured from ${settleSeconds} s after its tunnel is open and the`,
    `Cluster Ready, over ${measureSeconds} s at real time and ${fastMeasureSeconds} s at`,
    `\`UNITFLEET_METERING_TIME_SCALE=${fastScale}\` (a minute sample every second): CPU is the process's user + system`,
    "time over the window (/proc/PID/stat) in percent of one core, RSS the median of readings every 5 s",
    "(/proc/PID/status). A minute sample lists pods, nodes, ReplicaSets, Jobs, claims and Services and reads every",
    "node's kubelet resource metrics.",
    "",
    "| time scale | figure | metering on (median) | metering off (median) | difference (median of pairs) |",
    "| --- | --- | --- | --- | --- |",
    ...summary.flatMap((s) => [
      `| ×${s.scale} | CPU, % of a core | ${s.cpuOn.toFixed(2)} | ${s.cpuOff.toFixed(2)} | ${signed(s.cpuDiff, 2)} |`,
      `| ×${s.scale} | RSS | ${formatBytes(s.rssOn)} | ${formatBytes(s.rssOff)} | ${signedBytes(s.rssDiff)} |`,
      `| ×${s.scale} | minute samples in the window | ${s.samples} | – | – |`,
    ]),
    "",
    `Cost of one minute sample (×${fastScale}: extra CPU time of each pair ÷ the samples its metered run took, median):`,
    `**${(fast.perSample * 1000).toFixed(1)} ms of CPU**. At one sample a minute that is`,
    `**${realTimeMillicores.toFixed(2)} millicores** (${(realTimeMillicores / 10).toFixed(3)} % of a core) on average,`,
    `beside the ${signed(real.cpuDiff * 10, 1)} millicores measured directly at real time.`,
    "",
    `Disk kept (\`<agent dir>/metering\`) after ${diskMinutes} real minutes at ×${fastScale} (${diskMinutes} metering hours):`,
    `${formatBytes(kept.bytes)}B in ${kept.files} files, ${hourFiles.length} completed hours of ${formatBytes(perHour)}B each (median)`,
    `for ${pods} pods in ${cluster.workloads?.length ?? 0} workloads and ${nodes} nodes; the agent keeps at most 48 hours, so`,
    `about ${formatBytes(perHour * 48)}B at most for this cluster.`,
    "",
    "Runs, in order:",
    "",
    "| # | metering | scale | window s | CPU s | CPU % | RSS median | samples | load |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...[...results, disk.result].map(
      (r, i) =>
        `| ${i + 1} | ${r.metering ? "on" : "off"} | ×${r.scale} | ${r.seconds.toFixed(0)} | ${r.cpuSeconds.toFixed(2)} | ${r.cpuPercent.toFixed(2)} | ${formatBytes(r.rssMedian)} | ${r.samples} | ${r.load.toFixed(2)} |`,
    ),
    "",
  ];
  await writeFile(join(import.meta.dirname, "results", `agent-metering-${day}.md`), lines.join("\n"));
  process.stdout.write(lines.join("\n"));
} finally {
  agent?.kill("SIGKILL");
  await labDown(context, true);
  await rm(home, { recursive: true, force: true });
}
