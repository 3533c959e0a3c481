import { describe, expect, it } from "vitest";
import { nodeItem, podRequests, workloadItem } from "./inventory-items.ts";

describe("inventory items from Kubernetes objects", () => {
  it("reads a node's zone, readiness, capacity and versions", () => {
    const item = nodeItem({
      metadata: {
        name: "n0",
        labels: { "topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "n0" },
      },
      status: {
        capacity: { cpu: "16", memory: "64Gi" },
        allocatable: { cpu: "16", memory: "64Gi" },
        conditions: [{ type: "Ready", status: "True" }],
        nodeInfo: {
          kubeletVersion: "v1.36.3",
          kernelVersion: "6.12",
          containerRuntimeVersion: "containerd://2.1.4",
        },
      },
    });
    expect(item).toMatchObject({
      name: "n0",
      zone: "z1",
      ready: true,
      kubeletVersion: "v1.36.3",
      labels: { "topology.kubernetes.io/zone": "z1" },
    });
  });

  it("sums containers' requests per pod, init containers by their maximum", () => {
    expect(
      podRequests({
        spec: {
          containers: [
            { resources: { requests: { cpu: "500m", memory: "1Gi" } } },
            { resources: { requests: { cpu: "250m" } } },
          ],
          initContainers: [{ resources: { requests: { cpu: "2" } } }],
        },
      }),
    ).toEqual({ cpu: "2", memory: "1Gi" });
  });

  it("counts a Deployment's ready pods and a DaemonSet's scheduled ones", () => {
    expect(
      workloadItem("Deployment", {
        metadata: { name: "web", namespace: "shop" },
        spec: { replicas: 3 },
        status: { readyReplicas: 2 },
      }),
    ).toMatchObject({
      replicas: 3,
      pods: 2,
    });
    expect(
      workloadItem("DaemonSet", {
        metadata: { name: "agent", namespace: "ops" },
        status: { desiredNumberScheduled: 4, numberReady: 4 },
      }),
    ).toMatchObject({
      replicas: 4,
      pods: 4,
    });
  });
});
