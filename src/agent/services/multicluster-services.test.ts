import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import { ManualClock } from "../../runtime/clock.ts";
import type { ServicesExportsBody } from "./export-publisher.ts";
import { InMemoryServicesCluster } from "./in-memory-services-cluster.ts";
import { type MultiClusterServices, multiClusterServices } from "./multicluster-services.ts";

const mcs = "multicluster.x-k8s.io/v1beta1";
const put = (cluster: InMemoryServicesCluster, objects: KubeObject[]) => {
  for (const o of objects) cluster.put(o);
};
const baseline = (zone: string): KubeObject[] => [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": zone } },
  },
];
const cartExport: KubeObject[] = [
  {
    apiVersion: mcs,
    kind: "ServiceExport",
    metadata: { name: "cart", namespace: "shop", creationTimestamp: "2026-12-03T09:00:00Z" },
  },
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "cart", namespace: "shop" },
    spec: { clusterIP: "10.96.1.1", ports: [{ name: "http", port: 80 }], ipFamilies: ["IPv4"] },
  },
  {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "cart-x", namespace: "shop", labels: { "kubernetes.io/service-name": "cart" } },
    addressType: "IPv4",
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
    endpoints: [{ addresses: ["10.1.0.1"], conditions: { ready: true }, zone: "z1" }],
  },
];

interface Agent {
  name: string;
  cluster: InMemoryServicesCluster;
  services: MultiClusterServices;
  connected: boolean;
  stop: AbortController;
  running: Promise<void>;
}

let clock: ManualClock;
let agents: Map<string, Agent>;
/** A relay in a few lines: what one agent sends goes to every other connected agent. */
const relayed: Array<{ from: string; body: ServicesExportsBody }> = [];

function startAgent(name: string, cluster = new InMemoryServicesCluster()): Agent {
  const agent: Agent = {
    name,
    cluster,
    connected: false,
    stop: new AbortController(),
    running: Promise.resolve(),
    services: multiClusterServices({
      cluster: name,
      location: "frankfurt",
      region: "fra-north",
      watches: cluster,
      writes: cluster,
      send: (body) => {
        relayed.push({ from: name, body: structuredClone(body) });
        for (const other of agents.values())
          if (other.name !== name && other.connected) other.services.received(structuredClone(body));
      },
      connected: () => agent.connected,
      clock,
      log: () => {},
    }),
  };
  agents.set(name, agent);
  agent.running = agent.services.start(agent.stop.signal, () => {});
  return agent;
}

function connect(agent: Agent) {
  agent.connected = true;
  agent.services.sessionOpened();
  // The relay sends the newcomer every other connected cluster's latest whole set.
  for (const other of agents.values())
    if (other !== agent && other.connected) {
      const last = relayed.filter((r) => r.from === other.name).at(-1);
      if (last) agent.services.received(structuredClone(last.body));
    }
}

const importOf = (agent: Agent) => agent.cluster.get(mcs, "ServiceImport", "shop", "cart");
const slicesOf = (agent: Agent) =>
  agent.cluster.list("EndpointSlice").filter((s) => s.metadata.name.startsWith("mcs-"));

beforeEach(() => {
  clock = new ManualClock(Date.parse("2026-12-03T12:00:00Z"));
  agents = new Map();
  relayed.length = 0;
});

afterEach(async () => {
  for (const a of agents.values()) a.stop.abort();
  await clock.advance(1000);
  await Promise.all([...agents.values()].map((a) => a.running));
});

describe("multi-cluster services in the agent", () => {
  it("installs the CRDs, waits until they are Established, then serves", async () => {
    const cluster = new InMemoryServicesCluster();
    cluster.crdEstablishedAfterReads = 6;
    let ready = false;
    const stop = new AbortController();
    const services = multiClusterServices({
      cluster: "fra-shop-prod",
      location: "frankfurt",
      region: "fra-north",
      watches: cluster,
      writes: cluster,
      send: () => {},
      connected: () => false,
      clock,
      log: () => {},
    });
    const running = services.start(stop.signal, () => {
      ready = true;
    });
    await clock.advance(100);
    expect(ready).toBe(false);
    expect(cluster.calls).toEqual([
      "apply CustomResourceDefinition /serviceexports.multicluster.x-k8s.io",
      "apply CustomResourceDefinition /serviceimports.multicluster.x-k8s.io",
    ]);
    await clock.advance(1000);
    expect(ready).toBe(true);
    stop.abort();
    await running;
  });

  it("imports an export of one cluster into the others, and its own, and keeps them while cut off", async () => {
    const prod = startAgent("fra-shop-prod");
    const dev = startAgent("fra-shop-dev");
    put(prod.cluster, [...baseline("z1"), ...cartExport]);
    put(dev.cluster, baseline("z2"));
    connect(prod);
    connect(dev);
    await clock.advance(3000);
    expect(relayed[0]!.body.present).toEqual([{ namespace: "shop", name: "cart" }]);
    for (const agent of [prod, dev]) {
      expect(importOf(agent)?.spec).toMatchObject({ type: "ClusterSetIP", ips: [expect.any(String)] });
      expect(
        slicesOf(agent).map((s) => s.metadata.labels?.["multicluster.kubernetes.io/source-cluster"]),
      ).toEqual(["fra-shop-prod"]);
    }
    expect(dev.services.counters().imports.writes).toBe(4);

    // dev is cut off: its imports stay as they are, resyncs included.
    dev.connected = false;
    const writes = dev.cluster.writes;
    await clock.advance(65_000);
    expect(dev.cluster.writes).toBe(writes);
    expect(importOf(dev)).toBeDefined();
  });

  it("removes a cluster's endpoints when the relay says it is gone", async () => {
    const prod = startAgent("fra-shop-prod");
    const dev = startAgent("fra-shop-dev");
    put(prod.cluster, [...baseline("z1"), ...cartExport]);
    put(dev.cluster, baseline("z2"));
    connect(prod);
    connect(dev);
    await clock.advance(3000);
    expect(slicesOf(dev)).toHaveLength(1);
    dev.services.received({
      cluster: "fra-shop-prod",
      region: "fra-north",
      records: [],
      removed: [],
      present: [],
    });
    await clock.advance(1000);
    expect(slicesOf(dev)).toEqual([]);
    expect(importOf(dev)).toBeUndefined();
    expect(importOf(prod)).toBeDefined();
  });

  it("after a restart while cut off, takes nothing away until a session has brought the Location's records", async () => {
    const prod = startAgent("fra-shop-prod");
    const dev = startAgent("fra-shop-dev");
    put(prod.cluster, [...baseline("z1"), ...cartExport]);
    put(dev.cluster, baseline("z2"));
    connect(prod);
    connect(dev);
    await clock.advance(3000);
    dev.stop.abort();
    await clock.advance(100);
    await dev.running;
    const writes = dev.cluster.writes;
    const restarted = startAgent("fra-shop-dev", dev.cluster);
    await clock.advance(60_000);
    expect(dev.cluster.writes - writes).toBe(2); // the CRDs, applied again
    expect(slicesOf(restarted)).toHaveLength(1);
    connect(restarted);
    await clock.advance(3000);
    expect(dev.cluster.writes - writes).toBe(2);
    expect(slicesOf(restarted)).toHaveLength(1);
  });

  it("forgets a cluster the relay no longer names when a session opens again", async () => {
    const prod = startAgent("fra-shop-prod");
    const dev = startAgent("fra-shop-dev");
    put(prod.cluster, [...baseline("z1"), ...cartExport]);
    put(dev.cluster, baseline("z2"));
    connect(prod);
    connect(dev);
    await clock.advance(3000);
    dev.connected = false;
    prod.connected = false;
    await clock.advance(10_000);
    expect(slicesOf(dev)).toHaveLength(1);
    // dev comes back; prod is gone and the relay holds nothing of it any more.
    connect(dev);
    await clock.advance(1000);
    expect(slicesOf(dev)).toHaveLength(1);
    await clock.advance(2000);
    expect(slicesOf(dev)).toEqual([]);
  });
});
