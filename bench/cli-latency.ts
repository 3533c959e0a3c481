/**
 * How long the CLI takes as a whole process, as a user sees it: `unitfleet --version` and `unitfleet get
 * clusters` against a local hub (six clusters of examples/fleet.yaml), with Node's compile cache warm, off, and
 * empty before each call (the first call after an install or a change); optionally the same commands of an
 * older checkout (`--before DIR`, e.g. a `git worktree` of an earlier commit with node_modules linked); and the
 * lab's `kubectl get clusters` against the same hub, in the same run. Commands take turns (A B C … A B C) so
 * that a drift in the machine's speed touches every one alike; each gets one warm-up call first.
 *
 *   node bench/cli-latency.ts [--runs 10] [--before /tmp/cli-before] [--port 16543]
 *
 * Prints a Markdown table of median, minimum and maximum wall time per command.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readEnvironment } from "../src/config/environment.ts";
import { binaryPath, labPaths } from "../src/lab/paths.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    before: { type: "string" },
    port: { type: "string", default: "16543" },
  },
});
const runs = Number(values.runs);
const env = readEnvironment();
const log = (text: string) => process.stderr.write(`[bench] ${text}\n`);
const repository = join(import.meta.dirname, "..");
const cli = (checkout: string) => join(checkout, "bin/unitfleet.ts");

const home = await mkdtemp(join(tmpdir(), "unitfleet-clibench-"));
// Where Node keeps its compile cache when the CLI enables it without a folder: under the temporary directory
// (TMPDIR). The warm cases share one; the empty case has its own, emptied before each of its calls.
const warmTemp = join(home, "temp-warm");
const emptiedTemp = join(home, "temp-emptied");
await Promise.all([mkdir(warmTemp), mkdir(emptiedTemp)]);
const { NODE_COMPILE_CACHE: _cache, NODE_DISABLE_COMPILE_CACHE: _off, ...inherited } = env.inherited;
const baseEnv: Record<string, string> = { ...inherited, UNITFLEET_HOME: home, TMPDIR: warmTemp };

/** Runs a command to its end; returns its wall time in milliseconds, and throws on a non-zero exit. */
function timed(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...baseEnv, ...extraEnv },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.trim()}`));
    });
  });
}

interface Case {
  name: string;
  run: () => Promise<number>;
}

const hubPort = Number(values.port);
let hub: ChildProcess | undefined;
try {
  log(`starting a hub on 127.0.0.1:${hubPort} in ${home}`);
  hub = spawn(process.execPath, [cli(repository), "hub", "--listen", `127.0.0.1:${hubPort}`], {
    env: baseEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let text = "";
    const collect = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes("hub serving at")) resolve();
    };
    hub!.stdout!.on("data", collect);
    hub!.stderr!.on("data", collect); // the hub's log: shown only if it exits before serving
    hub!.on("exit", (code) => reject(new Error(`the hub exited ${code} before serving:\n${text}`)));
  });
  await timed(process.execPath, [cli(repository), "apply", "-f", join(repository, "examples/fleet.yaml")]);

  const cases: Case[] = [
    { name: "node -e 0 (Node's own start, for reference)", run: () => timed(process.execPath, ["-e", "0"]) },
  ];
  const unitfleet = (checkout: string, args: string[], extraEnv?: Record<string, string>) => () =>
    timed(process.execPath, [cli(checkout), ...args], extraEnv);
  const emptyCache = (checkout: string, args: string[]) => async () => {
    await rm(join(emptiedTemp, "node-compile-cache"), { recursive: true, force: true });
    return unitfleet(checkout, args, { TMPDIR: emptiedTemp })();
  };
  // NODE_COMPILE_CACHE set by the caller: the entry file (bin/unitfleet.ts) is cached too, so Node never loads
  // its TypeScript stripper; the CLI's own enableCompileCache() comes too late for the entry file.
  const cacheFromEnvironment = { NODE_COMPILE_CACHE: join(home, "compile-cache-from-environment") };
  for (const [label, args] of [
    ["--version", ["--version"]],
    ["get clusters", ["get", "clusters"]],
  ] as const) {
    if (values.before)
      cases.push(
        { name: `before: unitfleet ${label} (as shipped)`, run: unitfleet(values.before, [...args]) },
        {
          name: `before: unitfleet ${label}, NODE_COMPILE_CACHE set`,
          run: unitfleet(values.before, [...args], cacheFromEnvironment),
        },
      );
    cases.push(
      { name: `after: unitfleet ${label}, compile cache warm`, run: unitfleet(repository, [...args]) },
      {
        name: `after: unitfleet ${label}, NODE_COMPILE_CACHE set`,
        run: unitfleet(repository, [...args], cacheFromEnvironment),
      },
      {
        name: `after: unitfleet ${label}, compile cache off`,
        run: unitfleet(repository, [...args], { NODE_DISABLE_COMPILE_CACHE: "1" }),
      },
      { name: `after: unitfleet ${label}, compile cache empty`, run: emptyCache(repository, [...args]) },
    );
  }
  const kubectl = binaryPath(labPaths(env.cacheRoot, home), "kubectl");
  if (existsSync(kubectl))
    cases.push({
      name: "kubectl get clusters (the lab's kubectl, same hub)",
      run: () => timed(kubectl, ["--kubeconfig", join(home, "hub", "kubeconfig"), "get", "clusters"]),
    });
  else log(`no kubectl at ${kubectl} (run \`unitfleet lab build\`): kubectl is left out`);

  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) await c.run(); // warm-up: fills the compile cache and the file system's cache
  for (let round = 0; round < runs; round++) {
    for (const c of cases) times.get(c.name)!.push(await c.run());
    log(`round ${round + 1}/${runs} done`);
  }

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const ms = (x: number) => `${Math.round(x)}`;
  const lines = [
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; Node ${process.version}; ${new Date().toISOString()}; load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
    "",
    `| command | median ms | min ms | max ms | runs |`,
    `| --- | ---: | ---: | ---: | ---: |`,
    ...cases.map((c) => {
      const xs = times.get(c.name)!;
      return `| ${c.name} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${xs.length} |`;
    }),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
} finally {
  hub?.kill("SIGTERM");
  await new Promise((r) => (hub && hub.exitCode === null ? hub.once("exit", r) : r(undefined)));
  await rm(home, { recursive: true, force: true });
}
