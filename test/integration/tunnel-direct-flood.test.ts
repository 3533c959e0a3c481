/**
 * A directly connected agent that floods the hub (issue 12, finding 10): 100,000 heartbeats pushed as fast as a
 * WebSocket takes them. The hub handles that session's frames one at a time and may fall behind on it, but
 * `/livez` stays fast throughout and the agent's cluster stays Ready. Real hub (PGlite), real TLS, a fleet CA
 * agent certificate.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { type Cluster, kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { decodeFrame, encodeFrame, message } from "../../src/protocol/codec.ts";
import type { MessageBody, MessageType } from "../../src/protocol/messages.ts";

const floodSize = 100_000;
let dir: string;
let hub: RunningHub;
let hubCa: string;
let agentCredentials: { cert: string; key: string; ca: string[] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-direct-flood-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {}, heartbeatSeconds: 1 });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "flood",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-flood", { location: "frankfurt", environment: "prod", business: "web" }),
    ],
    systemCaller,
  );
  // What an agent's inventory would have told the hub: two nodes, both ready.
  await hub.registry.mergeStatus(
    kinds.Cluster,
    "fra-flood",
    {
      nodes: { total: 2, ready: 2 },
      allocatable: { cpu: "8", memory: "32Gi", pods: "220" },
      requested: { cpu: "0", memory: "0" },
      pods: 0,
    },
    systemCaller,
  );
  hubCa = await readFile(hub.caFile, "utf8");
  const ca = await ensureHubAuthorities(dir, new Date(), () => {});
  const agentToken = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  const { csr, key } = await createCertificateRequest("agent");
  const joined = await joinHub(
    hub.sql,
    ca,
    { token: agentToken.token, role: "agent", cluster: "fra-flood", csr },
    new Date(),
  );
  agentCredentials = { cert: joined.certificate, key, ca: [hubCa, ca.fleet.cert] };
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

/** How long `/livez` takes to answer, in ms. */
async function livez(agent: Agent): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const req = request(`${hub.url}/livez`, { agent }, (res) => {
      res.resume();
      res.on("end", () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`livez ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end();
  });
  return performance.now() - started;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;

async function readyStatus(): Promise<string | undefined> {
  const cluster = (await hub.registry.get(kinds.Cluster, "fra-flood", systemCaller)) as unknown as Cluster;
  return cluster.status?.conditions?.find((c) => c.type === "Ready")?.status;
}

it("keeps /livez fast and the cluster Ready while a direct agent pushes 100,000 heartbeats", async () => {
  const ws = new WebSocket(`${hub.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, agentCredentials);
  let seq = 0;
  const send = <T extends MessageType>(type: T, body: MessageBody<T>) =>
    ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++seq })));
  await new Promise<void>((resolve, reject) => {
    ws.on("open", () => {
      send("hello", {
        role: "agent",
        location: "frankfurt",
        cluster: "fra-flood",
        versions: [1],
        resumeFrom: 0,
      });
      resolve();
    });
    ws.on("error", reject);
  });
  const beat = () =>
    send("heartbeat", { clusters: [{ cluster: "fra-flood", at: new Date().toISOString() }] });
  // Beating at the interval asked for until the cluster is Ready.
  const deadline = Date.now() + 30_000;
  while ((await readyStatus()) !== "True") {
    if (Date.now() > deadline) throw new Error("fra-flood never became Ready");
    beat();
    await sleep(500);
  }

  const agent = new Agent({ ca: hubCa, keepAlive: true, maxSockets: 1 });
  const quiet: number[] = [];
  for (let i = 0; i < 50; i++) {
    quiet.push(await livez(agent));
    await sleep(20);
  }
  const bound = Math.max(100, 2 * p99(quiet));

  // The flood, in chunks so that the test's own process (which is the hub's too) keeps probing.
  let sent = 0;
  const flooding = (async () => {
    while (sent < floodSize) {
      for (let i = 0; i < 2000; i++, sent++) beat();
      await new Promise((r) => setImmediate(r));
    }
  })();
  const during: number[] = [];
  const readiness: Array<string | undefined> = [];
  const probeUntil = Date.now() + 15_000;
  while (Date.now() < probeUntil) {
    during.push(await livez(agent));
    if (during.length % 25 === 0) readiness.push(await readyStatus());
    await sleep(20);
  }
  await flooding;
  agent.destroy();
  ws.close();

  console.info(
    `livez p99: quiet ${p99(quiet).toFixed(1)} ms, during the flood ${p99(during).toFixed(1)} ms (${during.length} probes)`,
  );
  expect(sent).toBe(floodSize);
  expect(during.length).toBeGreaterThan(100);
  expect(p99(during), `livez p99 during the flood (quiet p99 ${p99(quiet).toFixed(1)} ms)`).toBeLessThan(
    bound,
  );
  expect(readiness.every((r) => r === "True")).toBe(true);
  expect(await readyStatus()).toBe("True");
}, 120_000);

it("refuses metadata beyond a cluster's credit and closes a session that keeps overrunning it", async () => {
  const ws = new WebSocket(`${hub.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, agentCredentials);
  let seq = 0;
  const send = <T extends MessageType>(type: T, body: MessageBody<T>) =>
    ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++seq })));
  const errors: string[] = [];
  let credits = 0;
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.on("open", () =>
      send("hello", {
        role: "agent",
        location: "frankfurt",
        cluster: "fra-flood",
        versions: [1],
        resumeFrom: 0,
      }),
    );
    ws.on("message", (data: Buffer) => {
      const decoded = decodeFrame(data);
      if (!decoded.ok) return;
      if (decoded.message.type === "welcome") resolve();
      if (decoded.message.type === "error") errors.push(decoded.message.body.message);
      if (decoded.message.type === "credit") credits += decoded.message.body.messages;
    });
    ws.on("error", reject);
  });
  // 1,000 deltas at once: a window of 64 allows 64 in flight, not 1,000.
  for (let i = 1; i <= 1000; i++)
    send("inventory.delta", { cluster: "fra-flood", baseVersion: i + 1000, version: i + 1001, changes: [] });
  expect(await closed).toBe(1008);
  expect(errors.some((e) => e.startsWith("credit exceeded"))).toBe(true);
  // Credit came back only for what was within the window.
  expect(credits).toBeLessThan(1000);
}, 60_000);
