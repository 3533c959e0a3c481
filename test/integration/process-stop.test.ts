/**
 * Stopping the hub and a relay stops every part in order and leaves nothing open (issue 13): a child process
 * starts both, stops them, and must then exit on its own — no timer, socket or database handle keeps it alive —
 * with every part reported stopped in time. test/e2e/agents.test.ts runs the same with an agent on a real
 * cluster.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";

const run = promisify(execFile);

it("a hub and a relay stop in order and leave no handle open: the process exits by itself", async () => {
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-process-stop-"));
  try {
    const started = Date.now();
    // A hang guard only: the process should be gone seconds after its 6 s of running.
    const { stdout } = await run(
      process.execPath,
      [join(import.meta.dirname, "../support/start-and-stop.ts"), dir],
      {
        env: readEnvironment().inherited,
        timeout: 120_000,
      },
    );
    // Printed when the event loop ran empty (a process with something left open prints `lingering` and fails).
    const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      outcomes: Record<string, { failure?: unknown; stuck: string[] } | undefined>;
    };
    expect(report.outcomes.relay).toEqual({ stuck: [] });
    expect(report.outcomes.hub).toEqual({ stuck: [] });
    console.log(
      `started, ran 6 s, stopped and exited on its own in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
