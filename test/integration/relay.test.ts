/**
 * A relay between its agents and the hub (all in this process, real TLS and WebSockets): it forwards an
 * agent's metadata, refuses user content leaving the Location (naming the rule, counting the refusal) and
 * refuses an agent speaking for another cluster. A certificate the hub revokes is refused by the relay too,
 * and an agent connected with it is cut off.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub, revokeCertificate } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { encodeFrame, message } from "../../src/protocol/codec.ts";
import type { MessageBody, MessageType } from "../../src/protocol/messages.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";

let dir: string;
let hub: RunningHub;
let relay: RunningRelay;
let agent: { cert: string; key: string; ca: string };
let agentSerial: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-relay-"));
  hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "test",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Location", "singapore", {}),
      doc("Cluster", "fra-web", { location: "frankfurt", environment: "prod", business: "web" }),
    ],
    systemCaller,
  );
  const hubCa = await readFile(hub.caFile, "utf8");
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  // The hub runs in another Location than the relay: user content must not reach it.
  relay = await startRelay({
    hub: hub.url,
    hubCa,
    token,
    location: "frankfurt",
    hubLocation: "singapore",
    host: "127.0.0.1",
    port: 0,
    dir: join(dir, "relay"),
    log: () => {},
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
  agent = { cert: joined.certificate, key, ca: ca.fleet.cert };
  agentSerial = joined.serial;
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a relay", () => {
  it("forwards metadata, refuses user content leaving the Location and an agent speaking for another cluster", async () => {
    const replies: Array<{ type: string; body: { code?: string; message?: string } }> = [];
    const ws = new WebSocket(`${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, agent);
    let seq = 0;
    const send = <T extends MessageType>(type: T, body: MessageBody<T>) =>
      ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++seq })));
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () =>
        send("hello", {
          role: "agent",
          location: "frankfurt",
          cluster: "fra-web",
          versions: [1],
          resumeFrom: 0,
        }),
      );
      ws.on("message", (d: Buffer) => {
        const m = JSON.parse(d.toString()) as { type: string; body: { code?: string; message?: string } };
        replies.push(m);
        if (m.type === "welcome") resolve();
      });
      ws.on("error", reject);
    });
    const until = async (check: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };

    send("heartbeat", { clusters: [{ cluster: "fra-web", at: new Date().toISOString() }] });
    await until(() => relay.counters.forwarded === 1);
    expect(relay.counters.forwarded).toBe(1);

    send("logs.chunk", { cluster: "fra-web", command: "c1", data: "a customer's order 1234\n", last: true });
    await until(() => replies.some((r) => r.body.code === "residency"));
    expect(replies.find((r) => r.body.code === "residency")?.body.message).toBe(
      'user-content-stays-in-its-location: logs.chunk is user content of Location "frankfurt" and may not be sent to Location "singapore"',
    );
    expect(relay.counters.residencyRefusals).toBe(1);

    send("heartbeat", { clusters: [{ cluster: "fra-other", at: new Date().toISOString() }] });
    await until(() => replies.some((r) => r.body.code === "forbidden"));
    expect(replies.find((r) => r.body.code === "forbidden")?.body.message).toBe(
      "the agent of fra-web may speak only for fra-web",
    );
    expect(relay.counters.forwarded).toBe(1);
    ws.close();
  });

  it("cuts off an agent whose certificate the hub revokes, and refuses it from then on", async () => {
    const url = `${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`;
    const ws = new WebSocket(url, agent);
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () =>
        ws.send(
          encodeFrame(
            message(
              "hello",
              { role: "agent", location: "frankfurt", cluster: "fra-web", versions: [1], resumeFrom: 0 },
              { id: randomUUID(), seq: 1 },
            ),
          ),
        ),
      );
      ws.on("message", (d: Buffer) => {
        if ((JSON.parse(d.toString()) as { type: string }).type === "welcome") resolve();
      });
      ws.on("error", reject);
    });
    const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
    await revokeCertificate(hub.sql, agentSerial, new Date());
    await closed;

    const status = await new Promise<number>((resolve) => {
      const again = new WebSocket(url, agent);
      again.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      again.on("open", () => resolve(101));
      again.on("error", () => {});
    });
    expect(status).toBe(403);
  });
});
