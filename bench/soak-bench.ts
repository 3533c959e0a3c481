/**
 * Chaos soak (a benchmark, not CI): the whole of `unitfleet up` at real intervals — the lab's clusters, a hub,
 * one relay per Location and one agent per cluster, each a separate `unitfleet` process joined with bootstrap
 * tokens as "Joining clusters by hand" in the README does — for a given time, while a seeded random generator
 * stops and starts a relay, an agent, the hub or a lab cluster every few minutes, and the fleet is checked every
 * 10 s against these invariants:
 *
 * - every cluster Ready at the hub, except the faulted ones until `recoveryAllowanceMs` after they are back;
 * - the hub's figures (nodes and pods per Cluster) equal the lab's API servers', at most `settleMs` apart;
 * - the storefront example keeps its replicas: its Deployments across the lab sum to what it wants, and are
 *   ready, once faults have healed;
 * - nothing is deleted that the user did not delete: no object labelled `unitfleet.io/application` disappears
 *   (or is replaced: a new uid) from a cluster whose API server answers, unless the placement left the cluster;
 * - relay queues bounded, and nothing dropped (the relays' own "relay queue" log lines);
 * - hub and relay memory flat: RSS sampled each minute, median of the last quarter against the first.
 *
 *   node bench/soak-bench.ts [--minutes 60] [--seed 1] [--fault-every-min 2-5] [--keep]
 *
 * The lab runs in its own home (a temporary folder) on its own ports (etcd 26790, API servers 19441…: away from the default lab, the e2e labs and the lifecycle test), the hub on
 * 6543, relays on 7543…. Results go to bench/results/soak-<date>.md; the exit code is 1 on any violation.
 * Ctrl-C stops every process it started and removes the temporary folder (--keep leaves it, with the logs).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { stringify } from "yaml";
import { HubClient } from "../src/cli/client/hub-client.ts";
import { readEnvironment } from "../src/config/environment.ts";
import { SeededRandom } from "../src/core/planning/seeded-random.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import type { Application, Cluster } from "../src/core/resources/kinds.ts";
import { buildLab } from "../src/lab/build/build.ts";
import { KubeHttp } from "../src/lab/kube-http.ts";
import { labDown, labStartCluster, labStopCluster, labUp } from "../src/lab/lab.ts";
import { labPaths } from "../src/lab/paths.ts";
import { pkiFiles } from "../src/lab/pki.ts";
import { planLab } from "../src/lab/plan.ts";
import { residentBytes } from "../src/lab/processes.ts";
import { loadTopology } from "../src/lab/topology-file.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "60" },
    seed: { type: "string", default: "1" },
    "fault-every-min": { type: "string", default: "2-5" },
    keep: { type: "boolean", default: false },
  },
});
const minutes = Number(values.minutes);
const seed = Number(values.seed);
const faultEvery = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(values["fault-every-min"]);
{
  const problems: string[] = [];
  if (!Number.isFinite(minutes) || minutes <= 0) problems.push(`--minutes: must be a positive number`);
  if (!Number.isInteger(seed)) problems.push(`--seed: must be a whole number`);
  if (!faultEvery || Number(faultEvery[1]) > Number(faultEvery[2]) || Number(faultEvery[1]) <= 0)
    problems.push(
      `--fault-every-min: must be A-B minutes with 0 < A ≤ B, got "${values["fault-every-min"]}"`,
    );
  if (problems.length > 0) {
    process.stderr.write(`error: invalid flags: ${problems.join("; ")}\n`);
    process.exit(2);
  }
}
const faultEveryMs = [Number(faultEvery![1]) * 60_000, Number(faultEvery![2]) * 60_000] as const;

/** How often the invariants are checked. */
const checkEveryMs = 10_000;
/** How often memory and the relays' queue lines are sampled. */
const sampleEveryMs = 60_000;
/**
 * How long after a faulted component is back its clusters may still be not Ready or reported wrongly: the
 * agents' reconnection backoff (at most 30 s), a heartbeat (10 s) and the hub's health loop (2 s), with margin.
 */
const recoveryAllowanceMs = 60_000;
/** How long the hub's figures, or the storefront's replicas, may be off (inventory and rollouts travelling). */
const settleMs = 30_000;
/** No relay's metadata queue may hold more than this at once. */
const queueBound = 200;
/** Memory counts as flat when the last quarter's median RSS is within this factor (plus slack) of the first's. */
const memoryGrowthFactor = 1.25;
const memorySlackBytes = 32 * 1024 * 1024;

const hubPort = 6543;
const relayBasePort = 7543;
const labPorts = { etcd: 26790, apiServers: 19440 };
const storefrontReplicas = 6; // what examples/storefront/ wants

const repositoryRoot = join(import.meta.dirname, "..");
const env = readEnvironment();
const random = new SeededRandom(seed);
const startedAt = Date.now();
const elapsed = (at = Date.now()) => {
  const s = Math.max(0, Math.round((at - startedAt) / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const log = (text: string) => process.stderr.write(`[soak ${elapsed()}] ${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms).unref(),
    ),
  ]);

// ——— the temporary home and the processes started in it ———

const root = await mkdtemp(join(tmpdir(), "unitfleet-soak-"));
// The fleet runs from a copy of the code taken now: a process a fault restarts an hour later runs the same code
// as at the start, whatever is edited in the working tree meanwhile.
const codeDir = join(root, "code");
for (const part of ["bin", "src", "package.json"])
  await cp(join(repositoryRoot, part), join(codeDir, part), { recursive: true });
await symlink(join(repositoryRoot, "node_modules"), join(codeDir, "node_modules"));
const cliPath = join(codeDir, "bin/unitfleet.ts");
const home = join(root, "home");
const childEnv = { ...env.inherited, UNITFLEET_HOME: home };
const paths = labPaths(env.cacheRoot, home);
const labContext = {
  paths,
  environment: env.inherited,
  onEvent: (e: { type: string; name?: string; seconds?: number }) => {
    if (e.type === "cluster-ready") log(`lab: ${e.name} ready in ${e.seconds?.toFixed(1)} s`);
  },
};
const topology = await loadTopology(undefined);
topology.spec.ports = labPorts;
const plan = planLab(topology, paths);
const clusterNames = topology.spec.clusters.map((c) => c.name);
const hubLocation = topology.spec.locations[0]!.name;
const hubUrl = `https://127.0.0.1:${hubPort}`;
const hubCaFile = join(home, "hub", "ca.crt");

/** A unitfleet process of the fleet: hub, relay-LOCATION or agent-CLUSTER. */
interface Component {
  name: string;
  kind: "hub" | "relay" | "agent";
  args: string[];
  /** The clusters that go dark while it is down. */
  clusters: string[];
  logFile: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  /** Where the last read of its relay queue lines stopped. */
  queueLogOffset: number;
}

const components = new Map<string, Component>();
let stopping = false;

function startComponent(component: Component): void {
  if (stopping) return;
  const fd = openSync(component.logFile, "a");
  const child = spawn(process.execPath, [cliPath, ...component.args], {
    cwd: repositoryRoot,
    env: childEnv,
    // Its own process group: Ctrl-C reaches the bench, which stops the fleet in order.
    detached: true,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  component.child = child;
  component.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  child.once("exit", (code, signal) => {
    if (stopping || component.child !== child || faultInProgress?.components.includes(component.name)) return;
    violate("components keep running", `${component.name} exited by itself (code ${code}, signal ${signal})`);
    // As a supervisor would: start it again after a pause, so the rest of the soak still means something.
    setTimeout(() => {
      if (component.child === child) startComponent(component);
    }, 10_000);
  });
}

async function stopComponent(component: Component, signal: NodeJS.Signals): Promise<void> {
  const child = component.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const exited = await Promise.race([component.exited!.then(() => true), sleep(20_000).then(() => false)]);
  if (!exited) {
    log(`${component.name} did not stop within 20 s of ${signal}: SIGKILL`);
    child.kill("SIGKILL");
    await component.exited;
  }
}

const logLength = async (component: Component) =>
  (await readFile(component.logFile, "utf8").catch(() => "")).length;
const logSaysSince = async (component: Component, text: string, from: number) =>
  (await readFile(component.logFile, "utf8").catch(() => "")).slice(from).includes(text);

async function untilLogSays(component: Component, text: string, ms: number, from = 0): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await logSaysSince(component, text, from)) return;
    const content = await readFile(component.logFile, "utf8").catch(() => "");
    if (component.child?.exitCode !== null && component.child?.exitCode !== undefined)
      throw new Error(`${component.name} exited: ${content.slice(-2000)}`);
    await sleep(250);
  }
  throw new Error(`${component.name} did not say "${text}" within ${ms} ms`);
}

async function cli(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [cliPath, ...args], {
    cwd: repositoryRoot,
    env: childEnv,
    timeout: 60_000,
  });
  return stdout;
}

let cleanedUp: Promise<void> | undefined;
/** Ctrl-C (or SIGTERM): stop everything, write no results. */
let interrupted = false;
/** Why the run stopped early, if it did. */
let failure: string | undefined;
function cleanup(): Promise<void> {
  cleanedUp ??= (async () => {
    stopping = true;
    log("stopping the fleet…");
    // Agents first, then relays, then the hub, as `up` does.
    for (const kind of ["agent", "relay", "hub"] as const)
      await Promise.all(
        [...components.values()].filter((c) => c.kind === kind).map((c) => stopComponent(c, "SIGTERM")),
      );
    for (const api of apis.values()) api.close();
    await labDown(labContext, true).catch((e: unknown) => log(`lab down: ${(e as Error).message}`));
    if (values.keep) log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  })();
  return cleanedUp;
}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: cleaning up, no results written`);
    void cleanup().finally(() => process.exit(130));
  });

// ——— what the run records ———

interface Violation {
  at: number;
  invariant: string;
  detail: string;
}
interface Fault {
  kind: "relay" | "agent" | "hub" | "lab cluster";
  target: string;
  how: string;
  components: string[];
  clusters: string[];
  downAt: number;
  upAt?: number;
  /** Tunnels that must have opened again, in these components' logs from these offsets. */
  reconnect: Array<{ component: Component; from: number }>;
  /** When every affected cluster was Ready with the lab's figures again, and its tunnels open again. */
  healedAt?: number;
}
const violations: Violation[] = [];
const faults: Fault[] = [];
let faultInProgress: Fault | undefined;
const rssSamples: Array<{ at: number; component: string; bytes: number }> = [];
const queueSamples: Array<{ at: number; relay: string; metadata: number; peak: number; dropped: number }> =
  [];
const heartbeats = { counted: 0, lastScrape: 0 };
let checks = 0;
let removedByPlacement = 0;
let hubUnanswered = 0;

function violate(invariant: string, detail: string): void {
  violations.push({ at: Date.now(), invariant, detail });
  log(`VIOLATION ${invariant}: ${detail}`);
}

/** A condition that counts as a violation once it has held longer than `graceMs`, once per episode. */
const episodes = new Map<string, { since: number; reported: boolean }>();
function condition(
  key: string,
  holds: boolean,
  graceMs: number,
  invariant: string,
  detail: () => string,
): void {
  if (!holds) {
    episodes.delete(key);
    return;
  }
  const episode = episodes.get(key) ?? { since: Date.now(), reported: false };
  episodes.set(key, episode);
  if (!episode.reported && Date.now() - episode.since >= graceMs) {
    episode.reported = true;
    violate(invariant, `${detail()} (for ${Math.round((Date.now() - episode.since) / 1000)} s)`);
  }
}

/** Whether a cluster is excused now: a fault made it dark, or it is within its recovery allowance. */
function excused(cluster: string, at = Date.now()): boolean {
  return faults.some(
    (f) => f.clusters.includes(cluster) && at >= f.downAt && (!f.upAt || at < f.upAt + recoveryAllowanceMs),
  );
}
const hubExcused = (at = Date.now()) =>
  faults.some((f) => f.kind === "hub" && at >= f.downAt && (!f.upAt || at < f.upAt + recoveryAllowanceMs));
const allHealed = () => !faultInProgress && clusterNames.every((c) => !excused(c));

// ——— reading the hub and the lab ———

/** Each lab cluster's API server, once the lab has its certificates. */
const apis = new Map<string, KubeHttp>();
let hub: HubClient;

interface LabObject {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; numberReady?: number };
}

async function labList(cluster: string, path: string): Promise<LabObject[]> {
  const response = await apis.get(cluster)!.get<{ items: LabObject[] }>(path, 5000);
  if (response.status !== 200) throw new Error(`${cluster} ${path}: HTTP ${response.status}`);
  return response.body.items;
}

/** The lab's figures as the agent counts them: nodes, and ready replicas of the cluster's workloads. */
async function labFigures(cluster: string): Promise<{ nodes: number; pods: number }> {
  const [nodes, deployments, statefulSets, daemonSets] = await Promise.all([
    labList(cluster, "/api/v1/nodes"),
    labList(cluster, "/apis/apps/v1/deployments"),
    labList(cluster, "/apis/apps/v1/statefulsets"),
    labList(cluster, "/apis/apps/v1/daemonsets"),
  ]);
  const pods =
    [...deployments, ...statefulSets].reduce((n, w) => n + (w.status?.readyReplicas ?? 0), 0) +
    daemonSets.reduce((n, w) => n + (w.status?.numberReady ?? 0), 0);
  return { nodes: nodes.length, pods };
}

/** The storefront's Deployments across the lab; `answered` is false when some cluster's API did not answer. */
async function readStorefront(): Promise<{ wanted: number; ready: number; answered: boolean }> {
  let wanted = 0;
  let ready = 0;
  let answered = true;
  for (const c of clusterNames) {
    const ds = await labList(
      c,
      "/apis/apps/v1/namespaces/storefront/deployments?labelSelector=unitfleet.io/application=storefront",
    ).catch(() => undefined);
    if (!ds) {
      answered = false;
      continue;
    }
    for (const d of ds) {
      wanted += d.spec?.replicas ?? 0;
      ready += d.status?.readyReplicas ?? 0;
    }
  }
  return { wanted, ready, answered };
}

const hubClusters = async () =>
  (
    await withTimeout(
      hub.send<{ items: Cluster[] }>("GET", "/apis/unitfleet.io/v1alpha1/clusters"),
      5000,
      "list clusters",
    )
  ).items;

/** Heartbeat messages the hub took, summed across its restarts (its counter starts again at 0). */
async function scrapeHeartbeats(): Promise<void> {
  const res = await withTimeout(hub.raw<string>("GET", "/metrics", undefined, "text/plain"), 5000, "metrics");
  const match = /unitfleet_tunnel_messages_total\{type="heartbeat"\} (\d+)/.exec(String(res.body));
  const now = match ? Number(match[1]) : 0;
  heartbeats.counted += now >= heartbeats.lastScrape ? now - heartbeats.lastScrape : now;
  heartbeats.lastScrape = now;
}

// ——— the invariants ———

/** Objects labelled unitfleet.io/application seen so far: key → uid and the application. */
const seen = new Map<string, { uid: string; cluster: string; application: string }>();
const labelledPaths = ["/api/v1/namespaces", "/api/v1/configmaps", "/apis/apps/v1/deployments"];

async function check(): Promise<void> {
  checks += 1;
  const now = Date.now();
  let registered: Cluster[] | undefined;
  try {
    registered = await hubClusters();
    await scrapeHeartbeats();
  } catch (error) {
    hubUnanswered += 1;
    condition("hub answers", !hubExcused(now), 0, "the hub answers", () => (error as Error).message);
  }
  if (registered) {
    condition("hub answers", false, 0, "", () => "");
    // Every cluster Ready (but the faulted ones, until their allowance is over).
    for (const name of clusterNames) {
      const c = registered.find((x) => x.metadata.name === name);
      const ready = c?.status?.conditions?.find((x) => x.type === "Ready");
      condition(
        `ready/${name}`,
        ready?.status !== "True" && !excused(name, now),
        0,
        "every cluster Ready",
        () => `${name}: Ready=${ready?.status} (${ready?.reason}: ${ready?.message})`,
      );
    }
    // The hub's figures equal the lab's.
    const agree = new Map<string, boolean>();
    for (const name of clusterNames) {
      const c = registered.find((x) => x.metadata.name === name);
      const truth = await labFigures(name).catch(() => undefined);
      if (!truth) {
        agree.set(name, false);
        condition(`figures/${name}`, false, settleMs, "", () => "");
        continue;
      }
      const same = c?.status?.nodes?.total === truth.nodes && c?.status?.pods === truth.pods;
      agree.set(name, same);
      condition(
        `figures/${name}`,
        !same && !excused(name, now),
        settleMs,
        "hub figures equal the lab's",
        () =>
          `${name}: hub ${c?.status?.nodes?.total} nodes / ${c?.status?.pods} pods, lab ${truth.nodes} / ${truth.pods}`,
      );
    }
    // Recovery of the faults whose components are back: every affected cluster Ready with the lab's figures.
    for (const f of faults)
      if (f.upAt && !f.healedAt) {
        const healed = f.clusters.every((name) => {
          const c = registered!.find((x) => x.metadata.name === name);
          return (
            c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") && agree.get(name)
          );
        });
        const reconnected = await Promise.all(
          f.reconnect.map((r) => logSaysSince(r.component, '"msg":"tunnel open"', r.from)),
        );
        if (healed && reconnected.every(Boolean)) {
          f.healedAt = now;
          log(`healed: ${f.kind} ${f.target} ${((now - f.upAt) / 1000).toFixed(0)} s after it was back`);
        }
      }
  }
  // No replica lost: the storefront's replicas sum to what it wants, and are ready, once faults have healed.
  const replicas = await readStorefront();
  condition(
    "replicas",
    replicas.answered &&
      allHealed() &&
      (replicas.wanted < storefrontReplicas || replicas.ready < storefrontReplicas),
    settleMs,
    "no replica lost",
    () =>
      `storefront: ${replicas.ready} ready of ${replicas.wanted} in the lab, ${storefrontReplicas} wanted`,
  );
  // Nothing deleted that the user did not delete.
  let placed: Set<string> | undefined;
  try {
    const app = await withTimeout(
      hub.send<Application>("GET", "/apis/unitfleet.io/v1alpha1/applications/storefront"),
      5000,
      "get storefront",
    );
    placed = new Set(
      (app.status?.placement?.clusters ?? []).filter((p) => p.replicas > 0).map((p) => p.name),
    );
  } catch {
    // The hub is down: whether a cluster left the placement is not known; judge at the next check.
  }
  for (const cluster of clusterNames) {
    const present = new Map<string, LabObject>();
    try {
      for (const path of labelledPaths)
        for (const o of await labList(cluster, `${path}?labelSelector=unitfleet.io/application`))
          present.set(
            `${cluster}/${path.split("/").pop()}/${o.metadata.namespace ?? ""}/${o.metadata.name}`,
            o,
          );
    } catch {
      continue; // its API server does not answer
    }
    for (const [key, was] of seen) {
      if (was.cluster !== cluster) continue;
      const now = present.get(key);
      if (now && now.metadata.uid === was.uid) continue;
      if (!placed) continue;
      if (!placed.has(cluster)) {
        removedByPlacement += 1;
        seen.delete(key);
        continue;
      }
      violate(
        "nothing deleted",
        `${key} ${now ? `was replaced (uid ${was.uid} → ${now.metadata.uid})` : "is gone"}`,
      );
      seen.delete(key);
    }
    for (const [key, o] of present)
      seen.set(key, {
        uid: o.metadata.uid ?? "",
        cluster,
        application: o.metadata.labels?.["unitfleet.io/application"] ?? "",
      });
  }
}

/** Memory of every fleet process, and the relays' latest queue lines. */
async function sample(): Promise<void> {
  const at = Date.now();
  for (const c of components.values()) {
    const pid = c.child?.pid;
    if (!pid || c.child?.exitCode !== null || c.child?.signalCode !== null) continue;
    const bytes = residentBytes(pid);
    if (bytes > 0) rssSamples.push({ at, component: c.name, bytes });
  }
  for (const c of components.values()) {
    if (c.kind !== "relay") continue;
    const content = await readFile(c.logFile, "utf8").catch(() => "");
    const fresh = content.slice(c.queueLogOffset);
    c.queueLogOffset = content.length;
    for (const line of fresh.split("\n")) {
      if (!line.includes('"relay queue"')) continue;
      try {
        const entry = JSON.parse(line) as {
          metadata: number;
          peak: number;
          dropped: number;
          bufferDropped: number;
        };
        const dropped = entry.dropped + entry.bufferDropped;
        queueSamples.push({ at, relay: c.name, metadata: entry.metadata, peak: entry.peak, dropped });
        if (entry.peak > queueBound)
          violate("relay queues bounded", `${c.name}: ${entry.peak} messages queued at once`);
        if (dropped > 0) violate("nothing lost", `${c.name}: ${dropped} metadata messages dropped`);
      } catch {
        // A line cut by a restart.
      }
    }
  }
}

// ——— faults ———

async function injectFault(): Promise<void> {
  const kind = random.pick(["relay", "agent", "hub", "lab cluster"] as const);
  const pauseMs = kind === "lab cluster" ? random.int(20, 120) * 1000 : random.int(5, 40) * 1000;
  const at = Date.now();
  let fault: Fault;
  if (kind === "lab cluster") {
    const target = random.pick(clusterNames);
    fault = {
      kind,
      target,
      how: `stopped ${pauseMs / 1000} s`,
      components: [],
      clusters: [target],
      downAt: at,
      reconnect: [],
    };
    faults.push(fault);
    faultInProgress = fault;
    log(`FAULT lab cluster ${target}: stopping its processes for ${pauseMs / 1000} s`);
    await labStopCluster(labContext, target);
    await sleep(pauseMs);
    log(`FAULT lab cluster ${target}: starting it again`);
    await labStartCluster(labContext, target);
  } else {
    const candidates = [...components.values()].filter((c) => c.kind === kind);
    const component = random.pick(candidates);
    const signal: NodeJS.Signals = random.chance(0.3) ? "SIGKILL" : "SIGTERM";
    fault = {
      kind,
      target: component.name,
      how: `${signal}, ${pauseMs / 1000} s down`,
      components: [component.name],
      clusters: component.clusters,
      downAt: at,
      reconnect: [],
    };
    faults.push(fault);
    faultInProgress = fault;
    log(`FAULT ${component.name}: ${signal}, starting again in ${pauseMs / 1000} s`);
    await stopComponent(component, signal);
    await sleep(pauseMs);
    log(`FAULT ${component.name}: starting again`);
    // Healed only once the tunnels that went down are open again: the component's own, and for a relay its
    // agents', for the hub the relays'.
    const dependents = [...components.values()].filter(
      (c) =>
        c === component ||
        (kind === "relay" && c.kind === "agent" && component.clusters.includes(c.clusters[0]!)) ||
        (kind === "hub" && c.kind === "relay"),
    );
    for (const c of dependents)
      if (c.kind !== "hub") fault.reconnect.push({ component: c, from: await logLength(c) });
    const from = await logLength(component);
    startComponent(component);
    if (kind === "hub") await untilHubAnswers(120_000);
    if (kind === "relay") await untilLogSays(component, "serving agents at", 60_000, from);
  }
  fault.upAt = Date.now();
  faultInProgress = undefined;
}

async function untilHubAnswers(ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const token = (await readFile(join(home, "hub", "admin-token"), "utf8")).trim();
      const caCert = await readFile(hubCaFile, "utf8");
      hub = new HubClient({ server: hubUrl, token, caCert });
      const res = await withTimeout(hub.raw("GET", "/readyz"), 3000, "readyz");
      if (res.status === 200) return;
    } catch {
      // Not yet.
    }
    await sleep(500);
  }
  throw new Error(`the hub did not answer at ${hubUrl} within ${ms} ms`);
}

// ——— the run ———

async function setUp(): Promise<void> {
  log(`home ${root}; lab on etcd ${labPorts.etcd}, API servers ${labPorts.apiServers + 1}…`);
  await buildLab({ paths, environment: env.inherited });
  const labStarted = Date.now();
  await labUp(labContext, topology, "(default topology, soak ports)");
  log(`lab up in ${((Date.now() - labStarted) / 1000).toFixed(1)} s`);
  for (const c of plan.clusters) apis.set(c.name, new KubeHttp(c.apiUrl, pkiFiles(paths.pkiDir)));

  const hubComponent: Component = {
    name: "hub",
    kind: "hub",
    args: ["hub", "--listen", `127.0.0.1:${hubPort}`, "--location", hubLocation],
    clusters: clusterNames,
    logFile: join(root, "hub.log"),
    queueLogOffset: 0,
  };
  components.set("hub", hubComponent);
  startComponent(hubComponent);
  await untilHubAnswers(120_000);
  log(`hub answers at ${hubUrl}`);

  const places = [
    ...topology.spec.locations.map((l) => ({
      apiVersion: "unitfleet.io/v1alpha1",
      kind: "Location",
      metadata: { name: l.name },
      spec: {},
    })),
    ...topology.spec.locations.flatMap((l) =>
      (l.regions ?? []).map((r) => ({
        apiVersion: "unitfleet.io/v1alpha1",
        kind: "Region",
        metadata: { name: r.name },
        spec: { location: l.name, zones: r.zones },
      })),
    ),
  ];
  const placesFile = join(root, "places.yaml");
  await writeFile(placesFile, places.map((p) => stringify(p)).join("---\n"));
  await cli(["apply", "-f", placesFile]);

  for (const [i, location] of topology.spec.locations.entries()) {
    const token = (await cli(["token", "create", "--location", location.name, "--ttl", "1h"])).trim();
    const relay: Component = {
      name: `relay-${location.name}`,
      kind: "relay",
      args: [
        "relay",
        ...["--hub", hubUrl, "--hub-ca", hubCaFile, "--token", token, "--location", location.name],
        ...["--hub-location", hubLocation, "--listen", `127.0.0.1:${relayBasePort + i}`],
      ],
      clusters: topology.spec.clusters.filter((c) => c.location === location.name).map((c) => c.name),
      logFile: join(root, `relay-${location.name}.log`),
      queueLogOffset: 0,
    };
    components.set(relay.name, relay);
    startComponent(relay);
    await untilLogSays(relay, "serving agents at", 60_000);
    log(`relay of ${location.name} at https://127.0.0.1:${relayBasePort + i}`);
  }
  for (const c of topology.spec.clusters) {
    const token = (await cli(["token", "create", "--location", c.location, "--ttl", "1h"])).trim();
    const relayIndex = topology.spec.locations.findIndex((l) => l.name === c.location);
    const agent: Component = {
      name: `agent-${c.name}`,
      kind: "agent",
      args: [
        "agent",
        ...[
          "--hub",
          hubUrl,
          "--relay",
          `https://127.0.0.1:${relayBasePort + relayIndex}`,
          "--hub-ca",
          hubCaFile,
        ],
        ...["--token", token, "--kubeconfig", paths.kubeconfig, "--context", c.name, "--cluster", c.name],
        ...["--location", c.location, ...(c.region ? ["--region", c.region] : [])],
        ...["--environment", c.environment, "--business", c.business],
      ],
      clusters: [c.name],
      logFile: join(root, `agent-${c.name}.log`),
      queueLogOffset: 0,
    };
    components.set(agent.name, agent);
    startComponent(agent);
  }
  const deadline = Date.now() + 180_000;
  for (;;) {
    const ready = (await hubClusters().catch(() => [])).filter((c) =>
      c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"),
    );
    if (ready.length === clusterNames.length) break;
    if (Date.now() > deadline)
      throw new Error(`only ${ready.length} of ${clusterNames.length} clusters became Ready`);
    await sleep(1000);
  }
  log(`all ${clusterNames.length} clusters Ready at the hub`);

  await cli(["apply", "-f", join(repositoryRoot, "examples/storefront")]);
  const rolloutDeadline = Date.now() + 180_000;
  for (;;) {
    const r = await readStorefront();
    if (r.ready === storefrontReplicas && r.wanted === storefrontReplicas) break;
    if (Date.now() > rolloutDeadline)
      throw new Error(`storefront: ${r.ready} ready of ${r.wanted} after 180 s`);
    await sleep(1000);
  }
  log(`storefront rolled out: ${storefrontReplicas}/${storefrontReplicas} ready`);
}

async function soak(): Promise<void> {
  const soakStart = Date.now();
  const end = soakStart + minutes * 60_000;
  let nextFault = soakStart + random.between(...faultEveryMs);
  let nextCheck = soakStart;
  let nextSample = soakStart;
  let nextSummary = soakStart + 60_000;
  let running: Promise<void> | undefined;
  while (Date.now() < end && !stopping) {
    if (!running && Date.now() >= nextFault) {
      running = injectFault()
        .catch((error: unknown) =>
          violate("faults recover", `${faultInProgress?.target}: ${(error as Error).message}`),
        )
        .finally(() => {
          running = undefined;
          faultInProgress = undefined;
        });
      nextFault = Date.now() + random.between(...faultEveryMs);
    }
    if (Date.now() >= nextSample) {
      await sample();
      nextSample += sampleEveryMs;
    }
    if (Date.now() >= nextCheck) {
      await check().catch((error: unknown) => log(`check failed: ${(error as Error).message}`));
      nextCheck += checkEveryMs;
    }
    if (Date.now() >= nextSummary) {
      summary();
      nextSummary += 60_000;
    }
    await sleep(Math.max(0, Math.min(nextCheck, nextSample, nextFault) - Date.now()));
  }
  // The last fault ends and heals before the run is judged.
  if (running) await running;
  if (stopping) return;
  const healUntil = Date.now() + recoveryAllowanceMs;
  while (Date.now() < healUntil && !stopping && faults.some((f) => !f.healedAt)) {
    await check().catch(() => {});
    await sleep(checkEveryMs);
  }
  await sample();
  for (const f of faults)
    if (f.upAt && !f.healedAt) violate("faults recover", `${f.kind} ${f.target} never healed`);
}

function summary(): void {
  const latest = new Map<string, number>();
  for (const s of rssSamples) latest.set(s.component, s.bytes);
  const relays = [...latest].filter(([n]) => n.startsWith("relay-"));
  const peak = Math.max(0, ...queueSamples.map((q) => q.peak));
  const notReady = [...episodes.entries()].filter(([k]) => k.startsWith("ready/")).map(([k]) => k.slice(6));
  log(
    `summary: ${faults.length} faults, ${violations.length} violations, ${checks} checks; hub ${formatBytes(latest.get("hub") ?? 0)}, relays ${relays.map(([, b]) => formatBytes(b)).join("/")}; queue peak ${peak}; heartbeats ${heartbeats.counted}; ${notReady.length ? `not Ready: ${notReady.join(", ")}` : "all Ready"}`,
  );
}

/** Memory flat: the last quarter's median RSS within bounds of the first quarter's, for the hub and the relays. */
function judgeMemory(): void {
  const span = Math.max(...rssSamples.map((s) => s.at)) - Math.min(...rssSamples.map((s) => s.at));
  const first = Math.min(...rssSamples.map((s) => s.at));
  for (const name of [...components.values()].filter((c) => c.kind !== "agent").map((c) => c.name)) {
    const own = rssSamples.filter((s) => s.component === name);
    const early = median(own.filter((s) => s.at <= first + span / 4).map((s) => s.bytes));
    const late = median(own.filter((s) => s.at >= first + (span * 3) / 4).map((s) => s.bytes));
    if (late > early * memoryGrowthFactor + memorySlackBytes)
      violate(
        "memory flat",
        `${name}: median RSS ${formatBytes(early)} in the first quarter, ${formatBytes(late)} in the last`,
      );
  }
}

async function writeResults(): Promise<string> {
  const date = new Date().toISOString();
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "?";
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const byKind = new Map<string, number>();
  for (const f of faults) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  const byInvariant = new Map<string, Violation[]>();
  for (const v of violations) byInvariant.set(v.invariant, [...(byInvariant.get(v.invariant) ?? []), v]);
  const t0 = Math.min(startedAt, ...rssSamples.map((s) => s.at));
  const bucket = (at: number) => Math.floor((at - t0) / 300_000) * 5;
  const names = [...components.keys()];
  const rssRows = new Map<number, Map<string, number[]>>();
  for (const s of rssSamples) {
    const row = rssRows.get(bucket(s.at)) ?? new Map<string, number[]>();
    row.set(s.component, [...(row.get(s.component) ?? []), s.bytes]);
    rssRows.set(bucket(s.at), row);
  }
  const relayNames = names.filter((n) => n.startsWith("relay-"));
  const queueRows = new Map<number, Map<string, { metadata: number[]; peak: number }>>();
  for (const q of queueSamples) {
    const row = queueRows.get(bucket(q.at)) ?? new Map();
    const cell = row.get(q.relay) ?? { metadata: [], peak: 0 };
    cell.metadata.push(q.metadata);
    cell.peak = Math.max(cell.peak, q.peak);
    row.set(q.relay, cell);
    queueRows.set(bucket(q.at), row);
  }
  const recoveries = faults.filter((f) => f.upAt && f.healedAt);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
  const lines = [
    `# Chaos soak, ${date.slice(0, 10)}`,
    "",
    `Machine: ${model}, ${cores} cores, ${formatBytes(totalmem())} RAM, Linux ${release()}; Node ${process.version}.`,
    `Started ${new Date(startedAt).toISOString()}; soaked ${minutes} min at real intervals (heartbeat 10 s, grace 40 s, agents' resync 30 s). Command: \`node bench/soak-bench.ts --minutes ${minutes} --seed ${seed} --fault-every-min ${values["fault-every-min"]}\`.`,
    `Fleet: the default lab topology (${clusterNames.length} clusters, ${topology.spec.locations.length} Locations), \`unitfleet hub\`, one \`unitfleet relay\` per Location and one \`unitfleet agent\` per cluster, each its own process; \`examples/storefront/\` applied at the start (${storefrontReplicas} replicas).`,
    ...(failure ? [`**The run stopped early: ${failure}**`] : []),
    `Invariants checked every ${checkEveryMs / 1000} s (${checks} checks); recovery allowance ${seconds(recoveryAllowanceMs)} after a faulted component is back; figures and replicas may be off for ${seconds(settleMs)}; relay queue bound ${queueBound}.`,
    "",
    "## Faults",
    "",
    `${faults.length} injected: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(", ") || "none"}.`,
    "",
    "| at (since the bench started) | fault | how | back after | healed after back |",
    "| --- | --- | --- | --- | --- |",
    ...faults.map(
      (f) =>
        `| ${elapsed(f.downAt)} | ${f.kind} ${f.target} | ${f.how} | ${f.upAt ? seconds(f.upAt - f.downAt) : "—"} | ${f.upAt && f.healedAt ? seconds(f.healedAt - f.upAt) : "not healed"} |`,
    ),
    "",
    recoveries.length > 0
      ? `Recovery (back → every affected cluster Ready with the lab's figures, at the 10 s check): median ${seconds(median(recoveries.map((f) => f.healedAt! - f.upAt!)))}, longest ${seconds(Math.max(...recoveries.map((f) => f.healedAt! - f.upAt!)))}.`
      : "No fault healed.",
    "",
    "## Invariants",
    "",
    `${violations.length} violations. Objects removed because the placement left their cluster (not violations): ${removedByPlacement}. Checks the hub did not answer (during its own faults: not violations): ${hubUnanswered}.`,
    "",
    "| invariant | violations | first ones |",
    "| --- | --- | --- |",
    ...[
      "every cluster Ready",
      "hub figures equal the lab's",
      "no replica lost",
      "nothing deleted",
      "relay queues bounded",
      "nothing lost",
      "memory flat",
      "the hub answers",
      "components keep running",
      "faults recover",
    ].map((name) => {
      const list = byInvariant.get(name) ?? [];
      return `| ${name} | ${list.length} | ${list
        .slice(0, 3)
        .map((v) => `${elapsed(v.at)} ${v.detail}`)
        .join("; ")
        .replace(/\|/g, "/")} |`;
    }),
    "",
    `## RSS per component (median per 5 minutes, sampled every ${sampleEveryMs / 1000} s)`,
    "",
    `| minute | ${names.join(" | ")} |`,
    `| --- | ${names.map(() => "---").join(" | ")} |`,
    ...[...rssRows].map(
      ([minute, row]) =>
        `| ${minute} | ${names.map((n) => (row.get(n) ? formatBytes(median(row.get(n)!)) : "—")).join(" | ")} |`,
    ),
    "",
    "## Relay queue depth (metadata messages: median of the per-minute lines; peak in the 5 minutes)",
    "",
    `| minute | ${relayNames.map((n) => `${n} depth | peak`).join(" | ")} |`,
    `| --- | ${relayNames.map(() => "--- | ---").join(" | ")} |`,
    ...[...queueRows].map(
      ([minute, row]) =>
        `| ${minute} | ${relayNames
          .map((n) => {
            const cell = row.get(n);
            return cell ? `${median(cell.metadata)} | ${cell.peak}` : "— | —";
          })
          .join(" | ")} |`,
    ),
    "",
    `Heartbeat messages the hub took (its /metrics, summed across its restarts; at least): ${heartbeats.counted}.`,
    "",
  ];
  const file = join(repositoryRoot, "bench", "results", `soak-${date.slice(0, 10)}.md`);
  await writeFile(file, lines.join("\n"));
  return file;
}

let exitCode = 1;
try {
  await setUp();
  await soak();
  if (!interrupted) {
    judgeMemory();
    const file = await writeResults();
    log(`results in ${file}`);
    log(`${faults.length} faults, ${violations.length} violations`);
    exitCode = violations.length > 0 ? 1 : 0;
  }
} catch (error) {
  if (!interrupted) {
    failure = (error as Error).message;
    log(`failed: ${(error as Error).stack ?? error}`);
    // What each component said last: the temporary folder and its logs go with the cleanup.
    for (const c of components.values()) {
      const tail = (await readFile(c.logFile, "utf8").catch(() => "")).trimEnd().split("\n").slice(-4);
      log(`${c.name}'s log ends:\n    ${tail.join("\n    ")}`);
    }
    if (checks > 0) await writeResults().catch(() => {});
  }
} finally {
  await cleanup();
}
process.exit(interrupted ? 130 : exitCode);
