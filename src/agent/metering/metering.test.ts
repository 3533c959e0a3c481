import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type MinuteSample,
  type UsageHoursBody,
  usageMessageIdentity,
  workloadMinutes,
} from "../../core/metering/hourly.ts";
import { type Clock, ManualClock } from "../../runtime/clock.ts";
import { metering } from "./metering.ts";

const start = Date.parse("2026-12-03T14:00:00Z");
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A cluster of `workloads` workloads, each one pod of 100m using 40m, and one Ready node. */
function sampler(workloads = 1) {
  const minute = (): MinuteSample => ({
    source: "kubelet",
    workloads: workloadMinutes(
      Array.from({ length: workloads }, (_, i) => ({
        namespace: "shop",
        workload: `Deployment/w${i}`,
        labels: {},
        cpu: { request: 100, usage: 40 },
        memory: { request: 1000, usage: 500 },
        gpu: { request: 0, usage: 0 },
      })),
    ),
    nodes: [{ node: "n1", ready: true, allocatable: { cpu: 4000, memory: 16_000, gpu: 0 } }],
  });
  return { prime: async () => {}, sample: async () => minute() };
}

async function setup(
  options: { workloads?: number; connected?: boolean; keepHours?: number; dir?: string; at?: number } = {},
) {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "unitfleet-metering-")));
  if (!options.dir) dirs.push(dir);
  const clock = new ManualClock(options.at ?? start);
  const sent: UsageHoursBody[] = [];
  const link = { up: options.connected ?? true };
  const m = metering({
    cluster: "c1",
    dir,
    sampler: sampler(options.workloads),
    send: (body) => sent.push(body),
    connected: () => link.up,
    ...(options.keepHours ? { keepHours: options.keepHours } : {}),
    clock,
    log: () => {},
  });
  const controller = new AbortController();
  const running = m.start(controller.signal, () => {});
  /** Moves the clock minute by minute, letting each pass finish its disk writes before the next minute. */
  const minutes = async (count: number) => {
    for (let i = 0; i < count; i++) {
      while (clock.pendingTimers === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      await clock.advance(60_000);
    }
    while (clock.pendingTimers === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  const stop = async () => {
    controller.abort();
    await running;
  };
  return { dir, minutes, sent, link, m, stop };
}

describe("metering", () => {
  it("sends each hour when it ends: a sample a minute, the hour's sums, in messages of at most 500 records", async () => {
    const { minutes, sent, stop } = await setup({ workloads: 700 });
    await minutes(59);
    expect(sent).toEqual([]);
    await minutes(1); // 15:00: the hour 14:00 ends.
    expect(sent.map((b) => b.workloads.length + b.nodes.length)).toEqual([500, 201]);
    const w0 = sent[0]!.workloads[0]!;
    // Samples at 14:01 … 14:59: 59 minutes (the agent started at 14:00 and primed then).
    expect(w0).toMatchObject({ cluster: "c1", hour: "2026-12-03T14:00:00Z", samples: 59 });
    expect(w0.cpu).toEqual({ request: 59 * 100, usage: 59 * 40, allocated: 59 * 100 });
    expect(sent[1]!.nodes).toEqual([
      expect.objectContaining({
        node: "n1",
        samples: 59,
        allocatable: { cpu: 59 * 4000, memory: 59 * 16_000, gpu: 0 },
      }),
    ]);
    await minutes(60); // 16:00: a full hour of 60 samples.
    expect(sent.at(-1)!.nodes[0]).toMatchObject({ hour: "2026-12-03T15:00:00Z", samples: 60 });
    await stop();
  });

  it("keeps hours while the tunnel is down and sends every kept hour again when a session opens", async () => {
    const { minutes, sent, link, m, stop } = await setup({ connected: false, keepHours: 2 });
    await minutes(3 * 60); // three hours complete, none sent.
    expect(sent).toEqual([]);
    expect((await m.completedHours()).map((h) => h.hour)).toEqual([
      "2026-12-03T15:00:00Z",
      "2026-12-03T16:00:00Z",
    ]);
    link.up = true;
    await m.resend();
    expect(sent.map((b) => b.nodes[0]?.hour)).toEqual(["2026-12-03T15:00:00Z", "2026-12-03T16:00:00Z"]);
    await m.resend(); // again: the ledger's keys make repeats harmless.
    expect(sent).toHaveLength(4);
    await stop();
  });

  it("forgets an hour once the ledger acknowledged each of its messages, and sends again only the others", async () => {
    const { minutes, sent, m, stop } = await setup({ workloads: 700 });
    await minutes(2 * 60); // 14:00 and 15:00 complete, two messages each.
    const of = (hour: string) => sent.filter((b) => (b.workloads[0] ?? b.nodes[0])?.hour === hour);
    const [a, b] = of("2026-12-03T14:00:00Z").map((body) => usageMessageIdentity(body)!);
    // An ack of something the agent never sent, or of a path, changes nothing.
    await m.acknowledge({ hour: "2026-12-03T14:00:00Z", first: "c1/elsewhere" });
    await m.acknowledge({ hour: "../../etc/passwd", first: a!.first });
    expect((await m.completedHours()).map((h) => h.hour)).toHaveLength(2);
    // The first message of 14:00 acknowledged: only its second goes again, and all of 15:00.
    await m.acknowledge(a!);
    sent.length = 0;
    await m.resend();
    expect(sent.map((body) => usageMessageIdentity(body)!.first)).toEqual([
      b!.first,
      ...of("2026-12-03T15:00:00Z").map((body) => usageMessageIdentity(body)!.first),
    ]);
    // Both acknowledged: the hour is forgotten, on disk too.
    await m.acknowledge(b!);
    expect((await m.completedHours()).map((h) => h.hour)).toEqual(["2026-12-03T15:00:00Z"]);
    sent.length = 0;
    await m.resend();
    expect(sent).toHaveLength(2);
    await stop();
  });

  it("sends unacknowledged hours again every 10 minutes while the session stays up, and acknowledged ones not", async () => {
    const { minutes, sent, m, stop } = await setup();
    await minutes(60); // 14:00 completes and is sent once.
    expect(sent).toHaveLength(1);
    // The hub took it and stopped before recording it: no ack. The agent's session to its relay stays up.
    await minutes(9);
    expect(sent).toHaveLength(1);
    await minutes(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    // Acknowledged now: ten minutes later nothing goes again.
    await m.acknowledge(usageMessageIdentity(sent[0]!)!);
    await minutes(10);
    expect(sent).toHaveLength(2);
    await stop();
  });

  it("takes one sample a minute when timers fire early by the clock", async () => {
    const dir = await mkdtemp(join(tmpdir(), "unitfleet-metering-"));
    dirs.push(dir);
    // A clock whose timers fire 3 ms before their time (short ones on time), as Node's may by Date.now.
    const clock = new ManualClock(start);
    const early: Clock = {
      now: () => clock.now(),
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms > 3 ? ms - 3 : ms),
      clearTimeout: (handle) => clock.clearTimeout(handle),
    };
    const sent: UsageHoursBody[] = [];
    const run = metering({
      cluster: "c1",
      dir,
      sampler: sampler(),
      send: (body) => sent.push(body),
      connected: () => true,
      clock: early,
      log: () => {},
    });
    const controller = new AbortController();
    const running = run.start(controller.signal, () => {});
    for (let i = 0; i < 121; i++) {
      while (clock.pendingTimers === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      await clock.advance(60_000);
    }
    while (clock.pendingTimers === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    controller.abort();
    await running;
    // 14:01 … 14:59 sampled once each: 59 samples, never 60 or more in an hour of 59 minutes.
    expect(sent[0]!.nodes[0]).toMatchObject({ hour: "2026-12-03T14:00:00Z", samples: 59 });
    expect(sent.find((b) => b.nodes[0]?.hour === "2026-12-03T15:00:00Z")?.nodes[0]?.samples).toBe(60);
  });

  it("keeps the hour being summed across a restart", async () => {
    const first = await setup();
    await first.minutes(30); // 30 samples of 14:00
    await first.stop();
    expect(await readdir(first.dir)).toContain("current.json");
    // Back at 14:30: samples at 14:31 … 14:59 join the 30 kept ones; 15:00 ends the hour.
    const second = await setup({ dir: first.dir, at: start + 30 * 60_000 });
    await second.minutes(30);
    expect(second.sent[0]!.nodes[0]).toMatchObject({ hour: "2026-12-03T14:00:00Z", samples: 59 });
    await second.stop();
  });
});
