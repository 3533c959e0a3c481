/**
 * Thousands of malformed, oversized and out-of-order frames thrown at a live hub session: the hub answers or
 * drops the offender, never crashes, and another cluster's session keeps working throughout.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { encodeFrame, message } from "../../src/protocol/codec.ts";
import { goldenMessages } from "../../src/protocol/golden.ts";
import { type MessageBody, type MessageType, maxFrameBytes } from "../../src/protocol/messages.ts";

let dir: string;
let hub: RunningHub;
const credentials = new Map<string, { cert: string; key: string; ca: string }>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-fuzz-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {}, heartbeatSeconds: 1 });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "fuzz",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fuzzed", { location: "frankfurt", environment: "dev", business: "x" }),
      doc("Cluster", "bystander", { location: "frankfurt", environment: "prod", business: "x" }),
    ],
    systemCaller,
  );
  const ca = await readFile(hub.caFile, "utf8");
  for (const cluster of ["fuzzed", "bystander"]) {
    const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
    const { csr, key } = await createCertificateRequest(cluster);
    const joined = await joinHub(
      hub.sql,
      await ensureHubAuthorities(dir, new Date(), () => {}),
      { token, role: "agent", cluster, csr },
      new Date(),
    );
    credentials.set(cluster, { cert: joined.certificate, key, ca });
  }
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

class Peer {
  ws!: WebSocket;
  seq = 0;
  replies: string[] = [];
  readonly cluster: string;
  constructor(cluster: string) {
    this.cluster = cluster;
  }
  open(): Promise<void> {
    this.seq = 0;
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${hub.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, {
        ...credentials.get(this.cluster)!,
      });
      this.ws.on("message", (d: Buffer) => {
        const text = d.toString();
        this.replies.push(text);
        if (text.includes('"welcome"')) resolve();
      });
      this.ws.on("open", () =>
        this.send("hello", {
          role: "agent",
          location: "frankfurt",
          cluster: this.cluster,
          versions: [1],
          resumeFrom: 0,
        }),
      );
      this.ws.on("error", reject);
      // The hub closes the connection on an oversized frame; the socket's error is expected then.
      this.ws.on("close", () => this.ws.removeAllListeners("error").on("error", () => {}));
    });
  }
  send<T extends MessageType>(type: T, body: MessageBody<T>): void {
    this.ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++this.seq })));
  }
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
}

describe("a live hub session under a stream of bad frames", () => {
  it("survives 3,000 generated frames and keeps serving another cluster", async () => {
    const bystander = new Peer("bystander");
    await bystander.open();
    bystander.send("inventory.snapshot", {
      cluster: "bystander",
      version: 1,
      items: [{ key: "cluster", value: { kubernetesVersion: "v1.36.3" } }],
    });

    const goldens = Object.values(goldenMessages).map(
      (m) => JSON.parse(encodeFrame(m)) as Record<string, unknown>,
    );
    const frames = fc.sample(
      fc.oneof(
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string({ maxLength: 200 }),
        fc
          .tuple(
            fc.constantFrom(...goldens),
            fc.constantFrom("v", "type", "class", "body", "seq"),
            fc.jsonValue(),
          )
          .map(([f, k, v]) => JSON.stringify({ ...f, [k]: v })),
        // Valid frames in the wrong order, and frames speaking for somebody else's cluster.
        fc.constantFrom(...goldens).map((f) => JSON.stringify({ ...f, seq: 10_000 })),
        fc.constant("x".repeat(maxFrameBytes + 10)),
      ),
      { numRuns: 3000, seed: 42 },
    );
    const fuzzer = new Peer("fuzzed");
    await fuzzer.open();
    let reconnects = 0;
    for (const frame of frames) {
      if (!fuzzer.isOpen) {
        reconnects += 1;
        await fuzzer.open();
      }
      // Lockstep: wait for the hub's answer (or its closing the session, or silence: a dropped repeat).
      const before = fuzzer.replies.length;
      fuzzer.ws.send(frame);
      const until = Date.now() + 20;
      while (fuzzer.replies.length === before && fuzzer.isOpen && Date.now() < until)
        await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, 500));

    // The bystander's session is still open and still works: a delta changes its cluster's status.
    expect(bystander.isOpen).toBe(true);
    bystander.send("inventory.delta", {
      cluster: "bystander",
      baseVersion: 1,
      version: 2,
      changes: [{ op: "upsert", key: "cluster", value: { kubernetesVersion: "v1.36.4" } }],
    });
    const deadline = Date.now() + 5000;
    let version: string | undefined;
    while (Date.now() < deadline) {
      version = (
        (await hub.registry.get(kinds.Cluster, "bystander", systemCaller)).status as
          | { kubernetesVersion?: string }
          | undefined
      )?.kubernetesVersion;
      if (version === "v1.36.4") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(version).toBe("v1.36.4");
    // The offender was answered with errors (and cut off on gaps and oversized frames, then came back).
    expect(fuzzer.replies.filter((r) => r.includes('"type":"error"')).length).toBeGreaterThan(1000);
    expect(reconnects).toBeGreaterThan(100);
    // And the hub still serves its API.
    const live = await new Promise<number>((resolve, reject) =>
      httpsGet(`${hub.url}/livez`, { ca: credentials.get("bystander")!.ca }, (res) =>
        resolve(res.statusCode ?? 0),
      ).on("error", reject),
    );
    expect(live).toBe(200);
  }, 120_000);

  it("refuses a message it cannot read (a newer peer's type, a body out of bounds) and goes on with the next", async () => {
    const peer = new Peer("bystander");
    await peer.open();
    const snapshot = JSON.parse(encodeFrame(goldenMessages["inventory.snapshot"])) as Record<string, unknown>;
    // A type this hub does not know, then a body it refuses, each with the session's next number.
    peer.ws.send(JSON.stringify({ ...snapshot, type: "future.thing", seq: ++peer.seq }));
    peer.ws.send(
      JSON.stringify({
        ...snapshot,
        body: { cluster: "bystander", version: -1, items: [] },
        seq: ++peer.seq,
      }),
    );
    peer.send("inventory.snapshot", {
      cluster: "bystander",
      version: 1,
      items: [{ key: "cluster", value: { kubernetesVersion: "v1.36.9" } }],
    });
    const deadline = Date.now() + 5000;
    let version: string | undefined;
    while (Date.now() < deadline && version !== "v1.36.9") {
      await new Promise((r) => setTimeout(r, 100));
      version = (
        (await hub.registry.get(kinds.Cluster, "bystander", systemCaller)).status as
          | { kubernetesVersion?: string }
          | undefined
      )?.kubernetesVersion;
    }
    expect(version).toBe("v1.36.9");
    expect(peer.replies.filter((r) => r.includes("unknown-type") || r.includes('"malformed"'))).toHaveLength(
      2,
    );
    expect(peer.replies.some((r) => r.includes("out-of-order"))).toBe(false);
    expect(peer.isOpen).toBe(true);
    peer.ws.close();
  });
});
