/**
 * One agent's footprint on a lab cluster: idle CPU and memory of a `unitfleet agent` process reporting
 * fra-shop-prod (8 nodes, 3 Deployments, 21 pods) to a hub, over a minute after it is Ready.
 *
 *   node bench/agent-bench.ts [--measure 60]
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
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

const { values } = parseArgs({ options: { measure: { type: "string", default: "60" } } });
const measureSeconds = Number(values.measure);
const env = readEnvironment();
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);

function stats(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
  return { cpu: (Number(f[11]) + Number(f[12])) / 100, rss };
}

const home = await mkdtemp(join(tmpdir(), "unitfleet-agentbench-"));
const paths = labPaths(env.cacheRoot, home);
const context = { paths, environment: env.inherited };
const topology = await loadTopology(undefined);
topology.spec.ports = { etcd: 27790, apiServers: 20440 };
const hubDir = join(home, "hub");
try {
  log("lab up");
  await labUp(context, topology, "default");
  const hub = await startHub({ dir: hubDir, host: "127.0.0.1", port: 0, log: () => {} });
  await hub.registry.applyAll(
    [
      {
        source: "bench",
        body: {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Location",
          metadata: { name: "frankfurt" },
          spec: {},
        },
      },
    ],
    systemCaller,
  );
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 600_000, new Date());
  const agent = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../bin/unitfleet.ts"),
      "agent",
      "--hub",
      hub.url,
      "--hub-ca",
      hub.caFile,
      "--token",
      token,
      "--kubeconfig",
      paths.kubeconfig,
      "--context",
      "fra-shop-prod",
      "--cluster",
      "fra-shop-prod",
      "--location",
      "frankfurt",
      "--environment",
      "prod",
      "--business",
      "shop",
      "--dir",
      join(home, "agent"),
    ],
    { stdio: "ignore", env: { ...env.inherited, UNITFLEET_HOME: home } },
  );
  for (;;) {
    const c = await hub.registry.get(kinds.Cluster, "fra-shop-prod", systemCaller).catch(() => undefined);
    if (
      ((c?.status as ClusterStatus | undefined)?.conditions ?? []).some(
        (x) => x.type === "Ready" && x.status === "True",
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 500));
  }
  log("agent Ready; settling 10 s, then measuring");
  await new Promise((r) => setTimeout(r, 10_000));
  const before = stats(agent.pid!);
  const rss: number[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < measureSeconds * 1000) {
    await new Promise((r) => setTimeout(r, 5000));
    rss.push(stats(agent.pid!).rss);
  }
  const after = stats(agent.pid!);
  const millicores = ((after.cpu - before.cpu) / ((Date.now() - t0) / 1000)) * 1000;
  agent.kill("SIGTERM");
  await hub.close();
  const sorted = [...rss].sort((a, b) => a - b);
  const day = new Date().toISOString().slice(0, 10);
  const lines = [
    `# Agent benchmark, ${day}`,
    "",
    `Machine: ${cpus()[0]?.model}, ${cpus().length} cores, ${formatBytes(totalmem())} RAM, Linux ${release()}; ${process.version}.`,
    `Command: \`node bench/agent-bench.ts --measure ${measureSeconds}\`. One \`unitfleet agent\` process reporting the lab's`,
    "fra-shop-prod (8 nodes, 3 Deployments, 21 pods; informers on nodes, Deployments, StatefulSets, DaemonSets) to a hub",
    "on the same machine, heartbeats every 10 s, measured after it was Ready and had settled for 10 s.",
    "",
    "| figure | unitfleet agent | Karmada agent (its users' figure, for scale) |",
    "| --- | --- | --- |",
    `| idle CPU | ${millicores.toFixed(1)} millicores | 40m |`,
    `| memory (RSS, median of samples every 5 s) | ${formatBytes(sorted[Math.floor(sorted.length / 2)]!)} | 266 MiB |`,
    "",
  ];
  await writeFile(join(import.meta.dirname, "results", `agent-${day}.md`), lines.join("\n"));
  process.stdout.write(lines.join("\n"));
} finally {
  await labDown(context, true);
  await rm(home, { recursive: true, force: true });
}
