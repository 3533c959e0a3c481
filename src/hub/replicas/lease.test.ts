import { describe, expect, it } from "vitest";
import type { Sql } from "../../store/sql.ts";
import { runUnderLease } from "./lease.ts";

/** A database that grants the lease, or never answers, or refuses, as the test says. */
function database(holder: string) {
  const state = { mode: "up" as "up" | "silent" | "down" };
  const sql: Sql = {
    driver: "postgres",
    query: async <T>(text: string) => {
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

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("work under a lease when the database goes away", () => {
  it.each(["silent", "down"] as const)(
    "stops the work once the lease has lapsed while the database is %s, and takes it up again when it is back",
    async (outage) => {
      const { sql, state } = database("replica-a");
      const changes: boolean[] = [];
      let passes = 0;
      const stop = new AbortController();
      const running = runUnderLease(
        sql,
        {
          name: "singleton",
          holder: "replica-a",
          ttlMs: 600,
          now: () => new Date(),
          intervalMs: 20,
          work: async () => {
            passes++;
          },
          onChange: (held) => changes.push(held),
        },
        stop.signal,
      );
      await settle(150);
      expect(changes).toEqual([true]);
      expect(passes).toBeGreaterThan(0);

      state.mode = outage;
      const lostAt = Date.now();
      while (changes.at(-1) !== false && Date.now() - lostAt < 2000) await settle(10);
      expect(changes).toEqual([true, false]);
      // Lost within the lease's TTL of the last renewal, when another replica may take it (a little slack for timers).
      expect(Date.now() - lostAt).toBeLessThan(600 + 100);
      const passesWhenLost = passes;
      await settle(300);
      expect(passes).toBe(passesWhenLost);

      state.mode = "up";
      await settle(400);
      expect(changes).toEqual([true, false, true]);
      expect(passes).toBeGreaterThan(passesWhenLost);
      stop.abort();
      await running;
    },
  );
});
