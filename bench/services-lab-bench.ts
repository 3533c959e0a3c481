/**
 * Multi-cluster services on the lab (issue 15: "Export → import p99 under 2 s over 100 exports, and unexport →
 * gone p99 under 2 s"). The default lab's six real clusters, with a hub, the relay of each Location and an agent
 * per cluster in-process (test/e2e/lab-fleet.ts, as the MCS end-to-end tests run them). In one Frankfurt cluster,
 * `--exports` Deployments (kwok pods) and Services are created and left to become ready; then a ServiceExport is
 * applied for each, one every `--interval` ms (open loop: none waits for the one before). Watches on the other
 * Frankfurt clusters (ServiceImports and imported EndpointSlices of the namespace) time each export until its
 * ServiceImport, with a virtual IP and a ready endpoint in its slices, is there. Then each ServiceExport is
 * deleted at the same pace and timed until its ServiceImport and slices are gone. The consumers' API writes per
 * change come from their agents' counters. Singapore is checked to hold none of it. Everything created is removed.
 *
 *   node bench/services-lab-bench.ts [--exports 100] [--interval 500] [--exporter fra-shop-prod]
 *                                    [--home DIR (a lab already up there)] [--port-shift N] [--note TEXT]
 *
 * Without `--home` the bench brings up its own lab in a temporary home on etcd 27790 and API servers from 20441
 * (plus `--port-shift`, default `UNITFLEET_E2E_PORT_SHIFT`), and removes it at the end. The binaries must be built
 * (`unitfleet up` or an end-to-end run builds them). Results: bench/results/services-lab-DAY.md.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import type { RunningAgent } from "../src/agent/agent.ts";
import { kubeServicesCluster } from "../src/agent/kube/services-cluster-api.ts";
import { readEnvironment } from "../src/config/environment.ts";
import { mcsApiVersion } from "../src/core/multicluster-services/object-names.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import type { Topology } from "../src/core/topology/topology.ts";
import { buildIsComplete } from "../src/lab/build/build.ts";
import { labDown, labUp } from "../src/lab/lab.ts";
import { binaryPath, labPaths } from "../src/lab/paths.ts";
import { readState } from "../src/lab/state.ts";
import { loadTopology } from "../src/lab/topology-file.ts";
import { type LabFleet, startLabFleet } from "../test/e2e/lab-fleet.ts";

const env = readEnvironment();
const { values } = parseArgs({
  options: {
    exports: { type: "string", default: "100" },
    interval: { type: "string", default: "500" },
    exporter: { type: "string", default: "fra-shop-prod" },
    home: { type: "string" },
    "port-shift": { type: "string", default: env.inherited.UNITFLEET_E2E_PORT_SHIFT ?? "0" },
    note: { type: "string", default: "" },
  },
});
const exportCount = Number(values.exports);
const intervalMs = Number(values.interval);
const exporter = values.exporter;
const portShift = Number(values["port-shift"]);
for (const [flag, n] of [
  ["--exports", exportCount],
  ["--interval", intervalMs],
  ["--port-shift", portShift],
] as const)
  if (!Number.isInteger(n) || n < 0 || (flag === "--exports" && (n < 1 || n > 500))) {
    process.stderr.write(
      `${flag}: must be a whole number${flag === "--exports" ? " from 1 to 500" : " ≥ 0"}\n`,
    );
    process.exit(2);
  }

const namespace = "mcs-lab-bench";
const serviceName = (i: number) => `svc-${String(i).padStart(3, "0")}`;
const run = promisify(execFile);
const log = (t: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${t}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const ms = (x: number) => `${x.toFixed(0)} ms`;
const figures = (xs: readonly number[]) =>
  `${ms(percentile(xs, 50))} | ${ms(percentile(xs, 99))} | ${ms(Math.max(...xs))} | ${xs.length}`;

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Slice {
  metadata: { name: string; labels?: Record<string, string> };
  endpoints?: Array<{ conditions?: { ready?: boolean } }>;
}
interface Imported {
  metadata: { name: string };
  spec?: { ips?: string[] };
}

/**
 * What one consumer cluster holds of the bench's namespace, kept by two watches (ServiceImports and the
 * EndpointSlices unitfleet imported), and the moment each import became usable or was gone.
 */
class ConsumerWatch {
  readonly imports = new Map<string, Imported>();
  readonly slices = new Map<string, Slice>();
  /** Since when each service's import is usable: a ServiceImport with an IP and a ready endpoint in its slices. */
  readonly usableSince = new Map<string, number>();
  /** Since when each service's ServiceImport and slices are all gone (after having been there). */
  readonly goneSince = new Map<string, number>();
  readonly #controllers: AbortController[] = [];
  #stopped = false;
  restarts = 0;

  readonly cluster: string;
  readonly kc: KubeConfig;

  constructor(cluster: string, kc: KubeConfig) {
    this.cluster = cluster;
    this.kc = kc;
  }

  async start(): Promise<void> {
    await this.#watch(
      `/apis/multicluster.x-k8s.io/v1beta1/namespaces/${namespace}/serviceimports`,
      {},
      "import",
    );
    await this.#watch(
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      { labelSelector: "endpointslice.kubernetes.io/managed-by=mcs.unitfleet.io" },
      "slice",
    );
  }

  stop(): void {
    this.#stopped = true;
    for (const c of this.#controllers) c.abort();
  }

  async #watch(path: string, query: Record<string, string>, what: "import" | "slice"): Promise<void> {
    const store = what === "import" ? this.imports : this.slices;
    const controller = await new Watch(this.kc).watch(
      path,
      query,
      (phase, object: Imported & Slice) => {
        const now = performance.now();
        if (phase === "DELETED") store.delete(object.metadata.name);
        else if (phase === "ADDED" || phase === "MODIFIED") store.set(object.metadata.name, object);
        else return;
        const service =
          what === "import"
            ? object.metadata.name
            : object.metadata.labels?.["multicluster.kubernetes.io/service-name"];
        if (service) this.#observe(service, now);
      },
      (error) => {
        if (this.#stopped) return;
        // A watch the API server ended: open it again (its ADDED events bring the store up to date).
        this.restarts += 1;
        log(`${this.cluster}: ${what} watch ended (${error ?? "closed"}); watching again`);
        void this.#watch(path, query, what);
      },
    );
    this.#controllers.push(controller);
  }

  #observe(service: string, now: number): void {
    const slices = [...this.slices.values()].filter(
      (s) => s.metadata.labels?.["multicluster.kubernetes.io/service-name"] === service,
    );
    const serviceImport = this.imports.get(service);
    const usable =
      (serviceImport?.spec?.ips?.length ?? 0) > 0 &&
      slices.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready !== false));
    if (usable && !this.usableSince.has(service)) this.usableSince.set(service, now);
    if (
      !serviceImport &&
      slices.length === 0 &&
      this.usableSince.has(service) &&
      !this.goneSince.has(service)
    )
      this.goneSince.set(service, now);
  }
}

const manifests = (count: number) => ({
  apiVersion: "v1",
  kind: "List",
  items: Array.from({ length: count }, (_, i) => serviceName(i)).flatMap((name) => [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: "app",
                image: "registry.example/app:1.0",
                ports: [{ name: "http", containerPort: 8080 }],
                resources: { requests: { cpu: "10m", memory: "16Mi" } },
              },
            ],
            tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: {
        selector: { app: name },
        ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
      },
    },
  ]),
});

interface WriteCounts {
  apiWrites: number;
  applies: number;
  statusApplies: number;
  deletes: number;
}
const writesOf = (agent: RunningAgent): WriteCounts => {
  const c = agent.services!.counters();
  return {
    apiWrites: c.apiWrites,
    applies: c.imports.applies,
    statusApplies: c.imports.statusApplies,
    deletes: c.imports.deletes,
  };
};
const minus = (a: WriteCounts, b: WriteCounts): WriteCounts => ({
  apiWrites: a.apiWrites - b.apiWrites,
  applies: a.applies - b.applies,
  statusApplies: a.statusApplies - b.statusApplies,
  deletes: a.deletes - b.deletes,
});

async function main(): Promise<void> {
  const started = new Date();
  const loads: Array<[string, number]> = [["start", loadavg()[0]!]];
  const ownLab = values.home === undefined;
  // The binaries live in the cache, whatever the home.
  if (!(await buildIsComplete(labPaths(env.cacheRoot, values.home ?? tmpdir()))))
    throw new Error(`the lab's binaries are not built in ${env.cacheRoot}: run \`unitfleet up\` once first`);
  const home = values.home ?? (await mkdtemp(join(tmpdir(), "unitfleet-mcs-lab-bench-")));
  const paths = labPaths(env.cacheRoot, home);
  const labContext = { paths, environment: env.inherited };
  let topology: Topology = await loadTopology(undefined);
  topology.spec.ports = { etcd: 27790 + portShift, apiServers: 20440 + portShift };
  let fleet: LabFleet | undefined;
  const watches: ConsumerWatch[] = [];
  const kubectl = (context: string, args: string[]) =>
    run(binaryPath(paths, "kubectl"), ["--kubeconfig", paths.kubeconfig, "--context", context, ...args], {
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    }).then((r) => r.stdout);
  let clusters: string[] = [];
  const cleanUp = async () => {
    for (const w of watches) w.stop();
    await fleet?.stop().catch(() => {});
    if (ownLab) {
      log("removing the bench's lab");
      await labDown(labContext, true).catch((e) => log(`lab down: ${e}`));
      await rm(home, { recursive: true, force: true });
    } else {
      log(`deleting namespace ${namespace} in ${clusters.length} clusters`);
      await Promise.all(
        clusters.map((c) =>
          kubectl(c, ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true"]).catch((e) =>
            log(`${c}: ${e}`),
          ),
        ),
      );
    }
  };
  process.once("SIGINT", () => {
    log("interrupted: cleaning up");
    void cleanUp().finally(() => process.exit(130));
  });

  try {
    if (ownLab) {
      const t = Date.now();
      log(`bringing up the default lab in ${home} (etcd ${topology.spec.ports.etcd})`);
      await labUp(labContext, topology, "default topology (services lab bench ports)");
      log(`lab up in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } else {
      // A lab already up: its own topology (ports included).
      const state = await readState(paths.stateFile);
      if (!state) throw new Error(`--home: no lab in ${home} (run \`unitfleet lab up\` there first)`);
      topology = state.topology;
    }
    clusters = topology.spec.clusters.map((c) => c.name);
    const location = topology.spec.clusters.find((c) => c.name === exporter)?.location;
    if (!location) throw new Error(`--exporter: no cluster ${exporter} in the lab's topology`);
    const consumers = topology.spec.clusters.filter((c) => c.location === location && c.name !== exporter);
    const elsewhere = topology.spec.clusters.filter((c) => c.location !== location).map((c) => c.name);
    const sharedLab = { home, cacheRoot: env.cacheRoot, kubeconfig: paths.kubeconfig, topology };
    fleet = await startLabFleet(sharedLab, { prefix: "unitfleet-mcs-lab-bench-" });
    log(`fleet up: ${clusters.length} clusters Ready`);

    await Promise.all(
      clusters.map(async (c) => {
        await kubectl(c, ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true"]);
        await kubectl(c, ["create", "namespace", namespace]);
      }),
    );
    const file = join(fleet.dir, "workloads.json");
    await writeFile(file, JSON.stringify(manifests(exportCount)));
    await kubectl(exporter, ["apply", "--server-side", "-f", file]);
    await until(
      `a ready endpoint for each of the ${exportCount} Services in ${exporter}`,
      async () => {
        const list = JSON.parse(
          await kubectl(exporter, ["get", "endpointslices", "-n", namespace, "-o", "json"]),
        ) as { items: Slice[] };
        const ready = new Set(
          list.items
            .filter((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready !== false))
            .map((s) => s.metadata.labels?.["kubernetes.io/service-name"]),
        );
        return ready.size === exportCount;
      },
      300_000,
    );
    log(`${exportCount} Services with a ready endpoint in ${exporter}`);

    const kubeConfigOf = (cluster: string) => {
      const kc = new KubeConfig();
      kc.loadFromFile(paths.kubeconfig);
      kc.setCurrentContext(cluster);
      return kc;
    };
    for (const c of consumers) {
      const w = new ConsumerWatch(c.name, kubeConfigOf(c.name));
      await w.start();
      watches.push(w);
    }
    const exporterApi = kubeServicesCluster(kubeConfigOf(exporter));
    const agentOf = (c: string) => fleet!.agents.get(c)!;
    // Let the resyncs and the Deployments' own status churn settle before counting.
    await sleep(3000);

    // Export, one every `intervalMs`.
    const before = new Map(consumers.map((c) => [c.name, writesOf(agentOf(c.name))]));
    const exporterBefore = agentOf(exporter).services!.counters().imports.exportStatusWrites;
    const exportedAt = new Map<string, number>();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: exportCount }, async (_, i) => {
        await sleep(Math.max(0, t0 + i * intervalMs - performance.now()));
        const name = serviceName(i);
        exportedAt.set(name, performance.now());
        await exporterApi.apply(
          { apiVersion: mcsApiVersion, kind: "ServiceExport", metadata: { name, namespace } },
          "unitfleet-bench",
        );
      }),
    );
    const names = Array.from({ length: exportCount }, (_, i) => serviceName(i));
    await until(
      `every import usable in ${consumers.map((c) => c.name).join(", ")}`,
      async () => watches.every((w) => names.every((n) => w.usableSince.has(n))),
      180_000,
    );
    log("every export imported everywhere");
    loads.push(["after the exports", loadavg()[0]!]);
    await sleep(3000);
    const afterExports = new Map(consumers.map((c) => [c.name, writesOf(agentOf(c.name))]));
    const exporterStatusWrites =
      agentOf(exporter).services!.counters().imports.exportStatusWrites - exporterBefore;
    const inSingapore = await Promise.all(
      elsewhere.map(async (c) => {
        const list = JSON.parse(
          await kubectl(c, ["get", "serviceimports,endpointslices", "-n", namespace, "-o", "json"]),
        ) as { items: unknown[] };
        return list.items.length;
      }),
    );

    // Unexport, at the same pace.
    const unexportedAt = new Map<string, number>();
    const t1 = performance.now();
    await Promise.all(
      names.map(async (name, i) => {
        await sleep(Math.max(0, t1 + i * intervalMs - performance.now()));
        unexportedAt.set(name, performance.now());
        await exporterApi.delete({ apiVersion: mcsApiVersion, kind: "ServiceExport", namespace, name });
      }),
    );
    await until(
      "every import gone",
      async () => watches.every((w) => names.every((n) => w.goneSince.has(n))),
      180_000,
    );
    log("every import gone everywhere");
    loads.push(["after the unexports", loadavg()[0]!]);
    await sleep(3000);
    const afterUnexports = new Map(consumers.map((c) => [c.name, writesOf(agentOf(c.name))]));

    // Figures.
    const importLatency = (w: ConsumerWatch) => names.map((n) => w.usableSince.get(n)! - exportedAt.get(n)!);
    const goneLatency = (w: ConsumerWatch) => names.map((n) => w.goneSince.get(n)! - unexportedAt.get(n)!);
    const everywhere = (of: (w: ConsumerWatch) => number[]) =>
      names.map((_, i) => Math.max(...watches.map((w) => of(w)[i]!)));
    const importAll = everywhere(importLatency);
    const goneAll = everywhere(goneLatency);
    const day = started.toISOString().slice(0, 10);
    const cpu = cpus();
    const lines: string[] = [
      `# Multi-cluster services on the lab, ${day} — export → import, unexport → gone (issue 15)`,
      "",
      `Machine: ${cpu[0]?.model ?? "?"}, ${cpu.length} cores, ${formatBytes(totalmem())} RAM, Linux ${release()}; Node ${process.version}.`,
      `Command: \`node bench/services-lab-bench.ts --exports ${exportCount} --interval ${intervalMs} --exporter ${exporter}${ownLab ? ` --port-shift ${portShift}` : " --home …"}\`, started ${started.toISOString().slice(0, 16).replace("T", " ")} UTC.`,
      `Load (1-minute average): ${loads.map(([when, l]) => `${l.toFixed(2)} ${when}`).join(", ")}.${values.note ? ` ${values.note}` : ""}`,
      "",
      `The default lab (${clusters.length} real clusters: etcd, kube-apiserver, controller-manager, scheduler, kwok nodes) with a`,
      "hub, the relay of each Location and an agent per cluster in one Node process, as test/e2e runs them; the",
      "watches that time the imports run in the same process. In",
      `${exporter}, ${exportCount} Deployments (one kwok pod each) and Services were created and became ready first; then a`,
      `ServiceExport was applied for each, one every ${intervalMs} ms (open loop), and later deleted at the same pace.`,
      "Timed from the request to the exporter's API server until a watch on the consumer saw the ServiceImport with a",
      "virtual IP and a ready endpoint in its slices (export), or saw the ServiceImport and its slices all gone (unexport).",
      "",
      "| what | p50 | p99 | max | n |",
      "| --- | --- | --- | --- | --- |",
      `| export → import usable in every consumer (${consumers.length}) | ${figures(importAll)} |`,
      ...watches.map((w) => `| export → import usable in ${w.cluster} | ${figures(importLatency(w))} |`),
      `| unexport → gone from every consumer | ${figures(goneAll)} |`,
      ...watches.map((w) => `| unexport → gone from ${w.cluster} | ${figures(goneLatency(w))} |`),
      "",
      `Issue 15's target, p99 under 2 s: export → import **${percentile(importAll, 99) < 2000 ? "met" : "not met"}** (${ms(percentile(importAll, 99))} in every consumer), unexport → gone **${percentile(goneAll, 99) < 2000 ? "met" : "not met"}** (${ms(percentile(goneAll, 99))}).`,
      "",
      "API writes into each consumer (its agent's counters: every apply, status apply and delete), per change:",
      "",
      "| consumer | writes per export | (applies / status / deletes) | writes per unexport | (applies / status / deletes) |",
      "| --- | --- | --- | --- | --- |",
      ...consumers.map((c) => {
        const e = minus(afterExports.get(c.name)!, before.get(c.name)!);
        const u = minus(afterUnexports.get(c.name)!, afterExports.get(c.name)!);
        const per = (n: number) => (n / exportCount).toFixed(2);
        return `| ${c.name} | ${per(e.apiWrites)} | ${per(e.applies)} / ${per(e.statusApplies)} / ${per(e.deletes)} | ${per(u.apiWrites)} | ${per(u.applies)} / ${per(u.statusApplies)} / ${per(u.deletes)} |`;
      }),
      "",
      `The exporter wrote ${(exporterStatusWrites / exportCount).toFixed(2)} ServiceExport statuses per export (its Valid and Conflict conditions).`,
      `Other Locations (${elsewhere.join(", ")}), checked after the exports: ${inSingapore.reduce((a, b) => a + b, 0)} ServiceImports or slices in ${namespace}.`,
      `Watch restarts during the run: ${watches.reduce((n, w) => n + w.restarts, 0)}.`,
      "",
      "Samples, export → import in every consumer (ms, in export order):",
      importAll.map((x) => x.toFixed(0)).join(" "),
      "",
      "Samples, unexport → gone from every consumer (ms):",
      goneAll.map((x) => x.toFixed(0)).join(" "),
      "",
    ];
    const out = join(import.meta.dirname, "results", `services-lab-${day}.md`);
    await writeFile(out, `${lines.join("\n")}`);
    process.stdout.write(`${lines.join("\n")}\n`);
    log(`written to ${out}`);
  } finally {
    await cleanUp();
  }
}

await main();
