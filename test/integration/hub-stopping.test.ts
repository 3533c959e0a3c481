/**
 * A hub that stops tells its relays and agents when to come back (goaway), then closes every tunnel — also one
 * that connects while the goaway is on its way. A tunnel left open to a stopped hub would keep its relay from ever
 * reconnecting to the hub that replaces it.
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

let dir: string;
let hub: RunningHub;
let credentials: { cert: string; key: string; ca: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-stopping-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {}, reconnectWindowMs: 1000 });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "stopping",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "early", { location: "frankfurt", environment: "dev", business: "x" }),
    ],
    systemCaller,
  );
  const ca = await readFile(hub.caFile, "utf8");
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  const { csr, key } = await createCertificateRequest("early");
  const joined = await joinHub(
    hub.sql,
    await ensureHubAuthorities(dir, new Date(), () => {}),
    { token, role: "agent", cluster: "early", csr },
    new Date(),
  );
  credentials = { cert: joined.certificate, key, ca };
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A tunnel connection that says hello, and what became of it. */
function connect() {
  const ws = new WebSocket(`${hub.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, credentials);
  const seen: string[] = [];
  let status: number | undefined;
  const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
  ws.on("open", () =>
    ws.send(
      encodeFrame(
        message(
          "hello",
          { role: "agent", location: "frankfurt", cluster: "early", versions: [1], resumeFrom: 0 },
          { id: randomUUID(), seq: 1 },
        ),
      ),
    ),
  );
  ws.on("message", (data: Buffer) => seen.push(JSON.parse(data.toString()).type));
  ws.on("unexpected-response", (_req, res) => {
    status = res.statusCode;
    ws.terminate();
  });
  ws.on("error", () => {});
  return { ws, seen, closed, status: () => status };
}

describe("a hub that stops", () => {
  it("closes every tunnel, also one opened while its goaway was on the way", async () => {
    const first = connect();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no welcome: ${first.seen.join(", ")}`)), 10_000);
      first.ws.on("message", () => {
        if (first.seen.includes("welcome")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // The moment the goaway arrives, another connection comes in, as a client told to retry at once would.
    let late: ReturnType<typeof connect> | undefined;
    first.ws.on("message", () => {
      if (!late && first.seen.includes("goaway")) late = connect();
    });
    await hub.close();
    expect(first.seen).toContain("goaway");
    expect(late).toBeDefined();
    const settled = await Promise.race([
      Promise.all([first.closed, late!.closed]).then(() => "closed"),
      new Promise((resolve) => setTimeout(() => resolve("still open"), 5000)),
    ]);
    expect(settled, `late connection saw ${late!.seen.join(", ") || "nothing"}`).toBe("closed");
    // It was refused with a status that says to retry, or, if it got in first, closed with the others.
    if (late!.status() !== undefined) expect(late!.status()).toBe(503);
  });
});
