/**
 * Propagation latency: from `hub.registry.applyAll` of an Application (a new generation: a ConfigMap value
 * changed) until every target cluster has it. Two scenarios, each with an in-process hub on the embedded store:
 *
 *  - lab: the lab's six clusters (started beforehand with `unitfleet lab up`), a relay per Location and an agent
 *    per cluster in-process as in test/e2e/delivery.test.ts; arrival is read by polling each cluster's API every
 *    20 ms. Baseline in the same run: a loop of `kubectl apply --context C -f file` over the six clusters.
 *  - virtual: 1,000 clusters in 10 Locations, 10 virtual relays speaking the real protocol (join, mutual TLS
 *    WebSocket, hello, inventory snapshots, heartbeats) each for 100 clusters, answering every `work.apply` with
 *    a `work.status`; arrival = every virtual cluster has received the `work.apply` with the new value.
 *
 *   UNITFLEET_HOME=/tmp/propbench-home node bench/propagation-bench.ts --scenario lab [--changes 20]
 *   node bench/propagation-bench.ts --scenario virtual [--changes 20]
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import WebSocket from "ws";
import { type RunningAgent, startAgent } from "../src/agent/agent.ts";
import { HubClient } from "../src/cli/client/hub-client.ts";
import { readEnvironment } from "../src/config/environment.ts";
import { kinds } from "../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../src/hub/hub.ts";
import { createBootstrapToken } from "../src/hub/joining/joining.ts";
import { systemCaller } from "../src/hub/registry/caller.ts";
import { binaryPath, labPaths } from "../src/lab/paths.ts";
import { loadTopology } from "../src/lab/topology-file.ts";
import { createCertificateRequest } from "../src/pki/certificates.ts";
import { encodeFrame, message } from "../src/protocol/codec.ts";
import type { MessageBody, MessageType } from "../src/protocol/messages.ts";
import { type RunningRelay, startRelay } from "../src/relay/relay.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "virtual" },
    changes: { type: "string", default: "20" },
    topology: { type: "string" },
  },
});
const changes = Number(values.changes);
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const doc = (kind: string, name: string, spec: object) => ({
  source: "bench",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});
const application = (name: string, value: string, placement: object) =>
  doc("Application", name, {
    manifests: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "propbench" } },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: name, namespace: "propbench" },
        data: { value },
      },
    ],
    placement: { replicas: { mode: "Duplicated", count: 1 }, ...placement },
  });

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const summary = (xs: number[]) =>
  `p50 ${percentile(xs, 50).toFixed(0)} ms, p99 ${percentile(xs, 99).toFixed(0)} ms, min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)} (n=${xs.length})`;

async function until(what: string, ok: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const isReady = (o: object) =>
  (
    (o as { status?: unknown }).status as { conditions?: Array<{ type: string; status: string }> } | undefined
  )?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

// ---------------------------------------------------------------------------------------------------- lab

async function labScenario(): Promise<Record<string, number[]>> {
  const env = readEnvironment();
  const paths = labPaths(env.cacheRoot, env.home);
  const topology = await loadTopology(values.topology);
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-propbench-"));
  const hub = await startHub({ dir, host: "127.0.0.1", port: 0, location: "frankfurt", log: () => {} });
  const relays: RunningRelay[] = [];
  const agents: RunningAgent[] = [];
  const kc = new KubeConfig();
  kc.loadFromFile(paths.kubeconfig);
  const clusters = topology.spec.clusters.map((c) => c.name);
  const apis = new Map(
    clusters.map((c) => {
      kc.setCurrentContext(c);
      return [c, kc.makeApiClient(CoreV1Api)];
    }),
  );
  try {
    await hub.registry.applyAll(
      [
        ...topology.spec.locations.map((l) => doc("Location", l.name, {})),
        ...topology.spec.locations.flatMap((l) =>
          (l.regions ?? []).map((r) => doc("Region", r.name, { location: l.name, zones: r.zones })),
        ),
      ],
      systemCaller,
    );
    const hubCa = await readFile(hub.caFile, "utf8");
    const relayUrl = new Map<string, string>();
    for (const l of topology.spec.locations) {
      const { token } = await createBootstrapToken(hub.sql, l.name, 600_000, new Date());
      const relay = await startRelay({
        hub: hub.url,
        hubCa,
        token,
        location: l.name,
        hubLocation: "frankfurt",
        host: "127.0.0.1",
        port: 0,
        dir: join(dir, "relays", l.name),
        log: () => {},
      });
      relays.push(relay);
      relayUrl.set(l.name, relay.url);
    }
    for (const c of topology.spec.clusters) {
      const { token } = await createBootstrapToken(hub.sql, c.location, 600_000, new Date());
      agents.push(
        await startAgent({
          hub: hub.url,
          relay: relayUrl.get(c.location)!,
          hubCa,
          token,
          kubeconfig: paths.kubeconfig,
          context: c.name,
          cluster: c.name,
          location: c.location,
          ...(c.region ? { region: c.region } : {}),
          environment: c.environment,
          business: c.business,
          dir: join(dir, "agents", c.name),
          log: () => {},
        }),
      );
    }
    for (const c of clusters)
      await until(`${c} Ready`, async () => isReady(await hub.registry.get(kinds.Cluster, c, systemCaller)));
    log(`${clusters.length} clusters Ready`);

    const placement = { locations: topology.spec.locations.map((l) => l.name) };
    const valueIn = async (c: string) =>
      (
        await apis
          .get(c)!
          .readNamespacedConfigMap({ name: "propbench", namespace: "propbench" })
          .catch(() => undefined)
      )?.data?.value;
    await hub.registry.applyAll([application("propbench", "v0", placement)], systemCaller);
    await until("first generation everywhere", async () =>
      (await Promise.all(clusters.map(valueIn))).every((v) => v === "v0"),
    );
    const first: number[] = [];
    const unitfleet: number[] = [];
    for (let i = 1; i <= changes; i++) {
      const value = `v${i}`;
      const t0 = performance.now();
      await hub.registry.applyAll([application("propbench", value, placement)], systemCaller);
      const arrived = new Map<string, number>();
      while (arrived.size < clusters.length) {
        await Promise.all(
          clusters
            .filter((c) => !arrived.has(c))
            .map(async (c) => {
              if ((await valueIn(c)) === value) arrived.set(c, performance.now() - t0);
            }),
        );
        if (arrived.size < clusters.length) await sleep(20);
        if (performance.now() - t0 > 60_000) throw new Error(`${value} did not arrive`);
      }
      first.push(Math.min(...arrived.values()));
      unitfleet.push(Math.max(...arrived.values()));
      log(`change ${i}: first ${first.at(-1)!.toFixed(0)} ms, all ${unitfleet.at(-1)!.toFixed(0)} ms`);
      await sleep(300);
    }

    // Baseline: what a user does without unitfleet.
    const kubectl = binaryPath(paths, "kubectl");
    const file = join(dir, "configmap.yaml");
    const loop: number[] = [];
    for (let i = 1; i <= changes; i++) {
      await writeFile(
        file,
        `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: propbench-kubectl\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: propbench\n  namespace: propbench-kubectl\ndata:\n  value: k${i}\n`,
      );
      const t0 = performance.now();
      for (const c of clusters)
        await promisify(execFile)(kubectl, [
          "--kubeconfig",
          paths.kubeconfig,
          "--context",
          c,
          "apply",
          "-f",
          file,
        ]);
      loop.push(performance.now() - t0);
      log(`kubectl loop ${i}: ${loop.at(-1)!.toFixed(0)} ms`);
    }
    await hub.registry.delete(kinds.Application, "propbench", systemCaller).catch(() => {});
    await sleep(3000);
    for (const c of clusters)
      await promisify(execFile)(kubectl, [
        "--kubeconfig",
        paths.kubeconfig,
        "--context",
        c,
        "delete",
        "namespace",
        "propbench-kubectl",
        "--ignore-not-found",
        "--wait=false",
      ]).catch(() => {});
    return { "lab first cluster": first, "lab all 6 clusters": unitfleet, "kubectl apply loop (6)": loop };
  } finally {
    for (const a of agents) await a.stop().catch(() => {});
    for (const r of relays) await r.stop().catch(() => {});
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------ virtual

const clusterName = (i: number) => `v-${String(i).padStart(4, "0")}`;
const locationOf = (r: number) => `loc-${r}`;

function inventory(i: number) {
  return [
    { key: "cluster", value: { kubernetesVersion: "v1.36.3" } },
    {
      key: `node/${clusterName(i)}-0`,
      value: {
        name: `${clusterName(i)}-0`,
        zone: "z0",
        ready: true,
        capacity: { cpu: "16", memory: "64Gi", pods: "110" },
        allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
        kubeletVersion: "v1.36.3",
        kernelVersion: "6.12",
        containerRuntimeVersion: "containerd://2.1.4",
      },
    },
  ];
}

class VirtualRelay {
  ws!: WebSocket;
  seq = 0;
  received = 0;
  /** Called with each work.apply as it arrives. */
  onWork: (body: MessageBody<"work.apply">) => void = () => {};
  readonly location: string;
  readonly clusters: string[];
  private readonly creds: { cert: string; key: string; ca: string };
  constructor(location: string, clusters: string[], creds: { cert: string; key: string; ca: string }) {
    this.location = location;
    this.clusters = clusters;
    this.creds = creds;
  }
  send<T extends MessageType>(type: T, body: MessageBody<T>) {
    this.ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++this.seq })));
  }
  connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${url.replace(/^http/, "ws")}/unitfleet/v1alpha1/tunnel`, { ...this.creds });
      this.ws.on("open", () =>
        this.send("hello", { role: "relay", location: this.location, versions: [1], resumeFrom: 0 }),
      );
      this.ws.on("message", (data: Buffer) => {
        const m = JSON.parse(data.toString()) as { type: string; seq: number; body: unknown };
        this.received = m.seq;
        if (m.type === "welcome") {
          for (const c of this.clusters)
            this.send("inventory.snapshot", {
              cluster: c,
              version: 1,
              items: inventory(Number(c.slice(2))),
            });
          this.heartbeat();
          resolve();
        } else if (m.type === "work.apply") {
          const body = m.body as MessageBody<"work.apply">;
          this.onWork(body);
          this.send("work.status", {
            cluster: body.cluster,
            application: body.application,
            generation: body.generation,
            objects: [],
            drift: [],
            appliedAt: new Date().toISOString(),
          });
        }
        if (m.seq % 32 === 0) this.send("ack", { upTo: m.seq });
      });
      this.ws.on("error", reject);
    });
  }
  heartbeat() {
    const at = new Date().toISOString();
    this.send("heartbeat", { clusters: this.clusters.map((cluster) => ({ cluster, at })) });
  }
}

async function virtualScenario(): Promise<Record<string, number[]>> {
  const relayCount = 10;
  const clusterCount = 1000;
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-propbench-"));
  const hub: RunningHub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {} });
  const relays: VirtualRelay[] = [];
  let beat: NodeJS.Timeout | undefined;
  try {
    const docs = [];
    for (let r = 0; r < relayCount; r++) docs.push(doc("Location", locationOf(r), {}));
    await hub.registry.applyAll(docs, systemCaller);
    for (let i = 0; i < clusterCount; i += 250) {
      const batch = [];
      for (let j = i; j < i + 250; j++)
        batch.push(
          doc("Cluster", clusterName(j), {
            location: locationOf(j % relayCount),
            environment: "prod",
            business: "bench",
          }),
        );
      await hub.registry.applyAll(batch, systemCaller);
    }
    const ca = await readFile(hub.caFile, "utf8");
    const api = new HubClient({
      server: hub.url,
      token: (await readFile(hub.adminTokenFile, "utf8")).trim(),
      caCert: ca,
    });
    for (let r = 0; r < relayCount; r++) {
      const { token } = await createBootstrapToken(hub.sql, locationOf(r), 600_000, new Date());
      const { csr, key } = await createCertificateRequest("relay");
      const joined = await api.send<{ certificate: string }>("POST", "/unitfleet/v1alpha1/join", {
        token,
        role: "relay",
        csr,
      });
      const mine = Array.from({ length: clusterCount }, (_, i) => i)
        .filter((i) => i % relayCount === r)
        .map(clusterName);
      relays.push(new VirtualRelay(locationOf(r), mine, { cert: joined.certificate, key, ca }));
    }
    api.close();
    await Promise.all(relays.map((r) => r.connect(hub.url)));
    beat = setInterval(() => {
      for (const r of relays) r.heartbeat();
    }, 3000);
    await until(
      "1,000 clusters Ready",
      async () => (await hub.store.list("Cluster")).items.filter(isReady).length === clusterCount,
    );
    log(`${clusterCount} clusters Ready`);

    const results: Record<string, number[]> = {};
    for (const [name, size, placement] of [
      ["p100", 100, { locations: [locationOf(0)] }],
      ["p1000", 1000, { locations: Array.from({ length: relayCount }, (_, r) => locationOf(r)) }],
    ] as const) {
      const run = async (value: string): Promise<{ first: number; all: number }> => {
        const arrived = new Map<string, number>();
        let t0 = 0;
        const done = new Promise<void>((resolve) => {
          for (const r of relays)
            r.onWork = (w) => {
              const cm = w.manifests.find((m) => m.kind === "ConfigMap") as { data?: { value?: string } };
              if (w.application === name && cm?.data?.value === value && !arrived.has(w.cluster)) {
                arrived.set(w.cluster, performance.now() - t0);
                if (arrived.size === size) resolve();
              }
            };
        });
        t0 = performance.now();
        await hub.registry.applyAll([application(name, value, placement)], systemCaller);
        await Promise.race([
          done,
          sleep(60_000).then(() => {
            throw new Error(`${name} ${value}: ${arrived.size}/${size} arrived`);
          }),
        ]);
        return { first: Math.min(...arrived.values()), all: Math.max(...arrived.values()) };
      };
      await run("v0");
      const first: number[] = [];
      const all: number[] = [];
      for (let i = 1; i <= changes; i++) {
        const r = await run(`v${i}`);
        first.push(r.first);
        all.push(r.all);
        log(`${name} change ${i}: first ${r.first.toFixed(0)} ms, all ${r.all.toFixed(0)} ms`);
        await sleep(300);
      }
      results[`virtual ${size}: first cluster`] = first;
      results[`virtual ${size}: all ${size} clusters`] = all;
      await hub.registry.delete(kinds.Application, name, systemCaller);
      await sleep(1000);
    }
    return results;
  } finally {
    clearInterval(beat);
    for (const r of relays) r.ws?.close();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const results = values.scenario === "lab" ? await labScenario() : await virtualScenario();
for (const [k, v] of Object.entries(results)) process.stdout.write(`${k}: ${summary(v)}\n`);
process.stdout.write(
  `raw ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map(Math.round)])))}\n`,
);
process.exit(0);
