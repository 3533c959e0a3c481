import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const probeDir = join(root, "src/core", `boundary-probe-${process.pid}`);

/** Lints one probe file placed inside src/core; returns the lines Biome flags as boundary breaches. */
async function breaches(relativeDir: string, source: string): Promise<number[]> {
  const dir = join(probeDir, relativeDir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, "probe.ts");
  await writeFile(file, source);
  const result = await run(join(root, "node_modules/.bin/biome"), ["lint", "--max-diagnostics=50", file], {
    cwd: root,
  }).catch((e: { stdout: string; stderr: string }) => e);
  const output = `${result.stdout}${result.stderr}`;
  return [...output.matchAll(/probe\.ts:(\d+):\d+ lint\/style\/noRestrictedImports/g)].map((m) =>
    Number(m[1]),
  );
}

describe("the import-boundary rule: src/core imports nothing outside itself and does no I/O", () => {
  afterAll(() => rm(probeDir, { recursive: true, force: true }));

  it("flags node built-ins, drivers and climbs out of src/core, and allows imports inside it", async () => {
    // The probe sits at src/core/boundary-probe-<pid>/nested/probe.ts: three levels below src/core.
    const lines = await breaches(
      "nested",
      [
        'import { readFileSync } from "node:fs";', // 1: I/O
        'import { KubeConfig } from "@kubernetes/client-node";', // 2: a driver
        'import { labVersions } from "../../../lab/versions.ts";', // 3: out of src/core
        'import { parseQuantity } from "../../quantity/quantity.ts";', // 4: inside src/core: allowed
        'import { z } from "zod";', // 5: a pure library: allowed
        "export const all = [readFileSync, KubeConfig, labVersions, parseQuantity, z];",
      ].join("\n"),
    );
    expect(lines).toEqual([1, 2, 3]);
  });

  it("holds one level up too", async () => {
    const lines = await breaches(
      "",
      [
        'import { labVersions } from "../../lab/versions.ts";', // 1: out of src/core
        'import { parseQuantity } from "../quantity/quantity.ts";', // 2: inside: allowed
        "export const all = [labVersions, parseQuantity];",
      ].join("\n"),
    );
    expect(lines).toEqual([1]);
  });
});
