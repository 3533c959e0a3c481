/**
 * A runnable that does one pass of work every so often (compaction, health, a log line): the first pass at once
 * (or after `everyMs` with `firstAfter`), the next `everyMs` after each pass ends, until stopped. A failing pass is logged and the next one comes on time: a pass
 * that depends on the database must not stop the process while the database is away.
 */
import { type Clock, systemClock } from "./clock.ts";
import type { Log, Runnable } from "./runnable.ts";

export interface PeriodicOptions {
  name: string;
  everyMs: number;
  work: (signal: AbortSignal) => Promise<void>;
  log: Log;
  leaderOnly?: boolean;
  dependsOn?: string[];
  /** Wait `everyMs` before the first pass too. */
  firstAfter?: boolean;
  clock?: Clock;
}

export function periodic(options: PeriodicOptions): Runnable {
  const clock = options.clock ?? systemClock;
  return {
    name: options.name,
    ...(options.leaderOnly ? { leaderOnly: true } : {}),
    ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}),
    async start(signal) {
      const pause = () =>
        new Promise<void>((resolve) => {
          const finish = () => {
            clock.clearTimeout(timer);
            signal.removeEventListener("abort", finish);
            resolve();
          };
          const timer = clock.setTimeout(finish, options.everyMs);
          signal.addEventListener("abort", finish, { once: true });
        });
      if (options.firstAfter) await pause();
      while (!signal.aborted) {
        try {
          await options.work(signal);
        } catch (error) {
          if (!signal.aborted)
            options.log({ level: "warn", msg: `${options.name} pass failed`, error: String(error) });
        }
        if (signal.aborted) break;
        await pause();
      }
    },
  };
}
