/**
 * One hub per embedded data directory: a second `unitfleet hub` on the same folder is refused with a one-line
 * error naming the first one's pid, while the first keeps serving; a hub killed with -9 leaves a stale lock that
 * does not keep the next one out, and the next one has every write the killed one acknowledged.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { readEnvironment } from "../../src/config/environment.ts";

const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
let dir: string;
const started: ChildProcess[] = [];

interface HubRun {
  process: ChildProcess;
  /** Resolves with the URL once serving, or with the exit code and output if it exits first. */
  outcome: Promise<{ url: string } | { code: number | null; output: string }>;
}

function hub(): HubRun {
  const child = spawn(cli, ["hub", "--listen", "127.0.0.1:0", "--dir", dir, "--insecure"], {
    env: env.inherited,
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(child);
  let output = "";
  const outcome = new Promise<{ url: string } | { code: number | null; output: string }>((resolve) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /hub serving at (\S+)/.exec(output);
      if (match) resolve({ url: match[1]! });
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("exit", (code) => resolve({ code, output }));
  });
  return { process: child, outcome };
}

async function serving(run: HubRun): Promise<HubClient> {
  const outcome = await run.outcome;
  if (!("url" in outcome)) throw new Error(`the hub exited (${outcome.code}): ${outcome.output}`);
  const token = (await readFile(join(dir, "admin-token"), "utf8")).trim();
  return new HubClient({ server: outcome.url, token });
}

const location = (name: string) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Location",
  metadata: { name },
  spec: {},
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-lock-"));
});

afterAll(async () => {
  for (const child of started) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

describe("one hub per embedded data directory", () => {
  it("refuses a second hub on the same folder with one line naming the first one's pid", async () => {
    const first = hub();
    const onFirst = await serving(first);
    await onFirst.send("POST", "/apis/unitfleet.io/v1alpha1/locations", location("lisbon"));

    const second = await hub().outcome;
    expect(second).toMatchObject({ code: 1 });
    const lines = ("output" in second ? second.output : "").trim().split("\n");
    expect(lines[0]).toBe(
      `error: the data directory ${join(dir, "data")} is used by another hub, pid ${first.process.pid}`,
    );
    expect(lines.join("\n")).not.toMatch(/\n\s+at /); // no stack trace

    // The first one was not disturbed.
    await onFirst.send("POST", "/apis/unitfleet.io/v1alpha1/locations", location("porto"));
    onFirst.close();
    first.process.kill("SIGKILL");
    await new Promise((resolve) => first.process.once("exit", resolve));
  }, 150_000);

  it("lets the next hub start after one was killed with -9, with every acknowledged write", async () => {
    const next = hub();
    const onNext = await serving(next);
    const names = (
      await onNext.send<{ items: Array<{ metadata: { name: string } }> }>(
        "GET",
        "/apis/unitfleet.io/v1alpha1/locations",
      )
    ).items.map((item) => item.metadata.name);
    expect(names).toEqual(expect.arrayContaining(["lisbon", "porto"]));
    onNext.close();
    // A graceful stop lets the lock go too.
    next.process.kill("SIGTERM");
    await new Promise((resolve) => next.process.once("exit", resolve));
    const after = hub();
    (await serving(after)).close();
  }, 150_000);
});
