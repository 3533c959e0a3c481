/** What the end-to-end global setup hands to every test file: the one shared lab of this run. */
import { inject } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import type { Topology } from "../../src/core/topology/topology.ts";
import type { LabContext } from "../../src/lab/lab.ts";
import { labPaths } from "../../src/lab/paths.ts";

/**
 * Ports of the test lab: away from the default ones so that a developer's own lab is left alone.
 * `UNITFLEET_E2E_PORT_SHIFT=N` moves them by N, so that two end-to-end runs can share a machine.
 */
const shift = Number(readEnvironment().inherited.UNITFLEET_E2E_PORT_SHIFT ?? 0);
export const e2ePorts = { etcd: 24790 + shift, apiServers: 17440 + shift };

export interface SharedLab {
  home: string;
  cacheRoot: string;
  kubeconfig: string;
  topology: Topology;
}

declare module "vitest" {
  export interface ProvidedContext {
    lab: SharedLab;
  }
}

/** The shared lab and a context to drive it. */
export function sharedLab(): SharedLab & { context: LabContext } {
  const lab = inject("lab");
  return {
    ...lab,
    context: { paths: labPaths(lab.cacheRoot, lab.home), environment: readEnvironment().inherited },
  };
}
