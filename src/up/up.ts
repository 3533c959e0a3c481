/**
 * `unitfleet up`: everything on one machine — a hub on the embedded store, the lab fleet (or existing
 * clusters from a kubeconfig), one relay per Location and one agent per cluster, all joined.
 *
 * It starts them with the same public starts the `unitfleet hub|relay|agent` commands use, and tells the hub
 * what it needs (the Locations and Regions, a bootstrap token per joiner) through the hub's API with the admin
 * token, as `unitfleet apply` and `unitfleet token create` would: nothing here reaches into the hub's insides.
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { type RunningAgent, startAgent } from "../agent/agent.ts";
import { kubeconfigContexts } from "../agent/kube/kubeconfig-contexts.ts";
import { HubClient } from "../cli/client/hub-client.ts";
import type { ClusterNetworkSpec } from "../core/network/cluster-network.ts";
import type { NetworkPoolLike } from "../core/network/network-pool.ts";
import { type ClusterStatus, kinds } from "../core/resources/kinds.ts";
import { apiVersion } from "../core/resources/meta.ts";
import type { Topology } from "../core/topology/topology.ts";
import { clusterNetworkSpecOf, planTopologyNetwork } from "../core/topology/topology-network.ts";
import { UserError } from "../errors/user-error.ts";
import { type RunningHub, startHub } from "../hub/hub.ts";
import { type RunningRelay, startRelay } from "../relay/relay.ts";
import type { Clock } from "../runtime/clock.ts";

export interface UpCluster {
  name: string;
  kubeconfig: string;
  context: string;
  location: string;
  region?: string;
  environment: string;
  business: string;
  /** Its place in the lab's network plan: registered as the Cluster's `spec.network` before its agent joins. */
  network?: ClusterNetworkSpec;
}

export interface UpOptions {
  home: string;
  host: string;
  hubPort: number;
  relayBasePort: number;
  locations: Array<{ name: string; regions: Array<{ name: string; zones: string[] }> }>;
  /** The Locations' NetworkPools (the lab's network plan), written with the Locations and Regions. */
  networkPools?: NetworkPoolLike[];
  /** The Location the hub runs in (default: the first): pod logs can be read only from its clusters. */
  hubLocation?: string;
  clusters: UpCluster[];
  log: (entry: Record<string, unknown>) => void;
  onProgress: (text: string) => void;
  readyTimeoutMs?: number;
  /** The agents' metering clock (compressed-time runs: `scaledClock`, `UNITFLEET_METERING_TIME_SCALE`). */
  meteringClock?: Clock;
}

export interface RunningFleet {
  hub: RunningHub;
  relays: Map<string, RunningRelay>;
  agents: Map<string, RunningAgent>;
  stop(): Promise<void>;
}

/** The lab's network plan of a topology (checked when the topology was read: a problem here is a bug). */
function networkPlanOf(topology: Topology) {
  const plan = planTopologyNetwork(topology);
  if (!plan.ok)
    throw new UserError("InvalidInput", "the topology's network plan cannot be made", {
      problems: plan.problems,
    });
  return plan.value;
}

/** The clusters of a lab topology, with the lab's kubeconfig and their places in its network plan. */
export function clustersOfTopology(topology: Topology, kubeconfig: string): UpCluster[] {
  const network = networkPlanOf(topology).clusters;
  return topology.spec.clusters.map((c, i) => ({
    name: c.name,
    kubeconfig,
    context: c.name,
    location: c.location,
    ...(c.region ? { region: c.region } : {}),
    environment: c.environment,
    business: c.business,
    network: clusterNetworkSpecOf(network[i]!),
  }));
}

/** The NetworkPools of a lab topology's network plan: each Location's, and its Regions'. */
export function networkPoolsOfTopology(topology: Topology): NetworkPoolLike[] {
  return networkPlanOf(topology).pools;
}

/**
 * The documents of a fleet's places, as `applyAll` takes them: its Locations and Regions, their NetworkPools, and
 * the Clusters that have a place in the network plan (registered with their `spec.network` before their agents
 * join; an agent registers a Cluster only when there is none). The hub applies them in one transaction, checking
 * each Cluster's ranges against the pools and the other Clusters.
 */
export function placeDocuments(
  locations: UpOptions["locations"],
  networkPools: readonly NetworkPoolLike[] = [],
  clusters: readonly UpCluster[] = [],
): Array<{ source: string; body: unknown }> {
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
    ...networkPools.map((pool) => ({
      source: "up",
      body: { apiVersion, kind: "NetworkPool", metadata: { name: pool.metadata.name }, spec: pool.spec },
    })),
    ...clusters.flatMap((c) =>
      c.network
        ? [
            {
              source: "up",
              body: {
                apiVersion,
                kind: "Cluster",
                metadata: { name: c.name },
                spec: {
                  location: c.location,
                  ...(c.region ? { region: c.region } : {}),
                  environment: c.environment,
                  business: c.business,
                  network: c.network,
                },
              },
            },
          ]
        : [],
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
  const known = kubeconfigContexts(file);
  const names = contexts.length > 0 ? contexts : known;
  const missing = names.filter((n) => !known.includes(n));
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

/** How long a bootstrap token `up` creates for a relay or agent may be used: it is used at once. */
const joinTokenTtlSeconds = 600;

/**
 * A client of the hub just started, as its admin: the admin token the hub wrote, and the hub CA as the only
 * one trusted (as in the kubeconfig the hub writes).
 */
async function adminClient(hub: RunningHub): Promise<HubClient> {
  const token = (await readFile(hub.adminTokenFile, "utf8").catch(() => "")).trim();
  if (!token)
    throw new UserError("NotFound", `the hub's admin token file ${hub.adminTokenFile} is missing or empty`, {
      hint: "mint a new one with `unitfleet hub admin-token`, then run `unitfleet up` again",
    });
  return new HubClient({ server: hub.url, token, caCert: await readFile(hub.caFile, "utf8") });
}

/** Starts the hub, a relay per Location and an agent per cluster, and waits until every cluster is Ready. */
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
  let api: HubClient | undefined;
  try {
    api = await adminClient(hub);
    const client = api;
    await client.send("POST", "/unitfleet/v1alpha1/apply", {
      documents: placeDocuments(options.locations, options.networkPools, options.clusters).map((d) => ({
        source: d.source,
        object: d.body,
      })),
      dryRun: false,
    });
    const joinToken = async (location: string) =>
      (
        await client.send<{ token: string }>("POST", "/unitfleet/v1alpha1/bootstrap-tokens", {
          location,
          ttlSeconds: joinTokenTtlSeconds,
        })
      ).token;
    const hubCa = await readFile(hub.caFile, "utf8");
    for (const [i, location] of options.locations.entries()) {
      onProgress(`starting the relay of ${location.name}`);
      relays.set(
        location.name,
        await startRelay({
          hub: hub.url,
          hubCa,
          token: await joinToken(location.name),
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
      agents.set(
        c.name,
        await startAgent({
          hub: hub.url,
          ...(relay ? { relay: relay.url } : {}),
          hubCa,
          token: await joinToken(c.location),
          kubeconfig: c.kubeconfig,
          context: c.context,
          cluster: c.name,
          location: c.location,
          ...(c.region ? { region: c.region } : {}),
          environment: c.environment,
          business: c.business,
          dir: join(options.home, "agents", c.name),
          ...(options.meteringClock ? { meteringClock: options.meteringClock } : {}),
          log,
        }),
      );
    }
    const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
    for (;;) {
      const list = await client.send<{ items: Array<{ status?: ClusterStatus }> }>(
        "GET",
        `/apis/${apiVersion}/${kinds.Cluster.plural}`,
      );
      const ready = list.items.filter((o) =>
        (o.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
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
  } finally {
    api?.close();
  }
  return { hub, relays, agents, stop };
}
