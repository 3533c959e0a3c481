/**
 * Runs the unitfleet CLI in the test's own process (no spawn, no start-up cost): its exit code and what it
 * printed on stdout and stderr, captured while it runs.
 */
import { vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import type { Environment } from "../../src/config/environment.ts";

export interface CliAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], env: Environment): Promise<CliAnswer> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await main(args, env), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
