/**
 * One lab command at a time per state folder: `up`, `down`, `stop` and `start` each hold a lock file with their
 * pid, so that two of them never record pids over each other. A lock left by a process that is gone is taken over.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { UserError } from "../errors/user-error.ts";

export async function withLock<T>(lockFile: string, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
      const holder = Number(await readFile(lockFile, "utf8").catch(() => "0"));
      if (holder > 0 && holder !== process.pid && alive(holder))
        throw new UserError(
          "Conflict",
          `another unitfleet lab command (pid ${holder}) is working on this lab`,
          {
            hint: `wait for it to finish, or stop it; the lock is ${lockFile}`,
          },
        );
      await rm(lockFile, { force: true });
    }
  }
  try {
    return await work();
  } finally {
    await rm(lockFile, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
