/**
 * Flow control as a whole, simulated: a relay's real `OutboundQueue` sending to a hub that applies the real
 * credit rule (`creditReturned`), over links that delay messages (in order, as a WebSocket does), a hub that
 * handles them late and with every outcome, sessions that drop and reopen. A million messages of every type
 * over several clusters. Time is in ticks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, message } from "./codec.ts";
import { creditReturned, creditReturnedForFrame, initialCredit, type Lane, laneOf } from "./flow-control.ts";
import { goldenMessages } from "./golden.ts";
import type { MessageBody, MessageType } from "./messages.ts";
import { OutboundQueue } from "./outbound-queue.ts";

/** What the hub did with a message: its credit comes back whichever it is. */
type Outcome = "handled" | "refused" | "resync" | "threw";

/** The rule under test: which lane a message goes in, what credit the hub gives back, and per-session credit. */
interface Rule {
  lane(type: MessageType): Lane;
  returned(m: Sent, outcome: Outcome): MessageBody<"credit"> | undefined;
  creditPerSession: boolean;
}

const currentRule: Rule = {
  lane: laneOf,
  returned: (m) => creditReturned(m),
  creditPerSession: true,
};

/** The rule before ADR 0014: heartbeats took credit; some outcomes gave none back; credit outlived sessions. */
const oldRule: Rule = {
  lane: (type) => (type === "heartbeat" ? "metadata" : laneOf(type)),
  returned: (m, outcome) => {
    const cluster = (m.body as { cluster: string }).cluster;
    if (outcome === "refused" || outcome === "threw") return undefined;
    if (m.type === "inventory.snapshot") return { cluster, messages: 64 };
    if (m.type === "inventory.delta" && outcome !== "resync") return { cluster, messages: 1 };
    if (m.type === "work.status") return { cluster, messages: 1 };
    return undefined;
  },
  creditPerSession: false,
};

interface Sent {
  id: number;
  type: MessageType;
  body: unknown;
  cluster: string;
  pushedAt: number;
}

interface Scenario {
  seed: number;
  clusters: number;
  messages: number;
  /** Ticks between a cluster's heartbeats. */
  heartbeatEvery: number;
  /** Longest one-way delay of a link, in ticks. */
  maxDelay: number;
  /** One chance in this many, per tick, that the session drops. */
  dropOneIn: number;
}

/** Limits the simulation holds the rule to. */
interface Bounds {
  /** A heartbeat reaches the hub within this many ticks of its push, unless superseded or lost with a session. */
  heartbeatTicks: number;
  /** Once pushing stops, everything is sent, handled and its credit back within this many ticks. */
  drainTicks: number;
}

/** A small deterministic generator (mulberry32), seeded by fast-check. */
function generator(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const perClusterLimit = 1000;
const otherTypes: MessageType[] = [
  "inventory.delta",
  "inventory.delta",
  "inventory.delta",
  "work.status",
  "command.result",
  "logs.chunk",
  "work.sync",
];

/** Runs a scenario; returns what went wrong (nothing: the rule holds) and what was seen. */
function simulate(s: Scenario, rule: Rule, bounds: Bounds) {
  const random = generator(s.seed);
  const clusters = Array.from({ length: s.clusters }, (_, i) => `cluster-${i}`);
  const queue = new OutboundQueue<Sent>(perClusterLimit, initialCredit);
  const problems: string[] = [];
  const fail = (problem: string) => {
    if (problems.length < 5) problems.push(problem);
  };

  let tick = 0;
  let session = 1;
  let open = true;
  let reopenAt = 0;
  let pushed = 0;
  let nextId = 1;
  /** Relay → hub and hub → relay: what is on the wire, in order, with when it arrives. */
  let toHub: Array<{ at: number; m: Sent; session: number }> = [];
  let toRelay: Array<{ at: number; credit: MessageBody<"credit"> }> = [];
  let lastToHub = 0;
  let lastToRelay = 0;
  /** What the hub received and has not handled yet (its session's chain), with the session it came on. */
  const backlog: Array<{ m: Sent; session: number }> = [];
  let backlogStart = 0;
  /** Metadata messages sent and not yet credited back, per cluster, in this session. */
  const inFlight = new Map<string, number>();
  /** Heartbeats pushed and not yet handled, superseded or lost: id → when pushed (oldest first). */
  const outstanding = new Map<number, number>();
  /** The heartbeat of each cluster waiting in the queue. */
  const queuedHeartbeat = new Map<string, number>();
  let heartbeatsHandled = 0;
  let worstHeartbeat = 0;
  let maxInFlight = 0;
  let peakBacklog = 0;
  const nextBeat = new Map(clusters.map((c) => [c, random(s.heartbeatEvery)]));

  const push = (type: MessageType, cluster: string) => {
    const body =
      type === "heartbeat"
        ? { clusters: [{ cluster, at: String(tick) }] }
        : { cluster, application: "shop", version: tick };
    const m: Sent = { id: nextId++, type, body, cluster, pushedAt: tick };
    pushed += 1;
    const lane = rule.lane(type);
    // While the tunnel is down, metadata goes to the disk buffer, not the queue (tunnel-client.ts).
    if (!open && lane === "metadata" && type !== "heartbeat") return;
    if (type === "heartbeat") {
      const before = queue.heartbeatsSuperseded;
      const older = queuedHeartbeat.get(cluster);
      queue.push({ cluster, lane, item: m });
      if (lane === "heartbeat") {
        if (older !== undefined) {
          if (queue.heartbeatsSuperseded !== before + 1) fail(`heartbeat ${older} was not superseded`);
          outstanding.delete(older);
        }
        queuedHeartbeat.set(cluster, m.id);
      }
      outstanding.set(m.id, tick);
      return;
    }
    queue.push({
      cluster,
      lane,
      item: m,
      ...(type === "work.sync" ? { supersedes: `work.sync/${cluster}` } : {}),
    });
  };

  const dropSession = () => {
    open = false;
    reopenAt = tick + 1 + random(200);
    for (const w of toHub) if (w.m.type === "heartbeat") outstanding.delete(w.m.id);
    toHub = [];
    toRelay = [];
  };

  const openSession = () => {
    open = true;
    session += 1;
    if (rule.creditPerSession) {
      queue.sessionOpened();
      // Heartbeats that waited through the outage are dropped: late, they would say nothing true.
      for (const id of queuedHeartbeat.values()) outstanding.delete(id);
      queuedHeartbeat.clear();
      inFlight.clear();
    }
    // The relay asks its agents for a resync when a session opens: each sends a snapshot.
    for (const cluster of clusters) push("inventory.snapshot", cluster);
  };

  const step = (pushing: boolean) => {
    tick += 1;
    if (pushing && open && random(s.dropOneIn) === 0) dropSession();
    if (!open && tick >= reopenAt) openSession();

    if (pushing) {
      for (const cluster of clusters)
        if (tick >= nextBeat.get(cluster)!) {
          push("heartbeat", cluster);
          nextBeat.set(cluster, tick + s.heartbeatEvery);
        }
      // About one other message a tick, for a random cluster.
      for (let n = random(3); n > 0 && pushed < s.messages; n--)
        push(otherTypes[random(otherTypes.length)]!, clusters[random(clusters.length)]!);
    }

    // The relay sends what the queue lets it, a few a tick (the link's pace).
    if (open)
      for (let n = random(5); n > 0; n--) {
        const next = queue.next();
        if (!next) break;
        const m = next.item;
        if (next.lane === "heartbeat") queuedHeartbeat.delete(m.cluster);
        if (next.lane === "metadata") {
          const flying = (inFlight.get(m.cluster) ?? 0) + 1;
          inFlight.set(m.cluster, flying);
          maxInFlight = Math.max(maxInFlight, flying);
        }
        lastToHub = Math.max(lastToHub, tick + 1 + random(s.maxDelay));
        toHub.push({ at: lastToHub, m, session });
      }

    while (toHub.length > 0 && toHub[0]!.at <= tick) {
      const { m, session: on } = toHub.shift()!;
      backlog.push({ m, session: on });
    }
    peakBacklog = Math.max(peakBacklog, backlog.length - backlogStart);

    // The hub handles a few of what it received, in order, late; each with an outcome.
    for (let n = random(6); n > 0 && backlogStart < backlog.length; n--) {
      const { m, session: on } = backlog[backlogStart++]!;
      // Mostly handled; now and then refused, answered with a resync, or failing in the handler.
      const outcome = ((["refused", "resync", "threw"] as const)[random(50)] ?? "handled") as Outcome;
      if (m.type === "heartbeat" && outstanding.delete(m.id)) {
        heartbeatsHandled += 1;
        worstHeartbeat = Math.max(worstHeartbeat, tick - m.pushedAt);
      }
      const credit = rule.returned(m, outcome);
      // A credit sent on a session that has since closed is lost with it.
      if (credit && on === session && open) {
        lastToRelay = Math.max(lastToRelay, tick + 1 + random(s.maxDelay));
        toRelay.push({ at: lastToRelay, credit });
      }
    }
    if (backlogStart > 10_000) {
      backlog.splice(0, backlogStart);
      backlogStart = 0;
    }

    while (toRelay.length > 0 && toRelay[0]!.at <= tick) {
      const { credit } = toRelay.shift()!;
      queue.grant(credit.cluster, credit.messages);
      inFlight.set(credit.cluster, (inFlight.get(credit.cluster) ?? 0) - credit.messages);
    }

    for (const [id, at] of outstanding) {
      if (tick - at > bounds.heartbeatTicks) {
        fail(`heartbeat ${id} pushed at tick ${at} not at the hub by tick ${tick}`);
        outstanding.delete(id);
      }
      break;
    }
    const size = queue.size;
    if (size.heartbeat > s.clusters) fail(`${size.heartbeat} heartbeats waiting for ${s.clusters} clusters`);
  };

  for (const cluster of clusters) push("inventory.snapshot", cluster);
  while (pushed < s.messages && problems.length === 0) step(true);
  // Pushing stops, the session stays up: everything must drain.
  const stoppedAt = tick;
  const drained = () => {
    const size = queue.size;
    return size.control + size.heartbeat + size.metadata === 0 && toHub.length === 0 && toRelay.length === 0;
  };
  while (!(drained() && backlogStart === backlog.length) && tick - stoppedAt < bounds.drainTicks) step(false);
  if (!drained() || backlogStart !== backlog.length)
    fail(
      `not drained ${bounds.drainTicks} ticks after pushing stopped: ${JSON.stringify(queue.size)} waiting`,
    );
  for (const cluster of clusters)
    if (rule.creditPerSession && queue.creditOf(cluster) !== initialCredit)
      fail(
        `${cluster} has ${queue.creditOf(cluster)} credit once drained, not the window of ${initialCredit}`,
      );
  if (outstanding.size > 0) fail(`${outstanding.size} heartbeats never reached the hub`);
  const dropped = [...queue.dropped.values()].reduce((n, d) => n + d, 0);
  if (dropped > 0) fail(`${dropped} metadata messages dropped from full queues`);
  return {
    problems,
    figures: {
      ticks: tick,
      sessions: session,
      heartbeatsHandled,
      worstHeartbeat,
      maxInFlight,
      peakQueue: queue.peak,
      peakBacklog,
    },
  };
}

/**
 * A heartbeat waits at most behind the control messages that piled up during an outage (≤ 200 ticks of them,
 * sent at two a tick), then crosses the link (≤ 30 ticks) and the hub's backlog (in-flight metadata, at most a
 * window per cluster): 200 ticks is about four times the worst seen. Heartbeats are pushed every 20–60 ticks.
 */
const bounds: Bounds = { heartbeatTicks: 200, drainTicks: 20_000 };

const scenario = (messages: number) =>
  fc.record({
    seed: fc.integer(),
    clusters: fc.integer({ min: 2, max: 8 }),
    messages: fc.constant(messages),
    // Below what the link carries: at most 0.4 heartbeats a tick, about one other message a tick.
    heartbeatEvery: fc.integer({ min: 20, max: 60 }),
    maxDelay: fc.integer({ min: 1, max: 30 }),
    dropOneIn: fc.integer({ min: 2000, max: 50_000 }),
  });

describe("flow control", () => {
  it("never deadlocks, delivers every heartbeat within its bound and keeps queues bounded (3 × 1,000,000 messages)", () => {
    const seen: Array<ReturnType<typeof simulate>["figures"]> = [];
    fc.assert(
      fc.property(scenario(1_000_000), (s) => {
        const { problems, figures } = simulate(s, currentRule, bounds);
        seen.push(figures);
        expect(problems).toEqual([]);
        expect(figures.maxInFlight).toBeLessThanOrEqual(initialCredit);
        expect(figures.peakQueue).toBeLessThanOrEqual(s.clusters * perClusterLimit);
      }),
      { numRuns: 3 },
    );
    // Every run had heartbeats going and sessions dropping.
    for (const figures of seen) expect(figures.heartbeatsHandled).toBeGreaterThan(10_000);
    expect(seen.some((f) => f.sessions > 2)).toBe(true);
  }, 60_000);

  it("fails the rule from before (heartbeats taking credit, some outcomes giving none back)", () => {
    const found = fc.check(
      fc.property(scenario(20_000), (s) => {
        const { problems } = simulate(s, oldRule, bounds);
        return problems.length === 0;
      }),
      { numRuns: 5, endOnFailure: true },
    );
    expect(found.failed).toBe(true);
  });

  it("gives one credit back for each message that took one, whatever its type's outcome", () => {
    for (const m of Object.values(goldenMessages)) {
      const credit = creditReturned(m);
      const cluster = (m.body as { cluster?: string }).cluster;
      if (
        m.type === "inventory.delta" ||
        m.type === "inventory.snapshot" ||
        m.type === "work.status" ||
        m.type === "usage.hours" ||
        m.type === "services.exports"
      )
        expect(credit).toEqual({ cluster, messages: 1 });
      // A relay's summary of its Location's services takes the Location's window.
      else if (m.type === "services.summary")
        expect(credit).toEqual({ cluster: m.body.location, messages: 1 });
      else expect(credit).toBeUndefined();
    }
    // A delta the hub cannot read (an unknown field, as from a newer agent) still gives its credit back.
    const refused = encodeFrame({
      ...goldenMessages["inventory.delta"],
      body: { ...goldenMessages["inventory.delta"].body, newField: 1 },
    } as never);
    expect(decodeFrame(refused).ok).toBe(false);
    expect(creditReturnedForFrame(refused)).toEqual({ cluster: "fra-shop-prod", messages: 1 });
    expect(creditReturnedForFrame("not json")).toBeUndefined();
    expect(
      creditReturnedForFrame('{"type":"inventory.delta","body":{"cluster":"NOT A NAME"}}'),
    ).toBeUndefined();
  });

  it("sends heartbeats after control and before metadata, one per cluster waiting at most", () => {
    const q = new OutboundQueue<string>(1000, 0);
    q.push({ cluster: "a", lane: "metadata", item: "delta" });
    q.push({ cluster: "a", lane: "heartbeat", item: "beat-1" });
    q.push({ cluster: "b", lane: "heartbeat", item: "beat-b" });
    q.push({ cluster: "a", lane: "heartbeat", item: "beat-2" });
    q.push({ cluster: "a", lane: "control", item: "result" });
    expect(q.size).toEqual({ control: 1, heartbeat: 2, metadata: 1 });
    // No credit at all: heartbeats still go.
    expect([q.next()?.item, q.next()?.item, q.next()?.item, q.next()]).toEqual([
      "result",
      "beat-b",
      "beat-2",
      undefined,
    ]);
    expect(q.heartbeatsSuperseded).toBe(1);
    expect(q.peak).toBe(4);
  });

  it("gives every cluster its whole window when a session opens, and drops heartbeats that waited for it", () => {
    const q = new OutboundQueue<string>(1000, 2);
    for (let i = 0; i < 3; i++) q.push({ cluster: "a", lane: "metadata", item: `delta-${i}` });
    expect([q.next()?.item, q.next()?.item, q.next()]).toEqual(["delta-0", "delta-1", undefined]);
    // The session drops with both in flight; a heartbeat waits for the next one.
    q.push({ cluster: "a", lane: "heartbeat", item: "late beat" });
    q.sessionOpened();
    expect(q.creditOf("a")).toBe(2);
    expect([q.next()?.item, q.next()]).toEqual(["delta-2", undefined]);
  });

  it("replaces an unsent control message with a newer one of the same key, in its place", () => {
    const q = new OutboundQueue<string>();
    q.push({ cluster: "a", lane: "control", item: "sync-1", supersedes: "work.sync/a" });
    q.push({ cluster: "a", lane: "control", item: "result" });
    q.push({ cluster: "a", lane: "control", item: "sync-2", supersedes: "work.sync/a" });
    expect([q.next()?.item, q.next()?.item, q.next()]).toEqual(["sync-2", "result", undefined]);
  });

  it("accepts a heartbeat interval in fractions of a second, from 0.05 s", () => {
    const welcome = (heartbeatSeconds: number) =>
      decodeFrame(
        encodeFrame(
          message(
            "welcome",
            { version: 1, session: "s", resumeFrom: 0, heartbeatSeconds },
            { id: "h-1", seq: 1 },
          ),
        ),
      );
    expect(welcome(0.1).ok).toBe(true);
    expect(welcome(0.05).ok).toBe(true);
    expect(welcome(0.01)).toEqual({
      ok: false,
      rejection: { code: "malformed", message: expect.stringContaining("body.heartbeatSeconds"), seq: 1 },
    });
  });
});
