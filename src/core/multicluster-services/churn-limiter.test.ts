/**
 * The churn bound in compressed time: a storm of 10,000 endpoint changes in one source cluster (one a
 * millisecond for 10 s), run through the real merge, consumer objects and diff, against a consumer whose API
 * server is a map. The consumer gets a bounded number of writes, never more than the bucket allows in any
 * second, a quiet import created during the storm still lands promptly, and when the storm ends the consumer
 * holds exactly what it must.
 */
import { describe, expect, it } from "vitest";
import { type ChurnPolicy, ConsumerWriteLimiter, defaultChurnPolicy } from "./churn-limiter.ts";
import { desiredConsumerObjects, type KubeObject } from "./consumer-objects.ts";
import type { EndpointRecord, ExportRecord } from "./export-record.ts";
import { mergeExports } from "./merge.ts";
import { diffObjects, objectKey, refKey, writeCount } from "./object-diff.ts";
import { serviceNameLabel } from "./object-names.ts";
import { foundExport, frankfurt, readyEndpoints } from "./sample-exports.ts";

type Write = { op: "apply"; object: KubeObject } | { op: "delete"; key: string };
const consumer = { cluster: "fra-shop-prod", location: "frankfurt", region: "fra-north", zones: ["z1"] };

/** The objects the consumer must hold for the exports of one name, computed from what it holds now. */
function desiredFor(records: ExportRecord[], held: ReadonlyMap<string, KubeObject>): KubeObject[] {
  const merged = mergeExports(frankfurt, records);
  if (!merged.ok) throw new Error("merge failed");
  const result = desiredConsumerObjects({
    merged: merged.imports[0]!,
    consumer,
    unhealthyClusters: new Set(),
    currentSlices: [...held.values()].filter((o) => o.kind === "EndpointSlice"),
  });
  if (!result.ok) throw new Error(result.reason);
  return result.objects;
}

/** What the consumer holds of import `name` (its ServiceImport, derived Service and slices). */
const heldOf = (state: ReadonlyMap<string, KubeObject>, name: string) =>
  new Map(
    [...state].filter(
      ([, o]) =>
        o.metadata.namespace === "shop" &&
        ((o.kind === "ServiceImport" && o.metadata.name === name) ||
          o.metadata.labels?.[serviceNameLabel] === name),
    ),
  );

/** The writes import `name` needs now, as offered to the limiter. */
function writesFor(records: ExportRecord[], state: ReadonlyMap<string, KubeObject>, name: string) {
  const held = heldOf(state, name);
  const diff = diffObjects(desiredFor(records, held), [...held.values()]);
  return [
    ...[...diff.creates, ...diff.updates].map((object) => ({
      key: objectKey(object),
      write: { op: "apply", object } as Write,
    })),
    ...diff.deletes.map((ref) => ({ key: refKey(ref), write: { op: "delete", key: refKey(ref) } as Write })),
  ];
}

describe("ConsumerWriteLimiter: a storm in one source cluster", () => {
  it("bounds the consumer's writes, keeps a quiet import prompt, and converges", () => {
    const policy: ChurnPolicy = defaultChurnPolicy;
    const limiter = new ConsumerWriteLimiter<Write>(policy, 0);
    const state = new Map<string, KubeObject>();
    const applied: Array<{ at: number; key: string }> = [];
    /** Makes the writes the limiter grants now; returns when to come back. */
    const apply = (now: number) => {
      const { writes, nextAt } = limiter.take(now);
      for (const w of writes) {
        const key = w.op === "delete" ? w.key : objectKey(w.object);
        if (w.op === "delete") state.delete(key);
        else state.set(key, structuredClone(w.object));
        applied.push({ at: now, key });
      }
      return nextAt;
    };

    let endpoints: EndpointRecord[] = readyEndpoints(3, 200);
    const storm = () => [foundExport("fra-payments-prod", "2026-11-01T00:00:00Z", endpoints)];
    const quiet = [
      foundExport("fra-shop-dev", "2026-11-01T00:00:00Z", readyEndpoints(2, 3), { name: "quiet" }),
    ];
    const changes = 10_000;
    let quietLandedAt: number | undefined;
    for (let t = 0; t < changes; t++) {
      // one endpoint change a millisecond: a pod turns not-ready or ready again, or is replaced by a new address
      const i = (t * 37) % endpoints.length;
      endpoints = endpoints.map((e, j) =>
        j !== i
          ? e
          : t % 5 === 4
            ? { ...e, address: `10.3.${100 + (t % 150)}.${t % 250}` }
            : { ...e, ready: !e.ready },
      );
      limiter.offer("shop/cart", writesFor(storm(), state, "cart"), t);
      if (t === 5_000) limiter.offer("shop/quiet", writesFor(quiet, state, "quiet"), t);
      if (t % 10 === 0) apply(t);
      if (t > 5_000 && quietLandedAt === undefined && writesFor(quiet, state, "quiet").length === 0)
        quietLandedAt = t;
    }
    // the storm is over: the limiter drains what is pending, at the times it asks for
    let now = changes;
    let nextAt = apply(now);
    while (nextAt !== undefined) {
      now = Math.max(now + 1, nextAt);
      nextAt = apply(now);
    }

    // bounded: never more than the bucket allows, in all and in any one second
    const seconds = now / 1000;
    expect(applied.length).toBeLessThanOrEqual(policy.burst + policy.writesPerSecond * seconds);
    for (let from = 0; from < now; from += 100) {
      const inSecond = applied.filter((a) => a.at >= from && a.at < from + 1000).length;
      expect(inSecond).toBeLessThanOrEqual(policy.burst + policy.writesPerSecond);
    }
    // a write per change would have been at least 10,000 (each change moves a slice and the import's counts)
    expect(applied.length).toBeLessThan(changes / 30);
    // the quiet import landed within a second of its creation, in the middle of the storm
    expect(quietLandedAt).toBeDefined();
    expect(quietLandedAt! - 5_000).toBeLessThan(1_000);
    // converged: the consumer holds exactly what it must, for both imports
    expect(writesFor(storm(), state, "cart")).toEqual([]);
    expect(writesFor(quiet, state, "quiet")).toEqual([]);
    expect(
      writeCount(
        diffObjects(desiredFor(storm(), heldOf(state, "cart")), [...heldOf(state, "cart").values()]),
      ),
    ).toBe(0);
  });
});

describe("ConsumerWriteLimiter: a storm across many imports", () => {
  it("holds the consumer to the bucket's rate when coalescing alone would not, and converges", () => {
    const policy: ChurnPolicy = defaultChurnPolicy;
    const limiter = new ConsumerWriteLimiter<Write>(policy, 0);
    const state = new Map<string, KubeObject>();
    const applied: number[] = [];
    const apply = (now: number) => {
      const { writes, nextAt } = limiter.take(now);
      for (const w of writes) {
        if (w.op === "delete") state.delete(w.key);
        else state.set(objectKey(w.object), structuredClone(w.object));
        applied.push(now);
      }
      return nextAt;
    };
    // 100 services exported by one cluster, 4 endpoints each; 10,000 changes spread over them in 10 s
    const names = Array.from({ length: 100 }, (_, i) => `svc-${i}`);
    const endpoints = new Map(
      names.map((n, i) => [n, readyEndpoints(3, 4).map((e) => ({ ...e, zone: `z${i}` }))]),
    );
    const records = (name: string) => [
      foundExport("fra-payments-prod", "2026-11-01T00:00:00Z", endpoints.get(name)!, { name }),
    ];
    for (let t = 0; t < 10_000; t++) {
      const name = names[(t * 7) % names.length]!;
      endpoints.set(
        name,
        endpoints.get(name)!.map((e, j) => (j === t % 4 ? { ...e, ready: !e.ready } : e)),
      );
      limiter.offer(`shop/${name}`, writesFor(records(name), state, name), t);
      if (t % 10 === 0) apply(t);
    }
    let now = 10_000;
    let nextAt = apply(now);
    while (nextAt !== undefined) {
      now = Math.max(now + 1, nextAt);
      nextAt = apply(now);
    }
    expect(applied.length).toBeLessThanOrEqual(policy.burst + policy.writesPerSecond * (now / 1000));
    for (let from = 0; from < now; from += 100)
      expect(applied.filter((at) => at >= from && at < from + 1000).length).toBeLessThanOrEqual(
        policy.burst + policy.writesPerSecond,
      );
    // the bucket was what held it: the storm wanted more than the rate allowed during those 10 s
    expect(applied.filter((at) => at < 10_000).length).toBeGreaterThan(policy.writesPerSecond * 9);
    for (const name of names) expect(writesFor(records(name), state, name)).toEqual([]);
  });
});

describe("ConsumerWriteLimiter: rules", () => {
  it("coalesces repeated writes of one object within the window into one, with the latest content", () => {
    const limiter = new ConsumerWriteLimiter<string>({ coalesceMs: 100, writesPerSecond: 10, burst: 5 }, 0);
    limiter.offer("g", [{ key: "a", write: "a1" }], 0);
    limiter.offer("g", [{ key: "a", write: "a2" }], 50);
    expect(limiter.take(99)).toEqual({ writes: [], nextAt: 100 });
    limiter.offer("g", [{ key: "a", write: "a3" }], 99);
    expect(limiter.take(100)).toEqual({ writes: ["a3"], nextAt: undefined });
  });

  it("drops a pending write that the import no longer needs", () => {
    const limiter = new ConsumerWriteLimiter<string>({ coalesceMs: 100, writesPerSecond: 10, burst: 5 }, 0);
    limiter.offer(
      "g",
      [
        { key: "a", write: "a1" },
        { key: "b", write: "b1" },
      ],
      0,
    );
    limiter.offer("h", [{ key: "c", write: "c1" }], 0);
    limiter.offer("g", [{ key: "b", write: "b2" }], 10);
    expect(limiter.take(100).writes).toEqual(["b2", "c1"]);
  });

  it("keeps a withdrawn write's place in time, so a flickering object is still written on time", () => {
    const limiter = new ConsumerWriteLimiter<string>({ coalesceMs: 100, writesPerSecond: 10, burst: 5 }, 0);
    for (let t = 0; t < 100; t += 10) {
      limiter.offer("g", [{ key: "a", write: `a@${t}` }], t);
      limiter.offer("g", [], t + 5);
    }
    limiter.offer("g", [{ key: "a", write: "a@100" }], 100);
    expect(limiter.take(100).writes).toEqual(["a@100"]);
  });

  it("spends tokens no faster than the rate, oldest writes first, and says when to come back", () => {
    const limiter = new ConsumerWriteLimiter<string>({ coalesceMs: 0, writesPerSecond: 2, burst: 2 }, 0);
    limiter.offer(
      "g",
      ["a", "b", "c", "d"].map((k) => ({ key: k, write: k })),
      0,
    );
    expect(limiter.take(0)).toEqual({ writes: ["a", "b"], nextAt: 500 });
    expect(limiter.take(499).writes).toEqual([]);
    expect(limiter.take(500)).toEqual({ writes: ["c"], nextAt: 1000 });
    expect(limiter.take(1000)).toEqual({ writes: ["d"], nextAt: undefined });
  });

  it("refuses a policy that would never write", () => {
    expect(() => new ConsumerWriteLimiter({ coalesceMs: 0, writesPerSecond: 0, burst: 1 }, 0)).toThrow(
      /writesPerSecond > 0/,
    );
  });
});
