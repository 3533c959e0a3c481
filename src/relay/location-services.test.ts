import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  exportRecordFixture,
  readyEndpoints,
} from "../core/multicluster-services/export-record.test-support.ts";
import type { ExportRecord } from "../core/multicluster-services/export-record.ts";
import type { MessageBody } from "../protocol/messages.ts";
import { ManualClock } from "../runtime/clock.ts";
import { ExportRecordsFile } from "./export-records-file.ts";
import { LocationServices, type ServicesPeer } from "./location-services.ts";

type Body = MessageBody<"services.exports">;

/** A record with `endpoints` endpoints; with `long`, each endpoint carries a long zone and node name (~300 bytes). */
const record = (cluster: string, name: string, endpoints = 1, long = false) =>
  exportRecordFixture(cluster, name, { endpoints: readyEndpoints(endpoints, long) });

function setup(graceMs = 30_000) {
  const clock = new ManualClock(0);
  const logs: Array<Record<string, unknown>> = [];
  const services = new LocationServices({ graceMs: () => graceMs, clock, log: (e) => logs.push(e) });
  const inbox = new Map<string, Body[]>();
  const peer = (cluster: string) => {
    inbox.set(cluster, []);
    return { cluster, send: (body: Body) => inbox.get(cluster)!.push(body) };
  };
  return { clock, services, inbox, peer, logs };
}

const names = (bodies: Body[]) => bodies.flatMap((b) => b.records.map((r) => `${b.cluster}:${r.name}`));

describe("a Location's services at its relay", () => {
  it("passes an agent's exports to every other agent of the Location, not back to it", () => {
    const { services, inbox, peer } = setup();
    const a = peer("fra-a");
    services.joined(a);
    services.joined(peer("fra-b"));
    services.joined(peer("fra-c"));
    const body: Body = { cluster: "fra-a", region: "north", records: [record("fra-a", "cart")], removed: [] };
    services.exports("fra-a", body);
    expect(inbox.get("fra-b")).toEqual([body]);
    expect(inbox.get("fra-c")).toEqual([body]);
    expect(inbox.get("fra-a")).toEqual([]);
  });

  it("gives an agent that joins every other cluster's whole set, cut into bounded messages", () => {
    const { services, inbox, peer } = setup();
    services.joined(peer("fra-a"));
    const many = Array.from({ length: 150 }, (_, i) => record("fra-a", `s${i}`));
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: many.slice(0, 100),
      removed: [],
    });
    services.exports("fra-a", { cluster: "fra-a", region: "north", records: many.slice(100), removed: [] });
    // Three large records of some 370 KB: two fill a frame (1 MiB), the third goes alone.
    services.joined(peer("fra-b"));
    services.exports("fra-b", {
      cluster: "fra-b",
      region: "south",
      records: [1, 2, 3].map((i) => record("fra-b", `big-${i}`, 1000, true)),
      removed: [],
    });
    services.joined(peer("fra-c"));
    const got = inbox.get("fra-c")!;
    expect(got.map((b) => [b.cluster, b.records.length, b.present?.length])).toEqual([
      ["fra-a", 100, 150],
      ["fra-a", 50, undefined],
      ["fra-b", 2, 3],
      ["fra-b", 1, undefined],
    ]);
    for (const b of got) expect(JSON.stringify(b).length).toBeLessThan(1024 * 1024);
  });

  it("keeps what present names and drops the rest; removed names go", () => {
    const { services, inbox, peer } = setup();
    services.joined(peer("fra-a"));
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "cart"), record("fra-a", "web"), record("fra-a", "old")],
      removed: [],
    });
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: [],
      removed: [{ namespace: "shop", name: "web" }],
      present: [
        { namespace: "shop", name: "cart" },
        { namespace: "shop", name: "web" },
      ],
    });
    services.joined(peer("fra-b"));
    expect(names(inbox.get("fra-b")!)).toEqual(["fra-a:cart"]);
  });

  it("tells the others a cluster is gone once its session is closed past the grace, and back when it returns", async () => {
    const { clock, services, inbox, peer, logs } = setup(30_000);
    const a = peer("fra-a");
    services.joined(a);
    services.joined(peer("fra-b"));
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "cart")],
      removed: [],
    });
    inbox.get("fra-b")!.length = 0;
    services.left(a);
    await clock.advance(29_999);
    expect(inbox.get("fra-b")).toEqual([]);
    await clock.advance(1);
    expect(inbox.get("fra-b")).toEqual([
      { cluster: "fra-a", region: "north", records: [], removed: [], present: [] },
    ]);
    expect(services.downClusters).toEqual(["fra-a"]);
    expect(logs.some((e) => e.level === "warn")).toBe(true);
    // A new agent joining now does not get the gone cluster's records.
    services.joined(peer("fra-c"));
    expect(inbox.get("fra-c")).toEqual([]);
    // Back: its new session sends its set; the others get its whole set once.
    inbox.get("fra-b")!.length = 0;
    const again = peer("fra-a");
    services.joined(again);
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "cart")],
      removed: [],
      present: [{ namespace: "shop", name: "cart" }],
    });
    expect(names(inbox.get("fra-b")!)).toEqual(["fra-a:cart"]);
    expect(services.downClusters).toEqual([]);
  });

  it("tells the others when a connected cluster's heartbeats stop, and not while they come", async () => {
    const { clock, services, inbox, peer } = setup(30_000);
    services.joined(peer("fra-a"));
    services.joined(peer("fra-b"));
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "cart")],
      removed: [],
    });
    inbox.get("fra-b")!.length = 0;
    for (let i = 0; i < 10; i++) {
      await clock.advance(10_000);
      services.heartbeat("fra-a");
      services.heartbeat("fra-b");
    }
    expect(inbox.get("fra-b")).toEqual([]);
    await clock.advance(30_000); // fra-a's API server stopped answering: no heartbeats.
    expect(inbox.get("fra-b")!.map((b) => b.present)).toEqual([[]]);
    // Heartbeats again: its records go out again, whole.
    services.heartbeat("fra-a");
    expect(names(inbox.get("fra-b")!.slice(1))).toEqual(["fra-a:cart"]);
  });

  it("sets no timer while no cluster exports anything", async () => {
    const { clock, services, peer } = setup();
    services.joined(peer("fra-a"));
    services.heartbeat("fra-a");
    expect(clock.pendingTimers).toBe(0);
    services.exports("fra-a", { cluster: "fra-a", region: "", records: [record("fra-a", "x")], removed: [] });
    expect(clock.pendingTimers).toBe(1);
    services.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});

/**
 * An agent's session whose socket holds what was sent until `drain` says it has left: `bufferedBytes` is what waits,
 * as a WebSocket's `bufferedAmount` is.
 */
function socketPeer(cluster: string) {
  const received: Body[] = [];
  const waiting: Array<{ bytes: number; written?: () => void }> = [];
  let buffered = 0;
  let peak = 0;
  let largest = 0;
  const peer: ServicesPeer = {
    cluster,
    send(body, written) {
      const bytes = Buffer.byteLength(JSON.stringify(body));
      received.push(body);
      waiting.push({ bytes, ...(written ? { written } : {}) });
      buffered += bytes;
      peak = Math.max(peak, buffered);
      largest = Math.max(largest, bytes);
    },
    bufferedBytes: () => buffered,
  };
  return {
    peer,
    received,
    get peak() {
      return peak;
    },
    get largest() {
      return largest;
    },
    /** Lets every frame out, and those sent meanwhile, until nothing waits. */
    drain() {
      while (waiting.length > 0) {
        const frame = waiting.shift()!;
        buffered -= frame.bytes;
        frame.written?.();
      }
    },
  };
}

/** What an agent holds after taking these messages in, as the agent's LocationExports does: per cluster, records. */
function view(bodies: Body[]): Record<string, Record<string, ExportRecord>> {
  const held: Record<string, Record<string, ExportRecord>> = {};
  for (const b of bodies) {
    const records = { ...held[b.cluster] };
    if (b.present) {
      const present = new Set(b.present.map((n) => n.name));
      for (const name of Object.keys(records)) if (!present.has(name)) delete records[name];
    }
    for (const n of b.removed) delete records[n.name];
    for (const r of b.records) records[r.name] = r;
    if (Object.keys(records).length === 0) delete held[b.cluster];
    else held[b.cluster] = records;
  }
  return held;
}

/** A whole set of `count` records of `cluster`, as an agent sends it when its session opens. */
function wholeSet(cluster: string, count: number, endpoints = 10): Body {
  const records = Array.from({ length: count }, (_, i) => record(cluster, `s${i}`, endpoints));
  return {
    cluster,
    region: "north",
    records,
    removed: [],
    present: records.map((r) => ({ namespace: r.namespace, name: r.name })),
  };
}

describe("pacing the fan-out to each agent's socket", () => {
  const bound = 64 * 1024;

  it("holds messages back while an agent's socket is full, then sends every cluster's latest state", () => {
    const fast: Body[] = [];
    const slow = socketPeer("fra-slow");
    const services2 = new LocationServices({ graceMs: () => 30_000, log: () => {}, maxBufferedBytes: bound });
    // An agent whose socket always has room (no `bufferedBytes`): it gets every message as sent.
    services2.joined({ cluster: "fra-fast", send: (body) => fast.push(body) });
    services2.joined(slow.peer);
    // A whole Location joins at once: 40 clusters send their sets (some 9 KB each) while fra-slow reads nothing.
    const first = wholeSet("fra-000", 20);
    services2.exports("fra-000", first);
    for (let c = 1; c < 40; c++) {
      const cluster = `fra-${String(c).padStart(3, "0")}`;
      services2.exports(cluster, wholeSet(cluster, 20));
    }
    // Then one record changes 50 times and another goes, in the same cluster.
    for (let i = 1; i <= 50; i++)
      services2.exports("fra-000", {
        cluster: "fra-000",
        region: "north",
        records: [record("fra-000", "s1", i)],
        removed: [],
      });
    services2.exports("fra-000", {
      cluster: "fra-000",
      region: "north",
      records: [],
      removed: [{ namespace: "shop", name: "s2" }],
    });
    // While full: never more than the bound and one frame waits in its socket; the rest is held, not queued.
    expect(slow.received[0]).toBe(first); // passed on unchanged while there was room
    expect(slow.peak).toBeLessThan(bound + slow.largest);
    expect(slow.received.length).toBeLessThan(10);
    expect(services2.backlog["fra-slow"]).toBeGreaterThan(30);
    // The socket drains: everything follows, each cluster's latest state, with nothing lost.
    slow.drain();
    expect(services2.backlog).toEqual({});
    expect(view(slow.received)).toEqual(view(fast));
    expect(Object.keys(view(slow.received))).toHaveLength(40);
    const s1 = view(slow.received)["fra-000"]!.s1!;
    expect(s1.serviceState === "Found" && s1.endpointGroups[0]!.endpoints.length).toBe(50);
    expect(view(slow.received)["fra-000"]!.s2).toBeUndefined();
    // Fifty changes of one record while it waited made one message, not fifty.
    expect(slow.received.length).toBeLessThan(45);
    expect(fast).toHaveLength(91);
  });

  it("sends an agent that joins the Location's sets as its socket drains, in frames filled to the limit", () => {
    const services = new LocationServices({ graceMs: () => 30_000, log: () => {}, maxBufferedBytes: bound });
    for (let c = 0; c < 100; c++) {
      const cluster = `fra-${String(c).padStart(3, "0")}`;
      services.joined({ cluster, send: () => {} });
      services.exports(cluster, wholeSet(cluster, c === 0 ? 250 : 10));
    }
    const joining = socketPeer("fra-new");
    services.joined(joining.peer);
    expect(joining.peak).toBeLessThan(bound + joining.largest);
    expect(joining.received.length).toBeLessThan(20);
    joining.drain();
    const got = view(joining.received);
    expect(Object.keys(got)).toHaveLength(100);
    expect(Object.keys(got["fra-000"]!)).toHaveLength(250);
    // fra-000's 250 records in three frames of at most 100, every other cluster's set in one.
    expect(joining.received.filter((b) => b.cluster === "fra-000").map((b) => b.records.length)).toEqual([
      100, 100, 50,
    ]);
    expect(joining.received).toHaveLength(102);
  });

  it("tells an agent whose socket is full that a cluster is gone, once, when it drains", async () => {
    const clock = new ManualClock(0);
    const services = new LocationServices({ graceMs: () => 5000, clock, log: () => {}, maxBufferedBytes: 1 });
    const a = { cluster: "fra-a", send: () => {} };
    services.joined(a);
    const b = socketPeer("fra-b");
    services.joined(b.peer);
    services.exports("fra-a", wholeSet("fra-a", 3));
    services.exports("fra-a", {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "x")],
      removed: [],
    });
    services.left(a);
    await clock.advance(5000);
    expect(b.received).toHaveLength(1);
    b.drain();
    expect(b.received.slice(1)).toEqual([
      { cluster: "fra-a", region: "north", records: [], removed: [], present: [] },
    ]);
  });
});

describe("a Location's records across a relay restart", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "unitfleet-location-services-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The relay's part on `dir`, as the relay builds it: a file there, the clock and the grace given. */
  function relayOn(clock: ManualClock, logs: Array<Record<string, unknown>> = [], graceMs = 30_000) {
    const log = (e: Record<string, unknown>) => logs.push(e);
    const store = new ExportRecordsFile(join(dir, "export-records.jsonl"), log);
    return new LocationServices({ graceMs: () => graceMs, clock, store, log });
  }

  it("gives a reconnecting agent the others' records at once, and withdraws a cluster that never returns", async () => {
    const before = new ManualClock(0);
    const first = relayOn(before);
    expect(await first.restore()).toBe(0);
    for (const c of ["fra-a", "fra-b", "fra-c", "fra-d"]) {
      const peer = { cluster: c, send: () => {} };
      first.joined(peer);
      first.exports(c, { ...wholeSet(c, 3), region: c === "fra-c" ? "south" : "north" });
      if (c === "fra-d") first.left(peer);
    }
    for (let t = 0; t < 3; t++) {
      await before.advance(10_000); // fra-d is withdrawn after the grace; the others heartbeat.
      for (const c of ["fra-a", "fra-b", "fra-c"]) first.heartbeat(c);
    }
    expect(first.downClusters).toEqual(["fra-d"]);
    // The relay dies without a word: only what its coalesced writes kept survives.
    await first.flush();
    first.stop();

    const clock = new ManualClock(100_000);
    const logs: Array<Record<string, unknown>> = [];
    const restarted = relayOn(clock, logs);
    expect(await restarted.restore()).toBe(4);
    // fra-b reconnects first: it gets fra-a's and fra-c's sets at once (not the withdrawn fra-d's, not its own).
    const { inbox, peer } = setup();
    restarted.joined(peer("fra-b"));
    const got = inbox.get("fra-b")!;
    expect(got.map((b) => [b.cluster, b.region, b.records.length, b.present?.length])).toEqual([
      ["fra-a", "north", 3, 3],
      ["fra-c", "south", 3, 3],
    ]);
    expect(view(got)["fra-a"]).toEqual(view([wholeSet("fra-a", 3)])["fra-a"]);
    // fra-c comes back within the grace; fra-a never does: withdrawn once the grace has passed since the restart.
    await clock.advance(10_000);
    restarted.joined(peer("fra-c"));
    restarted.heartbeat("fra-b");
    await clock.advance(19_999);
    expect(got).toHaveLength(2);
    await clock.advance(1);
    expect(got.slice(2)).toEqual([
      { cluster: "fra-a", region: "north", records: [], removed: [], present: [] },
    ]);
    expect(restarted.downClusters.sort()).toEqual(["fra-a", "fra-d"]);
    restarted.stop();
  });

  it("writes once per burst of changes, after the delay, and only what it holds", async () => {
    const clock = new ManualClock(0);
    const services = relayOn(clock);
    await services.restore();
    services.joined({ cluster: "fra-a", send: () => {} });
    for (let i = 0; i < 200; i++)
      services.exports("fra-a", {
        cluster: "fra-a",
        region: "north",
        records: [record("fra-a", `s${i % 20}`)],
        removed: [],
      });
    await clock.advance(1999);
    expect(services.saves).toBe(0);
    await clock.advance(1);
    await services.flush();
    expect(services.saves).toBe(1);
    const lines = (await readFile(join(dir, "export-records.jsonl"), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1 + 1 + 20); // header, fra-a, its 20 records
    // Nothing changed since (and within the grace): no more writes.
    await clock.advance(20_000);
    await services.flush();
    expect(services.saves).toBe(1);
    services.stop();
  });

  it("starts empty, logs and never throws when the file is corrupt, then replaces it", async () => {
    const clock = new ManualClock(0);
    const logs: Array<Record<string, unknown>> = [];
    await writeFile(join(dir, "export-records.jsonl"), '{"format":"unitfleet.io/relay-export-records"\n');
    const services = relayOn(clock, logs);
    expect(await services.restore()).toBe(0);
    expect(logs).toEqual([
      expect.objectContaining({
        level: "warn",
        error: "line 1: not JSON",
        file: join(dir, "export-records.jsonl"),
      }),
    ]);
    const { inbox, peer } = setup();
    services.joined(peer("fra-b"));
    expect(inbox.get("fra-b")).toEqual([]);
    services.joined({ cluster: "fra-a", send: () => {} });
    services.exports("fra-a", wholeSet("fra-a", 2));
    await services.flush();
    const again = relayOn(new ManualClock(0));
    expect(await again.restore()).toBe(1);
    services.stop();
    again.stop();
  });

  it("starts empty and logs when the path cannot be read as a file", async () => {
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(dir, "export-records.jsonl"));
    const logs: Array<Record<string, unknown>> = [];
    const services = relayOn(new ManualClock(0), logs);
    expect(await services.restore()).toBe(0);
    expect(logs[0]).toMatchObject({ level: "warn", error: expect.stringContaining("EISDIR") });
    // A write that fails is logged and tried again later, never thrown.
    services.joined({ cluster: "fra-a", send: () => {} });
    services.exports("fra-a", wholeSet("fra-a", 1));
    await services.flush();
    expect(logs.at(-1)).toMatchObject({ level: "warn", retryInMs: 20_000 });
    services.stop();
  });
});
