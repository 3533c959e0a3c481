/**
 * Issue 14's lab acceptance, end to end: on the lab's real API servers (kwok), a real hub, the relays of both
 * Locations and the agents of three clusters, metering on a compressed clock (a metering hour passes in a real
 * minute, `scaledClock`), priced by the PriceBooks of test/fixtures/metering-cost/price-books.yaml (unit prices
 * per core-hour and GiB-hour), applied through the hub's API with `unitfleet apply`.
 *
 * 1. `unitfleet cost --window <one hour> --by namespace -o json` matches a hand computation from the documented
 *    rules (docs/metering.md: a workload pays max(request, usage) × its cluster's price per unit; idle apart):
 *    the test's Deployments carry kwok's usage annotations and known requests, in two namespaces, one of them in
 *    a cluster of each Location. The same namespace in two clusters stays two rows; `--by business,namespace`
 *    sums them.
 * 2. Frankfurt's relay stops for three metering hours and starts again: for every hour of the range, each
 *    cluster of Frankfurt has each node's hour once with its 60 samples, and costs what its nodes cost — the
 *    same as the hour before.
 * 3. The same across a hub restarted (same data folder and port) just as an hour's records are being sent.
 * 4. Two hub replicas (`unitfleet hub` processes) on one PostgreSQL server, behind a TCP address that fails over
 *    as a load balancer does: hours reach the ledger once whichever replica they come through (Frankfurt's relay
 *    through the shared address, Singapore's straight to the other replica; what the ledger had not acknowledged
 *    when the leader died is sent again through the survivor), and keep being counted once after the leader is
 *    killed.
 *
 * Hours are labelled on the compressed clock. A one-second minute that finds this process stalled is not sampled
 * (the agent's own count says so): the ledger must hold each hour exactly as its agent measured it, and the hand
 * computation prices the minutes measured (60 when nothing stalled; the log line says how many).
 *
 * The hub prices freshly arrived hours in the background, so each hour is polled for (up to 60 s after it ends)
 * until every expected namespace is in it; then the figures are asserted exactly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { AppsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type RunningAgent, startAgent } from "../../src/agent/agent.ts";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import { hourStart } from "../../src/core/metering/hourly.ts";
import { parseQuantity } from "../../src/core/quantity/quantity.ts";
import type { CostReport } from "../../src/hub/metering/cost-query.ts";
import { leaseHolder } from "../../src/hub/replicas/lease.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";
import { type Clock, scaledClock } from "../../src/runtime/clock.ts";
import { openPostgres } from "../../src/store/postgres-sql.ts";
import type { Sql } from "../../src/store/sql.ts";
import { locationsOfTopology, placeDocuments } from "../../src/up/up.ts";
import { runCli } from "../support/cli-in-process.ts";
import { type PostgresServer, startPostgres } from "../support/postgres-server.ts";
import { sharedLab } from "./shared-lab.ts";

/** A metering hour passes in a real minute: one-second "minutes". */
const timeScale = 60;
const hourMs = 3_600_000;
const repositoryRoot = join(import.meta.dirname, "../..");
const priceBookFile = join(repositoryRoot, "test/fixtures/metering-cost/price-books.yaml");
const lab = sharedLab();

/** The clusters metered here: two in Frankfurt, one in Singapore; all three keep their topology's workloads. */
const meteredClusters = ["fra-shop-dev", "fra-search-staging", "sgp-shop-dev"];

/**
 * The test's usage profile: Deployments whose pods ask for `request` and use `usage` (kwok's annotations),
 * millicores and MiB. Cpu is used below its request (kwok's cpu counter is a rate, a little noisy: the request is
 * what is paid); memory is used above its request in two of them (the working set is exact: usage is paid).
 */
const profile = [
  {
    cluster: "fra-shop-dev",
    namespace: "cost-web",
    name: "web",
    replicas: 2,
    request: { cpu: 500, memory: 1024 },
    usage: { cpu: 200, memory: 1536 },
  },
  {
    cluster: "fra-shop-dev",
    namespace: "cost-batch",
    name: "worker",
    replicas: 1,
    request: { cpu: 1000, memory: 2048 },
    usage: { cpu: 400, memory: 512 },
  },
  {
    cluster: "sgp-shop-dev",
    namespace: "cost-web",
    name: "web",
    replicas: 1,
    request: { cpu: 250, memory: 512 },
    usage: { cpu: 100, memory: 768 },
  },
] as const;

// ---------------------------------------------------------------------------------------------------------------
// The hand computation (docs/metering.md, Rules 1, 3 and 4), in micro-units of EUR.

interface UnitPrices {
  /** Micro-units per core-hour and per GiB-hour. */
  core: number;
  gib: number;
}

const micros = (text: string) => Math.round(Number(text) * 1_000_000);

/** The unit prices of each Location, read from the fixture the test applies. */
async function bookPrices(): Promise<Map<string, UnitPrices>> {
  const prices = new Map<string, UnitPrices>();
  for (const doc of parseAllDocuments(await readFile(priceBookFile, "utf8"))) {
    const book = doc.toJS() as {
      spec: {
        location: string;
        prices: Array<{ units: { cpuPerCoreHour: string; memoryPerGiBHour: string } }>;
      };
    };
    const units = book.spec.prices[0]!.units;
    prices.set(book.spec.location, {
      core: micros(units.cpuPerCoreHour),
      gib: micros(units.memoryPerGiBHour),
    });
  }
  return prices;
}

const clusterOf = (name: string) => lab.topology.spec.clusters.find((c) => c.name === name)!;
const quantity = (text: string) => {
  const parsed = parseQuantity(text);
  if (!parsed.ok) throw new Error(`bad quantity ${text}`);
  return parsed.value;
};
const nodeCount = (cluster: string) => clusterOf(cluster).nodePools.reduce((n, p) => n + p.count, 0);

/** Rule 1: what a cluster's nodes cost for a whole hour (allocatable × unit prices; kwok nodes offer their size). */
function nodeCost(cluster: string, prices: Map<string, UnitPrices>): number {
  const c = clusterOf(cluster);
  const p = prices.get(c.location)!;
  return c.nodePools.reduce(
    (sum, pool) =>
      sum +
      pool.count * (quantity(String(pool.cpu)) * p.core + (quantity(String(pool.memory)) / 2 ** 30) * p.gib),
    0,
  );
}

/**
 * Rules 3 and 4 (idle separate): a namespace of the profile pays, for the hour, each pod's max(request, usage)
 * of cpu and memory at the cluster's price per unit — here the book's unit prices, as every node is priced by them.
 */
function namespaceCost(cluster: string, namespace: string, prices: Map<string, UnitPrices>): number {
  const p = prices.get(clusterOf(cluster).location)!;
  return profile
    .filter((w) => w.cluster === cluster && w.namespace === namespace)
    .reduce((sum, w) => {
      const cores = (w.replicas * Math.max(w.request.cpu, w.usage.cpu)) / 1000;
      const gibs = (w.replicas * Math.max(w.request.memory, w.usage.memory)) / 1024;
      return sum + cores * p.core + gibs * p.gib;
    }, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// The lab side: the profile's Deployments.

function kubeApis(cluster: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(lab.kubeconfig);
  kc.setCurrentContext(cluster);
  return { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

/** What the agents warned about (a usage sample that failed…): shown when an hour is not whole. */
const agentWarnings: Array<Record<string, unknown>> = [];
/**
 * The minute samples each agent took of each hour (`cluster/hour`), from its "usage hour completed" log: 60 for a
 * whole hour, fewer when a one-second minute found this process stalled (a busy machine). The ledger must hold
 * exactly what the agent measured, once; the hand computation prices those minutes.
 */
const measuredMinutes = new Map<string, number>();
const minutesOf = (cluster: string, hour: string) => {
  const minutes = measuredMinutes.get(`${cluster}/${hour}`);
  if (minutes === undefined) throw new Error(`the agent of ${cluster} did not complete hour ${hour}`);
  return minutes;
};

/** How long this process's event loop stalls: the agents' one-second minutes run on it. */
const loopDelay = monitorEventLoopDelay({ resolution: 20 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createProfile(): Promise<void> {
  for (const w of profile) {
    const { core, apps } = kubeApis(w.cluster);
    await core
      .createNamespace({ body: { metadata: { name: w.namespace } } })
      .catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    await apps.createNamespacedDeployment({
      namespace: w.namespace,
      body: {
        metadata: { name: w.name, namespace: w.namespace },
        spec: {
          replicas: w.replicas,
          selector: { matchLabels: { app: w.name } },
          template: {
            metadata: {
              labels: { app: w.name },
              annotations: {
                "kwok.x-k8s.io/usage-cpu": `${w.usage.cpu}m`,
                "kwok.x-k8s.io/usage-memory": `${w.usage.memory}Mi`,
              },
            },
            spec: {
              containers: [
                {
                  name: w.name,
                  image: `registry.example/${w.name}:1.0`,
                  resources: { requests: { cpu: `${w.request.cpu}m`, memory: `${w.request.memory}Mi` } },
                },
              ],
              tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
            },
          },
        },
      },
    });
  }
  const deadline = Date.now() + 90_000;
  for (const w of profile)
    for (;;) {
      const pods = await kubeApis(w.cluster).core.listNamespacedPod({
        namespace: w.namespace,
        labelSelector: `app=${w.name}`,
      });
      if (pods.items.filter((p) => p.status?.phase === "Running").length === w.replicas) break;
      if (Date.now() > deadline)
        throw new Error(`the pods of ${w.cluster}/${w.namespace}/${w.name} did not start`);
      await sleep(250);
    }
}

async function deleteProfile(): Promise<void> {
  for (const w of profile)
    await kubeApis(w.cluster)
      .core.deleteNamespace({ name: w.namespace })
      .catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// Hubs run as `unitfleet hub` processes: their store (PGlite's WebAssembly above all) and pricing passes would
// otherwise hold up the agents' one-second metering minutes in this process, and a replica can be killed.

interface HubProcess {
  name: string;
  process: ChildProcess;
  url: string;
  port: number;
  /** What it wrote on stdout and stderr (the last 50 KB). */
  output(): string;
}

function startHubProcess(options: {
  name: string;
  dir: string;
  listen: string;
  databaseUrl?: string;
}): Promise<HubProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(repositoryRoot, "bin/unitfleet.ts"),
      [
        "hub",
        "--listen",
        options.listen,
        "--dir",
        options.dir,
        "--location",
        "frankfurt",
        "--replica",
        options.name,
        ...(options.databaseUrl ? ["--database-url", options.databaseUrl, "--lease-ttl", "2"] : []),
      ],
      { env: readEnvironment().inherited, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const append = (chunk: Buffer) => {
      output = `${output}${chunk.toString()}`.slice(-50_000);
    };
    child.stdout.on("data", (chunk: Buffer) => {
      append(chunk);
      const match = /hub serving at (\S+)/.exec(output);
      if (match)
        resolve({
          name: options.name,
          process: child,
          url: match[1]!,
          port: Number(new URL(match[1]!).port),
          output: () => output,
        });
    });
    child.stderr.on("data", append);
    child.on("exit", (code) => reject(new Error(`hub ${options.name} exited (${code}): ${output}`)));
  });
}

/** Stops a hub process as an operator does (SIGTERM) and waits until it has exited. */
async function stopHubProcess(hub: HubProcess | undefined): Promise<void> {
  if (!hub || hub.process.exitCode !== null || hub.process.signalCode !== null) return;
  const exited = new Promise((resolve) => hub.process.once("exit", resolve));
  hub.process.kill("SIGTERM");
  await exited;
}

/** A hub's warnings and errors, for a failure message. */
const hubTrouble = (hub: HubProcess | undefined) =>
  (hub?.output() ?? "")
    .split("\n")
    .filter((l) => /"level":"(warn|error)"|^error/.test(l))
    .slice(-10)
    .join("\n");

// ---------------------------------------------------------------------------------------------------------------
// The fleet side: relays and agents joined through a hub's API, on one compressed metering clock.

interface Fleet {
  /** Where relays of the hub's Location, agents and the CLI reach the hub. */
  hubUrl: string;
  hubCa: string;
  api: HubClient;
  /** The CLI's environment, logged in to `hubUrl` as the admin. */
  cli: Environment;
  clock: Clock;
  dir: string;
  relays: Map<string, RunningRelay>;
  relayHubs: Map<string, string>;
  agents: Map<string, RunningAgent>;
  /** The ledger's store, to count node samples, when the test can open it (PostgreSQL). */
  sql?: Sql;
  /** The hubs' warnings, for failure messages. */
  trouble: () => string;
}

function relayOptions(fleet: Fleet, location: string, token: string, port: number) {
  return {
    hub: fleet.relayHubs.get(location) ?? fleet.hubUrl,
    hubCa: fleet.hubCa,
    token,
    location,
    hubLocation: "frankfurt",
    host: "127.0.0.1",
    port,
    dir: join(fleet.dir, "relays", location),
    log: () => {},
  };
}

async function joinToken(fleet: Fleet, location: string): Promise<string> {
  const answer = await fleet.api.send<{ token: string }>("POST", "/unitfleet/v1alpha1/bootstrap-tokens", {
    location,
    ttlSeconds: 600,
  });
  return answer.token;
}

/** Registers the lab's places, applies the price books with `unitfleet apply`, starts relays and agents. */
async function joinLab(fleet: Fleet, adminToken: string, caFile: string): Promise<void> {
  await fleet.api.send("POST", "/unitfleet/v1alpha1/apply", {
    documents: placeDocuments(locationsOfTopology(lab.topology)).map((d) => ({
      source: d.source,
      object: d.body,
    })),
    dryRun: false,
  });
  const login = await runCli(
    ["login", "--server", fleet.hubUrl, "--token", adminToken, "--certificate-authority", caFile],
    fleet.cli,
  );
  expect(login.code, login.stderr).toBe(0);
  const applied = await runCli(["apply", "-f", priceBookFile], fleet.cli);
  expect(applied.code, applied.stderr).toBe(0);
  for (const location of ["frankfurt", "singapore"])
    fleet.relays.set(
      location,
      await startRelay(relayOptions(fleet, location, await joinToken(fleet, location), 0)),
    );
  for (const name of meteredClusters) {
    const c = clusterOf(name);
    fleet.agents.set(
      name,
      await startAgent({
        hub: fleet.hubUrl,
        relay: fleet.relays.get(c.location)!.url,
        hubCa: fleet.hubCa,
        token: await joinToken(fleet, c.location),
        kubeconfig: lab.kubeconfig,
        context: name,
        cluster: name,
        location: c.location,
        ...(c.region ? { region: c.region } : {}),
        environment: c.environment,
        business: c.business,
        dir: join(fleet.dir, "agents", name),
        meteringClock: fleet.clock,
        log: (entry) => {
          if (entry.level === "warn") agentWarnings.push({ at: new Date().toISOString(), ...entry });
          if (entry.msg === "usage hour completed")
            measuredMinutes.set(`${name}/${entry.hour}`, Number(entry.samples));
        },
      }),
    );
  }
}

async function stopFleet(fleet: Fleet | undefined): Promise<void> {
  if (!fleet) return;
  for (const agent of fleet.agents.values()) await agent.stop().catch(() => {});
  for (const relay of fleet.relays.values()) await relay.stop().catch(() => {});
  fleet.api.close();
}

// ---------------------------------------------------------------------------------------------------------------
// Hours: when they end, what the ledger and the cost API say of them.

const nextHour = (hour: string) => hourStart(Date.parse(hour) + hourMs);
const hoursFrom = (first: string, count: number) =>
  Array.from({ length: count }, (_, i) => hourStart(Date.parse(first) + i * hourMs));

/** The first metering hour that starts after now on the fleet's clock (the current one is partial). */
const firstWholeHour = (fleet: Fleet) => nextHour(hourStart(fleet.clock.now()));

/** Waits in real time until the fleet's clock reaches `at` (ms of metering time) plus `slackMs` real ms. */
async function untilMeteringTime(fleet: Fleet, at: number, slackMs = 0): Promise<void> {
  const wait = (at - fleet.clock.now()) / timeScale;
  if (wait > 0) await sleep(wait);
  if (slackMs > 0) await sleep(slackMs);
}

async function cost(fleet: Fleet, window: string, by: string): Promise<CostReport> {
  const answer = await runCli(["cost", "--window", window, "--by", by, "-o", "json"], fleet.cli);
  if (answer.code !== 0) throw new Error(`unitfleet cost failed (${answer.code}): ${answer.stderr}`);
  return JSON.parse(answer.stdout) as CostReport;
}

const hourWindow = (hour: string) => `${hour}/${nextHour(hour)}`;

/** The namespaces a metered cluster's hour must show: its topology's, the profile's, and idle. */
function expectedNamespaces(cluster: string): string[] {
  return [
    ...(clusterOf(cluster).workloads ?? []).map((w) => w.namespace),
    ...profile.filter((w) => w.cluster === cluster).map((w) => w.namespace),
    "__idle__",
  ];
}

/**
 * Waits until `hour` has ended and `unitfleet cost` shows it, by namespace, with every expected namespace of
 * `clusters` (the hub prices a fresh hour in the background: up to 60 s after it is due). Returns the report.
 */
async function hourCosted(fleet: Fleet, hour: string, clusters: string[]): Promise<CostReport> {
  await untilMeteringTime(fleet, Date.parse(nextHour(hour)));
  const deadline = Date.now() + 60_000;
  let last: CostReport | undefined;
  for (;;) {
    last = await cost(fleet, hourWindow(hour), "namespace").catch(() => last);
    const present = new Set(last?.groups.map((g) => `${g.keys.cluster}/${g.keys.namespace}`));
    if (clusters.every((c) => expectedNamespaces(c).every((n) => present.has(`${c}/${n}`)))) return last!;
    if (Date.now() > deadline)
      throw new Error(
        `hour ${hour} of ${clusters.join(", ")} did not show in 60 s: ${JSON.stringify(last)}; hub: ${fleet.trouble()}`,
      );
    await sleep(500);
  }
}

/** Each cluster's node hours for `hour` in the ledger: how many rows and how many minute samples in all. */
async function nodeHours(
  fleet: Fleet,
  hour: string,
): Promise<Map<string, { rows: number; samples: number }>> {
  if (!fleet.sql) return new Map();
  const rows = await fleet.sql.query<{ cluster: string; rows: number; samples: number }>(
    `select cluster, count(*)::int as rows, sum(samples)::int as samples from usage_node_hours
     where hour = $1 group by cluster`,
    [hour],
  );
  return new Map(rows.map((r) => [r.cluster, { rows: r.rows, samples: r.samples }]));
}

interface HourCheck {
  hour: string;
  /**
   * Per cluster: the minutes its agent measured (60 for a whole hour); the hour's total cost (all rows, idle included) as the API says; the node-minutes it pays for
   * (total ÷ what one node-minute costs: the clusters' nodes are all alike); and, where the test can read the
   * ledger, its node rows and their minute samples.
   */
  clusters: Record<
    string,
    { measured: number; total: number; nodeMinutes: number; rows?: number; samples?: number }
  >;
  /** The longest this test process's event loop stalled since the last check (ms): a stall of over a real second
   * costs the agents here a metering minute. */
  stallMs: number;
}

/** What one node of a cluster costs for a minute (the metered clusters have one pool each: alike nodes). */
function nodeMinuteCost(cluster: string, prices: Map<string, UnitPrices>): number {
  expect(clusterOf(cluster).nodePools, `${cluster}'s nodes are alike`).toHaveLength(1);
  return nodeCost(cluster, prices) / (60 * nodeCount(cluster));
}

/**
 * Every cluster of `clusters` has, for `hour`, one ledger row per node with the minutes its agent measured (60
 * in a whole hour) each, and costs exactly what its nodes cost for those minutes (all rows, idle included: money is
 * conserved) — so a whole hour costs the same as the hour before it. A lost or doubled record shows in both.
 */
async function checkWholeHour(
  fleet: Fleet,
  hour: string,
  clusters: string[],
  prices: Map<string, UnitPrices>,
): Promise<HourCheck> {
  await hourCosted(fleet, hour, clusters);
  const byCluster = await cost(fleet, hourWindow(hour), "cluster");
  const ledger = await nodeHours(fleet, hour);
  const check: HourCheck = { hour, clusters: {}, stallMs: Math.round(loopDelay.max / 1e6) };
  loopDelay.reset();
  for (const c of clusters) {
    const groups = byCluster.groups.filter((g) => g.keys.cluster === c);
    const total = groups.reduce((n, g) => n + g.cost.total, 0);
    check.clusters[c] = {
      measured: minutesOf(c, hour),
      total,
      nodeMinutes: total / nodeMinuteCost(c, prices),
      ...(fleet.sql ? { rows: ledger.get(c)?.rows ?? 0, samples: ledger.get(c)?.samples ?? 0 } : {}),
    };
  }
  const expected = Object.fromEntries(
    clusters.map((c) => [
      c,
      {
        measured: minutesOf(c, hour),
        total: (nodeCost(c, prices) * minutesOf(c, hour)) / 60,
        nodeMinutes: minutesOf(c, hour) * nodeCount(c),
        ...(fleet.sql ? { rows: nodeCount(c), samples: minutesOf(c, hour) * nodeCount(c) } : {}),
      },
    ]),
  );
  expect(
    { hour, clusters: check.clusters },
    `agents warned: ${JSON.stringify(agentWarnings.slice(-20))}; test's event loop stalled up to ${check.stallMs} ms; hub: ${fleet.trouble()}`,
  ).toEqual({ hour, clusters: expected });
  return check;
}

/** `--by namespace` for one hour: the profile's namespaces against the hand computation, within 0.5 %. */
function checkProfile(
  report: CostReport,
  hour: string,
  prices: Map<string, UnitPrices>,
): Array<[string, number, number]> {
  const figures: Array<[string, number, number]> = [];
  const pairs = [...new Set(profile.map((w) => `${w.cluster}/${w.namespace}`))];
  for (const [cluster, namespace] of pairs.map((k) => k.split("/") as [string, string])) {
    const hand = (namespaceCost(cluster, namespace, prices) * minutesOf(cluster, hour)) / 60;
    const rows = report.groups.filter((g) => g.keys.cluster === cluster && g.keys.namespace === namespace);
    expect(
      rows.map((g) => g.currency),
      `${cluster}/${namespace}`,
    ).toEqual(["EUR"]);
    const api = rows[0]!.cost.total;
    figures.push([`${cluster}/${namespace}`, hand, api]);
    expect(Math.abs(api - hand), `${cluster}/${namespace}: API ${api}, hand ${hand}`).toBeLessThanOrEqual(
      hand * 0.005,
    );
  }
  return figures;
}

const elapsed = (since: number) =>
  `${((performance.now() - since) / 1000).toFixed(1)} s (event loop delay max ${Math.round(loopDelay.max / 1e6)} ms)`;

beforeAll(async () => {
  loopDelay.enable();
  await createProfile();
}, 120_000);

afterAll(async () => {
  await deleteProfile();
});

// ---------------------------------------------------------------------------------------------------------------

describe("the cost of the lab on one hub: by hand, across a relay outage and a hub restart", () => {
  let home: string;
  let hub: HubProcess;
  let fleet: Fleet;
  let prices: Map<string, UnitPrices>;
  /** The first whole hour the agents metered: every later check starts here. */
  let firstHour: string;
  const started = performance.now();

  /** The hub on its embedded store (PGlite) in its data folder. */
  const startTheHub = (port: number) =>
    startHubProcess({ name: "hub", dir: join(home, "hub"), listen: `127.0.0.1:${port}` });

  beforeAll(async () => {
    prices = await bookPrices();
    home = await mkdtemp(join(tmpdir(), "unitfleet-e2e-cost-"));
    hub = await startTheHub(0);
    const hubCa = await readFile(join(home, "hub", "ca.crt"), "utf8");
    const adminToken = (await readFile(join(home, "hub", "admin-token"), "utf8")).trim();
    fleet = {
      hubUrl: hub.url,
      hubCa,
      api: new HubClient({ server: hub.url, token: adminToken, caCert: hubCa }),
      cli: { ...readEnvironment(), home: join(home, "cli") },
      clock: scaledClock(timeScale),
      dir: home,
      relays: new Map(),
      relayHubs: new Map(),
      agents: new Map(),
      trouble: () => hubTrouble(hub),
    };
    await joinLab(fleet, adminToken, join(home, "hub", "ca.crt"));
    firstHour = firstWholeHour(fleet);
  }, 180_000);

  afterAll(async () => {
    await stopFleet(fleet);
    await stopHubProcess(hub);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("matches a hand computation by namespace; the same namespace of two clusters is two rows, one by business", async () => {
    const report = await hourCosted(fleet, firstHour, meteredClusters);
    expect(report.aggregate).toEqual(["cluster", "namespace"]);
    expect(report.unpriced).toEqual([]);
    const figures = checkProfile(report, firstHour, prices);
    const webRows = report.groups.filter((g) => g.keys.namespace === "cost-web").map((g) => g.keys.cluster);
    expect(webRows.sort()).toEqual(["fra-shop-dev", "sgp-shop-dev"]);
    // Idle is apart, one row per cluster: what the nodes offered that nothing allocated.
    for (const c of meteredClusters) {
      const idle = report.groups.filter((g) => g.keys.cluster === c && g.keys.namespace === "__idle__");
      expect(idle).toHaveLength(1);
      expect(idle[0]!.idle).toBe(idle[0]!.cost.total);
    }
    const byBusiness = await cost(fleet, hourWindow(firstHour), "business,namespace");
    expect(byBusiness.aggregate).toEqual(["business", "namespace"]);
    const shopWeb = byBusiness.groups.filter(
      (g) => g.keys.business === "shop" && g.keys.namespace === "cost-web",
    );
    expect(shopWeb).toHaveLength(1);
    const handWeb =
      (namespaceCost("fra-shop-dev", "cost-web", prices) * minutesOf("fra-shop-dev", firstHour)) / 60 +
      (namespaceCost("sgp-shop-dev", "cost-web", prices) * minutesOf("sgp-shop-dev", firstHour)) / 60;
    const apiWeb = report.groups
      .filter((g) => g.keys.namespace === "cost-web")
      .reduce((n, g) => n + g.cost.total, 0);
    expect(shopWeb[0]!.cost.total).toBe(apiWeb);
    expect(Math.abs(shopWeb[0]!.cost.total - handWeb)).toBeLessThanOrEqual(handWeb * 0.005);
    const whole = await checkWholeHour(fleet, firstHour, meteredClusters, prices);
    console.log(
      `[cost] hour ${firstHour} (hand vs API, micro-EUR): ${figures.map(([k, h, a]) => `${k} ${h} vs ${a}`).join("; ")}; ` +
        `shop/cost-web ${handWeb} vs ${shopWeb[0]!.cost.total}; clusters ${JSON.stringify(whole.clusters)}; ${elapsed(started)} since start`,
    );
  }, 240_000);

  it("counts every hour of Frankfurt once across a relay stopped for three hours", async () => {
    const began = performance.now();
    const frankfurt = meteredClusters.filter((c) => clusterOf(c).location === "frankfurt");
    // Stop the relay just after an hour was sent; start it again after three whole hours, early in the fourth.
    const stopAfter = nextHour(firstHour);
    await hourCosted(fleet, stopAfter, meteredClusters);
    const relay = fleet.relays.get("frankfurt")!;
    const port = Number(new URL(relay.url).port);
    await relay.stop();
    const resumeAt = Date.parse(stopAfter) + 4.2 * hourMs;
    await untilMeteringTime(fleet, resumeAt);
    fleet.relays.set(
      "frankfurt",
      await startRelay(relayOptions(fleet, "frankfurt", "ufb_000000000000.unused", port)),
    );
    // From the first whole hour to the one after the relay came back: before, during and after the outage.
    const range = hoursFrom(firstHour, 6);
    const checks: HourCheck[] = [];
    for (const hour of range) {
      checks.push(await checkWholeHour(fleet, hour, frankfurt, prices));
      checkProfile(await cost(fleet, hourWindow(hour), "namespace"), hour, prices);
    }
    console.log(
      `[cost] relay down from ${nextHour(stopAfter)} to ${new Date(resumeAt).toISOString()}: ` +
        `${checks.map((c) => `${c.hour} ${JSON.stringify(c.clusters)} stall ${c.stallMs} ms`).join("; ")}; took ${elapsed(began)}`,
    );
  }, 600_000);

  it("counts every hour once across a hub restarted while an hour is being sent", async () => {
    const began = performance.now();
    // The hub stops as an hour ends (its records on their way), and comes back on its folder and port half an
    // hour later: the relays keep what they could not deliver, the agents keep metering.
    const cut = nextHour(hourStart(fleet.clock.now()));
    await untilMeteringTime(fleet, Date.parse(cut));
    await stopHubProcess(hub);
    await untilMeteringTime(fleet, Date.parse(cut) + hourMs / 2);
    hub = await startTheHub(hub.port);
    const range = [hourStart(Date.parse(cut) - 2 * hourMs), hourStart(Date.parse(cut) - hourMs), cut];
    const checks: HourCheck[] = [];
    for (const hour of range) {
      checks.push(await checkWholeHour(fleet, hour, meteredClusters, prices));
      checkProfile(await cost(fleet, hourWindow(hour), "namespace"), hour, prices);
    }
    console.log(
      `[cost] hub restart at ${cut}: ${checks.map((c) => `${c.hour} ${JSON.stringify(c.clusters)} stall ${c.stallMs} ms`).join("; ")}; ` +
        `took ${elapsed(began)}, the describe ${elapsed(started)}`,
    );
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------------------------

/** A TCP address in front of hub replicas, as a load balancer: each connection goes to the first that accepts. */
async function failoverAddress(ports: () => number[]): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    const tryPort = (candidates: number[]) => {
      const [port, ...rest] = candidates;
      if (port === undefined) {
        client.destroy();
        return;
      }
      const upstream = connect(port, "127.0.0.1");
      let connected = false;
      upstream.once("error", () => {
        upstream.destroy();
        if (connected) client.destroy();
        else tryPort(rest);
      });
      upstream.once("connect", () => {
        connected = true;
        sockets.add(upstream);
        upstream.on("close", () => {
          sockets.delete(upstream);
          client.destroy();
        });
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream).pipe(client);
      });
    };
    tryPort(ports());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("the cost of the lab on two hub replicas on one PostgreSQL", () => {
  let postgres: PostgresServer;
  let ledgerSql: Sql;
  let home: string;
  const replicas: HubProcess[] = [];
  let front: { port: number; close(): Promise<void> };
  let fleet: Fleet;
  let prices: Map<string, UnitPrices>;
  let firstHour: string;
  const started = performance.now();

  const startReplica = (name: string) =>
    startHubProcess({ name, dir: join(home, "hub"), listen: "127.0.0.1:0", databaseUrl: postgres.url });

  const leader = async () => (await leaseHolder(ledgerSql, "hub-singleton", new Date())) ?? "";

  beforeAll(async () => {
    prices = await bookPrices();
    postgres = await startPostgres();
    ledgerSql = await openPostgres(postgres.url);
    home = await mkdtemp(join(tmpdir(), "unitfleet-e2e-cost-replicas-"));
    // A first, alone: it writes the CA and the admin token that B shares.
    replicas.push(await startReplica("replica-a"));
    replicas.push(await startReplica("replica-b"));
    const deadline = Date.now() + 20_000;
    while (!(await leader()) && Date.now() < deadline) await sleep(100);
    // The shared address sends to the leader while it lives (so that killing it moves Frankfurt's relay).
    const leaderName = await leader();
    const ordered = () =>
      [...replicas].sort((a, b) => Number(b.name === leaderName) - Number(a.name === leaderName));
    front = await failoverAddress(() => ordered().map((r) => r.port));
    const hubUrl = `https://127.0.0.1:${front.port}`;
    const hubCa = await readFile(join(home, "hub", "ca.crt"), "utf8");
    const adminToken = (await readFile(join(home, "hub", "admin-token"), "utf8")).trim();
    const other = replicas.find((r) => r.name !== leaderName)!;
    fleet = {
      hubUrl,
      hubCa,
      api: new HubClient({ server: hubUrl, token: adminToken, caCert: hubCa }),
      cli: { ...readEnvironment(), home: join(home, "cli") },
      clock: scaledClock(timeScale),
      dir: home,
      relays: new Map(),
      // Singapore's relay talks to the replica that is not the leader, straight.
      relayHubs: new Map([["singapore", other.url]]),
      agents: new Map(),
      sql: ledgerSql,
      trouble: () => replicas.map((r) => `${r.name}: ${hubTrouble(r)}`).join("\n"),
    };
    await joinLab(fleet, adminToken, join(home, "hub", "ca.crt"));
    firstHour = firstWholeHour(fleet);
  }, 180_000);

  afterAll(async () => {
    await stopFleet(fleet);
    await front?.close();
    for (const r of replicas) if (r.process.exitCode === null) r.process.kill("SIGKILL");
    await ledgerSql?.close();
    await postgres?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("counts each hour once whichever replica it came through, and after the leader is killed", async () => {
    const leaderName = await leader();
    expect(["replica-a", "replica-b"]).toContain(leaderName);
    const before = await checkWholeHour(fleet, firstHour, meteredClusters, prices);
    const figures = checkProfile(await cost(fleet, hourWindow(firstHour), "namespace"), firstHour, prices);
    // Kill the leader mid-hour: Frankfurt's relay reconnects through the shared address, to the survivor, and
    // delivers there what the dead leader had not recorded.
    await untilMeteringTime(fleet, Date.parse(firstHour) + 1.4 * hourMs);
    replicas.find((r) => r.name === leaderName)!.process.kill("SIGKILL");
    const killedAt = performance.now();
    const survivor = replicas.find((r) => r.name !== leaderName)!.name;
    while ((await leader()) !== survivor) {
      if (performance.now() - killedAt > 15_000) throw new Error(`${survivor} did not take the lease over`);
      await sleep(100);
    }
    const takeover = performance.now() - killedAt;
    const checks: HourCheck[] = [before];
    for (const hour of hoursFrom(firstHour, 3).slice(1)) {
      checks.push(await checkWholeHour(fleet, hour, meteredClusters, prices));
      checkProfile(await cost(fleet, hourWindow(hour), "namespace"), hour, prices);
    }
    // The first hour, recorded through the dead leader, is still there once and costs the same on the survivor.
    expect((await checkWholeHour(fleet, firstHour, meteredClusters, prices)).clusters).toEqual(
      before.clusters,
    );
    console.log(
      `[cost] replicas: leader ${leaderName} killed, ${survivor} leader after ${Math.round(takeover)} ms; ` +
        `hand vs API ${figures.map(([k, h, a]) => `${k} ${h} vs ${a}`).join("; ")}; ` +
        `${checks.map((c) => `${c.hour} ${JSON.stringify(c.clusters)} stall ${c.stallMs} ms`).join("; ")}; the describe ${elapsed(started)}`,
    );
  }, 420_000);
});
