/**
 * Flow control through a real relay (hub with its embedded store, relay and agent-like clients in this process,
 * real TLS and WebSockets), in compressed time: the hub asks for a heartbeat every 0.05 s. A cluster behind a
 * relay must stay alive at the hub however many heartbeats it sends — they take no credit — and a cluster whose
 * deltas the hub answers with `inventory.resync` (or refuses) must still get its inventory through afterwards:
 * every metadata message the hub receives gives its credit back, whatever became of it. The relay does the
 * same for its agents' reports.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { kinds } from "../../src/core/resources/kinds.ts";
import { TunnelClient } from "../../src/dial-out/tunnel-client.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { decodeFrame, encodeFrame, message } from "../../src/protocol/codec.ts";
import type { Message, MessageBody, MessageType } from "../../src/protocol/messages.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";

/** The heartbeat interval the hub asks for: 200 times faster than the default 10 s. */
const heartbeatSeconds = 0.05;

let dir: string;
let hub: RunningHub;
let relay: RunningRelay;
const credentials = new Map<string, { cert: string; key: string; ca: string[] }>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-flow-"));
  hub = await startHub({
    dir: join(dir, "hub"),
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    heartbeatSeconds,
  });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "flow",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-beating", { location: "frankfurt", environment: "prod", business: "web" }),
      doc("Cluster", "fra-resynced", { location: "frankfurt", environment: "prod", business: "web" }),
      doc("Cluster", "fra-reporting", { location: "frankfurt", environment: "prod", business: "web" }),
      doc("Cluster", "fra-direct", { location: "frankfurt", environment: "prod", business: "web" }),
    ],
    systemCaller,
  );
  const hubCa = await readFile(hub.caFile, "utf8");
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  relay = await startRelay({
    hub: hub.url,
    hubCa,
    token,
    location: "frankfurt",
    host: "127.0.0.1",
    port: 0,
    dir: join(dir, "relay"),
    log: () => {},
  });
  const ca = await ensureHubAuthorities(join(dir, "hub"), new Date(), () => {});
  for (const cluster of ["fra-beating", "fra-resynced", "fra-reporting", "fra-direct"]) {
    const agentToken = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
    const { csr, key } = await createCertificateRequest("agent");
    const joined = await joinHub(
      hub.sql,
      ca,
      { token: agentToken.token, role: "agent", cluster, csr },
      new Date(),
    );
    // The relay serves a certificate of the fleet CA, the hub one of the hub CA.
    credentials.set(cluster, { cert: joined.certificate, key, ca: [hubCa, ca.fleet.cert] });
  }
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

/** An agent as the relay (or the hub) sees it: says hello, then sends what the test asks. */
async function agentOf(cluster: string, dial: string = relay.url) {
  const received: Message[] = [];
  const ws = new WebSocket(
    `${dial.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`,
    credentials.get(cluster),
  );
  let seq = 0;
  const send = <T extends MessageType>(type: T, body: MessageBody<T>) =>
    ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++seq })));
  const welcome = await new Promise<MessageBody<"welcome">>((resolve, reject) => {
    ws.on("open", () =>
      send("hello", { role: "agent", location: "frankfurt", cluster, versions: [1], resumeFrom: 0 }),
    );
    ws.on("message", (data: Buffer) => {
      const decoded = decodeFrame(data);
      if (!decoded.ok) return reject(new Error(`the relay sent a bad frame: ${decoded.rejection.message}`));
      received.push(decoded.message);
      if (decoded.message.type === "welcome") resolve(decoded.message.body);
    });
    ws.on("error", reject);
  });
  return { ws, send, welcome, received };
}

async function lastHeartbeatAt(cluster: string): Promise<number | undefined> {
  const rows = await hub.sql.query<{ at: string }>(
    "select at::text as at from cluster_heartbeats where cluster = $1",
    [cluster],
  );
  return rows[0] ? Date.parse(rows[0].at) : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("flow control through a relay", () => {
  it("keeps a cluster alive at the hub through 300 heartbeats at the interval the hub asks for", async () => {
    const agent = await agentOf("fra-beating");
    // The fraction travels from the hub through the relay to the agent.
    expect(agent.welcome.heartbeatSeconds).toBe(heartbeatSeconds);
    const staleness: number[] = [];
    for (let beat = 1; beat <= 300; beat++) {
      agent.send("heartbeat", { clusters: [{ cluster: "fra-beating", at: new Date().toISOString() }] });
      await sleep(agent.welcome.heartbeatSeconds * 1000);
      if (beat % 50 === 0) {
        // What the health loop reads: the hub's last heartbeat of the cluster, a moment ago.
        await sleep(100);
        staleness.push(Date.now() - ((await lastHeartbeatAt("fra-beating")) ?? 0));
      }
    }
    expect(staleness).toHaveLength(6);
    for (const ms of staleness) expect(ms).toBeLessThan(1000);
    // Nothing waits in the relay: heartbeats went out as they came.
    expect(relay.client.queue.size).toEqual({ control: 0, heartbeat: 0, metadata: 0 });
    expect(relay.client.queue.peak).toBeLessThanOrEqual(2);
    agent.ws.close();
  }, 60_000);

  it("lets a cluster's inventory through after 200 deltas the hub answered with a resync", async () => {
    const agent = await agentOf("fra-resynced");
    // Deltas from a base the hub never had (as after a hub restart): each is answered with a resync.
    for (let version = 2; version <= 201; version++)
      agent.send("inventory.delta", {
        cluster: "fra-resynced",
        baseVersion: version - 1,
        version,
        changes: [{ op: "upsert", key: "cluster", value: { kubernetesVersion: "v1.36.2" } }],
      });
    const deadline = Date.now() + 10_000;
    const resyncs = () => agent.received.filter((m) => m.type === "inventory.resync").length;
    while (resyncs() < 200 && Date.now() < deadline) await sleep(20);
    expect(resyncs()).toBe(200);
    // The snapshot the agent answers with reaches the hub, and the Cluster's status shows it.
    agent.send("inventory.snapshot", {
      cluster: "fra-resynced",
      version: 500,
      items: [{ key: "cluster", value: { kubernetesVersion: "v1.36.3" } }],
    });
    let version: string | undefined;
    while (Date.now() < deadline) {
      const cluster = await hub.registry.get(kinds.Cluster, "fra-resynced", systemCaller);
      version = (cluster.status as { kubernetesVersion?: string } | undefined)?.kubernetesVersion;
      if (version) break;
      await sleep(50);
    }
    expect(version).toBe("v1.36.3");
    expect(relay.client.queue.size.metadata).toBe(0);
    agent.ws.close();
  }, 60_000);

  it("passes on 200 status reports of an agent's works: the relay gives the agent its credit back", async () => {
    // The agent's own tunnel client, as agent.ts uses it: reports go through its queue, within its credit.
    const client = new TunnelClient({
      url: `${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`,
      ...credentials.get("fra-reporting")!,
      hello: { role: "agent", location: "frankfurt", cluster: "fra-reporting" },
      log: () => {},
    });
    const stopping = new AbortController();
    const running = client.run(stopping.signal);
    const deadline = Date.now() + 10_000;
    while (!client.connected && Date.now() < deadline) await sleep(20);
    const before = relay.counters.forwarded;
    for (let report = 1; report <= 200; report++)
      client.forward("fra-reporting", "work.status", {
        cluster: "fra-reporting",
        application: "shop",
        generation: report,
        objects: [],
        drift: [],
        appliedAt: new Date().toISOString(),
      });
    while (relay.counters.forwarded - before < 200 && Date.now() < deadline) await sleep(20);
    expect(relay.counters.forwarded - before).toBe(200);
    expect(client.queue.size.metadata).toBe(0);
    stopping.abort();
    await running;
  }, 60_000);

  it("gives a credit back for every metadata message, refused, resynced or unreadable alike", async () => {
    const agent = await agentOf("fra-direct", hub.url);
    const delta = (cluster: string, version: number) => ({
      cluster,
      baseVersion: version - 1,
      version,
      changes: [{ op: "upsert" as const, key: "cluster", value: { kubernetesVersion: "v1.36.2" } }],
    });
    // Answered with a resync: the hub holds no base for the cluster.
    for (let v = 2; v < 32; v++) agent.send("inventory.delta", delta("fra-direct", v));
    // Refused: the agent may not speak for another cluster.
    for (let v = 2; v < 32; v++) agent.send("inventory.delta", delta("fra-beating", v));
    // Unreadable: a field this hub does not know (as from a newer agent).
    for (let v = 2; v < 32; v++)
      agent.send("inventory.delta", { ...delta("fra-direct", v), note: "x" } as never);
    const credits = () => agent.received.filter((m) => m.type === "credit");
    const deadline = Date.now() + 10_000;
    while (credits().length < 90 && Date.now() < deadline) await sleep(20);
    const given = credits().map((m) => m.body as MessageBody<"credit">);
    expect(given.filter((c) => c.cluster === "fra-direct" && c.messages === 1)).toHaveLength(60);
    expect(given.filter((c) => c.cluster === "fra-beating" && c.messages === 1)).toHaveLength(30);
    expect(agent.received.filter((m) => m.type === "error")).toHaveLength(60);
    agent.ws.close();
  }, 60_000);
});
