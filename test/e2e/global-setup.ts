/**
 * Starts ONE lab for the whole end-to-end run and tears it down at the end. It lives in its own unitfleet home
 * and on its own ports, so a developer's own lab keeps running beside it. Builds the binaries first if the
 * cache lacks them (with progress on stderr).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { readEnvironment } from "../../src/config/environment.ts";
import { buildLab } from "../../src/lab/build/build.ts";
import { labDown, labProcessRecords, labUp } from "../../src/lab/lab.ts";
import { labPaths } from "../../src/lab/paths.ts";
import { isRunning } from "../../src/lab/processes.ts";
import { loadTopology } from "../../src/lab/topology-file.ts";
import { e2ePorts, type SharedLab } from "./shared-lab.ts";

export default async function setup(project: TestProject) {
  const env = readEnvironment();
  const home = await mkdtemp(join(tmpdir(), "unitfleet-e2e-"));
  const paths = labPaths(env.cacheRoot, home);
  const log = (text: string) => process.stderr.write(`[e2e lab] ${text}\n`);
  let lastBuildLine = 0;
  await buildLab({
    paths,
    environment: env.inherited,
    onProgress: (p) => {
      if (p.phase === "cached") return;
      if (p.phase !== "compile" && p.phase !== "download")
        log(`build ${p.index}/${p.steps} ${p.step}: ${p.phase}`);
      else if (Date.now() - lastBuildLine > 30_000) {
        lastBuildLine = Date.now();
        log(`build ${p.step}: ${p.done ?? ""}/${p.total ?? ""} ${p.detail ?? ""}`);
      }
    },
  });
  const topology = await loadTopology(undefined);
  topology.spec.ports = e2ePorts;
  const context = {
    paths,
    environment: env.inherited,
    onEvent: (e: { type: string }) => log(JSON.stringify(e)),
  };
  const started = Date.now();
  try {
    await labUp(context, topology, "default topology (e2e ports)");
  } catch (error) {
    // Vitest runs no teardown when setup fails: stop what was started before failing the run.
    await labDown({ paths, environment: env.inherited }, true);
    await rm(home, { recursive: true, force: true });
    throw error;
  }
  log(`lab up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const shared: SharedLab = { home, cacheRoot: env.cacheRoot, kubeconfig: paths.kubeconfig, topology };
  project.provide("lab", shared);

  return async () => {
    const records = await labProcessRecords(paths);
    await labDown({ paths, environment: env.inherited }, true);
    const survivors = Object.entries(records).filter(([, r]) => isRunning(r));
    await rm(home, { recursive: true, force: true });
    if (survivors.length > 0)
      throw new Error(
        `lab down left processes running: ${survivors.map(([n, r]) => `${n}=${r.pid}`).join(", ")}`,
      );
  };
}
