/**
 * A whole fleet on the shared lab for an end-to-end test: a hub (embedded store, in a temporary folder), the
 * relay of each Location and an agent per cluster, joined with bootstrap tokens as a team would, the lab's
 * Locations and Regions registered; resolves once every cluster has reported its capacity and is Ready.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningAgent, startAgent } from "../../src/agent/agent.ts";
import { kinds } from "../../src/core/resources/kinds.ts";
import { type HubOptions, type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";
import { locationsOfTopology, placeDocuments } from "../../src/up/up.ts";
import { unitfleetCli } from "./cli.ts";
import type { SharedLab } from "./shared-lab.ts";

export interface LabFleetOptions {
  /** Prefix of the temporary folder holding the hub's data, the relays' and the agents' (`unitfleet-fleet-`). */
  prefix?: string;
  /** The Location the hub runs in (default frankfurt). */
  hubLocation?: string;
  /** How long a silent cluster stays Reachable (the hub's default when not given). */
  healthGraceMs?: number;
  /** How often relays and agents send heartbeats, in seconds (default 1: tests wait less; fractions from 0.05). */
  heartbeatSeconds?: number;
  /** How often agents apply their works again (default 2 s). */
  resyncSeconds?: number;
  /** How long to wait for every cluster to report (default 180 s). */
  readyWithinMs?: number;
  /** Other options of the hub (lease and loop intervals, to compress time). */
  hub?: Pick<HubOptions, "leaseTtlMs" | "healthEveryMs">;
}

export interface LabFleet {
  hub: RunningHub;
  relays: Map<string, RunningRelay>;
  agents: Map<string, RunningAgent>;
  /** The hub's CA certificate (PEM). */
  hubCa: string;
  /** The temporary folder of this fleet: put a test's own files here, it goes with `stop()`. */
  dir: string;
  /** Options for a relay of `location` joining with `token` (to start one again after stopping it). */
  relayOptions(location: string, token: string, port: number): Parameters<typeof startRelay>[0];
  /** Stops agents, relays and the hub, and removes the folder. */
  stop(): Promise<void>;
}

/** Polls `read` until `ok` holds; throws with the last value read when `ms` pass first. */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read().catch(() => undefined as T);
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

export async function startLabFleet(lab: SharedLab, options: LabFleetOptions = {}): Promise<LabFleet> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix ?? "unitfleet-fleet-"));
  const hubLocation = options.hubLocation ?? "frankfurt";
  const relays = new Map<string, RunningRelay>();
  const agents = new Map<string, RunningAgent>();
  let hub: RunningHub | undefined;
  const stop = async () => {
    for (const agent of agents.values()) await agent.stop().catch(() => {});
    for (const relay of relays.values()) await relay.stop().catch(() => {});
    await hub?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const started = await startHub({
      dir,
      host: "127.0.0.1",
      port: 0,
      location: hubLocation,
      log: () => {},
      ...(options.healthGraceMs ? { healthGraceMs: options.healthGraceMs } : {}),
      heartbeatSeconds: options.heartbeatSeconds ?? 1,
      ...options.hub,
    });
    hub = started;
    const topology = lab.topology;
    await started.registry.applyAll(placeDocuments(locationsOfTopology(topology)), systemCaller);
    const hubCa = await readFile(started.caFile, "utf8");
    const relayOptions = (location: string, token: string, port: number) => ({
      hub: started.url,
      hubCa,
      token,
      location,
      hubLocation,
      host: "127.0.0.1",
      port,
      dir: join(dir, "relays", location),
      log: () => {},
    });
    for (const l of topology.spec.locations) {
      const { token } = await createBootstrapToken(started.sql, l.name, 600_000, new Date());
      relays.set(l.name, await startRelay(relayOptions(l.name, token, 0)));
    }
    for (const c of topology.spec.clusters) {
      const { token } = await createBootstrapToken(started.sql, c.location, 600_000, new Date());
      agents.set(
        c.name,
        await startAgent({
          hub: started.url,
          relay: relays.get(c.location)!.url,
          hubCa,
          token,
          kubeconfig: lab.kubeconfig,
          context: c.name,
          cluster: c.name,
          location: c.location,
          ...(c.region ? { region: c.region } : {}),
          environment: c.environment,
          business: c.business,
          dir: join(dir, "agents", c.name),
          resyncSeconds: options.resyncSeconds ?? 2,
          log: () => {},
        }),
      );
    }
    for (const c of topology.spec.clusters)
      await until(
        `${c.name} to report its capacity`,
        () => started.registry.get(kinds.Cluster, c.name, systemCaller),
        (o) =>
          JSON.stringify(o.status ?? {}).includes('"allocatable"') &&
          JSON.stringify(o.status).includes('"Ready"'),
        options.readyWithinMs ?? 180_000,
      );
    return { hub: started, relays, agents, hubCa, dir, relayOptions, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A CLI home under the fleet's folder, logged in to its hub as the admin (`unitfleet login`). */
export async function adminCliHome(fleet: LabFleet, name = "cli-home"): Promise<string> {
  const home = join(fleet.dir, name);
  const login = await unitfleetCli(home, [
    "login",
    "--server",
    fleet.hub.url,
    "--token",
    (await readFile(fleet.hub.adminTokenFile, "utf8")).trim(),
    "--certificate-authority",
    fleet.hub.caFile,
  ]);
  if (login.code !== 0) throw new Error(`unitfleet login failed: ${login.stderr}`);
  return home;
}
