/** `unitfleet lab …`: build, start, inspect and stop the local fleet of real Kubernetes control planes. */
import { spawn } from "node:child_process";
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import { formatBytes } from "../../core/quantity/quantity.ts";
import type { BuildProgress } from "../../lab/build/build.ts";
import type { LabContext, LabEvent, LabStatus } from "../../lab/lab.ts";
import { binaryPath, labPaths } from "../../lab/paths.ts";
import { labVersions } from "../../lab/versions.ts";
import { type OutputFormat, outputOption, printStructured } from "../output/format.ts";
import { progressLine } from "../output/progress.ts";
import { renderTable } from "../output/table.ts";

export function labCommand(env: Environment): Command {
  const lab = new Command("lab").description(
    "a local fleet of real Kubernetes control planes (etcd, kube-apiserver, controller manager, scheduler, kwok nodes)",
  );
  const paths = labPaths(env.cacheRoot, env.home);
  const out = (text: string) => process.stdout.write(text);
  // The lab's code (processes, PKI, YAML topologies) loads when a subcommand runs, not for --help.
  const labCode = () => import("../../lab/lab.ts");

  lab
    .command("build")
    .description(
      `build the lab's binaries from the Go module proxy (Kubernetes v${labVersions.kubernetes}, etcd v${labVersions.etcd}, kwok v${labVersions.kwok})`,
    )
    .option("--force", "build again even when the cache is complete")
    .action(async (options: { force?: boolean }) => {
      await build(env, options.force ?? false);
    });

  lab
    .command("up")
    .description("build if needed, then start every cluster of the topology, one after another")
    .option("-f, --file <topology.yaml>", "topology file (default: the shipped two-Location estate)")
    .action(async (options: { file?: string }) => {
      const [{ labStatus, labUp }, { loadTopology }] = await Promise.all([
        labCode(),
        import("../../lab/topology-file.ts"),
      ]);
      const topology = await loadTopology(options.file);
      await build(env, false);
      const progress = progressLine(process.stderr);
      const started = Date.now();
      process.once("SIGINT", () => {
        progress.done();
        process.stderr.write(
          "\ninterrupted: what was started keeps running; `unitfleet lab up` resumes, `unitfleet lab down` stops it\n",
        );
        process.exit(130);
      });
      try {
        await labUp(
          context(env, (e) => reportLabEvent(e, progress)),
          topology,
          options.file ?? "(default topology)",
        );
      } finally {
        progress.done();
      }
      progress.log(`lab up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      out(`${statusTable(await labStatus(context(env)), "table")}\n`);
      out(`\nkubeconfig: ${paths.kubeconfig}\n`);
      out(
        `try: unitfleet lab kubectl --context ${topology.spec.clusters[0]?.name} get nodes -L topology.kubernetes.io/zone\n`,
      );
    });

  lab
    .command("status")
    .description("show each cluster: up or down, API URL, nodes Ready, version, memory of its processes")
    .addOption(outputOption())
    .action(async (options: { output: OutputFormat }) => {
      const status = await (await labCode()).labStatus(context(env));
      if (!(await printStructured(options.output, status, out)))
        out(`${statusTable(status, options.output)}\n`);
    });

  lab
    .command("kubeconfig")
    .description("print the path of the lab's kubeconfig (one context per cluster)")
    .action(() => {
      out(`${paths.kubeconfig}\n`);
    });

  lab
    .command("stop")
    .description("stop one cluster's processes, keeping its data")
    .argument("<cluster>")
    .action(async (name: string) => {
      const stopped = await (await labCode()).labStopCluster(context(env), name);
      out(`cluster ${name} stopped (${stopped} processes)\n`);
    });

  lab
    .command("start")
    .description("start a stopped cluster again, with its objects")
    .argument("<cluster>")
    .action(async (name: string) => {
      const progress = progressLine(process.stderr);
      try {
        await (await labCode()).labStartCluster(
          context(env, (e) => reportLabEvent(e, progress)),
          name,
        );
      } finally {
        progress.done();
      }
    });

  lab
    .command("down")
    .description("stop every process the lab started (by pid)")
    .option("--purge", "also delete the lab's data, certificates and logs")
    .action(async (options: { purge?: boolean }) => {
      const { stopped } = await (await labCode()).labDown(context(env), options.purge ?? false);
      out(`lab down: ${stopped} processes stopped${options.purge ? `, ${paths.stateDir} deleted` : ""}\n`);
    });

  lab
    .command("kubectl")
    .description(
      "run the lab's kubectl with the lab's kubeconfig (e.g. `lab kubectl --context fra-shop-prod get nodes`)",
    )
    .allowUnknownOption()
    .helpOption(false)
    .argument("[args...]")
    .action(async (args: string[]) => {
      const code = await new Promise<number>((resolve) => {
        const child = spawn(binaryPath(paths, "kubectl"), args, {
          stdio: "inherit",
          env: { ...env.inherited, KUBECONFIG: paths.kubeconfig },
        });
        child.on("error", () => resolve(127));
        child.on("exit", (c) => resolve(c ?? 1));
      });
      process.exitCode = code;
    });

  return lab;
}

function context(env: Environment, onEvent?: (e: LabEvent) => void): LabContext {
  return {
    paths: labPaths(env.cacheRoot, env.home),
    environment: env.inherited,
    ...(onEvent ? { onEvent } : {}),
  };
}

async function build(env: Environment, force: boolean): Promise<void> {
  const progress = progressLine(process.stderr);
  try {
    await buildWithProgress(env, progress, force);
  } finally {
    progress.done();
  }
}

/** Builds the lab's binaries if needed, drawing progress on `progress` (shared with `unitfleet up`). */
export async function buildWithProgress(
  env: Environment,
  progress: ReturnType<typeof progressLine>,
  force = false,
): Promise<void> {
  const { buildLab } = await import("../../lab/build/build.ts");
  const result = await buildLab({
    paths: labPaths(env.cacheRoot, env.home),
    environment: env.inherited,
    force,
    onProgress: (p) => reportBuild(p, progress),
  });
  if (!result.cached)
    progress.log(`lab build complete in ${formatSeconds(result.seconds)}: ${result.binDir}`);
}

function reportBuild(p: BuildProgress, progress: ReturnType<typeof progressLine>): void {
  const prefix = `[${p.index}/${p.steps}] ${p.step}`;
  switch (p.phase) {
    case "cached":
      progress.log(
        `lab binaries are built (Kubernetes v${labVersions.kubernetes}, etcd v${labVersions.etcd}, kwok v${labVersions.kwok}): ${p.detail}`,
      );
      break;
    case "start":
      progress.log(`${prefix}${p.detail ? ` ${p.detail}` : ""}…`);
      break;
    case "download":
      progress.update(`${prefix}: ${p.detail ?? "downloading modules"}`);
      break;
    case "compile":
      progress.update(
        p.total
          ? `${prefix}: compiling ${bar(p.done ?? 0, p.total)} ${p.done}/${p.total} packages`
          : `${prefix}: ${p.detail ?? "compiling"}`,
      );
      break;
    case "done":
      progress.log(`${prefix} done${p.detail ? `: ${p.detail}` : ""}`);
      break;
  }
}

/** Draws the lab's events (shared with `unitfleet up`). */
export function reportLabEvent(e: LabEvent, progress: ReturnType<typeof progressLine>): void {
  switch (e.type) {
    case "etcd-starting":
      progress.update(`starting etcd on ${e.url}`);
      break;
    case "etcd-ready":
      progress.log(e.reused ? "etcd already running" : `etcd ready in ${e.seconds.toFixed(1)} s`);
      break;
    case "cluster-starting":
      progress.update(`[${e.index}/${e.total}] ${e.name}: starting kube-apiserver`);
      break;
    case "cluster-step":
      progress.update(`${e.name}: ${e.step}`);
      break;
    case "cluster-ready":
      progress.log(
        e.reused
          ? `${e.name} already running at ${e.url}`
          : `${e.name} ready in ${e.seconds.toFixed(1)} s: ${e.url}, ${e.nodes} nodes Ready`,
      );
      break;
    case "process-stopped":
      progress.log(`stopped ${e.name} (pid ${e.pid})`);
      break;
  }
}

function statusTable(status: LabStatus, format: OutputFormat): string {
  const wide = format === "wide";
  const headers = [
    "name",
    "location",
    "region",
    "env",
    "business",
    "status",
    "api",
    "nodes",
    "version",
    "memory",
  ];
  if (wide) headers.push("pids");
  const rows = status.clusters.map((c) => {
    const row = [
      c.name,
      c.location,
      c.region || "-",
      c.environment,
      c.business,
      c.state,
      c.apiUrl,
      `${c.nodesReady}/${c.nodesTotal}`,
      c.version || "-",
      c.memoryBytes ? formatBytes(c.memoryBytes) : "-",
    ];
    if (wide)
      row.push(
        Object.entries(c.processes)
          .map(([k, p]) => `${k}=${p.running ? p.pid : "-"}`)
          .join(","),
      );
    return row;
  });
  const etcd = `etcd ${status.etcd.state} at ${status.etcd.url}${status.etcd.memoryBytes ? ` (${formatBytes(status.etcd.memoryBytes)})` : ""}`;
  return `${renderTable(headers, rows)}\n${etcd}`;
}

function bar(done: number, total: number, width = 20): string {
  const filled = Math.round((done / Math.max(total, 1)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

function formatSeconds(seconds: number): string {
  return seconds >= 60
    ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
    : `${seconds.toFixed(1)} s`;
}
