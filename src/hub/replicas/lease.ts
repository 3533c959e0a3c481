/**
 * Work that must run on exactly one hub replica (event compaction, cluster health, delivery) runs
 * under a lease in the database: a replica holds it while it renews it; when that replica dies, the lease
 * expires and another takes it over.
 */
import type { Sql } from "../../store/sql.ts";

export interface LeaseOptions {
  name: string;
  holder: string;
  ttlMs: number;
  now: () => Date;
}

/** Takes or renews the lease; true when this holder has it now. */
export async function acquireLease(sql: Sql, options: LeaseOptions): Promise<boolean> {
  const now = options.now();
  const expires = new Date(now.getTime() + options.ttlMs);
  const rows = await sql.query<{ holder: string }>(
    `insert into leases (name, holder, expires_at) values ($1, $2, $3)
     on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
       where leases.holder = excluded.holder or leases.expires_at < $4
     returning holder`,
    [options.name, options.holder, expires.toISOString(), now.toISOString()],
  );
  return rows[0]?.holder === options.holder;
}

/** Releases the lease if this holder has it (on graceful shutdown, so that another replica takes over at once). */
export async function releaseLease(sql: Sql, name: string, holder: string): Promise<void> {
  await sql.query("delete from leases where name = $1 and holder = $2", [name, holder]);
}

export async function leaseHolder(sql: Sql, name: string, now: Date): Promise<string | undefined> {
  const rows = await sql.query<{ holder: string }>(
    "select holder from leases where name = $1 and expires_at > $2",
    [name, now.toISOString()],
  );
  return rows[0]?.holder;
}

/**
 * Runs `work` every `intervalMs` while this replica holds the lease; renews it every third of its TTL.
 * `onChange` reports gaining and losing it. A replica that cannot renew (the database is gone, or does not
 * answer) counts the lease as lost before its TTL has passed since the last renewal began (when another replica
 * may take it), and stops its work; it takes the lease up again when a renewal succeeds. Stops when `signal`
 * aborts.
 */
export function runUnderLease(
  sql: Sql,
  options: LeaseOptions & {
    intervalMs: number;
    work: () => Promise<void>;
    onChange?: (held: boolean) => void;
    /** Told when a pass of `work` fails (the lease is kept: the next pass may succeed). */
    onWorkError?: (error: unknown) => void;
  },
  signal: AbortSignal,
): Promise<void> {
  let held = false;
  /** Until when this replica may count on the lease: from the start of its last successful renewal. */
  let heldUntil = 0;
  let lastWork = Number.NEGATIVE_INFINITY;
  /** The renewal under way (a count, so that the answer of one given up on is ignored), and when it began. */
  let renewal = 0;
  let renewing = false;
  let renewalBegan = 0;
  let working: Promise<void> | undefined;
  const change = (now: boolean) => {
    if (now === held) return;
    held = now;
    options.onChange?.(held);
  };
  // Tick often enough both to renew the lease (a third of its life) and to run the work on time.
  const tickMs = Math.max(100, Math.min(Math.floor(options.ttlMs / 3), options.intervalMs));
  return new Promise((resolve) => {
    const tick = async () => {
      if (signal.aborted) return;
      if (held && options.now().getTime() >= heldUntil) change(false);
      // One renewal at a time, so that slow ones do not pile up; one still silent a tick later is given up on.
      const began = options.now().getTime();
      if (renewing && began - renewalBegan < tickMs) return;
      const mine = ++renewal;
      renewing = true;
      renewalBegan = began;
      try {
        const got = await acquireLease(sql, options);
        if (mine !== renewal) return;
        // Counted as lost one tick before the others may take it, so that it is noticed in time.
        if (got) heldUntil = began + options.ttlMs - tickMs;
        change(got && options.now().getTime() < heldUntil);
      } catch {
        if (mine !== renewal) return;
        change(false);
      } finally {
        if (mine === renewal) renewing = false;
      }
      if (held && !working && !signal.aborted && options.now().getTime() - lastWork >= options.intervalMs) {
        lastWork = options.now().getTime();
        // The work runs beside the renewals, so that a long pass does not let the lease lapse.
        working = options
          .work()
          .catch((error: unknown) => options.onWorkError?.(error))
          .finally(() => {
            working = undefined;
          });
      }
    };
    const timer = setInterval(tick, tickMs);
    void tick();
    signal.addEventListener(
      "abort",
      () => {
        clearInterval(timer);
        // A pass under way ends before the lease is let go, so that no two replicas ever work at once.
        const finish = Promise.resolve(working).then(() =>
          held ? releaseLease(sql, options.name, options.holder).catch(() => {}) : undefined,
        );
        void finish.then(() => resolve());
      },
      { once: true },
    );
  });
}
