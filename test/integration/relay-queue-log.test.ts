/**
 * A relay tells its operator how its tunnel's queue is doing: a periodic "relay queue" log line with the queue's
 * depth and peak, what was dropped or buffered, the messages forwarded, the agents connected and whether the
 * tunnel to the hub is open (real hub, relay, TLS and WebSockets in this process).
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { encodeFrame, message } from "../../src/protocol/codec.ts";
import type { MessageBody, MessageType } from "../../src/protocol/messages.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";

let dir: string;
let hub: RunningHub;
let relay: RunningRelay;
const entries: Array<Record<string, unknown>> = [];
let agentWs: WebSocket;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-relay-queue-"));
  hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "test",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-web", { location: "frankfurt", environment: "prod", business: "web" }),
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
    hubLocation: "frankfurt",
    host: "127.0.0.1",
    port: 0,
    dir: join(dir, "relay"),
    log: (entry) => entries.push(entry),
    queueLogEveryMs: 100,
  });
  const agentToken = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  const { csr, key } = await createCertificateRequest("agent");
  const ca = await ensureHubAuthorities(join(dir, "hub"), new Date(), () => {});
  const joined = await joinHub(
    hub.sql,
    ca,
    { token: agentToken.token, role: "agent", cluster: "fra-web", csr },
    new Date(),
  );
  agentWs = new WebSocket(`${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, {
    cert: joined.certificate,
    key,
    ca: ca.fleet.cert,
  });
}, 60_000);

afterAll(async () => {
  agentWs?.close();
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

const queueLines = () => entries.filter((e) => e.msg === "relay queue");

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe("a relay's queue line", () => {
  it("reports the queue, what was dropped, the agents and the tunnel, and that the tunnel is down when the hub goes", async () => {
    let seq = 0;
    const send = <T extends MessageType>(type: T, body: MessageBody<T>) =>
      agentWs.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++seq })));
    await new Promise<void>((resolve, reject) => {
      agentWs.on("open", () =>
        send("hello", {
          role: "agent",
          location: "frankfurt",
          cluster: "fra-web",
          versions: [1],
          resumeFrom: 0,
        }),
      );
      agentWs.on("message", (d: Buffer) => {
        if ((JSON.parse(d.toString()) as { type: string }).type === "welcome") resolve();
      });
      agentWs.on("error", reject);
    });
    await until(() => relay.client.connected);
    for (let i = 0; i < 3; i++)
      send("heartbeat", { clusters: [{ cluster: "fra-web", at: new Date().toISOString() }] });
    await until(() => queueLines().some((l) => l.forwarded === 3));
    expect(queueLines().find((l) => l.forwarded === 3)).toEqual({
      relay: "frankfurt",
      level: "info",
      msg: "relay queue",
      control: 0,
      heartbeat: 0,
      metadata: 0,
      peak: expect.any(Number),
      dropped: 0,
      buffered: 0,
      bufferDropped: 0,
      forwarded: 3,
      agents: 1,
      connected: true,
    });

    await hub.close();
    const before = queueLines().length;
    await until(() =>
      queueLines()
        .slice(before)
        .some((l) => l.connected === false),
    );
    expect(
      queueLines()
        .slice(before)
        .some((l) => l.connected === false),
    ).toBe(true);
  }, 30_000);
});
