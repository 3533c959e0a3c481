import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { reconnectDelay, spreadRetries } from "./backoff.ts";
import { decodeFrame, encodeFrame } from "./codec.ts";
import { goldenMessages } from "./golden.ts";
import { maxFrameBytes, messageTypes } from "./messages.ts";
import { OutboundQueue } from "./outbound-queue.ts";
import { residencyVerdict } from "./residency.ts";
import { IdempotencyCache, InboundSequence, OutboundLog } from "./session.ts";

const fixtures = join(import.meta.dirname, "../../test/fixtures/protocol");

describe("golden frames", () => {
  it("has one golden frame per message type, and the files match what this build encodes", () => {
    expect(Object.keys(goldenMessages).sort()).toEqual(Object.keys(messageTypes).sort());
    for (const [type, msg] of Object.entries(goldenMessages)) {
      const file = join(fixtures, `${type}.json`);
      const encoded = `${JSON.stringify(JSON.parse(encodeFrame(msg)), null, 2)}\n`;
      // Set UPDATE_GOLDEN=1 to rewrite the files after a deliberate change of the contract.
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, encoded);
      expect(readFileSync(file, "utf8"), type).toBe(encoded);
    }
  });

  it("decodes every golden file to the message it holds", () => {
    for (const file of readdirSync(fixtures)) {
      const decoded = decodeFrame(readFileSync(join(fixtures, file), "utf8"));
      expect(decoded.ok, file).toBe(true);
      if (decoded.ok)
        expect(decoded.message).toEqual(
          goldenMessages[file.replace(/\.json$/, "") as keyof typeof goldenMessages],
        );
    }
  });
});

describe("decodeFrame refuses, without throwing", () => {
  const valid = goldenMessages.heartbeat;
  const variant = (patch: Record<string, unknown>) => JSON.stringify({ ...valid, ...patch });

  it("frames over the size limit, before parsing them", () => {
    expect(decodeFrame("x".repeat(maxFrameBytes + 1))).toMatchObject({
      ok: false,
      rejection: { code: "too-large" },
    });
  });

  it("text that is not a JSON object, unknown versions and unknown types", () => {
    expect(decodeFrame("{not json")).toMatchObject({ ok: false, rejection: { code: "malformed" } });
    expect(decodeFrame("[1,2]")).toMatchObject({ ok: false, rejection: { code: "malformed" } });
    expect(decodeFrame(variant({ v: 2 }))).toMatchObject({
      ok: false,
      rejection: { code: "unsupported-version" },
    });
    expect(decodeFrame(variant({ type: "exec" }))).toMatchObject({
      ok: false,
      rejection: { code: "unknown-type" },
    });
  });

  it("user content labelled as metadata", () => {
    const disguised = JSON.stringify({ ...goldenMessages["logs.chunk"], class: "metadata" });
    expect(decodeFrame(disguised)).toEqual({
      ok: false,
      rejection: {
        code: "malformed",
        message: 'class: a logs.chunk message is user-content, not "metadata"',
        // Its envelope's number: the receiver counts it handled and the session goes on.
        seq: goldenMessages["logs.chunk"].seq,
      },
    });
    // A frame without a readable number has none.
    expect(decodeFrame(JSON.stringify({ ...goldenMessages["logs.chunk"], seq: "x", type: "nope" }))).toEqual({
      ok: false,
      rejection: { code: "unknown-type", message: 'unknown message type "nope"' },
    });
  });

  it("invalid envelopes and bodies, saying where", () => {
    expect(decodeFrame(variant({ seq: 0 }))).toMatchObject({
      rejection: { message: "seq: must be a positive integer" },
    });
    expect(decodeFrame(variant({ sneaky: true }))).toMatchObject({
      rejection: { message: "unknown envelope fields: sneaky" },
    });
    const badBody = decodeFrame(variant({ body: { clusters: [{ cluster: "Not_A_Name", at: "x" }] } }));
    expect(badBody).toMatchObject({ ok: false, rejection: { code: "malformed" } });
    expect(badBody.ok ? "" : badBody.rejection.message).toMatch(/^body\.clusters\[0\]\.cluster: /);
  });

  it("survives thousands of generated frames: random JSON, random text and mutated valid frames", () => {
    const goldens = Object.values(goldenMessages).map(
      (m) => JSON.parse(encodeFrame(m)) as Record<string, unknown>,
    );
    const mutated = fc
      .tuple(
        fc.constantFrom(...goldens),
        fc.constantFrom("v", "id", "seq", "type", "class", "replyTo", "body"),
        fc.jsonValue(),
      )
      .map(([frame, key, value]) => JSON.stringify({ ...frame, [key]: value }));
    const deepMutated = fc
      .tuple(fc.constantFrom(...goldens), fc.jsonValue())
      .map(([frame, value]) => JSON.stringify({ ...frame, body: mutateFirstField(frame.body, value) }));
    const frames = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string(),
      mutated,
      deepMutated,
    );
    let accepted = 0;
    fc.assert(
      fc.property(frames, (frame) => {
        const decoded = decodeFrame(frame);
        if (decoded.ok) {
          accepted += 1;
          // Whatever is accepted is a well-formed message: encoding and decoding it again gives it back.
          const again = decodeFrame(encodeFrame(decoded.message));
          return again.ok && JSON.stringify(again.message) === JSON.stringify(decoded.message);
        }
        return typeof decoded.rejection.message === "string";
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(0);
  });
});

function mutateFirstField(body: unknown, value: unknown): unknown {
  if (body === null || typeof body !== "object") return value;
  const [first] = Object.keys(body);
  return first ? { ...(body as object), [first]: value } : body;
}

describe("sessions", () => {
  it("accepts messages in order, drops repeats, and notices gaps", () => {
    const inbound = new InboundSequence(3);
    expect([4, 5, 5, 3, 7, 6].map((s) => inbound.check(s))).toEqual([
      "accept",
      "accept",
      "duplicate",
      "duplicate",
      "gap",
      "accept",
    ]);
    expect(inbound.handled).toBe(6);
  });

  it("resends after a reconnect exactly what the peer has not handled", () => {
    const log = new OutboundLog<string>();
    for (const item of ["a", "b", "c", "d"]) log.record(item);
    log.acknowledge(1);
    expect(log.replayAfter(2)?.map((p) => [p.seq, p.item])).toEqual([
      [3, "c"],
      [4, "d"],
    ]);
    // The peer resumes from before what we still keep: we cannot replay, and say so (the peer resyncs).
    log.acknowledge(3);
    expect(log.replayAfter(1)).toBeUndefined();
  });

  it("runs a command once per idempotency key, however often it arrives", async () => {
    const cache = new IdempotencyCache<string>(60_000);
    let runs = 0;
    const work = async () => `ran ${++runs}`;
    expect(await cache.once("k1", 0, work)).toEqual({ result: "ran 1", replayed: false });
    expect(await cache.once("k1", 1000, work)).toEqual({ result: "ran 1", replayed: true });
    expect(await cache.once("k2", 1000, work)).toEqual({ result: "ran 2", replayed: false });
    expect(runs).toBe(2);
  });

  it("runs a key once even when it arrives again while the first run is still going", async () => {
    const cache = new IdempotencyCache<string>(60_000);
    let runs = 0;
    let finish: (value: string) => void = () => {};
    const work = () => {
      runs += 1;
      return new Promise<string>((resolve) => {
        finish = resolve;
      });
    };
    const first = cache.once("k", 0, work);
    const second = cache.once("k", 10, work);
    finish("done");
    expect(await first).toEqual({ result: "done", replayed: false });
    expect(await second).toEqual({ result: "done", replayed: true });
    expect(runs).toBe(1);
  });
});

describe("the outbound queue", () => {
  it("lets control overtake metadata", () => {
    const q = new OutboundQueue<string>();
    q.push({ cluster: "a", lane: "metadata", item: "inventory" });
    q.push({ cluster: "a", lane: "control", item: "command result" });
    expect(q.next()?.item).toBe("command result");
    expect(q.next()?.item).toBe("inventory");
  });

  it("keeps other clusters flowing when one has no credit left", () => {
    const q = new OutboundQueue<string>(1000, 2);
    for (let i = 0; i < 5; i++) q.push({ cluster: "slow", lane: "metadata", item: `slow-${i}` });
    for (let i = 0; i < 3; i++) q.push({ cluster: "fast", lane: "metadata", item: `fast-${i}` });
    const sent: string[] = [];
    for (let m = q.next(); m; m = q.next()) sent.push(m.item);
    expect(sent).toEqual(["slow-0", "fast-0", "slow-1", "fast-1"]);
    // The hub took fast's two: their credit comes back, and fast goes on while slow waits.
    q.grant("fast", 2);
    expect([q.next()?.item, q.next()]).toEqual(["fast-2", undefined]);
    expect(q.size.metadata).toBe(3);
    // Never more than the window in flight, even if the hub gives back more than was taken.
    q.grant("slow", 3);
    expect([q.next()?.item, q.next()?.item, q.next()]).toEqual(["slow-2", "slow-3", undefined]);
    q.grant("slow", 1);
    expect([q.next()?.item, q.next()]).toEqual(["slow-4", undefined]);
  });

  it("bounds each cluster's queue, dropping its oldest messages and counting them", () => {
    const q = new OutboundQueue<number>(3, 100);
    for (let i = 0; i < 5; i++) q.push({ cluster: "c", lane: "metadata", item: i });
    expect(q.dropped.get("c")).toBe(2);
    expect([q.next()?.item, q.next()?.item, q.next()?.item]).toEqual([2, 3, 4]);
  });
});

describe("reconnecting", () => {
  it("backs off exponentially with full jitter, up to a ceiling", () => {
    expect(reconnectDelay(0, () => 0.999)).toBe(499);
    expect(reconnectDelay(3, () => 0.5)).toBe(2000);
    expect(reconnectDelay(20, () => 0.999)).toBe(29_970);
    expect(reconnectDelay(5, () => 0)).toBe(0);
  });

  it("spreads clients evenly over the window a restarting hub gives them", () => {
    const delays = spreadRetries(1000, 60_000, () => 0.5);
    const perTenSeconds = Array.from(
      { length: 6 },
      (_, i) => delays.filter((d) => d >= i * 10_000 && d < (i + 1) * 10_000).length,
    );
    for (const n of perTenSeconds) expect(n).toBeGreaterThanOrEqual(166);
    expect(Math.max(...delays)).toBeLessThan(60_000);
  });
});

describe("the residency guard", () => {
  it("keeps user content in its Location and lets control and metadata cross", () => {
    expect(residencyVerdict("logs.chunk", "frankfurt", "frankfurt")).toEqual({ allowed: true });
    expect(residencyVerdict("inventory.delta", "frankfurt", "singapore")).toEqual({ allowed: true });
    expect(residencyVerdict("logs.chunk", "frankfurt", "singapore")).toEqual({
      allowed: false,
      rule: "user-content-stays-in-its-location",
      reason:
        'logs.chunk is user content of Location "frankfurt" and may not be sent to Location "singapore"',
    });
  });
});
