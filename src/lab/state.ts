/** The running lab's record on disk: the topology it was made from and every process it started. */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Topology } from "../core/topology/topology.ts";
import type { ProcessRecord } from "./processes.ts";

export interface LabState {
  version: 1;
  topologySource: string;
  topology: Topology;
  createdAt: string;
  /** By process name: `etcd` or `<cluster>/<component>`. */
  processes: Record<string, ProcessRecord>;
}

export async function readState(file: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as LabState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Writes the state atomically (a crash never leaves half a file). */
export async function writeState(file: string, state: LabState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temp, file);
}
