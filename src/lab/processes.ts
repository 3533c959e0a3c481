/**
 * Starting and stopping the lab's processes by pid. A pid is only ever signalled when the process behind it is
 * still the one the lab started: same start time (from /proc) and same executable. So a pid reused by the
 * system after a reboot is never touched.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { UserError } from "../errors/user-error.ts";
import type { ProcessSpec } from "./plan.ts";

/** What the lab records of a process it started. */
export interface ProcessRecord {
  pid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  startTicks: number;
  command: string;
}

export interface Started {
  record: ProcessRecord;
  /** Resolves with the exit code if the process exits while this CLI still runs. */
  exited: Promise<number | null>;
}

/** Starts a process in its own process group, detached from the CLI, with output appended to its log. */
export async function startProcess(
  spec: ProcessSpec,
  inherited: Readonly<Record<string, string>>,
): Promise<Started> {
  await mkdir(dirname(spec.logFile), { recursive: true });
  const log = openSync(spec.logFile, "a");
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...inherited, ...spec.env },
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on("exit", (code) => resolve(code));
      child.on("error", () => resolve(-1));
    });
    const pid = child.pid;
    if (pid === undefined) {
      const reason = await new Promise<string>((resolve) => child.once("error", (e) => resolve(e.message)));
      throw new UserError("ComponentFailed", `cannot start ${spec.name}: ${reason}`, {
        hint: "run `unitfleet lab build` to (re)build the lab's binaries",
      });
    }
    child.unref();
    return { record: { pid, startTicks: startTicks(pid) ?? 0, command: spec.command }, exited };
  } finally {
    closeSync(log);
  }
}

/** True when the recorded process is still running (and is not a zombie, and is still the same process). */
export function isRunning(record: ProcessRecord): boolean {
  const stat = readStat(record.pid);
  if (!stat || stat.state === "Z" || stat.state === "X") return false;
  if (record.startTicks !== 0 && stat.startTicks !== record.startTicks) return false;
  try {
    return readlinkSync(`/proc/${record.pid}/exe`).replace(/ \(deleted\)$/, "") === record.command;
  } catch {
    return true;
  }
}

/** Stops a recorded process: SIGTERM to it, then SIGKILL after `graceMs`. Returns once it is gone. */
export async function stopProcess(record: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!isRunning(record)) return;
  signal(record.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isRunning(record)) {
    if (Date.now() > deadline) {
      signal(record.pid, "SIGKILL");
      await sleep(200);
      if (!isRunning(record)) return;
    }
    await sleep(100);
  }
}

/** Resident memory of a process in bytes, or 0 when it is gone. */
export function residentBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function startTicks(pid: number): number | undefined {
  return readStat(pid)?.startTicks;
}

function readStat(pid: number): { state: string; startTicks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "?", startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
