import { describe, expect, it } from "vitest";
import type { ExportRecord } from "../core/multicluster-services/export-record.ts";
import { foundExport, readyEndpoints } from "../core/multicluster-services/sample-exports.ts";
import { encodeFrame, message } from "../protocol/codec.ts";
import { maxFrameBytes, maxSummaryPages, messageTypes } from "../protocol/messages.ts";
import { ManualClock } from "../runtime/clock.ts";
import {
  type ExportSummary,
  type HeldClusterExports,
  LocationServicesSummary,
  type SummaryBody,
  summariseExports,
  summaryPages,
} from "./location-services-summary.ts";

const keyOf = (r: ExportRecord) => `${r.namespace}/${r.name}`;
function cluster(region: string, records: ExportRecord[], down = false): HeldClusterExports {
  return { region, down, records: new Map(records.map((r) => [keyOf(r), r])) };
}

const notReady = { address: "10.9.0.9", ready: false, serving: false, terminating: true };

function location(): Map<string, HeldClusterExports> {
  return new Map([
    [
      "fra-shop-prod",
      cluster("fra-north", [
        foundExport("fra-shop-prod", "2026-12-03T09:00:00Z", [...readyEndpoints(1, 2), notReady]),
        {
          ...foundExport("fra-shop-prod", "2026-12-03T09:05:00Z", []),
          name: "global",
          requestedScope: "global",
        },
      ]),
    ],
    [
      "fra-shop-dev",
      cluster("fra-north", [
        foundExport("fra-shop-dev", "2026-12-03T10:00:00Z", readyEndpoints(2, 1), {
          ports: [
            { name: "http", protocol: "TCP", port: 80 },
            { name: "admin", protocol: "TCP", port: 9000 },
          ],
          endpointsOmitted: 4,
        }),
      ]),
    ],
    [
      "fra-payments-prod",
      cluster(
        "fra-south",
        [
          {
            cluster: "fra-payments-prod",
            namespace: "pay",
            name: "ledger",
            exportCreatedAt: "2026-12-01T00:00:00Z",
            serviceState: "NoService",
          },
        ],
        true,
      ),
    ],
  ]);
}

describe("summariseExports", () => {
  it("gives every export its counts and the conditions the agents' merge gives it", () => {
    const summary = summariseExports("frankfurt", location());
    expect(summary.ok).toBe(true);
    if (!summary.ok) return;
    const brief = (e: ExportSummary) => ({
      at: `${e.cluster}/${e.namespace}/${e.name}`,
      type: e.type,
      ports: e.ports.map((p) => `${p.port}/${p.protocol}`).join(","),
      endpoints: `${e.endpoints.ready}/${e.endpoints.total}`,
      valid: `${e.valid.status} ${e.valid.reason}`,
      conflict: `${e.conflict.status} ${e.conflict.reason}`,
      since: e.exportedSince,
      withdrawn: e.withdrawn ?? false,
    });
    expect(summary.exports.map(brief)).toEqual([
      {
        at: "fra-payments-prod/pay/ledger",
        type: undefined,
        ports: "",
        endpoints: "0/0",
        valid: "False NoService",
        conflict: "Unknown NotMerged",
        since: "2026-12-01T00:00:00Z",
        withdrawn: true,
      },
      {
        at: "fra-shop-dev/shop/cart",
        type: "ClusterSetIP",
        ports: "80/TCP,9000/TCP",
        endpoints: "1/5",
        valid: "True Valid",
        conflict: "True PortConflict",
        since: "2026-12-03T10:00:00Z",
        withdrawn: false,
      },
      {
        at: "fra-shop-prod/shop/cart",
        type: "ClusterSetIP",
        ports: "80/TCP",
        endpoints: "2/3",
        valid: "True Valid",
        conflict: "True PortConflict",
        since: "2026-12-03T09:00:00Z",
        withdrawn: false,
      },
      {
        at: "fra-shop-prod/shop/global",
        type: "ClusterSetIP",
        ports: "80/TCP",
        endpoints: "0/0",
        valid: "False ExportScopeBeyondLocation",
        conflict: "Unknown NotMerged",
        since: "2026-12-03T09:05:00Z",
        withdrawn: false,
      },
    ]);
    expect(summary.exports[3]!.valid.message).toContain('export-scope "global"');
  });

  it("cuts long condition messages to the protocol's bound", () => {
    const many = new Map<string, HeldClusterExports>();
    for (let i = 0; i < 60; i++) {
      const name = `fra-cluster-with-a-rather-long-name-${String(i).padStart(3, "0")}`;
      many.set(
        name,
        cluster("fra-north", [
          foundExport(name, "2026-12-03T09:00:00Z", [], { type: i === 0 ? "Headless" : "ClusterSetIP" }),
        ]),
      );
    }
    const summary = summariseExports("frankfurt", many);
    if (!summary.ok) throw new Error(summary.problems.join("; "));
    const body: SummaryBody = summaryPages("frankfurt", "s:1", summary.exports)[0]!;
    expect(summary.exports[0]!.conflict.message.length).toBe(1024);
    expect(messageTypes["services.summary"].body.safeParse(body).success).toBe(true);
  });
});

describe("summaryPages", () => {
  const one = summariseExports("frankfurt", location());
  if (!one.ok) throw new Error("no summary");
  const sample = one.exports[2]!;
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ ...sample, name: `svc-${i}` }));

  it("sends an empty Location as one page saying so", () => {
    expect(summaryPages("frankfurt", "s:1", [])).toEqual([
      { location: "frankfurt", summary: "s:1", page: 0, pages: 1, exports: [], exportsOmitted: 0 },
    ]);
  });

  it("cuts a large Location into pages that each fit a frame and pass the protocol's schema", () => {
    const pages = summaryPages("frankfurt", "s:2", many(1200));
    expect(pages.map((p) => [p.page, p.pages, p.exports.length])).toEqual([
      [0, 3, 500],
      [1, 3, 500],
      [2, 3, 200],
    ]);
    for (const page of pages) {
      expect(messageTypes["services.summary"].body.safeParse(page).success).toBe(true);
      const frame = encodeFrame(message("services.summary", page, { id: "r-1", seq: 1 }));
      expect(Buffer.byteLength(frame)).toBeLessThan(maxFrameBytes);
    }
  });

  it("keeps pages under 512 KB when exports are large (100 ports each)", () => {
    const ports = Array.from({ length: 100 }, (_, i) => ({
      name: `port-with-a-long-name-${String(i).padStart(3, "0")}`,
      protocol: "TCP" as const,
      port: 1000 + i,
    }));
    const pages = summaryPages(
      "frankfurt",
      "s:3",
      many(400).map((e) => ({ ...e, ports })),
    );
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(JSON.stringify(page).length).toBeLessThan(520 * 1024);
    expect(pages.reduce((n, p) => n + p.exports.length, 0)).toBe(400);
  });

  it("lists at most maxSummaryPages pages and counts the exports left out", () => {
    const total = maxSummaryPages * 500 + 7;
    const pages = summaryPages("frankfurt", "s:4", many(total));
    expect(pages).toHaveLength(maxSummaryPages);
    expect(pages.every((p) => p.exportsOmitted === 7)).toBe(true);
  });
});

describe("LocationServicesSummary", () => {
  function publisher(connected = { now: true }) {
    const clock = new ManualClock(0);
    const held = location();
    const sent: SummaryBody[] = [];
    const summary = new LocationServicesSummary({
      location: "frankfurt",
      held: () => held,
      connected: () => connected.now,
      send: (body) => sent.push(body),
      everyMs: 2000,
      settleMs: 5000,
      clock,
      log: () => {},
    });
    return { clock, held, sent, summary, connected };
  }

  it("waits for the relay to settle, then sends one summary however many changes came", async () => {
    const { clock, sent, summary } = publisher();
    for (let i = 0; i < 50; i++) summary.changed();
    await clock.advance(4999);
    expect(sent).toHaveLength(0);
    await clock.advance(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.exports).toHaveLength(4);
    // A storm of changes over 10 s: at most one summary every 2 s.
    for (let t = 0; t < 10_000; t += 10) {
      summary.changed();
      await clock.advance(10);
    }
    expect(sent.length - 1).toBeLessThanOrEqual(5);
    expect(sent.length - 1).toBeGreaterThanOrEqual(4);
    // Quiet: nothing more.
    const before = sent.length;
    await clock.advance(60_000);
    expect(sent).toHaveLength(before);
    summary.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it("sends nothing while the tunnel is down, and the latest when a session opens", async () => {
    const { clock, sent, summary, connected, held } = publisher({ now: false });
    await clock.advance(10_000);
    expect(sent).toHaveLength(0);
    held.delete("fra-shop-dev");
    summary.changed();
    connected.now = true;
    summary.sessionOpened();
    await clock.advance(2000);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.exports.map((e) => e.cluster)).not.toContain("fra-shop-dev");
    summary.sessionOpened();
    await clock.advance(2000);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.summary).not.toBe(sent[0]!.summary);
    summary.stop();
  });

  it("notices a cluster withdrawn or back on its own timer", async () => {
    const { clock, sent, summary, held } = publisher();
    await clock.advance(5000);
    expect(sent).toHaveLength(1);
    held.set("fra-shop-dev", { ...held.get("fra-shop-dev")!, down: true });
    await clock.advance(2000);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.exports.find((e) => e.cluster === "fra-shop-dev")?.withdrawn).toBe(true);
    summary.stop();
  });
});
