/**
 * The CLI loads only what a command needs: `--version` and `--help` load the command tree and commander, and
 * `get clusters` adds the hub's client and the resource schemas, never the hub, the lab, the agent, the store or
 * their drivers. The modules a spawned CLI loads are recorded by a module hook (`node --import`).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, program } from "../../src/cli/main.ts";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";

const run = promisify(execFile);
const repository = join(import.meta.dirname, "../..");
const cli = join(repository, "bin/unitfleet.ts");
let env: Environment;
let hub: RunningHub;
let hook: string;
let loadedFile: string;

/** Runs the CLI as a process, recording every module it loads; returns its output and those modules. */
async function traced(args: string[]): Promise<{ stdout: string; modules: string[] }> {
  const { stdout } = await run(process.execPath, ["--import", pathToFileURL(hook).href, cli, ...args], {
    env: { ...env.inherited, UNITFLEET_HOME: env.home },
    timeout: 60_000, // a guard against a hang, not a speed claim
  });
  const modules = (await readFile(loadedFile, "utf8")).trim().split("\n");
  return { stdout, modules: modules.map((url) => url.replace(pathToFileURL(repository).href, "")) };
}

/** Modules the short commands must never load: processes, drivers, servers, and Kubernetes' client. */
const heavy = [
  /node_modules\/@kubernetes\//,
  /node_modules\/pg\//,
  /node_modules\/@electric-sql\//,
  /node_modules\/ws\//,
  /node_modules\/@peculiar\//,
  /^\/src\/(hub|store|agent|relay|up|lab\/lab|lab\/build|dial-out|protocol|pki\/certificates)/,
];
const heavyIn = (modules: string[]) => modules.filter((m) => heavy.some((h) => h.test(m)));
const packagesIn = (modules: string[]) =>
  [...new Set(modules.map((m) => /node_modules\/((@[^/]+\/)?[^/]+)/.exec(m)?.[1]).filter(Boolean))].sort();

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), "unitfleet-cli-startup-"));
  env = { ...readEnvironment(), home };
  loadedFile = join(home, "loaded-modules.txt");
  hook = join(home, "record-modules.mjs");
  await writeFile(
    hook,
    [
      'import { registerHooks } from "node:module";',
      'import { writeFileSync } from "node:fs";',
      "const loaded = [];",
      "registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });",
      `process.on("exit", () => writeFileSync(${JSON.stringify(loadedFile)}, loaded.join("\\n")));`,
    ].join("\n"),
  );
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const silent = process.stdout.write;
  process.stdout.write = () => true;
  try {
    expect(await main(["apply", "-f", join(repository, "examples/fleet.yaml")], env)).toBe(0);
  } finally {
    process.stdout.write = silent;
  }
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(env.home, { recursive: true, force: true });
});

describe("what the CLI loads", { timeout: 60_000 }, () => {
  it("--version loads commander and the command tree only", async () => {
    const { stdout, modules } = await traced(["--version"]);
    expect(stdout).toBe("0.1.0\n");
    expect(packagesIn(modules)).toEqual(["commander"]);
    expect(heavyIn(modules)).toEqual([]);
    expect(modules).not.toContain("/src/core/resources/kinds.ts");
    expect(modules.length).toBeLessThan(100);
  });

  it("--help lists every command, loading no more than --version", async () => {
    const { stdout, modules } = await traced(["--help"]);
    const names = program(env).commands.map((c) => c.name());
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) expect(stdout).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    expect(packagesIn(modules)).toEqual(["commander"]);
    expect(heavyIn(modules)).toEqual([]);
  });

  it("get clusters adds the hub's client and the resource schemas, nothing heavy", async () => {
    const { stdout, modules } = await traced(["get", "clusters"]);
    expect(stdout).toMatch(/^NAME +LOCATION/);
    expect(stdout).toContain("fra-shop-prod");
    expect(packagesIn(modules)).toEqual(["commander", "yaml", "zod"]);
    expect(heavyIn(modules)).toEqual([]);
  });
});
