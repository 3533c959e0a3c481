/**
 * The leader elector of a hub replica: the one database lease (`leases` table, `src/hub/replicas/lease.ts`)
 * under which the manager runs its leader-only runnables. Its rules: renewed every
 * third of the TTL; counted as lost one tick before the TTL has run out since the last successful renewal
 * began, even when the database does not answer, so that the work stops before another replica may take over;
 * renewals do not pile up behind a silent one; released on a graceful stop so another replica takes over at
 * once.
 */

import { type Clock, systemClock, type TimerHandle } from "../../runtime/clock.ts";
import type { LeaderElector } from "../../runtime/leader-elector.ts";
import type { Sql } from "../../store/sql.ts";
import { acquireLease, type LeaseOptions, releaseLease } from "./lease.ts";

/**
 * An elector holding `options.name` for `options.holder`. Time for the lease is `options.now`; the clock sets
 * the renewal timers (give both the same time in tests).
 */
export function leaseElector(sql: Sql, options: LeaseOptions, clock: Clock = systemClock): LeaderElector {
  const tickMs = Math.max(100, Math.floor(options.ttlMs / 3));
  const now = () => options.now().getTime();
  return {
    run(signal, onChange) {
      let held = false;
      /** Until when this replica may count on the lease. */
      let heldUntil = 0;
      /** The renewal under way (a count, so that the answer of one given up on is ignored), and when it began. */
      let renewal = 0;
      let renewing: Promise<void> | undefined;
      let renewalBegan = 0;
      let timer: TimerHandle | undefined;
      const change = (value: boolean) => {
        if (value === held || signal.aborted) return;
        held = value;
        onChange(held);
      };
      const renew = async (mine: number, began: number) => {
        try {
          const got = await acquireLease(sql, options);
          if (mine !== renewal) return;
          // Counted as lost one tick before the others may take it, so that it is noticed in time.
          if (got) heldUntil = began + options.ttlMs - tickMs;
          change(got && now() < heldUntil);
        } catch {
          if (mine === renewal) change(false);
        }
      };
      const tick = () => {
        timer = clock.setTimeout(tick, tickMs);
        if (held && now() >= heldUntil) change(false);
        // One renewal at a time; one still silent a tick later is given up on.
        const began = now();
        if (renewing && began - renewalBegan < tickMs) return;
        const mine = ++renewal;
        renewalBegan = began;
        const current = renew(mine, began).finally(() => {
          if (renewing === current) renewing = undefined;
        });
        renewing = current;
      };
      return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        tick();
        signal.addEventListener(
          "abort",
          () => {
            if (timer !== undefined) clock.clearTimeout(timer);
            // A renewal under way may still take the lease: wait for it, then let go of whatever this holder has
            // (the delete matches this holder only, so it is harmless when the lease was not held).
            void Promise.resolve(renewing)
              .then(() => releaseLease(sql, options.name, options.holder))
              .catch(() => {})
              .then(() => resolve());
          },
          { once: true },
        );
      });
    },
  };
}
