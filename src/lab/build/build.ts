/**
 * `unitfleet lab build`: builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok
 * from the Go module proxy into the cache folder, keyed by the pinned versions. Returns at once when the cache
 * is complete. Reports progress as events; the caller decides how to draw them.
 */
import { spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { access, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { UserError } from "../../errors/user-error.ts";
import { binaryPath, type LabPaths } from "../paths.ts";
import { labBinaries, labVersions, minimumGoVersion } from "../versions.ts";
import {
  etcdPackage,
  etcdWrapperGoMod,
  kubernetesCommands,
  kubernetesLdflags,
  kubernetesWrapperGoMod,
  kwokPackage,
  kwokStageFiles,
  parseGoVersion,
  stagingModules,
  versionAtLeast,
} from "./recipe.ts";

/** What the build is doing now. `done`/`total` count packages compiled (an upper bound when caches are warm). */
export interface BuildProgress {
  step: string;
  index: number;
  steps: number;
  phase: "start" | "download" | "compile" | "done" | "cached";
  detail?: string;
  done?: number;
  total?: number;
}

export interface BuildOptions {
  paths: LabPaths;
  /** Variables the go command inherits (PATH, GOPATH, GOPROXY, HOME…). */
  environment: Readonly<Record<string, string>>;
  onProgress?: (progress: BuildProgress) => void;
  /** Build again even when the cache is complete. */
  force?: boolean;
}

export interface BuildResult {
  binDir: string;
  cached: boolean;
  seconds: number;
}

const steps = ["go toolchain", "etcd", "kwok", "kubernetes", "verify"] as const;

/** True when every binary and the completion stamp of the pinned versions are in the cache. */
export async function buildIsComplete(paths: LabPaths): Promise<boolean> {
  try {
    const stamp = JSON.parse(await readFile(paths.completeStamp, "utf8")) as { versions?: unknown };
    if (JSON.stringify(stamp.versions) !== JSON.stringify(labVersions)) return false;
    await Promise.all([...labBinaries.map((b) => access(binaryPath(paths, b))), access(paths.kwokStages)]);
    return true;
  } catch {
    return false;
  }
}

/** Builds the lab's binaries, or returns at once when the cache already holds them. */
export async function buildLab(options: BuildOptions): Promise<BuildResult> {
  const { paths } = options;
  const report = options.onProgress ?? (() => {});
  const started = Date.now();
  if (!options.force && (await buildIsComplete(paths))) {
    report({
      step: "cache",
      index: steps.length,
      steps: steps.length,
      phase: "cached",
      detail: paths.binDir,
    });
    return { binDir: paths.binDir, cached: true, seconds: 0 };
  }
  await mkdir(paths.binDir, { recursive: true });
  const log = createWriteStream(paths.buildLog, { flags: "w" });
  const go = new GoRunner(options.environment, log, paths.buildLog);
  try {
    const at = (step: (typeof steps)[number]) => steps.indexOf(step) + 1;
    const tell = (
      step: (typeof steps)[number],
      phase: BuildProgress["phase"],
      extra: Partial<BuildProgress> = {},
    ) => report({ step, index: at(step), steps: steps.length, phase, ...extra });

    tell("go toolchain", "start");
    const goVersion = await go.version();
    tell("go toolchain", "done", { detail: goVersion });
    // Only now, with a toolchain at hand, is the old build given up.
    await rm(paths.completeStamp, { force: true });

    // etcd
    tell("etcd", "start", { detail: `v${labVersions.etcd}` });
    const etcdDir = join(paths.buildDir, "src", "etcd");
    await writeModule(etcdDir, etcdWrapperGoMod());
    await go.run(["mod", "tidy"], etcdDir, (line) => tell("etcd", "download", { detail: line }));
    await go.build(
      etcdDir,
      [etcdPackage],
      ["-ldflags", "-s -w", "-o", binaryPath(paths, "etcd")],
      (done, total) => tell("etcd", "compile", { done, total }),
    );
    tell("etcd", "done");

    // kwok: its module has no replace directives, so `go install` works.
    tell("kwok", "start", { detail: `v${labVersions.kwok}` });
    await go.run(
      ["install", "-v", "-ldflags", "-s -w", `${kwokPackage}@v${labVersions.kwok}`],
      paths.buildDir,
      (line) => tell("kwok", line.startsWith("go: downloading") ? "download" : "compile", { detail: line }),
      { GOBIN: paths.binDir },
    );
    await writeKwokStages(go, paths);
    tell("kwok", "done");

    // kubernetes
    tell("kubernetes", "start", { detail: `v${labVersions.kubernetes}` });
    const k8sDir = join(paths.buildDir, "src", "kubernetes");
    const upstreamGoMod = await go.moduleGoMod(
      `k8s.io/kubernetes@v${labVersions.kubernetes}`,
      paths.buildDir,
    );
    const staging = stagingModules(upstreamGoMod);
    if (staging.length === 0)
      throw new UserError("BuildFailed", "found no staging modules in Kubernetes' go.mod", {
        hint: `read ${paths.buildLog}`,
      });
    await writeModule(k8sDir, kubernetesWrapperGoMod(staging));
    await go.run(["mod", "tidy"], k8sDir, (line) => tell("kubernetes", "download", { detail: line }));
    await go.build(
      k8sDir,
      [...kubernetesCommands],
      ["-ldflags", kubernetesLdflags(), "-o", `${paths.binDir}/`],
      (done, total) => tell("kubernetes", "compile", { done, total }),
    );
    tell("kubernetes", "done");

    tell("verify", "start");
    await verifyBinaries(go, paths);
    await writeFile(
      paths.completeStamp,
      `${JSON.stringify({ versions: labVersions, go: goVersion, builtAt: new Date().toISOString() }, null, 2)}\n`,
    );
    tell("verify", "done");
    return { binDir: paths.binDir, cached: false, seconds: (Date.now() - started) / 1000 };
  } finally {
    await new Promise<void>((resolve) => log.end(resolve));
  }
}

async function writeModule(dir: string, goMod: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "go.mod"), goMod);
  await rm(join(dir, "go.sum"), { force: true });
}

async function writeKwokStages(go: GoRunner, paths: LabPaths): Promise<void> {
  const moduleDir = await go.moduleDir(`sigs.k8s.io/kwok@v${labVersions.kwok}`, paths.buildDir);
  const parts = await Promise.all(kwokStageFiles.map((f) => readFile(join(moduleDir, f), "utf8")));
  const temp = `${paths.kwokStages}.tmp`;
  await writeFile(temp, `${parts.map((p) => p.trim()).join("\n---\n")}\n`);
  await rename(temp, paths.kwokStages);
}

async function verifyBinaries(go: GoRunner, paths: LabPaths): Promise<void> {
  const expectations: Array<[string[], string]> = [
    [[binaryPath(paths, "kube-apiserver"), "--version"], `v${labVersions.kubernetes}`],
    [[binaryPath(paths, "kubectl"), "version", "--client"], `v${labVersions.kubernetes}`],
    [[binaryPath(paths, "etcd"), "--version"], labVersions.etcd],
  ];
  for (const [command, expected] of expectations) {
    const output = await go.capture(command[0]!, command.slice(1), paths.buildDir);
    if (!output.includes(expected))
      throw new UserError("BuildFailed", `${command.join(" ")} printed no ${expected}`, {
        logTail: output.trim().split("\n").slice(-5),
        hint: `delete ${paths.buildDir} and run \`unitfleet lab build\` again`,
      });
  }
}

/** Runs the go command with the build's environment, writing everything it prints to the build log. */
class GoRunner {
  private readonly env: Record<string, string>;
  private readonly log: WriteStream;
  private readonly logPath: string;

  constructor(environment: Readonly<Record<string, string>>, log: WriteStream, logPath: string) {
    this.log = log;
    this.logPath = logPath;
    this.env = { ...environment, CGO_ENABLED: "0", GOFLAGS: "-trimpath", GOWORK: "off", GO111MODULE: "on" };
  }

  async version(): Promise<string> {
    let output: string;
    try {
      output = await this.capture("go", ["version"], process.cwd());
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        throw new UserError(
          "ToolchainMissing",
          "Go was not found on PATH: the lab builds Kubernetes from source",
          {
            hint: `install Go ${minimumGoVersion} or newer (https://go.dev/dl/), put it on PATH and run \`unitfleet lab build\` again`,
          },
        );
      throw error;
    }
    const version = parseGoVersion(output);
    // Go 1.21 and newer fetch the toolchain a go.mod asks for, through the module proxy; older ones cannot.
    if (!version || !versionAtLeast(version, [1, 21, 0]))
      throw new UserError(
        "ToolchainMissing",
        `the lab needs Go ${minimumGoVersion} or newer, found: ${output.trim()}`,
        {
          hint: `install Go ${minimumGoVersion} or newer (https://go.dev/dl/) and run \`unitfleet lab build\` again`,
        },
      );
    return output.trim().replace(/^go version /, "");
  }

  /** Runs a command and returns its standard output; throws with the last lines it printed when it fails. */
  capture(command: string, args: string[], cwd: string): Promise<string> {
    return this.exec(command, args, cwd, () => {});
  }

  /** Runs go with its output streamed line by line to `onLine` and the build log. */
  async run(
    args: string[],
    cwd: string,
    onLine: (line: string) => void,
    extraEnv: Record<string, string> = {},
  ): Promise<void> {
    await this.exec("go", args, cwd, onLine, extraEnv);
  }

  private exec(
    command: string,
    args: string[],
    cwd: string,
    onLine: (line: string) => void,
    extraEnv: Record<string, string> = {},
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      this.log.write(`$ ${command} ${args.join(" ")}   (in ${cwd})\n`);
      const child = spawn(command, args, {
        cwd,
        env: { ...this.env, ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const printed: string[] = [];
      const stdout: string[] = [];
      const lines = (stream: NodeJS.ReadableStream, keep: boolean) =>
        createInterface({ input: stream }).on("line", (line) => {
          this.log.write(`${line}\n`);
          printed.push(line);
          if (keep) stdout.push(line);
          onLine(line);
        });
      lines(child.stdout, true);
      lines(child.stderr, false);
      let failed = false;
      child.on("error", (error) => {
        failed = true;
        reject(error);
      });
      child.on("close", (code) => {
        if (failed) return;
        if (code === 0) resolve(stdout.join("\n"));
        else reject(this.failure(`${command} ${args.slice(0, 2).join(" ")} (in ${cwd})`, printed));
      });
    });
  }

  /** `go build -v`, counting compiled packages against the size of the build graph. */
  async build(
    cwd: string,
    packages: string[],
    flags: string[],
    onCount: (done: number, total: number) => void,
  ): Promise<void> {
    const list = await this.capture("go", ["list", "-deps", ...packages], cwd);
    const total = list.trim().split("\n").length;
    let done = 0;
    onCount(0, total);
    await this.run(["build", "-v", ...flags, ...packages], cwd, (line) => {
      if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line)) {
        done += 1;
        if (done % 10 === 0 || done === total) onCount(Math.min(done, total), total);
      }
    });
    onCount(total, total);
  }

  /** The go.mod file of a module version, downloaded through the proxy outside any module. */
  async moduleGoMod(module: string, cwd: string): Promise<string> {
    const info = JSON.parse(await this.capture("go", ["mod", "download", "-json", module], cwd)) as {
      GoMod: string;
    };
    return readFile(info.GoMod, "utf8");
  }

  /** The unpacked folder of a module version in the module cache. */
  async moduleDir(module: string, cwd: string): Promise<string> {
    const info = JSON.parse(await this.capture("go", ["mod", "download", "-json", module], cwd)) as {
      Dir: string;
    };
    return info.Dir;
  }

  private failure(what: string, tail: string[]): UserError {
    return new UserError("BuildFailed", `the lab build failed: ${what} exited with an error`, {
      logTail: tail.slice(-15),
      logFile: this.logPath,
      hint: "check that the Go module proxy is reachable (`go env GOPROXY`) and that the disk has space; the full log is in the file above",
    });
  }
}
