/** Runs the lab's own kubectl (the version of its API servers) against a context of a kubeconfig. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { binaryPath, labPaths } from "../../src/lab/paths.ts";
import type { SharedLab } from "./shared-lab.ts";

const run = promisify(execFile);

export async function kubectl(lab: SharedLab, context: string, args: string[]): Promise<string> {
  const bin = binaryPath(labPaths(lab.cacheRoot, lab.home), "kubectl");
  const { stdout } = await run(bin, ["--kubeconfig", lab.kubeconfig, "--context", context, ...args], {
    timeout: 30_000,
  });
  return stdout;
}

export async function kubectlJson<T>(lab: SharedLab, context: string, args: string[]): Promise<T> {
  return JSON.parse(await kubectl(lab, context, [...args, "-o", "json"])) as T;
}
