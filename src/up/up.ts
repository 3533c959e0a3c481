/**
 * `unitfleet up`: everything on one machine — a hub on the embedded store, the lab fleet (or existing
 * clusters from a kubeconfig), one relay per Location and one agent per cluster, all joined.
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { type RunningAgent, startAgent } from "../agent/agent.ts";
import type { ClusterStatus } from "../core/resources/kinds.ts";
import { kinds } from "../core/resources/kinds.ts";
import type { Topology } from "../core/topology/topology.ts";
import { UserError } from "../errors/user-error.ts";
import { type RunningHub, startHub } from "../hub/hub.ts";
import { createBootstrapToken } from "../hub/joining/joining.ts";
import { systemCaller } from "../hub/registry/caller.ts";
import { type RunningRelay, startRelay } from "../relay/relay.ts";

export interface UpCluster {
  name: string;
  kubeconfig: string;
  context: string;
  location: string;
  region?: string;
  environment: string;
  business: string;
}

export interface UpOptions {
  home: string;
  host: string;
  hubPort: number;
  relayBasePort: number;
  locations: Array<{ name: string; regions: Array<{ name: string; zones: string[] }> }>;
  /** The Location the hub runs in (default: the first): pod logs can be read only from its clusters. */
  hubLocation?: string;
  clusters: UpCluster[];
  log: (entry: Record<string, unknown>) => void;
  onProgress: (text: string) => void;
  readyTimeoutMs?: number;
}

export interface RunningFleet {
  hub: RunningHub;
  relays: Map<string, RunningRelay>;
  agents: Map<string, RunningAgent>;
  stop(): Promise<void>;
}

/** The clusters of a lab topology, with the lab's kubeconfig. */
export function clustersOfTopology(topology: Topology, kubeconfig: string): UpCluster[] {
  return topology.spec.clusters.map((c) => ({
    name: c.name,
    kubeconfig,
    context: c.name,
    location: c.location,
    ...(c.region ? { region: c.region } : {}),
    environment: c.environment,
    business: c.business,
  }));
}

/** The Location and Region documents of a fleet's places, as `applyAll` takes them. */
export function placeDocuments(locations: UpOptions["locations"]): Array<{ source: string; body: unknown }> {
  return [
    ...locations.map((l) => ({
      source: "up",
      body: { apiVersion: "unitfleet.io/v1alpha1", kind: "Location", metadata: { name: l.name }, spec: {} },
    })),
    ...locations.flatMap((l) =>
      l.regions.map((r) => ({
        source: "up",
        body: {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Region",
          metadata: { name: r.name },
          spec: { location: l.name, zones: r.zones },
        },
      })),
    ),
  ];
}

export function locationsOfTopology(topology: Topology): UpOptions["locations"] {
  return topology.spec.locations.map((l) => ({
    name: l.name,
    regions: (l.regions ?? []).map((r) => ({ name: r.name, zones: r.zones })),
  }));
}

/** Whether a TCP port can be listened on at host now (it is closed again at once). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Checks, before anything starts, that the hub's port and each relay's port (the hub's + 1000, + 1001… one per
 * Location) are free at host; a port in use is one UserError naming it and the flag that chose it.
 */
export async function checkUpPorts(
  options: Pick<UpOptions, "host" | "hubPort" | "relayBasePort" | "locations">,
): Promise<void> {
  const wanted = [
    { port: options.hubPort, what: "the hub" },
    ...options.locations.map((l, i) => ({
      port: options.relayBasePort + i,
      what: `the relay of Location ${l.name} (the --listen port + ${options.relayBasePort - options.hubPort + i})`,
    })),
  ];
  for (const { port, what } of wanted)
    if (!(await portFree(options.host, port)))
      throw new UserError(
        "PortInUse",
        `port ${options.host}:${port} for ${what} is in use by another process: choose another with --listen HOST:PORT`,
      );
}

/** Existing clusters: one per context of a kubeconfig (or the contexts named), all in one Location. */
export function clustersOfKubeconfig(
  file: string,
  contexts: string[],
  place: { location: string; environment: string; business: string },
): UpCluster[] {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const names = contexts.length > 0 ? contexts : kc.getContexts().map((c) => c.name);
  const missing = names.filter((n) => !kc.getContextObject(n));
  if (missing.length > 0)
    throw new UserError(
      "NotFound",
      `kubeconfig ${file} has no context ${missing.map((m) => `"${m}"`).join(", ")}`,
    );
  return names.map((context) => ({
    name: context
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 63),
    kubeconfig: file,
    context,
    ...place,
  }));
}

export async function upFleet(options: UpOptions): Promise<RunningFleet> {
  const { log, onProgress } = options;
  onProgress("starting the hub");
  const hubLocation = options.hubLocation ?? options.locations[0]?.name;
  const hub = await startHub({
    dir: join(options.home, "hub"),
    host: options.host,
    port: options.hubPort,
    ...(hubLocation ? { location: hubLocation } : {}),
    log,
  });
  const relays = new Map<string, RunningRelay>();
  const agents = new Map<string, RunningAgent>();
  const stop = async () => {
    for (const a of agents.values()) await a.stop().catch(() => {});
    for (const r of relays.values()) await r.stop().catch(() => {});
    await hub.close();
  };
  try {
    await hub.registry.applyAll(placeDocuments(options.locations), systemCaller);
    const hubCa = await readFile(hub.caFile, "utf8");
    for (const [i, location] of options.locations.entries()) {
      onProgress(`starting the relay of ${location.name}`);
      const { token } = await createBootstrapToken(hub.sql, location.name, 600_000, new Date());
      relays.set(
        location.name,
        await startRelay({
          hub: hub.url,
          hubCa,
          token,
          location: location.name,
          ...(hubLocation ? { hubLocation } : {}),
          host: options.host,
          port: options.relayBasePort + i,
          dir: join(options.home, "relays", location.name),
          log,
        }),
      );
    }
    for (const c of options.clusters) {
      onProgress(`starting the agent of ${c.name}`);
      const relay = relays.get(c.location);
      const { token } = await createBootstrapToken(hub.sql, c.location, 600_000, new Date());
      agents.set(
        c.name,
        await startAgent({
          hub: hub.url,
          ...(relay ? { relay: relay.url } : {}),
          hubCa,
          token,
          kubeconfig: c.kubeconfig,
          context: c.context,
          cluster: c.name,
          location: c.location,
          ...(c.region ? { region: c.region } : {}),
          environment: c.environment,
          business: c.business,
          dir: join(options.home, "agents", c.name),
          log,
        }),
      );
    }
    const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
    for (;;) {
      const list = await hub.registry.list(kinds.Cluster, {}, systemCaller);
      const ready = list.items.filter((o) =>
        ((o.status as ClusterStatus | undefined)?.conditions ?? []).some(
          (c) => c.type === "Ready" && c.status === "True",
        ),
      );
      onProgress(`${ready.length}/${options.clusters.length} clusters Ready`);
      if (ready.length >= options.clusters.length) break;
      if (Date.now() > deadline)
        throw new UserError(
          "ComponentFailed",
          `only ${ready.length} of ${options.clusters.length} clusters became Ready`,
          {
            hint: "see `unitfleet get clusters -o wide` and `unitfleet describe cluster NAME` for their conditions",
          },
        );
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { hub, relays, agents, stop };
}
