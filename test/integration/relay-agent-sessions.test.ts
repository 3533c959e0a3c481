/**
 * A relay's agent connections (issue 12, finding 11): a connection that never says hello is closed after the
 * hello timeout, and a second connection with the same certificate replaces the first with a log line and a
 * close reason the first agent can read. All in this process, real TLS and WebSockets.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { encodeFrame, message } from "../../src/protocol/codec.ts";
import { type RunningRelay, relayCloseCodes, startRelay } from "../../src/relay/relay.ts";

let dir: string;
let hub: RunningHub;
let relay: RunningRelay;
let agent: { cert: string; key: string; ca: string };
const relayLog: Array<Record<string, unknown>> = [];

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
    log: (entry) => relayLog.push(entry),
    helloTimeoutMs: 1000,
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
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Connection {
  ws: WebSocket;
  welcomed: Promise<void>;
  closed: Promise<{ code: number; reason: string; afterMs: number }>;
}

function connect(sayHello: boolean): Connection {
  const started = Date.now();
  const ws = new WebSocket(`${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, agent);
  const welcomed = new Promise<void>((resolve, reject) => {
    ws.on("message", (d: Buffer) => {
      if ((JSON.parse(d.toString()) as { type: string }).type === "welcome") resolve();
    });
    ws.on("error", reject);
  });
  welcomed.catch(() => {});
  if (sayHello)
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
  const closed = new Promise<{ code: number; reason: string; afterMs: number }>((resolve) =>
    ws.on("close", (code, reason) =>
      resolve({ code, reason: reason.toString(), afterMs: Date.now() - started }),
    ),
  );
  return { ws, welcomed, closed };
}

it("closes a connection that never says hello after the hello timeout", async () => {
  const silent = connect(false);
  const closed = await silent.closed;
  expect(closed).toMatchObject({ code: relayCloseCodes.helloTimeout, reason: "no hello within 1000 ms" });
  expect(closed.afterMs).toBeLessThan(5000);
  expect(relayLog).toContainEqual(
    expect.objectContaining({
      level: "warn",
      msg: "an agent connection sent no hello in time",
      cluster: "fra-web",
    }),
  );
}, 20_000);

it("tells the first agent why a second connection with the same certificate replaced it, and logs it", async () => {
  const first = connect(true);
  await first.welcomed;
  const second = connect(true);
  await second.welcomed;
  const closed = await first.closed;
  expect(closed.code).toBe(relayCloseCodes.replaced);
  expect(closed.reason).toMatch(/^replaced by a newer connection with this certificate from /);
  expect(relayLog).toContainEqual(
    expect.objectContaining({
      level: "warn",
      msg: "a second agent connection with the same certificate replaced the first",
      cluster: "fra-web",
    }),
  );
  // The newer connection stays: it outlives the hello timeout.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(second.ws.readyState).toBe(WebSocket.OPEN);
  second.ws.close();
}, 20_000);
