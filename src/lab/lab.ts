/**
 * The lab: one shared etcd and, per cluster, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
 * started one cluster after another on loopback ports, with fake nodes and baseline workloads from the
 * topology. Processes outlive the CLI; the state file records them so that `down`, `stop` and `start` act on
 * exactly those pids.
 */
import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { stringify } from "yaml";
import type { Topology } from "../core/topology/topology.ts";
import { UserError } from "../errors/user-error.ts";
import { KubeHttp, type NodeList, readyNodes } from "./kube-http.ts";
import { withLock } from "./lock.ts";
import type { LabPaths } from "./paths.ts";
import { ensurePki, ensureServiceAccountKeys, pkiFiles } from "./pki.ts";
import {
  type ClusterPlan,
  componentOrder,
  kubeconfigFor,
  kwokClusterConfig,
  type LabPlan,
  type ProcessSpec,
  planLab,
  podLogText,
} from "./plan.ts";
import {
  isRunning,
  type ProcessRecord,
  residentBytes,
  type Started,
  sleep,
  startProcess,
  stopProcess,
} from "./processes.ts";
import { type LabState, readState, writeState } from "./state.ts";

/** What the lab reports while it works. */
export type LabEvent =
  | { type: "etcd-starting"; url: string }
  | { type: "etcd-ready"; seconds: number; reused: boolean }
  | { type: "cluster-starting"; name: string; index: number; total: number }
  | { type: "cluster-step"; name: string; step: string }
  | { type: "cluster-ready"; name: string; seconds: number; nodes: number; url: string; reused: boolean }
  | { type: "process-stopped"; name: string; pid: number };

export interface LabContext {
  paths: LabPaths;
  /** Variables the lab's processes inherit. */
  environment: Readonly<Record<string, string>>;
  onEvent?: (event: LabEvent) => void;
  /** How long one cluster may take to become ready. */
  readyTimeoutMs?: number;
}

const defaultReadyTimeoutMs = 240_000;

/**
 * Brings the lab up: starts whatever of it is not running, cluster after cluster, and returns once every
 * cluster serves its API with all nodes Ready and its baseline workloads available.
 */
export async function labUp(
  context: LabContext,
  topology: Topology,
  topologySource: string,
): Promise<LabState> {
  return withLock(context.paths.lockFile, () => up(context, topology, topologySource));
}

async function up(context: LabContext, topology: Topology, topologySource: string): Promise<LabState> {
  const { paths } = context;
  const existing = await readState(paths.stateFile);
  if (existing && JSON.stringify(existing.topology) !== JSON.stringify(topology)) {
    throw new UserError(
      "LabAlreadyRunning",
      `the lab in ${paths.stateDir} was made from another topology (${existing.topologySource})`,
      {
        hint: "run `unitfleet lab down --purge` to remove it first, or bring it up with its own file",
      },
    );
  }
  const state: LabState = existing ?? {
    version: 1,
    topologySource,
    topology,
    createdAt: new Date().toISOString(),
    processes: {},
  };
  const plan = planLab(topology, paths);
  await assertPortsFree(plan, state);
  await mkdir(paths.logsDir, { recursive: true });
  const pki = await ensurePki(paths.pkiDir, new Date());
  await writeKubeconfigs(plan, paths);
  await writeState(paths.stateFile, state);

  await ensureEtcd(context, plan, state);
  for (const cluster of plan.clusters) {
    context.onEvent?.({
      type: "cluster-starting",
      name: cluster.name,
      index: cluster.index + 1,
      total: plan.clusters.length,
    });
    await startCluster(context, cluster, state, pki);
  }
  return state;
}

/** Stops every process the lab started (by pid); with `purge`, also deletes its data. */
export async function labDown(context: LabContext, purge: boolean): Promise<{ stopped: number }> {
  return withLock(context.paths.lockFile, () => down(context, purge));
}

async function down(context: LabContext, purge: boolean): Promise<{ stopped: number }> {
  const { paths } = context;
  const state = await readState(paths.stateFile);
  let stopped = 0;
  if (state) {
    const plan = planLab(state.topology, paths);
    // Clusters stop side by side (each API server takes a second or two to shut down); etcd, which they all
    // use, after them.
    const perCluster = await Promise.all(
      plan.clusters.map((cluster) => stopCluster(context, cluster, state)),
    );
    stopped += perCluster.reduce((n, count) => n + count, 0);
    stopped += await stopRecorded(context, state, "etcd");
    await writeState(paths.stateFile, state);
  }
  if (purge) await rm(paths.stateDir, { recursive: true, force: true });
  return { stopped };
}

/** Stops one cluster's processes; its data stays in etcd. */
export async function labStopCluster(context: LabContext, name: string): Promise<number> {
  return withLock(context.paths.lockFile, async () => {
    const { state, cluster } = await requireCluster(context, name);
    const stopped = await stopCluster(context, cluster, state);
    await writeState(context.paths.stateFile, state);
    return stopped;
  });
}

/** Starts one stopped cluster again, with the objects it had. */
export async function labStartCluster(context: LabContext, name: string): Promise<void> {
  return withLock(context.paths.lockFile, async () => {
    const { state, cluster, plan } = await requireCluster(context, name);
    await assertPortsFree(plan, state, [cluster.name]);
    await ensureEtcd(context, plan, state);
    await startCluster(context, cluster, state, await ensurePki(context.paths.pkiDir, new Date()));
  });
}

export interface ClusterStatus {
  name: string;
  location: string;
  region: string;
  environment: string;
  business: string;
  /** up: API answers and every process runs; degraded: some run; down: none. */
  state: "up" | "degraded" | "down";
  apiUrl: string;
  nodesReady: number;
  nodesTotal: number;
  version: string;
  memoryBytes: number;
  processes: Record<string, { pid: number; running: boolean; memoryBytes: number }>;
}

export interface LabStatus {
  stateDir: string;
  kubeconfig: string;
  topologySource: string;
  etcd: { state: "up" | "down"; url: string; pid: number; memoryBytes: number };
  clusters: ClusterStatus[];
}

/** Reads the state of every cluster: processes, API health, nodes Ready, version and memory. */
export async function labStatus(context: LabContext): Promise<LabStatus> {
  const { paths } = context;
  const state = await readState(paths.stateFile);
  if (!state) throw notRunning(paths);
  const plan = planLab(state.topology, paths);
  const pki = pkiFiles(paths.pkiDir);
  const etcdRecord = state.processes.etcd;
  const etcdUp = etcdRecord !== undefined && isRunning(etcdRecord);
  const clusters = await Promise.all(
    plan.clusters.map(async (cluster): Promise<ClusterStatus> => {
      const processes: ClusterStatus["processes"] = {};
      for (const component of componentOrder) {
        const record = state.processes[cluster.components[component].name];
        const running = record !== undefined && isRunning(record);
        processes[component] = {
          pid: record?.pid ?? 0,
          running,
          memoryBytes: running && record ? residentBytes(record.pid) : 0,
        };
      }
      let version = "";
      let nodesReady = 0;
      let apiAnswers = false;
      if (processes["kube-apiserver"]?.running) {
        const api = new KubeHttp(cluster.apiUrl, pki);
        try {
          const v = await api.get<{ gitVersion: string }>("/version", 3000);
          const nodes = await api.get<NodeList>("/api/v1/nodes", 3000);
          version = v.body.gitVersion;
          nodesReady = nodes.status === 200 ? readyNodes(nodes.body) : 0;
          apiAnswers = v.status === 200;
        } catch {
          // The process runs but does not answer (yet): reported as degraded.
        } finally {
          api.close();
        }
      }
      const running = Object.values(processes).filter((p) => p.running).length;
      return {
        name: cluster.name,
        location: cluster.cluster.location,
        region: cluster.cluster.region ?? "",
        environment: cluster.cluster.environment,
        business: cluster.cluster.business,
        state:
          running === 0
            ? "down"
            : running === componentOrder.length && apiAnswers && etcdUp
              ? "up"
              : "degraded",
        apiUrl: cluster.apiUrl,
        nodesReady,
        nodesTotal: cluster.nodes.length,
        version,
        memoryBytes: Object.values(processes).reduce((sum, p) => sum + p.memoryBytes, 0),
        processes,
      };
    }),
  );
  return {
    stateDir: paths.stateDir,
    kubeconfig: paths.kubeconfig,
    topologySource: state.topologySource,
    etcd: {
      state: etcdUp ? "up" : "down",
      url: plan.etcd.url,
      pid: etcdRecord?.pid ?? 0,
      memoryBytes: etcdUp && etcdRecord ? residentBytes(etcdRecord.pid) : 0,
    },
    clusters,
  };
}

/** Every pid the lab has recorded, running or not (tests use it to check that `down` leaves nothing). */
export async function labProcessRecords(paths: LabPaths): Promise<Record<string, ProcessRecord>> {
  return (await readState(paths.stateFile))?.processes ?? {};
}

async function requireCluster(context: LabContext, name: string) {
  const state = await readState(context.paths.stateFile);
  if (!state) throw notRunning(context.paths);
  const plan = planLab(state.topology, context.paths);
  const cluster = plan.clusters.find((c) => c.name === name);
  if (!cluster)
    throw new UserError("NotFound", `the lab has no cluster named "${name}"`, {
      hint: `its clusters are: ${plan.clusters.map((c) => c.name).join(", ")}`,
    });
  return { state, plan, cluster };
}

function notRunning(paths: LabPaths): UserError {
  return new UserError("LabNotRunning", `no lab has been brought up in ${paths.stateDir}`, {
    hint: "run `unitfleet lab up` first",
  });
}

async function ensureEtcd(context: LabContext, plan: LabPlan, state: LabState): Promise<void> {
  const record = state.processes.etcd;
  const started = Date.now();
  if (record && isRunning(record)) {
    context.onEvent?.({ type: "etcd-ready", seconds: 0, reused: true });
    return;
  }
  context.onEvent?.({ type: "etcd-starting", url: plan.etcd.url });
  const proc = await launch(context, plan.etcd, state);
  await waitFor(
    async () => {
      const res = await fetch(`${plan.etcd.url}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok && ((await res.json()) as { health?: string }).health === "true";
    },
    { what: "etcd to report healthy", timeoutMs: 60_000, watch: [[plan.etcd, proc]] },
  );
  context.onEvent?.({ type: "etcd-ready", seconds: (Date.now() - started) / 1000, reused: false });
}

async function startCluster(
  context: LabContext,
  cluster: ClusterPlan,
  state: LabState,
  pki: ReturnType<typeof pkiFiles>,
) {
  const { paths } = context;
  const started = Date.now();
  const timeoutMs = context.readyTimeoutMs ?? defaultReadyTimeoutMs;
  const step = (text: string) => context.onEvent?.({ type: "cluster-step", name: cluster.name, step: text });
  const alreadyRunning = componentOrder.every((c) => {
    const record = state.processes[cluster.components[c].name];
    return record !== undefined && isRunning(record);
  });
  await ensureServiceAccountKeys(paths.pkiDir, cluster.name);
  await writeKwokFiles(cluster, new Date());
  const watched: Array<[ProcessSpec, Started | undefined]> = [];
  const api = new KubeHttp(cluster.apiUrl, pki);
  try {
    const apiSpec = cluster.components["kube-apiserver"];
    watched.push([apiSpec, await launch(context, apiSpec, state)]);
    await waitFor(async () => (await api.get("/readyz", 3000)).status === 200, {
      what: `${cluster.name}'s API server to become ready`,
      timeoutMs,
      watch: watched,
    });
    step("API server ready");
    for (const component of componentOrder.slice(1)) {
      const spec = cluster.components[component];
      watched.push([spec, await launch(context, spec, state)]);
    }
    for (const node of cluster.nodes) await api.create("/api/v1/nodes", node);
    step(`${cluster.nodes.length} nodes created`);
    await waitFor(
      async () => (await api.get("/api/v1/namespaces/default/serviceaccounts/default")).status === 200,
      {
        what: `${cluster.name}'s controller manager to create the default service account`,
        timeoutMs,
        watch: watched,
      },
    );
    for (const namespace of new Set(cluster.workloads.map((w) => w.metadata.namespace)))
      await api.create("/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: namespace },
      });
    for (const workload of cluster.workloads)
      await api.create(`/apis/apps/v1/namespaces/${workload.metadata.namespace}/deployments`, workload);
    await waitFor(
      async () => readyNodes((await api.get<NodeList>("/api/v1/nodes")).body) === cluster.nodes.length,
      {
        what: `${cluster.name}'s ${cluster.nodes.length} nodes to become Ready (kwok)`,
        timeoutMs,
        watch: watched,
      },
    );
    step("nodes Ready");
    await waitFor(async () => workloadsAvailable(api, cluster), {
      what: `${cluster.name}'s baseline workloads to become available (kube-scheduler, kwok)`,
      timeoutMs,
      watch: watched,
    });
  } finally {
    api.close();
  }
  context.onEvent?.({
    type: "cluster-ready",
    name: cluster.name,
    seconds: (Date.now() - started) / 1000,
    nodes: cluster.nodes.length,
    url: cluster.apiUrl,
    reused: alreadyRunning,
  });
}

async function workloadsAvailable(api: KubeHttp, cluster: ClusterPlan): Promise<boolean> {
  for (const w of cluster.workloads) {
    const res = await api.get<{ status?: { readyReplicas?: number } }>(
      `/apis/apps/v1/namespaces/${w.metadata.namespace}/deployments/${w.metadata.name}`,
    );
    if ((res.body.status?.readyReplicas ?? 0) < (w.spec.replicas as number)) return false;
  }
  return true;
}

/** Starts a process unless the recorded one still runs; records it in the state at once. */
async function launch(context: LabContext, spec: ProcessSpec, state: LabState): Promise<Started | undefined> {
  const record = state.processes[spec.name];
  if (record && isRunning(record)) return undefined;
  const started = await startProcess(spec, context.environment);
  state.processes[spec.name] = started.record;
  await writeState(context.paths.stateFile, state);
  return started;
}

async function stopCluster(context: LabContext, cluster: ClusterPlan, state: LabState): Promise<number> {
  let stopped = 0;
  for (const component of [...componentOrder].reverse())
    stopped += await stopRecorded(context, state, cluster.components[component].name);
  return stopped;
}

async function stopRecorded(context: LabContext, state: LabState, name: string): Promise<number> {
  const record = state.processes[name];
  if (!record) return 0;
  const wasRunning = isRunning(record);
  await stopProcess(record);
  delete state.processes[name];
  if (wasRunning) context.onEvent?.({ type: "process-stopped", name, pid: record.pid });
  return wasRunning ? 1 : 0;
}

/**
 * Polls `check` until it holds. Fails early, with the tail of its log, when a watched process exits, and
 * after `timeoutMs` with the tails of the logs of everything watched.
 */
async function waitFor(
  check: () => Promise<boolean>,
  options: { what: string; timeoutMs: number; watch: Array<[ProcessSpec, Started | undefined]> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const exits = options.watch.map(([spec, started]) => ({
    spec,
    code: undefined as number | null | undefined,
    started,
  }));
  for (const exit of exits) exit.started?.exited.then((code) => (exit.code = code));
  let delay = 100;
  while (true) {
    const dead = exits.find((e) => e.code !== undefined);
    if (dead) {
      throw new UserError(
        "ComponentFailed",
        `${dead.spec.name} exited (code ${dead.code}) while waiting for ${options.what}`,
        {
          logTail: logTail(dead.spec.logFile),
          logFile: dead.spec.logFile,
          hint: "fix what the log says, then run `unitfleet lab up` again (it starts only what is not running)",
        },
      );
    }
    try {
      if (await check()) return;
    } catch {
      // Not answering yet.
    }
    if (Date.now() > deadline) {
      const last = options.watch.at(-1)?.[0];
      throw new UserError(
        "ComponentFailed",
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what}`,
        {
          logTail: last ? logTail(last.logFile) : [],
          ...(last ? { logFile: last.logFile } : {}),
          hint: "the machine may be overloaded; see the logs in the lab's logs folder, run `unitfleet lab down` and try again",
        },
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 1000);
  }
}

function logTail(file: string, lines = 15): string[] {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines);
  } catch {
    return [];
  }
}

async function writeKubeconfigs(plan: LabPlan, paths: LabPaths): Promise<void> {
  await mkdir(paths.stateDir, { recursive: true });
  await writeFile(paths.kubeconfig, stringify(kubeconfigFor(plan.clusters, paths.pkiDir)), { mode: 0o600 });
  for (const cluster of plan.clusters) {
    await mkdir(cluster.dir, { recursive: true });
    await writeFile(cluster.componentKubeconfig, stringify(kubeconfigFor([cluster], paths.pkiDir)), {
      mode: 0o600,
    });
  }
}

/** The pod log kwok serves for the cluster's pods, and kwok's config (pod log, usage, resource metrics). */
async function writeKwokFiles(cluster: ClusterPlan, now: Date): Promise<void> {
  await mkdir(cluster.dir, { recursive: true });
  await writeFile(cluster.podLogFile, podLogText(cluster.name, now));
  await writeFile(
    cluster.kwokConfig,
    kwokClusterConfig(cluster)
      .map((doc) => stringify(doc))
      .join("---\n"),
  );
}

/** Fails, listing every busy port and its intended owner, when a port the lab needs is taken. */
async function assertPortsFree(plan: LabPlan, state: LabState, only?: string[]): Promise<void> {
  const runningOwners = new Set<string>();
  if (state.processes.etcd && isRunning(state.processes.etcd)) {
    runningOwners.add("etcd (client)");
    runningOwners.add("etcd (peer)");
  }
  for (const cluster of plan.clusters) {
    const record = state.processes[cluster.components["kube-apiserver"].name];
    if (record && isRunning(record)) runningOwners.add(`${cluster.name} API server`);
    const kwok = state.processes[cluster.components.kwok.name];
    if (kwok && isRunning(kwok)) runningOwners.add(`${cluster.name} kwok server`);
  }
  const wanted = plan.ports.filter(
    (p) =>
      !runningOwners.has(p.owner) &&
      (!only || only.some((name) => p.owner.startsWith(`${name} `)) || p.owner.startsWith("etcd")),
  );
  const busy: Array<{ port: number; owner: string }> = [];
  for (const p of wanted) if (!(await portFree(p.port))) busy.push(p);
  if (busy.length > 0) {
    throw new UserError(
      "PortInUse",
      `${busy.length === 1 ? "a port" : "ports"} the lab needs ${busy.length === 1 ? "is" : "are"} in use by another process`,
      {
        problems: busy.map((b) => ({ path: `127.0.0.1:${b.port}`, message: `needed for ${b.owner}` })),
        hint: "stop what listens there (`ss -ltnp` shows it), or give the lab other ports in the topology's spec.ports",
      },
    );
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}
