/**
 * The database lease as the manager's elector: on a real embedded PostgreSQL, one replica holds it at a time and
 * hands it over at once when it stops; on a database that stops answering (manual clock), the lease is counted
 * lost before another replica may take it, and taken up again when the database is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock, settle } from "../../runtime/clock.ts";
import { Manager } from "../../runtime/manager.ts";
import { migrate } from "../../store/migrations.ts";
import { openPglite } from "../../store/pglite-sql.ts";
import type { Sql } from "../../store/sql.ts";
import { leaseHolder } from "./lease.ts";
import { leaseElector } from "./lease-elector.ts";

describe("leaseElector on PGlite", () => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await openPglite(undefined);
    await migrate(sql);
  }, 60_000);
  afterAll(() => sql?.close());

  it("lets one replica hold the lease, and hands it to the other as soon as the holder stops", async () => {
    const clock = new ManualClock(Date.parse("2026-12-03T12:00:00Z"));
    const options = (holder: string) => ({
      name: "hub",
      holder,
      ttlMs: 3_000,
      now: () => new Date(clock.now()),
    });
    const changes: string[] = [];
    const a = new AbortController();
    const b = new AbortController();
    const runningA = leaseElector(sql, options("replica-a"), clock).run(a.signal, (held) =>
      changes.push(`a ${held}`),
    );
    while (changes.length === 0) await settle();
    const runningB = leaseElector(sql, options("replica-b"), clock).run(b.signal, (held) =>
      changes.push(`b ${held}`),
    );
    for (let i = 0; i < 5; i++) await clock.advance(1_000);
    expect(changes).toEqual(["a true"]);
    expect(await leaseHolder(sql, "hub", new Date(clock.now()))).toBe("replica-a");

    a.abort();
    await runningA;
    expect(await leaseHolder(sql, "hub", new Date(clock.now()))).toBeUndefined();
    await clock.advance(1_000); // B's next renewal, well within the TTL A would have had
    while (changes.length < 2) await settle();
    expect(changes).toEqual(["a true", "b true"]);
    b.abort();
    await runningB;
    expect(clock.pendingTimers).toBe(0);
  });
});

/** A database that grants the lease, never answers, or refuses, as the test says; it records queries. */
function database(holder: string) {
  const state = { mode: "up" as "up" | "silent" | "down", queries: [] as string[] };
  const sql: Sql = {
    driver: "postgres",
    query: async <T>(text: string) => {
      state.queries.push(text.trim().split(/\s/)[0]!);
      if (state.mode === "silent") return new Promise<T[]>(() => {});
      if (state.mode === "down") throw new Error("Connection terminated unexpectedly");
      return (text.startsWith("insert") ? [{ holder }] : []) as T[];
    },
    transaction: (work) => work(sql),
    listen: async () => async () => {},
    close: async () => {},
  };
  return { sql, state };
}

describe("leaseElector when the database goes away", () => {
  it.each(["silent", "down"] as const)(
    "stops leader-only work before the TTL has passed while the database is %s, and starts it again after",
    async (outage) => {
      const clock = new ManualClock();
      const { sql, state } = database("replica-a");
      const elector = leaseElector(
        sql,
        { name: "hub", holder: "replica-a", ttlMs: 600, now: () => new Date(clock.now()) },
        clock,
      );
      const manager = new Manager({ log: () => {}, clock, elector, stopDeadlineMs: 1_000 });
      let running = false;
      manager.add({
        name: "compaction",
        leaderOnly: true,
        start: (signal) => {
          running = true;
          return new Promise((resolve) =>
            signal.addEventListener("abort", () => {
              running = false;
              resolve();
            }),
          );
        },
      });
      await manager.start();
      await settle();
      expect(running).toBe(true);

      await clock.advance(1_000);
      state.mode = outage;
      const lastRenewalBegan = clock.now() - (clock.now() % 200);
      let lostAt: number | undefined;
      for (let t = 0; t < 1_000 && lostAt === undefined; t += 10) {
        await clock.advance(10);
        if (!running) lostAt = clock.now();
      }
      // Stopped by the time another replica could take the lease: TTL after the last renewal began.
      expect(lostAt).toBeDefined();
      expect(lostAt!).toBeLessThan(lastRenewalBegan + 600);

      state.mode = "up";
      await clock.advance(400);
      expect(running).toBe(true);

      state.queries.length = 0;
      const stopping = manager.stop();
      await clock.advance(10);
      await stopping;
      expect(running).toBe(false);
      expect(state.queries).toContain("delete");
    },
  );
});
