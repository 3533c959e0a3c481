/**
 * The agent's metering (issue 14): samples the cluster every minute, sums the minutes of each hour, and when
 * the hour ends sends its WorkloadHour and NodeHour records as `usage.hours` messages of at most 500 records.
 *
 * Nothing is lost across outages or restarts: the hour being summed is written to `<dir>/current.json` after
 * every minute, and each completed hour to `<dir>/hours/<hour>.json` until the ledger acknowledges every message
 * of it (`usage.ack`); the hours not yet acknowledged are sent again whenever a tunnel session opens (`resend`),
 * and every 10 minutes while it stays up (a hub that stopped after taking a message lost it), and the ledger's
 * idempotency keys count each record once. At most the last 48 completed hours are kept (an
 * outage longer than two days loses the oldest): disk use is bounded by those 49 files, about 0.5 KB per workload
 * or node record, so some 25 MB for a cluster of 1,000 workloads cut off for two days.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  addMinute,
  emptyHour,
  type FinishedHour,
  finishHour,
  type HourInProgress,
  hourStart,
  type MinuteSample,
  type UsageHoursBody,
  usageHoursMessages,
  usageMessageIdentity,
} from "../../core/metering/hourly.ts";
import { type Clock, systemClock } from "../../runtime/clock.ts";
import type { Log, Runnable } from "../../runtime/runnable.ts";

export interface MeteringOptions {
  cluster: string;
  /** Where the hours are kept: `<agent dir>/metering`. */
  dir: string;
  sampler: { prime(): Promise<void>; sample(): Promise<MinuteSample> };
  /** Sends one `usage.hours` body. */
  send: (body: UsageHoursBody) => void;
  /** Whether the tunnel is up: a completed hour is sent at once only then, else when the next session opens. */
  connected: () => boolean;
  /** Between samples (default a minute); samples fall on multiples of it. */
  intervalMs?: number;
  /** The length of an "hour" (default 3,600,000 ms); tests compress it. */
  hourMs?: number;
  /** Completed hours kept on disk and sent again on every new session (default 48). */
  keepHours?: number;
  /**
   * How often hours not yet acknowledged are sent again while the session stays up (default 10 minutes of the
   * metering clock): a message the hub took but lost (it stopped before recording it) is not stuck until the next
   * session.
   */
  resendEveryMs?: number;
  maxRecordsPerMessage?: number;
  clock?: Clock;
  log: Log;
}

export interface Metering extends Runnable {
  /** Sends every kept hour again (on each new tunnel session), but the messages the ledger acknowledged. */
  resend(): Promise<void>;
  /** The ledger holds one message of an hour (`usage.ack`); an hour whose messages all are is forgotten. */
  acknowledge(ack: { hour: string; first: string }): Promise<void>;
  /** The completed hours on disk, oldest first. */
  completedHours(): Promise<FinishedHour[]>;
}

export function metering(options: MeteringOptions): Metering {
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? 60_000;
  const hourMs = options.hourMs ?? 3_600_000;
  const keepHours = options.keepHours ?? 48;
  const resendEveryMs = options.resendEveryMs ?? 600_000;
  let lastResend = clock.now();
  const hoursDir = join(options.dir, "hours");
  const currentFile = join(options.dir, "current.json");
  let current: HourInProgress | undefined;

  const writeAtomically = async (file: string, data: unknown) => {
    const temp = `${file}.tmp`;
    await writeFile(temp, JSON.stringify(data));
    await rename(temp, file);
  };

  /** Per hour, the first record keys of its messages the ledger acknowledged (since this process started). */
  const acknowledged = new Map<string, Set<string>>();

  const send = (finished: FinishedHour) => {
    const done = acknowledged.get(finished.hour);
    for (const body of usageHoursMessages(options.cluster, finished, options.maxRecordsPerMessage)) {
      if (done?.has(usageMessageIdentity(body)?.first ?? "")) continue;
      try {
        options.send(body);
      } catch (error) {
        options.log({ level: "warn", msg: "usage hour not sent", hour: finished.hour, error: String(error) });
        return;
      }
    }
  };

  const hourFiles = async () =>
    (await readdir(hoursDir).catch(() => [] as string[])).filter((f) => f.endsWith(".json")).sort();

  const completedHours = async (): Promise<FinishedHour[]> => {
    const hours: FinishedHour[] = [];
    for (const file of await hourFiles()) {
      try {
        hours.push(JSON.parse(await readFile(join(hoursDir, file), "utf8")) as FinishedHour);
      } catch (error) {
        options.log({ level: "warn", msg: "unreadable usage hour skipped", file, error: String(error) });
      }
    }
    return hours;
  };

  /** Stores a completed hour, drops the oldest beyond `keepHours`, and sends it if the tunnel is up. */
  const complete = async (hour: HourInProgress) => {
    const finished = finishHour(hour, options.cluster);
    if (hour.samples > 0) {
      await writeAtomically(join(hoursDir, `${hour.hour}.json`), finished);
      const files = await hourFiles();
      for (const old of files.slice(0, Math.max(0, files.length - keepHours)))
        await rm(join(hoursDir, old), { force: true });
      options.log({
        level: "info",
        msg: "usage hour completed",
        hour: hour.hour,
        samples: hour.samples,
        workloads: finished.workloads.length,
        nodes: finished.nodes.length,
        source: finished.source,
      });
      if (options.connected()) {
        send(finished);
        lastResend = clock.now();
      }
    }
    await rm(currentFile, { force: true });
  };

  /** Sends every kept hour again, but the messages the ledger acknowledged. */
  const resend = async () => {
    lastResend = clock.now();
    for (const finished of await completedHours()) send(finished);
  };

  /** One tick: complete the hour if it has ended, then sample into the hour that holds now. */
  const tick = async () => {
    const hour = hourStart(clock.now(), hourMs);
    if (current && current.hour !== hour) {
      await complete(current);
      current = undefined;
    }
    let minute: MinuteSample;
    try {
      minute = await options.sampler.sample();
    } catch (error) {
      options.log({ level: "warn", msg: "usage sample failed", error: String(error) });
      return;
    }
    current ??= emptyHour(hour);
    addMinute(current, minute);
    await writeAtomically(currentFile, current);
  };

  return {
    name: "metering",
    async start(signal) {
      await mkdir(hoursDir, { recursive: true });
      try {
        current = JSON.parse(await readFile(currentFile, "utf8")) as HourInProgress;
      } catch {
        current = undefined;
      }
      if (current && current.hour !== hourStart(clock.now(), hourMs)) {
        await complete(current);
        current = undefined;
      }
      await options.sampler.prime();
      /** The first multiple of the interval after now: the next minute to sample. */
      const nextBoundary = () => {
        const now = clock.now();
        return now - (now % intervalMs) + intervalMs;
      };
      let due = nextBoundary();
      while (!signal.aborted) {
        const wait = Math.max(0, due - clock.now());
        await new Promise<void>((resolve) => {
          const done = () => {
            clock.clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
          };
          const timer = clock.setTimeout(done, wait);
          signal.addEventListener("abort", done, { once: true });
        });
        if (signal.aborted) break;
        // A timer may fire a little before its time by the clock (Node's loop time lags `Date.now`): sampling
        // then, and again at the boundary, would count one minute twice (61 samples in an hour).
        if (clock.now() < due) continue;
        try {
          await tick();
          if (options.connected() && clock.now() - lastResend >= resendEveryMs) {
            lastResend = clock.now();
            await resend();
          }
        } catch (error) {
          options.log({ level: "warn", msg: "metering pass failed", error: String(error) });
        }
        due = nextBoundary();
      }
    },
    resend,
    async acknowledge(ack) {
      // The hour names a file: only an hour as the agent writes them (no path of the hub's choosing).
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(ack.hour)) return;
      const file = join(hoursDir, `${ack.hour}.json`);
      let finished: FinishedHour;
      try {
        finished = JSON.parse(await readFile(file, "utf8")) as FinishedHour;
      } catch {
        return; // already forgotten, or never kept
      }
      const firsts = usageHoursMessages(options.cluster, finished, options.maxRecordsPerMessage).map(
        (body) => usageMessageIdentity(body)?.first,
      );
      if (!firsts.includes(ack.first)) return;
      const done = acknowledged.get(ack.hour) ?? new Set<string>();
      done.add(ack.first);
      acknowledged.set(ack.hour, done);
      if (firsts.every((first) => first !== undefined && done.has(first))) {
        await rm(file, { force: true });
        acknowledged.delete(ack.hour);
        options.log({ level: "info", msg: "usage hour acknowledged by the ledger", hour: ack.hour });
      }
    },
    completedHours,
  };
}
