import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import { buildLab } from "../../src/lab/build/build.ts";
import { labPaths } from "../../src/lab/paths.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();

async function unitfleet(args: string[], extraEnv: Record<string, string> = {}) {
  try {
    // A guard against a hang, not a speed claim: a loaded machine may take seconds to start a process.
    const { stdout, stderr } = await run(cli, args, {
      env: { ...env.inherited, ...extraEnv },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("the CLI on bad input and missing prerequisites", { timeout: 90_000 }, () => {
  const temp: string[] = [];
  afterAll(async () => {
    for (const dir of temp) await rm(dir, { recursive: true, force: true });
  });

  it("lists all three mistakes of a topology file with their paths, and no stack trace", async () => {
    const home = await mkdtemp(join(tmpdir(), "unitfleet-cli-"));
    temp.push(home);
    const result = await unitfleet(["lab", "up", "-f", "test/fixtures/topologies/three-mistakes.yaml"], {
      UNITFLEET_HOME: home,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("the topology has 3 problems");
    expect(result.stderr).toContain(
      'spec.clusters[0].nodePools[0].memory: "32GB" is not a Kubernetes quantity',
    );
    expect(result.stderr).toContain("spec.clusters[1].nodePools[0].instanceTyp: unknown field");
    expect(result.stderr).toContain(
      'spec.clusters[1].region: Region "par-west" belongs to Location "paris", not "tokyo"',
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("lists every mistake of a fleet snapshot with its path, and plans nothing", async () => {
    const result = await unitfleet([
      "plan",
      "consolidation",
      "--from",
      "test/fixtures/planning/fleet-three-mistakes.json",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("is not a valid fleet snapshot");
    expect(result.stderr).toContain(
      'clusters[0].nodes[0].allocatable.memory: "32GB" is not a Kubernetes quantity',
    );
    expect(result.stderr).toContain("clusters[0].workloads[0].replicas:");
    expect(result.stderr).toContain(
      "clusters[1].kubernetesVersion: must be a Kubernetes version such as v1.36.3",
    );
    expect(result.stdout).toBe("");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses bad generator options all at once", async () => {
    const result = await unitfleet(["plan", "generate", "--clusters", "0", "--shape", "square"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("clusters");
    expect(result.stderr).toContain("shape");
    expect(result.stdout).toBe("");
  });

  it("points at the line of a YAML syntax error", async () => {
    const result = await unitfleet(["lab", "up", "-f", "test/fixtures/topologies/broken-yaml.yaml"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not valid YAML\n {2}- line 9, column \d+:/);
  });

  it("says the lab is not running, and what to do, when there is none", async () => {
    const home = await mkdtemp(join(tmpdir(), "unitfleet-cli-"));
    temp.push(home);
    const result = await unitfleet(["lab", "status"], { UNITFLEET_HOME: home });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: no lab has been brought up in ${home}/lab\nhint: run \`unitfleet lab up\` first\n`,
    );
  });

  it("explains a missing Go toolchain instead of failing obscurely, and keeps the cache", async () => {
    const cache = await mkdtemp(join(tmpdir(), "unitfleet-cache-"));
    temp.push(cache);
    const failure = await buildLab({
      paths: labPaths(cache, cache),
      environment: { ...env.inherited, PATH: "/nonexistent" },
      force: true,
    }).catch((e: unknown) => e);
    expect(failure).toMatchObject({
      code: "ToolchainMissing",
      message: "Go was not found on PATH: the lab builds Kubernetes from source",
      hint: expect.stringContaining("install Go 1.26.0 or newer"),
    });
  });

  it("reports a failed build with the step, the tail of go's output and the log file", async () => {
    const cache = await mkdtemp(join(tmpdir(), "unitfleet-cache-"));
    temp.push(cache);
    const paths = labPaths(cache, cache);
    const failure = await buildLab({
      paths,
      // No module proxy and an empty module cache: the first `go mod tidy` cannot resolve anything.
      environment: { ...env.inherited, GOPROXY: "off", GOMODCACHE: join(cache, "gomod"), GOFLAGS: "" },
      force: true,
    }).catch((e: unknown) => e);
    expect(failure).toMatchObject({
      code: "BuildFailed",
      message: expect.stringMatching(
        /^the lab build failed: go mod tidy \(in .*src\/etcd\) exited with an error$/,
      ),
      logFile: paths.buildLog,
    });
    expect((failure as { logTail: string[] }).logTail.join("\n")).toContain("GOPROXY=off");
  });
});
