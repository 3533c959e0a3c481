/**
 * One hub per embedded data directory. PGlite does not lock its directory, and two processes writing one
 * directory each keep their own copy in memory: the one that stops last wins and the other's acknowledged
 * writes vanish. So the directory has a lock file beside it, created exclusively, naming the holder's pid, its
 * start time and its host. A lock whose holder is gone (kill -9, a crash, a reboot, a pid reused by another
 * program) is stale and is taken over; a live holder keeps everyone else out with a one-line error.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { UserError } from "../errors/user-error.ts";

interface LockHolder {
  pid: number;
  /** Start time of the process in clock ticks since boot (Linux), so that a reused pid is not taken for it. */
  started: string | undefined;
  host: string;
}

/** Data directories locked by this process: a second open in the same process is refused too. */
const heldHere = new Set<string>();

/** Takes the lock of `dataDir`, or throws a `UserError` naming the hub that holds it. Returns the release. */
export async function lockDataDirectory(dataDir: string): Promise<() => Promise<void>> {
  const file = `${dataDir}.lock`;
  const me: LockHolder = { pid: process.pid, started: startTime(process.pid), host: hostname() };
  const text = `${JSON.stringify(me)}\n`;
  if (heldHere.has(file)) throw inUse(dataDir, me);
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, text, { flag: "wx", mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw error;
    }
    const found = await readFile(file, "utf8").catch(() => undefined);
    if (found === undefined) continue;
    const holder = parse(found);
    if (holder && alive(holder)) throw inUse(dataDir, holder);
    await removeIfUnchanged(file, found);
  }
  heldHere.add(file);
  return async () => {
    heldHere.delete(file);
    // Only our own lock: never one that another hub took over after ours was judged stale.
    if ((await readFile(file, "utf8").catch(() => undefined)) === text) await unlink(file).catch(() => {});
  };
}

function inUse(dataDir: string, holder: LockHolder): UserError {
  const where = holder.host === hostname() ? "" : ` on host ${holder.host}`;
  return new UserError(
    "Conflict",
    `the data directory ${dataDir} is used by another hub, pid ${holder.pid}${where}`,
    {
      hint: "stop that hub first; several hubs need a PostgreSQL server (--database-url), not one embedded directory",
    },
  );
}

function parse(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    return typeof value.pid === "number" && typeof value.host === "string"
      ? { pid: value.pid, started: value.started, host: value.host }
      : undefined;
  } catch {
    return undefined; // A torn or foreign file holds nobody.
  }
}

/** Whether the holder still runs. A holder on another host cannot be checked, so it counts as alive. */
function alive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return false; // Our own pid, but not held here: left by an earlier life of it.
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const started = startTime(holder.pid);
  return holder.started === undefined || started === undefined || started === holder.started;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count the fields after its closing one.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Removes a stale lock, unless another process replaced it meanwhile: the file is moved aside atomically and
 * checked; a lock that turns out to be fresh is put back.
 */
async function removeIfUnchanged(file: string, stale: string): Promise<void> {
  const aside = `${file}.${randomUUID()}`;
  try {
    await rename(file, aside);
  } catch {
    return; // Gone already: someone else cleaned it up.
  }
  const moved = await readFile(aside, "utf8").catch(() => undefined);
  if (moved !== stale) await link(aside, file).catch(() => {});
  await unlink(aside).catch(() => {});
}
