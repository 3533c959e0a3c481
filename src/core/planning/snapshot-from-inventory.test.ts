import { describe, expect, it } from "vitest";
import type { InventoryItem, NodeItem, WorkloadItem } from "../inventory/inventory.ts";
import { readFleet, staleClusters } from "./fleet-snapshot.ts";
import { type LiveFleet, snapshotFromInventory } from "./snapshot-from-inventory.ts";

const meta = (name: string, labels?: Record<string, string>) => ({
  name,
  uid: `uid-${name}`,
  resourceVersion: "1",
  generation: 1,
  creationTimestamp: "2026-11-25T10:00:00Z",
  ...(labels ? { labels } : {}),
});

const node = (name: string, zone: string, cpu: string, memory: string, type?: string): NodeItem => ({
  name,
  zone,
  ready: true,
  capacity: { cpu, memory, pods: "110" },
  allocatable: { cpu, memory, pods: "110" },
  kubeletVersion: "v1.36.3",
  kernelVersion: "6.12",
  containerRuntimeVersion: "containerd://2.1.4",
  labels: {
    "topology.kubernetes.io/zone": zone,
    ...(type ? { "node.kubernetes.io/instance-type": type } : {}),
  },
});

const workload = (namespace: string, name: string, replicas: number, extra: Partial<WorkloadItem> = {}) =>
  ({
    namespace,
    kind: "Deployment",
    name,
    replicas,
    podRequests: { cpu: "2", memory: "4Gi" },
    pods: replicas,
    ...extra,
  }) as WorkloadItem;

function inventory(version: string | undefined, nodes: NodeItem[], workloads: WorkloadItem[]) {
  const items = new Map<string, InventoryItem>();
  if (version) items.set("cluster", { kubernetesVersion: version });
  for (const n of nodes) items.set(`node/${n.name}`, n);
  for (const w of workloads) items.set(`workload/${w.namespace}/${w.kind}/${w.name}`, w);
  return items;
}

function liveFleet(): LiveFleet {
  return {
    takenAt: "2026-11-25T18:00:00Z",
    locations: [
      { metadata: meta("singapore"), spec: {} },
      { metadata: meta("frankfurt"), spec: { displayName: "Frankfurt" } },
    ],
    regions: [
      { metadata: meta("fra-south"), spec: { location: "frankfurt", zones: ["fra-south-1", "fra-south-2"] } },
      { metadata: meta("fra-north"), spec: { location: "frankfurt", zones: ["fra-north-1", "fra-north-2"] } },
    ],
    clusters: [
      {
        metadata: meta("sgp-shop-dev", { location: "singapore", environment: "dev", business: "shop" }),
        spec: { location: "singapore", zones: ["sgp-1"], environment: "dev", business: "shop" },
        status: { kubernetesVersion: "v1.35.2" },
      },
      {
        metadata: meta("fra-shop-prod", {
          location: "frankfurt",
          region: "fra-north",
          environment: "prod",
          business: "shop",
          tier: "gold",
        }),
        spec: { location: "frankfurt", region: "fra-north", environment: "prod", business: "shop" },
      },
      {
        metadata: meta("fra-new"),
        spec: { location: "frankfurt", region: "fra-south", environment: "dev", business: "search" },
      },
    ],
    inventories: new Map([
      [
        "fra-shop-prod",
        inventory(
          "v1.36.3",
          [
            node("fra-shop-prod-general-10", "fra-north-2", "16", "64Gi", "m6.4xlarge"),
            node("fra-shop-prod-general-2", "fra-north-1", "16", "64Gi", "m6.4xlarge"),
            node("fra-shop-prod-memory-0", "fra-north-1", "8", "128Gi"),
          ],
          [
            workload("shop", "storefront", 12, {
              application: "storefront",
              nodeSelector: { "node.kubernetes.io/instance-type": "m6.4xlarge" },
              topologySpread: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }],
            }),
            workload("shop", "checkout", 6, {
              kind: "StatefulSet",
              podRequests: { cpu: "1", memory: "2Gi" },
              podAntiAffinity: { topologyKey: "kubernetes.io/hostname" },
            }),
          ],
        ),
      ],
      // Its agent has not read the version yet: the Cluster's status has it.
      ["sgp-shop-dev", inventory(undefined, [node("sgp-shop-dev-general-0", "sgp-1", "4", "16Gi")], [])],
    ]),
  };
}

describe("the live fleet as a fleet snapshot", () => {
  it("lists clusters with their nodes, workloads and constraints, Locations with their Regions", () => {
    const { snapshot, unreported } = snapshotFromInventory(liveFleet());
    expect(unreported).toEqual(["fra-new"]);
    expect(snapshot.takenAt).toBe("2026-11-25T18:00:00Z");
    expect(snapshot.locations).toEqual([
      {
        name: "frankfurt",
        regions: [
          { name: "fra-north", zones: ["fra-north-1", "fra-north-2"] },
          { name: "fra-south", zones: ["fra-south-1", "fra-south-2"] },
        ],
      },
      { name: "singapore" },
    ]);
    expect(snapshot.clusters.map((c) => c.name)).toEqual(["fra-shop-prod", "sgp-shop-dev"]);
    const prod = snapshot.clusters[0]!;
    expect(prod).toMatchObject({
      location: "frankfurt",
      region: "fra-north",
      environment: "prod",
      business: "shop",
      kubernetesVersion: "v1.36.3",
      // Not in the spec: the zones its nodes are in.
      zones: ["fra-north-1", "fra-north-2"],
      // The labels derived from the spec are fields already.
      labels: { tier: "gold" },
    });
    // Nodes in name order, numbers as numbers.
    expect(prod.nodes.map((n) => [n.name, n.zone, n.instanceType])).toEqual([
      ["fra-shop-prod-general-2", "fra-north-1", "m6.4xlarge"],
      ["fra-shop-prod-general-10", "fra-north-2", "m6.4xlarge"],
      ["fra-shop-prod-memory-0", "fra-north-1", undefined],
    ]);
    expect(prod.nodes[0]!.allocatable).toEqual({ cpu: "16", memory: "64Gi", pods: "110" });
    expect(prod.workloads).toEqual([
      {
        namespace: "shop",
        kind: "Deployment",
        name: "storefront",
        replicas: 12,
        podRequests: { cpu: "2", memory: "4Gi" },
        application: "storefront",
        nodeSelector: { "node.kubernetes.io/instance-type": "m6.4xlarge" },
        topologySpread: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }],
      },
      {
        namespace: "shop",
        kind: "StatefulSet",
        name: "checkout",
        replicas: 6,
        podRequests: { cpu: "1", memory: "2Gi" },
        podAntiAffinity: { topologyKey: "kubernetes.io/hostname" },
      },
    ]);
    expect(snapshot.clusters[1]).toMatchObject({
      kubernetesVersion: "v1.35.2",
      zones: ["sgp-1"],
      workloads: [],
    });
    expect(snapshot.clusters[1]).not.toHaveProperty("labels");
  });

  it("is read by readFleet: the planner's model with numbers, constraints and zones", () => {
    const read = readFleet(snapshotFromInventory(liveFleet()).snapshot);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    const prod = read.value.clusters[0]!;
    expect(prod.nodes.reduce((sum, n) => sum + (n.allocatable.cpu ?? 0), 0)).toBe(40);
    expect(prod.workloads[0]).toMatchObject({
      replicas: 12,
      podRequests: { cpu: 2, memory: 4 * 2 ** 30, pods: 1 },
      zoneMaxSkew: 1,
      business: "shop",
    });
    expect(prod.workloads[1]).toMatchObject({ antiAffinity: "hostname" });
    expect(read.value.locations.find((l) => l.name === "frankfurt")?.regions).toHaveLength(2);
  });

  it("gives the same snapshot whatever order the registry and the inventory list things in", () => {
    const fleet = liveFleet();
    const shuffled: LiveFleet = {
      ...fleet,
      locations: [...fleet.locations].reverse(),
      regions: [...fleet.regions].reverse(),
      clusters: [...fleet.clusters].reverse(),
      inventories: new Map(
        [...fleet.inventories].reverse().map(([k, items]) => [k, new Map([...items].reverse())]),
      ),
    };
    expect(JSON.stringify(snapshotFromInventory(shuffled))).toBe(
      JSON.stringify(snapshotFromInventory(fleet)),
    );
  });

  it("leaves out what would make the snapshot unreadable: bad quantities, labels and constraints", () => {
    const fleet = liveFleet();
    const bad = {
      ...node("fra-shop-prod-odd-0", "fra-north-1", "16", "lots"),
      labels: { "bad key!": "x", good: "yes" },
    };
    const odd = workload("shop", "odd", 1, {
      podRequests: { cpu: "-1", memory: "1Gi" },
      topologySpread: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 0 }],
    });
    const items = new Map(fleet.inventories.get("fra-shop-prod"));
    items.set(`node/${bad.name}`, bad);
    items.set("workload/shop/Deployment/odd", odd);
    const { snapshot } = snapshotFromInventory({
      ...fleet,
      inventories: new Map([...fleet.inventories, ["fra-shop-prod", items]]),
    });
    const prod = snapshot.clusters[0]!;
    expect(prod.nodes.find((n) => n.name === bad.name)).toMatchObject({
      allocatable: { cpu: "16", pods: "110" },
      labels: { good: "yes" },
    });
    expect(prod.workloads.find((w) => w.name === "odd")).toEqual({
      namespace: "shop",
      kind: "Deployment",
      name: "odd",
      replicas: 1,
      podRequests: { memory: "1Gi" },
    });
    expect(readFleet(snapshot).ok).toBe(true);
  });

  it("carries node taints, tolerations and required node affinity, which readFleet reads into the model", () => {
    const fleet = liveFleet();
    const gpu: NodeItem = {
      ...node("fra-shop-prod-gpu-0", "fra-north-1", "48", "192Gi", "g6.12xlarge"),
      allocatable: { cpu: "48", memory: "192Gi", pods: "110", "nvidia.com/gpu": "4" },
      labels: { "nvidia.com/gpu.product": "NVIDIA-L4" },
      taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
    };
    const inAny = {
      key: "nvidia.com/gpu.product",
      operator: "In" as const,
      values: ["NVIDIA-L4", "NVIDIA-A100"],
    };
    const train = workload("shop", "train", 2, {
      podRequests: { cpu: "8", memory: "32Gi", "nvidia.com/gpu": "1" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      nodeAffinity: {
        nodeSelectorTerms: [
          { matchExpressions: [inAny, { key: "spot", operator: "DoesNotExist" }] },
          // Not one Kubernetes accepts (In without values): left out, the snapshot still reads.
          { matchExpressions: [{ key: "zone-class", operator: "In" }] },
        ],
      },
    });
    const items = new Map(fleet.inventories.get("fra-shop-prod"));
    items.set(`node/${gpu.name}`, gpu);
    items.set("workload/shop/Deployment/train", train);
    const { snapshot } = snapshotFromInventory({
      ...fleet,
      inventories: new Map([...fleet.inventories, ["fra-shop-prod", items]]),
    });
    const prod = snapshot.clusters[0]!;
    expect(prod.nodes.find((n) => n.name === gpu.name)?.taints).toEqual(gpu.taints);
    expect(prod.workloads.find((w) => w.name === "train")).toMatchObject({
      tolerations: train.tolerations,
      nodeAffinity: {
        nodeSelectorTerms: [{ matchExpressions: [inAny, { key: "spot", operator: "DoesNotExist" }] }],
      },
    });
    expect(prod.nodes.find((n) => n.name === "fra-shop-prod-general-2")).not.toHaveProperty("taints");
    const read = readFleet(snapshot);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    const model = read.value.clusters.find((c) => c.name === "fra-shop-prod")!;
    expect(model.nodes.find((n) => n.name === gpu.name)?.taints).toEqual(gpu.taints);
    expect(model.workloads.find((w) => w.name === "train")).toMatchObject({
      tolerations: train.tolerations,
      nodeAffinity: [{ matchExpressions: [inAny, { key: "spot", operator: "DoesNotExist" }] }],
      podRequests: { "nvidia.com/gpu": 1 },
    });
  });

  it("gives a cluster its pod range: the network plan's, else the one it declares, never its nodes' ranges", () => {
    const fleet = liveFleet();
    const prod = fleet.clusters.find((c) => c.metadata.name === "fra-shop-prod")!;
    const observed = {
      podCIDRs: ["10.244.0.0/23"],
      podIPs: [],
      podsOutsidePodCIDRs: 0,
      nodeMask: { ipv4: 24 },
    };
    const items = (network: object) => {
      const inv = new Map(fleet.inventories.get("fra-shop-prod")!);
      inv.set("network", network as InventoryItem);
      return new Map([...fleet.inventories, ["fra-shop-prod", inv]]);
    };
    const clusterOf = (f: LiveFleet) =>
      snapshotFromInventory(f).snapshot.clusters.find((c) => c.name === "fra-shop-prod");
    // Only the nodes' podCIDRs: no pod range (they hold today's nodes, not the cluster's range).
    expect(clusterOf({ ...fleet, inventories: items(observed) })).not.toHaveProperty("network");
    expect(
      clusterOf({ ...fleet, inventories: items({ ...observed, declaredPodCIDRs: ["10.244.0.0/16"] }) })
        ?.network,
    ).toEqual({ pods: ["10.244.0.0/16"], nodeMask: { ipv4: 24 }, source: "observed" });
    const planned = {
      ...fleet,
      clusters: fleet.clusters.map((c) =>
        c === prod
          ? {
              ...c,
              spec: {
                ...c.spec,
                network: {
                  maxNodes: 500,
                  nodeMask: { ipv4: 25 },
                  pods: ["10.0.0.0/15"],
                  services: ["10.96.0.0/22"],
                },
              },
            }
          : c,
      ),
      inventories: items({ ...observed, declaredPodCIDRs: ["10.244.0.0/16"] }),
    };
    expect(clusterOf(planned)?.network).toEqual({
      pods: ["10.0.0.0/15"],
      nodeMask: { ipv4: 25 },
      source: "allocated",
    });
    expect(readFleet(snapshotFromInventory(planned).snapshot).ok).toBe(true);
  });

  it("leaves out a cluster with no version known, and gives an empty fleet for an empty registry", () => {
    const fleet = liveFleet();
    const { unreported } = snapshotFromInventory({
      ...fleet,
      inventories: new Map([["fra-shop-prod", inventory(undefined, [], [])]]),
    });
    expect(unreported).toEqual(["fra-new", "fra-shop-prod", "sgp-shop-dev"]);
    const empty = snapshotFromInventory({ ...fleet, locations: [], regions: [], clusters: [] });
    expect(empty.snapshot.clusters).toEqual([]);
    expect(readFleet(empty.snapshot).ok).toBe(true);
  });

  it("says per cluster when the hub last heard from it and whether it is Reachable and Ready", () => {
    const fleet = liveFleet();
    const clusters = fleet.clusters.map((c) =>
      c.metadata.name === "sgp-shop-dev"
        ? {
            ...c,
            status: {
              kubernetesVersion: "v1.35.2",
              lastHeartbeatTime: "2026-11-25T17:40:00Z",
              conditions: [
                {
                  type: "Reachable",
                  status: "False" as const,
                  reason: "HeartbeatMissed",
                  message: "",
                  lastTransitionTime: "",
                },
                {
                  type: "Ready",
                  status: "Unknown" as const,
                  reason: "ClusterUnreachable",
                  message: "",
                  lastTransitionTime: "",
                },
              ],
            },
          }
        : c,
    );
    const { snapshot } = snapshotFromInventory({ ...fleet, clusters });
    expect(snapshot.clusters.map((c) => [c.name, c.freshness])).toEqual([
      ["fra-shop-prod", { reachable: "Unknown", ready: "Unknown" }],
      ["sgp-shop-dev", { lastHeartbeatTime: "2026-11-25T17:40:00Z", reachable: "False", ready: "Unknown" }],
    ]);
    const read = readFleet(snapshot);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    expect(staleClusters(read.value, new Date("2026-11-25T18:00:00Z"), 300_000)).toEqual([
      { name: "fra-shop-prod", reachable: "Unknown" },
      { name: "sgp-shop-dev", reachable: "False", silentForMs: 20 * 60_000 },
    ]);
  });

  it("judges only clusters with freshness, and finds a Reachable one stale once unheard from too long", () => {
    const fleet = {
      clusters: [
        { name: "hand-written" },
        {
          name: "fresh",
          freshness: { lastHeartbeatTime: "2026-11-25T17:59:00Z", reachable: "True" as const },
        },
        {
          name: "quiet",
          freshness: { lastHeartbeatTime: "2026-11-25T17:50:00Z", reachable: "True" as const },
        },
      ],
    };
    expect(staleClusters(fleet, new Date("2026-11-25T18:00:00Z"), 300_000)).toEqual([
      { name: "quiet", reachable: "True", silentForMs: 10 * 60_000 },
    ]);
  });
});
