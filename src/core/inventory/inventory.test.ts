import { describe, expect, it } from "vitest";
import {
  applyChanges,
  diffInventory,
  type InventoryItem,
  networkKey,
  nodeKey,
  summarise,
  workloadKey,
} from "./inventory.ts";

const node = (name: string, zone: string, ready = true): InventoryItem => ({
  name,
  zone,
  ready,
  capacity: { cpu: "16", memory: "64Gi", pods: "110" },
  allocatable: { cpu: "15500m", memory: "62Gi", pods: "110" },
  kubeletVersion: "v1.36.3",
  kernelVersion: "6.12",
  containerRuntimeVersion: "containerd://2.1.4",
});
const workload = (namespace: string, name: string, pods: number): InventoryItem => ({
  namespace,
  kind: "Deployment",
  name,
  replicas: pods,
  podRequests: { cpu: "500m", memory: "1Gi" },
  pods,
});

describe("inventory", () => {
  const before = new Map<string, InventoryItem>([
    ["cluster", { kubernetesVersion: "v1.36.3" }],
    [nodeKey("n0"), node("n0", "z1")],
    [nodeKey("n1"), node("n1", "z2")],
    [workloadKey({ namespace: "shop", kind: "Deployment", name: "web" }), workload("shop", "web", 4)],
  ]);

  it("sends only what changed, and the receiver ends where the sender is", () => {
    const after = new Map(before);
    after.set(nodeKey("n1"), node("n1", "z2", false));
    after.delete(workloadKey({ namespace: "shop", kind: "Deployment", name: "web" }));
    after.set(workloadKey({ namespace: "ads", kind: "Deployment", name: "bid" }), workload("ads", "bid", 2));
    const changes = diffInventory(before, after);
    expect(changes.map((c) => [c.op, c.key])).toEqual([
      ["upsert", "node/n1"],
      ["upsert", "workload/ads/Deployment/bid"],
      ["delete", "workload/shop/Deployment/web"],
    ]);
    expect(applyChanges(before, changes)).toEqual(after);
    expect(diffInventory(after, after)).toEqual([]);
  });

  it("sums nodes, capacity, allocatable and requests (per namespace too) into the status figures", () => {
    const summary = summarise(before);
    expect(summary).toEqual({
      kubernetesVersion: "v1.36.3",
      nodes: { total: 2, ready: 2 },
      capacity: { cpu: "32", memory: "128Gi", pods: "220" },
      allocatable: { cpu: "31", memory: "124Gi", pods: "220" },
      requested: { cpu: "2", memory: "4Gi", pods: "4" },
      pods: 4,
      zones: ["z1", "z2"],
      namespaces: { shop: { requested: { cpu: "2", memory: "4Gi" }, pods: 4 } },
    });
  });

  it("carries the observed network as one item: a change is one upsert, and the summary holds it as sent", () => {
    const network = {
      podCIDRs: ["10.244.0.0/23"],
      serviceCIDRs: ["10.96.0.0/16"],
      podIPs: [],
      podsOutsidePodCIDRs: 0,
      nodeMask: { ipv4: 24 },
    };
    const withNetwork = new Map(before).set(networkKey, network);
    const grown = new Map(withNetwork).set(networkKey, { ...network, podCIDRs: ["10.244.0.0/22"] });
    expect(diffInventory(withNetwork, grown)).toEqual([
      { op: "upsert", key: "network", value: { ...network, podCIDRs: ["10.244.0.0/22"] } },
    ]);
    expect(summarise(withNetwork).network).toEqual(network);
    expect(summarise(before).network).toBeUndefined();
  });
});
