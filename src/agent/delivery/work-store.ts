/**
 * The works an agent holds, one file per Application under the agent's dir (`works/<application>.json`),
 * written atomically (a temporary file, then a rename) and read back on start: the agent keeps applying its
 * last desired state across restarts and while it is cut off from its relay and the hub. Each work also
 * records what was applied for it, so pruning never has to list the cluster.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const appliedObject = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  /** The work generation the object was last applied from. */
  generation: z.number().int().min(1),
});

const storedWork = z.object({
  application: z.string().regex(dnsLabel).max(63),
  generation: z.number().int().min(1),
  manifests: z.array(z.record(z.string(), z.unknown())),
  /** Objects applied for the work and not yet pruned. */
  applied: z.array(appliedObject),
  /** When the work was last applied (ISO 8601). */
  appliedAt: z.string().optional(),
  /** The hub removed the work: its objects are being deleted (again at each resync while some remain). */
  removing: z.boolean().optional(),
});

export type AppliedObject = z.infer<typeof appliedObject>;
export type StoredWork = z.infer<typeof storedWork>;

/** Whether a name can be an Application's (and so a file name under `works/`). */
export function isApplicationName(name: string): boolean {
  return name.length <= 63 && dnsLabel.test(name);
}

export class WorkStore {
  readonly dir: string;

  /** @param agentDir the agent's dir; works live in its `works/` folder. */
  constructor(agentDir: string) {
    this.dir = join(agentDir, "works");
  }

  /** Every work on disk. A file that cannot be read as a work is skipped and named in `skipped`. */
  async load(): Promise<{ works: StoredWork[]; skipped: Array<{ file: string; reason: string }> }> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [] as string[];
      throw error;
    });
    const works: StoredWork[] = [];
    const skipped: Array<{ file: string; reason: string }> = [];
    for (const name of names.sort()) {
      if (!name.endsWith(".json")) continue;
      const file = join(this.dir, name);
      try {
        const parsed = storedWork.safeParse(JSON.parse(await readFile(file, "utf8")));
        if (!parsed.success) skipped.push({ file, reason: parsed.error.issues[0]?.message ?? "invalid" });
        else if (`${parsed.data.application}.json` !== name)
          skipped.push({ file, reason: `holds application ${parsed.data.application}` });
        else works.push(parsed.data);
      } catch (error) {
        skipped.push({ file, reason: (error as Error).message });
      }
    }
    return { works, skipped };
  }

  /** Writes a work: readers see the old file or the new one, never half of one. */
  async save(work: StoredWork): Promise<void> {
    const file = this.fileOf(work.application);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(work), { mode: 0o600 });
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async delete(application: string): Promise<void> {
    await rm(this.fileOf(application), { force: true });
  }

  private fileOf(application: string): string {
    if (!isApplicationName(application)) throw new Error(`not an application name: ${application}`);
    return join(this.dir, `${application}.json`);
  }
}
