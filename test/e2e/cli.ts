/** Runs the unitfleet CLI as a user would, in a given unitfleet home; returns its exit code and output. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { readEnvironment } from "../../src/config/environment.ts";

const run = promisify(execFile);
export const repositoryRoot = join(import.meta.dirname, "../..");
export const cliPath = join(repositoryRoot, "bin/unitfleet.ts");

export async function unitfleetCli(
  home: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(cliPath, args, {
      cwd: repositoryRoot,
      env: { ...readEnvironment().inherited, UNITFLEET_HOME: home },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
