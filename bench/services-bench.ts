/**
 * Multi-cluster services benchmark (issue 15): a Location of virtual clusters behind one real `unitfleet relay`
 * process. Each virtual agent (the real tunnel client, joined with its own certificate) exports its services'
 * records; then endpoint changes are made at a steady rate in random clusters, and every other agent of the
 * Location receives each change through the relay (src/relay/location-services.ts). Measures the propagation from
 * an agent's send to each other agent's receipt (p50, p99), the relay process's CPU and memory, and the messages
 * the relay sends per change. The consumers' API writes per change are the agents' (bench/results: see the MCS e2e).
 * Before the changes, every agent sends its whole set at once (a whole Location joining): the bench records how long
 * until every agent holds every other cluster's set, and the relay's peak memory meanwhile (its fan-out is paced by
 * each agent's socket: src/relay/location-services.ts).
 *
 *   node bench/services-bench.ts [--clusters 100] [--services 1000] [--endpoints 10] [--rate 10] [--measure 30]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ExportRecord } from "../src/core/multicluster-services/export-record.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import { TunnelClient } from "../src/dial-out/tunnel-client.ts";
import { startHub } from "../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../src/hub/joining/joining.ts";
import { systemCaller } from "../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../src/pki/authorities.ts";
import { createCertificateRequest } from "../src/pki/certificates.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "100" },
    services: { type: "string", default: "1000" },
    endpoints: { type: "string", default: "10" },
    rate: { type: "string", default: "10" },
    measure: { type: "string", default: "30" },
    label: { type: "string", default: "" },
  },
});
const clusterCount = Number(values.clusters);
const serviceCount = Number(values.services);
const endpointCount = Number(values.endpoints);
const rate = Number(values.rate);
const measureSeconds = Number(values.measure);
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);
const cli = join(import.meta.dirname, "../bin/unitfleet.ts");

const clusterName = (i: number) => `fra-${String(i).padStart(3, "0")}`;
const perCluster = Math.ceil(serviceCount / clusterCount);

function procStats(pid: number): { cpuSeconds: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, rss };
}

/** Service `s` of cluster `c`, its first endpoint's hostname carrying the change number `change`. */
function record(c: number, s: number, change: number): ExportRecord {
  return {
    cluster: clusterName(c),
    namespace: "bench",
    name: `svc-${s}`,
    exportCreatedAt: "2026-12-03T09:00:00Z",
    serviceState: "Found",
    type: "ClusterSetIP",
    ports: [{ name: "http", protocol: "TCP", port: 80 }],
    sessionAffinity: "None",
    ipFamilies: ["IPv4"],
    endpointGroups: [
      {
        addressType: "IPv4",
        ports: [{ name: "http", protocol: "TCP", port: 8080 }],
        endpoints: Array.from({ length: endpointCount }, (_, e) => ({
          address: `10.${c}.${s % 250}.${e + 1}`,
          ready: true,
          serving: true,
          terminating: false,
          zone: `fra-${c % 3}`,
          ...(e === 0 ? { hostname: `c${change}` } : {}),
        })),
      },
    ],
    endpointsOmitted: 0,
  };
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

const dir = await mkdtemp(join(tmpdir(), "unitfleet-services-bench-"));
let relayProcess: ChildProcess | undefined;
const agents: TunnelClient[] = [];
const stopping = new AbortController();
const hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
try {
  const doc = (kind: string, name: string, spec: object) => ({
    source: "bench",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      ...Array.from({ length: clusterCount }, (_, i) =>
        doc("Cluster", clusterName(i), { location: "frankfurt", environment: "prod", business: "bench" }),
      ),
    ],
    systemCaller,
  );
  const hubCa = await readFile(hub.caFile, "utf8");
  const port = 20_000 + (process.pid % 5000);
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  relayProcess = spawn(
    process.execPath,
    [
      cli,
      "relay",
      "--hub",
      hub.url,
      "--hub-ca",
      hub.caFile,
      "--token",
      token,
      "--location",
      "frankfurt",
      "--listen",
      `127.0.0.1:${port}`,
      "--dir",
      join(dir, "relay"),
    ],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  const relayUrl = `wss://127.0.0.1:${port}/unitfleet/v1alpha1/tunnel`;
  const ca = await ensureHubAuthorities(join(dir, "hub"), new Date(), () => {});

  /** Per change number: when it was sent; per receipt, the delay. */
  const sentAt = new Map<number, number>();
  const delays: number[] = [];
  let received = 0;
  let fullSets = 0;
  log(`joining ${clusterCount} virtual agents…`);
  for (let i = 0; i < clusterCount; i++) {
    const { token: agentToken } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
    const { csr, key } = await createCertificateRequest("agent");
    const joined = await joinHub(
      hub.sql,
      ca,
      { token: agentToken, role: "agent", cluster: clusterName(i), csr },
      new Date(),
    );
    const client = new TunnelClient({
      url: relayUrl,
      cert: joined.certificate,
      key,
      ca: [hubCa, ca.fleet.cert],
      hello: { role: "agent", location: "frankfurt", cluster: clusterName(i) },
      log: () => {},
      onMessage: (m) => {
        if (m.type !== "services.exports") return;
        received += 1;
        if (m.body.present) fullSets += 1;
        for (const r of m.body.records) {
          if (r.serviceState !== "Found") continue;
          const change = Number(r.endpointGroups[0]?.endpoints[0]?.hostname?.slice(1) ?? -1);
          const at = sentAt.get(change);
          if (change > 0 && at !== undefined) delays.push(performance.now() - at);
        }
      },
    });
    // An empty inventory: the agent then heartbeats for its cluster, as a real one does.
    client.setInventory(clusterName(i), new Map());
    agents.push(client);
    void client.run(stopping.signal);
  }
  const deadline = Date.now() + 120_000;
  while (agents.some((a) => !a.connected)) {
    if (Date.now() > deadline) throw new Error("the virtual agents did not all connect");
    await new Promise((r) => setTimeout(r, 100));
  }
  log("all connected; exporting…");
  const rssConnected = procStats(relayProcess.pid!).rss;
  const setsFrom = performance.now();
  let rssSets = rssConnected;
  // Every cluster's whole set, as an agent sends it when its session opens.
  for (let c = 0; c < clusterCount; c++) {
    const records = Array.from({ length: perCluster }, (_, k) => record(c, c * perCluster + k, 0));
    agents[c]!.forward(clusterName(c), "services.exports", {
      cluster: clusterName(c),
      region: `fra-${c % 3}`,
      records,
      removed: [],
      present: records.map((r) => ({ namespace: r.namespace, name: r.name })),
    });
  }
  const expected = clusterCount * (clusterCount - 1);
  while (fullSets < expected) {
    if (Date.now() > deadline + 60_000) throw new Error(`only ${fullSets} of ${expected} sets arrived`);
    rssSets = Math.max(rssSets, procStats(relayProcess.pid!).rss);
    await new Promise((r) => setTimeout(r, 20));
  }
  const setsSeconds = (performance.now() - setsFrom) / 1000;
  rssSets = Math.max(rssSets, procStats(relayProcess.pid!).rss);
  log(`every agent has the Location's ${clusterCount * perCluster} exports; changing ${rate} a second…`);
  const pid = relayProcess.pid!;
  const before = procStats(pid);
  const receivedBefore = received;
  const rss: number[] = [];
  const t0 = Date.now();
  let change = 0;
  while (Date.now() - t0 < measureSeconds * 1000) {
    const c = Math.floor(Math.random() * clusterCount);
    const s = c * perCluster + Math.floor(Math.random() * perCluster);
    change += 1;
    sentAt.set(change, performance.now());
    agents[c]!.forward(clusterName(c), "services.exports", {
      cluster: clusterName(c),
      region: `fra-${c % 3}`,
      records: [record(c, s, change)],
      removed: [],
    });
    if (change % rate === 0) rss.push(procStats(pid).rss);
    await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  await new Promise((r) => setTimeout(r, 2000));
  const after = procStats(pid);
  const seconds = (Date.now() - t0) / 1000;
  const cores = (after.cpuSeconds - before.cpuSeconds) / seconds;
  const perChange = (received - receivedBefore) / change;
  const lost = change * (clusterCount - 1) - delays.length;
  const result = {
    changes: change,
    receipts: delays.length,
    lost,
    p50: percentile(delays, 50),
    p99: percentile(delays, 99),
    max: Math.max(...delays),
    cores,
    rss: Math.max(...rss),
    rssSets,
    setsSeconds,
    perChange,
  };
  log(JSON.stringify(result));
  const date = new Date().toISOString().slice(0, 10);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
  const text = `# Multi-cluster services through a relay, ${date}

\`node bench/services-bench.ts --clusters ${clusterCount} --services ${serviceCount} --endpoints ${endpointCount} --rate ${rate} --measure ${measureSeconds}\`
on ${machine}.

One Location of ${clusterCount} virtual clusters (real tunnel clients, each with its own certificate) behind one
\`unitfleet relay\` process; ${clusterCount * perCluster} exported services of ${endpointCount} endpoints
(${perCluster} per cluster). Then ${rate} endpoint changes a second for ${measureSeconds} s, each in a random cluster
and service: the agent sends the one changed record, the relay passes it to the Location's ${clusterCount - 1}
other agents. The hub takes no part (ADR 0020): its CPU for this is zero.

| figure | value |
| --- | ---: |
| changes | ${change} |
| receipts (changes × other agents) | ${delays.length.toLocaleString()} (lost: ${lost}) |
| propagation, agent → every other agent, p50 | ${result.p50.toFixed(1)} ms |
| propagation p99 | ${result.p99.toFixed(1)} ms |
| propagation max | ${result.max.toFixed(1)} ms |
| relay CPU during the changes | ${(cores * 100).toFixed(1)} % of a core |
| relay RSS: agents connected, no exports yet | ${formatBytes(rssConnected)} |
| every agent's set to every other agent (${expected.toLocaleString()} sets) | ${setsSeconds.toFixed(1)} s |
| relay RSS (peak, while the sets fan out) | ${formatBytes(rssSets)} |
| relay RSS (peak, during the changes) | ${formatBytes(result.rss)} |
| messages the relay sent per change | ${perChange.toFixed(1)} |

The virtual agents run in the bench's own process on the same two cores as the relay, so propagation includes
their decoding. What each consumer then writes to its API server per change is the agent's part (one
EndpointSlice for a changed endpoint, paced by its write limiter: docs/multi-cluster-services.md).
`;
  const file = join(
    import.meta.dirname,
    "results",
    `services-${date}${values.label ? `-${values.label}` : ""}.md`,
  );
  await writeFile(file, text);
  process.stdout.write(text);
} finally {
  stopping.abort();
  relayProcess?.kill("SIGTERM");
  await hub.close();
  await rm(dir, { recursive: true, force: true });
}
