/**
 * Stopping an agent on a real cluster, its relay and the hub stops every part and leaves nothing open
 * (issue 13): the child process of test/support/start-and-stop.ts must exit on its own after the stops, with
 * the agent's heartbeats having reached the hub while it ran.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import { sharedLab } from "./shared-lab.ts";

const run = promisify(execFile);

it("an agent, a relay and the hub stop and leave no handle open: the process exits by itself", async () => {
  const lab = sharedLab();
  const cluster = lab.topology.spec.clusters[0]!.name;
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-process-stop-e2e-"));
  try {
    const { stdout } = await run(
      process.execPath,
      [join(import.meta.dirname, "../support/start-and-stop.ts"), dir, lab.kubeconfig, cluster, cluster],
      { env: readEnvironment().inherited, timeout: 120_000 },
    );
    const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      heartbeats: number;
      outcomes: Record<string, { failure?: unknown; stuck: string[] } | undefined>;
    };
    expect(report.heartbeats).toBeGreaterThan(5);
    expect(report.outcomes).toEqual({ agent: { stuck: [] }, relay: { stuck: [] }, hub: { stuck: [] } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
