/**
 * Where the lab keeps things. The build cache lives under `$XDG_CACHE_HOME/unitfleet` (default
 * `~/.cache/unitfleet`) so that it survives clones and CI runs; a running lab's state (certificates, etcd data,
 * logs, pids, kubeconfig) lives under the unitfleet home (`$UNITFLEET_HOME`, default `~/.unitfleet`) in `lab/`.
 */
import { join } from "node:path";
import { buildKey, type LabBinary } from "./versions.ts";

export interface LabPaths {
  /** The cache folder shared by every build: `<cache>/lab/<key>`. */
  buildDir: string;
  binDir: string;
  buildLog: string;
  completeStamp: string;
  kwokStages: string;
  /** The state folder of the running lab. */
  stateDir: string;
  stateFile: string;
  pkiDir: string;
  etcdDataDir: string;
  logsDir: string;
  kubeconfig: string;
  lockFile: string;
}

/** The folders the lab uses, from the cache root and the unitfleet home (both read once by the caller). */
export function labPaths(cacheRoot: string, home: string): LabPaths {
  const buildDir = join(cacheRoot, "lab", buildKey());
  const stateDir = join(home, "lab");
  return {
    buildDir,
    binDir: join(buildDir, "bin"),
    buildLog: join(buildDir, "build.log"),
    completeStamp: join(buildDir, "complete.json"),
    kwokStages: join(buildDir, "kwok-stages.yaml"),
    stateDir,
    stateFile: join(stateDir, "state.json"),
    pkiDir: join(stateDir, "pki"),
    etcdDataDir: join(stateDir, "etcd"),
    logsDir: join(stateDir, "logs"),
    kubeconfig: join(stateDir, "kubeconfig"),
    lockFile: join(stateDir, "lock"),
  };
}

/** The path of one built binary. */
export function binaryPath(paths: LabPaths, binary: LabBinary): string {
  return join(paths.binDir, binary);
}
