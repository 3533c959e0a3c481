import { describe, expect, it } from "vitest";
import type { ExportRecord } from "../core/multicluster-services/export-record.ts";
import type { MessageBody } from "../protocol/messages.ts";
import { ManualClock } from "../runtime/clock.ts";
import { LocationServices } from "./location-services.ts";

type Body = MessageBody<"services.exports">;

/** A record with `endpoints` endpoints; with `long`, each endpoint carries a long zone and node name (~300 bytes). */
function record(cluster: string, name: string, endpoints = 1, long = false): ExportRecord {
  return {
    cluster,
    namespace: "shop",
    name,
    exportCreatedAt: "2026-12-03T09:00:00Z",
    serviceState: "Found",
    type: "ClusterSetIP",
    ports: [{ name: "http", protocol: "TCP", port: 80 }],
    sessionAffinity: "None",
    ipFamilies: ["IPv4"],
    endpointGroups: [
      {
        addressType: "IPv4",
        ports: [{ name: "http", protocol: "TCP", port: 8080 }],
        endpoints: Array.from({ length: endpoints }, (_, i) => ({
          address: `10.${i >> 8}.${i & 255}.7`,
          ready: true,
          serving: true,
          terminating: false,
          ...(long ? { zone: "z".repeat(63), nodeName: `node-${"n".repeat(200)}-${i}` } : {}),
        })),
      },
    ],
    endpointsOmitted: 0,
  };
}

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
    // Three large records of some 300 KB: no two fit in 512 KB.
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
      ["fra-b", 1, 3],
      ["fra-b", 1, undefined],
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
