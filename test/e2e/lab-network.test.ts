/**
 * The lab follows its network plan (issue 15, item 7), on real API servers:
 *
 * - on the shared default lab, each cluster's `kubernetes` Service and a new Service get ClusterIPs in the
 *   cluster's planned service range, its ServiceCIDR is that range, its nodes get podCIDRs from its planned pod
 *   range at the planned mask, and its pods get addresses there; detection over what the clusters really use
 *   finds no overlap inside a Location and no drift from the plan;
 * - `unitfleet up`'s documents put the plan into a hub (NetworkPools, Clusters' spec.network) and `unitfleet
 *   network check` finds no overlap there, `network plan` nothing left to plan;
 * - a small lab of the overlapping fixture (test/fixtures/topologies/overlapping-pair.yaml) shows exactly its
 *   pair: two lisbon clusters on the same real service range, while porto's reuse of it is no overlap.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import type { ClusterNetwork } from "../../src/core/network/allocation.ts";
import { cidr, cidrContains, formatCidr, mergeCidrs, parseAddress } from "../../src/core/network/cidr.ts";
import { allocationOf } from "../../src/core/network/cluster-network.ts";
import { detectNetworkProblems, type ObservedNetwork } from "../../src/core/network/detection.ts";
import { type Cluster, kinds } from "../../src/core/resources/kinds.ts";
import type { Topology } from "../../src/core/topology/topology.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { KubeHttp } from "../../src/lab/kube-http.ts";
import { labDown, labUp } from "../../src/lab/lab.ts";
import { labPaths } from "../../src/lab/paths.ts";
import { pkiFiles } from "../../src/lab/pki.ts";
import { type ClusterPlan, planLab } from "../../src/lab/plan.ts";
import { loadTopology } from "../../src/lab/topology-file.ts";
import {
  clustersOfTopology,
  locationsOfTopology,
  networkPoolsOfTopology,
  placeDocuments,
} from "../../src/up/up.ts";
import { unitfleetCli } from "./cli.ts";
import { until } from "./lab-fleet.ts";
import { e2ePorts, sharedLab } from "./shared-lab.ts";

interface Item {
  metadata: { name: string; namespace?: string };
  spec?: {
    podCIDRs?: string[];
    cidrs?: string[];
    clusterIP?: string;
    hostNetwork?: boolean;
    nodeName?: string;
  };
  status?: { podIP?: string; podIPs?: Array<{ ip: string }> };
}

const inside = (range: readonly string[], address: string) => {
  const parsed = parseAddress(address);
  if (!parsed.ok) return false;
  const { family, value } = parsed.address;
  const host = { family, base: value, prefix: family === "IPv4" ? 32 : 128 };
  return range.some((r) => cidrContains(cidr(r), host));
};

/** What one lab cluster really uses, read from its API server once every node has its podCIDRs. */
async function observe(c: ClusterPlan, api: KubeHttp) {
  const nodes = await until(
    `${c.name}'s nodes to get podCIDRs`,
    async () => (await api.get<{ items: Item[] }>("/api/v1/nodes")).body.items,
    (items) => items.length === c.nodes.length && items.every((n) => (n.spec?.podCIDRs ?? []).length > 0),
  );
  const pods = await until(
    `${c.name}'s pods to get addresses`,
    async () => (await api.get<{ items: Item[] }>("/api/v1/pods")).body.items,
    (items) => items.length > 0 && items.every((p) => p.status?.podIP),
  );
  const serviceCidrs = (await api.get<{ items: Item[] }>("/apis/networking.k8s.io/v1/servicecidrs")).body
    .items;
  const kubernetes = (await api.get<Item>("/api/v1/namespaces/default/services/kubernetes")).body;
  return { nodes, pods, serviceCidrs, kubernetes };
}

function observedNetwork(c: ClusterPlan, seen: Awaited<ReturnType<typeof observe>>): ObservedNetwork {
  return {
    cluster: c.name,
    location: c.cluster.location,
    podCIDRs: seen.nodes.flatMap((n) => n.spec?.podCIDRs ?? []),
    serviceCIDRs: seen.serviceCidrs.flatMap((s) => s.spec?.cidrs ?? []),
    podIPs: seen.pods.filter((p) => !p.spec?.hostNetwork).map((p) => p.status!.podIP!),
  };
}

async function loggedInCli(hub: RunningHub, home: string) {
  const login = await unitfleetCli(home, [
    "login",
    "--server",
    hub.url,
    "--token",
    (await readFile(hub.adminTokenFile, "utf8")).trim(),
    "--certificate-authority",
    hub.caFile,
  ]);
  if (login.code !== 0) throw new Error(`unitfleet login failed: ${login.stderr}`);
  return (args: string[]) => unitfleetCli(home, args);
}

/** `unitfleet up`'s documents for a topology: Locations, Regions, NetworkPools, Clusters with spec.network. */
const upDocuments = (topology: Topology, kubeconfig: string) =>
  placeDocuments(
    locationsOfTopology(topology),
    networkPoolsOfTopology(topology),
    clustersOfTopology(topology, kubeconfig),
  );

describe("the lab follows its network plan", () => {
  const lab = sharedLab();
  const plan = planLab(lab.topology, lab.context.paths);
  const pki = pkiFiles(lab.context.paths.pkiDir);
  const apis = new Map(plan.clusters.map((c) => [c.name, new KubeHttp(c.apiUrl, pki)]));
  let dir: string;
  let hub: RunningHub;
  let cli: (args: string[]) => ReturnType<typeof unitfleetCli>;
  let fixtureHome: string | undefined;
  const env = readEnvironment();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "unitfleet-lab-network-"));
    hub = await startHub({
      dir: join(dir, "hub"),
      host: "127.0.0.1",
      port: 0,
      location: "frankfurt",
      log: () => {},
    });
    cli = await loggedInCli(hub, join(dir, "cli-home"));
  });
  afterAll(async () => {
    for (const api of apis.values()) api.close();
    await hub?.close();
    if (fixtureHome) {
      await labDown({ paths: labPaths(env.cacheRoot, fixtureHome), environment: env.inherited }, true);
      await rm(fixtureHome, { recursive: true, force: true });
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("gives every default lab cluster's Services, nodes and pods addresses inside its planned ranges", async () => {
    const observed: ObservedNetwork[] = [];
    for (const c of plan.clusters) {
      const api = apis.get(c.name)!;
      const { services, pods } = c.network;
      const seen = await observe(c, api);
      expect(seen.kubernetes.spec?.clusterIP, c.name).toSatisfy((ip: string) => inside(services, ip));
      expect(
        mergeCidrs(seen.serviceCidrs.flatMap((s) => s.spec?.cidrs ?? []).map(cidr)).map(formatCidr),
        c.name,
      ).toEqual(services);
      // A Service created now is given its ClusterIP from the planned range too.
      const probe = {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "lab-network-probe", namespace: "default" },
        spec: { selector: { app: "lab-network-probe" }, ports: [{ port: 80 }] },
      };
      const created = await api.send<Item>("POST", "/api/v1/namespaces/default/services", probe);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.spec?.clusterIP, c.name).toSatisfy((ip: string) => inside(services, ip));
      await api.send("DELETE", "/api/v1/namespaces/default/services/lab-network-probe");
      // Every node's podCIDR is a /24 of the planned pod range; every pod's address is in its node's.
      const nodeRanges = new Map(seen.nodes.map((n) => [n.metadata.name, n.spec!.podCIDRs!]));
      for (const [node, ranges] of nodeRanges)
        for (const range of ranges) {
          expect(cidr(range).prefix, `${node} ${range}`).toBe(c.network.nodeMask.ipv4);
          expect(
            pods.some((p) => cidrContains(cidr(p), cidr(range))),
            `${node} ${range} in ${pods}`,
          ).toBe(true);
        }
      for (const pod of seen.pods.filter((p) => !p.spec?.hostNetwork)) {
        const ip = pod.status!.podIP!;
        expect(inside(pods, ip), `${c.name} ${pod.metadata.name} ${ip}`).toBe(true);
        expect(inside(nodeRanges.get(pod.spec!.nodeName!) ?? [], ip), `${pod.metadata.name} ${ip}`).toBe(
          true,
        );
      }
      observed.push(observedNetwork(c, seen));
    }
    // What the clusters really use: no overlap inside a Location, nothing outside the plan.
    const detection = detectNetworkProblems(observed, plan.network.clusters);
    expect(detection.overlaps).toEqual([]);
    expect(detection.drift).toEqual([]);
    expect(detection.unplanned).toEqual([]);
    // Locations do reuse ranges: frankfurt's first cluster and singapore's share their service range.
    expect(plan.clusters[0]!.network.services).toEqual(plan.clusters[4]!.network.services);
  });

  it("writes the plan into the hub as unitfleet up does: network check finds no overlap", async () => {
    await hub.registry.applyAll(upDocuments(lab.topology, lab.kubeconfig), systemCaller);
    const stored = (await hub.registry.get(
      kinds.Cluster,
      "fra-shop-prod",
      systemCaller,
    )) as unknown as Cluster;
    expect(stored.spec.network).toEqual({
      maxNodes: 500,
      nodeMask: { ipv4: 24 },
      clusterId: 1,
      pods: ["10.0.0.0/15"],
      services: ["10.96.0.0/22"],
      nodes: ["10.128.0.0/23"],
    });
    const check = await cli(["network", "check"]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toContain("6 clusters allocated");
    const planned = await cli(["network", "plan"]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stderr).toContain("0 planned, 6 already allocated");
    const pools = await cli(["get", "networkpools", "-o", "name"]);
    expect(pools.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "networkpool.unitfleet.io/fra-north",
      "networkpool.unitfleet.io/frankfurt",
      "networkpool.unitfleet.io/singapore",
    ]);
  });

  it("shows exactly the overlapping pair of the test topology, on its clusters' real ranges", async () => {
    fixtureHome = await mkdtemp(join(tmpdir(), "unitfleet-overlap-"));
    const paths = labPaths(env.cacheRoot, fixtureHome);
    const topology = await loadTopology(
      join(import.meta.dirname, "../fixtures/topologies/overlapping-pair.yaml"),
    );
    // Beside the shared lab's ports (the shift keeps concurrent runs apart too).
    topology.spec.ports = { etcd: e2ePorts.etcd + 60, apiServers: e2ePorts.apiServers + 60 };
    await labUp({ paths, environment: env.inherited }, topology, "overlapping-pair.yaml");
    const pairPlan = planLab(topology, paths);
    const observed: ObservedNetwork[] = [];
    for (const c of pairPlan.clusters) {
      const api = new KubeHttp(c.apiUrl, pkiFiles(paths.pkiDir));
      try {
        const seen = await observe(c, api);
        expect(seen.kubernetes.spec?.clusterIP, c.name).toBe("10.96.64.1");
        observed.push(observedNetwork(c, seen));
      } finally {
        api.close();
      }
    }

    // The hub takes the plan of every cluster but lis-legacy, whose ranges it would refuse: a request only.
    await hub.registry.applyAll(upDocuments(topology, paths.kubeconfig), systemCaller);
    const held = await Promise.all(
      pairPlan.clusters.map((c) => hub.registry.get(kinds.Cluster, c.name, systemCaller)),
    );
    const allocations = held.flatMap((c) => {
      const a = allocationOf(c as unknown as Cluster);
      return a ? [a] : [];
    }) satisfies ClusterNetwork[];
    expect(allocations.map((a) => a.cluster)).toEqual(["lis-api", "por-web"]);

    const detection = detectNetworkProblems(observed, allocations);
    expect(detection.overlaps).toEqual([
      {
        location: "lisbon",
        a: { cluster: "lis-api", kind: "services", range: "10.96.64.0/22" },
        b: { cluster: "lis-legacy", kind: "services", range: "10.96.64.0/22" },
      },
    ]);
    expect(detection.unplanned).toEqual(["lis-legacy"]);
    expect(detection.drift).toEqual([]);

    // The hub's own plan holds no overlap, and offers lis-legacy ranges of its own: the way out.
    const check = await cli(["network", "check", "-l", "location=lisbon"]);
    expect(check.code, check.stderr).toBe(0);
    const offer = await cli(["network", "plan", "-l", "location=lisbon", "-o", "json"]);
    expect(offer.code, offer.stderr).toBe(0);
    const rows = JSON.parse(offer.stdout).items as Array<{ state: string; allocation: ClusterNetwork }>;
    const legacy = rows.find((r) => r.allocation.cluster === "lis-legacy")!;
    expect(legacy.state).toBe("planned");
    expect(legacy.allocation.services).not.toEqual(["10.96.64.0/22"]);
  });
});
