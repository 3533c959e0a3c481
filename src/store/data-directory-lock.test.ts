import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../errors/user-error.ts";
import { lockDataDirectory } from "./data-directory-lock.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-lock-unit-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const startTime = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
};

/** Another live process, as a second hub would be. */
async function withOtherProcess(use: (pid: number) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  try {
    await use(child.pid!);
  } finally {
    child.kill("SIGKILL");
  }
}

describe("the data directory lock", () => {
  it("refuses a directory held by a live process, naming its pid", async () => {
    const data = join(dir, "data");
    await withOtherProcess(async (pid) => {
      await writeFile(`${data}.lock`, JSON.stringify({ pid, started: startTime(pid), host: hostname() }));
      const refused = await lockDataDirectory(data).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UserError);
      expect((refused as UserError).message).toBe(
        `the data directory ${data} is used by another hub, pid ${pid}`,
      );
    });
  });

  it("takes over a lock whose pid now belongs to another program (a different start time)", async () => {
    const data = join(dir, "data");
    await withOtherProcess(async (pid) => {
      await writeFile(`${data}.lock`, JSON.stringify({ pid, started: "1", host: hostname() }));
      const release = await lockDataDirectory(data);
      expect(JSON.parse(await readFile(`${data}.lock`, "utf8"))).toMatchObject({ pid: process.pid });
      await release();
    });
  });

  it("takes over a lock left by a process that is gone, or a torn one", async () => {
    const data = join(dir, "data");
    const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await new Promise((resolve) => gone.once("exit", resolve));
    await writeFile(`${data}.lock`, JSON.stringify({ pid: gone.pid, started: "1", host: hostname() }));
    await (await lockDataDirectory(data))();
    await writeFile(`${data}.lock`, '{"pid": 12');
    await (await lockDataDirectory(data))();
  });

  it("refuses a second lock in the same process, and lets the directory go on release", async () => {
    const data = join(dir, "data");
    const release = await lockDataDirectory(data);
    await expect(lockDataDirectory(data)).rejects.toThrow(/is used by another hub, pid \d+/);
    await release();
    await expect(readFile(`${data}.lock`, "utf8")).rejects.toThrow(/ENOENT/);
    await (await lockDataDirectory(data))();
  });
});
