import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, message } from "../../protocol/codec.ts";
import { nodeItem, podRequests, type WorkloadObject, workloadItem } from "./inventory-items.ts";

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

  it("keeps a node's labels that workloads select nodes by, and no other foreign ones", () => {
    const node = {
      metadata: {
        name: "n1",
        labels: { "kubernetes.io/os": "linux", disktype: "ssd", team: "a", "unitfleet.io/node-pool": "gpu" },
      },
    };
    expect(nodeItem(node).labels).toEqual({ "unitfleet.io/node-pool": "gpu" });
    expect(nodeItem(node, new Set(["disktype", "kubernetes.io/os"])).labels).toEqual({
      "kubernetes.io/os": "linux",
      disktype: "ssd",
      "unitfleet.io/node-pool": "gpu",
    });
  });
});

describe("a workload's placement constraints", () => {
  const own = { app: "ledger", tier: "db" };
  const statefulSet = (spec: Record<string, unknown>, labels: Record<string, string> = {}): WorkloadObject =>
    ({
      metadata: { name: "ledger", namespace: "payments", labels },
      spec: {
        replicas: 3,
        template: {
          metadata: { labels: own },
          spec: { containers: [{ resources: { requests: { cpu: "2", memory: "8Gi" } } }], ...spec },
        },
      },
    }) as WorkloadObject;
  const term = (topologyKey: string, labelSelector: unknown, extra: Record<string, unknown> = {}) => ({
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey, labelSelector, ...extra }],
      },
    },
  });

  it("reads the nodeSelector, required anti-affinity, DoNotSchedule spread and the Application label", () => {
    const item = workloadItem(
      "StatefulSet",
      statefulSet(
        {
          nodeSelector: { "node.kubernetes.io/instance-type": "r6.2xlarge", disktype: "ssd" },
          ...term("kubernetes.io/hostname", { matchLabels: { app: "ledger" } }),
          topologySpreadConstraints: [
            {
              topologyKey: "topology.kubernetes.io/zone",
              maxSkew: 1,
              whenUnsatisfiable: "DoNotSchedule",
              labelSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["db", "cache"] }] },
            },
            // Not kept: only a preference, a key that is neither node nor zone, or other pods than its own.
            {
              topologyKey: "kubernetes.io/hostname",
              maxSkew: 1,
              whenUnsatisfiable: "ScheduleAnyway",
              labelSelector: { matchLabels: own },
            },
            {
              topologyKey: "topology.kubernetes.io/region",
              maxSkew: 1,
              whenUnsatisfiable: "DoNotSchedule",
              labelSelector: { matchLabels: own },
            },
            {
              topologyKey: "kubernetes.io/hostname",
              maxSkew: 2,
              whenUnsatisfiable: "DoNotSchedule",
              labelSelector: { matchLabels: { app: "other" } },
            },
          ],
        },
        { "unitfleet.io/application": "payments-ledger" },
      ),
    );
    expect(item).toEqual({
      namespace: "payments",
      kind: "StatefulSet",
      name: "ledger",
      replicas: 3,
      podRequests: { cpu: "2", memory: "8Gi" },
      pods: 0,
      nodeSelector: { disktype: "ssd", "node.kubernetes.io/instance-type": "r6.2xlarge" },
      podAntiAffinity: { topologyKey: "kubernetes.io/hostname" },
      topologySpread: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }],
      application: "payments-ledger",
    });
  });

  it("leaves out what a template does not constrain, so that the item stays small", () => {
    const item = workloadItem("Deployment", statefulSet({ nodeSelector: {}, topologySpreadConstraints: [] }));
    expect(Object.keys(item).sort()).toEqual([
      "kind",
      "name",
      "namespace",
      "podRequests",
      "pods",
      "replicas",
    ]);
  });

  it("keeps only anti-affinity with its own pods, on nodes or zones, zone first", () => {
    const antiAffinity = (spec: Record<string, unknown>) =>
      workloadItem("StatefulSet", statefulSet(spec)).podAntiAffinity;
    // Other pods, no selector (selects none), another namespace, a key that is neither node nor zone.
    expect(antiAffinity(term("kubernetes.io/hostname", { matchLabels: { app: "web" } }))).toBeUndefined();
    expect(antiAffinity(term("kubernetes.io/hostname", undefined))).toBeUndefined();
    expect(
      antiAffinity(term("kubernetes.io/hostname", { matchLabels: own }, { namespaces: ["shop"] })),
    ).toBeUndefined();
    expect(antiAffinity(term("topology.kubernetes.io/region", { matchLabels: own }))).toBeUndefined();
    // Its own pods: by labels, by expressions, in its namespace named, or in namespaces chosen by a selector.
    expect(antiAffinity(term("kubernetes.io/hostname", { matchLabels: own }))).toEqual({
      topologyKey: "kubernetes.io/hostname",
    });
    expect(
      antiAffinity(
        term(
          "topology.kubernetes.io/zone",
          { matchExpressions: [{ key: "app", operator: "Exists" }] },
          { namespaces: ["payments"] },
        ),
      ),
    ).toEqual({ topologyKey: "topology.kubernetes.io/zone" });
    expect(antiAffinity(term("kubernetes.io/hostname", {}, { namespaceSelector: {} }))).toEqual({
      topologyKey: "kubernetes.io/hostname",
    });
    expect(
      antiAffinity({
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: own } },
              {
                topologyKey: "topology.kubernetes.io/zone",
                labelSelector: { matchLabels: { app: "ledger" } },
              },
            ],
          },
        },
      }),
    ).toEqual({ topologyKey: "topology.kubernetes.io/zone" });
  });

  it("travels in an inventory delta the hub accepts", () => {
    const value = workloadItem(
      "Deployment",
      statefulSet(
        { nodeSelector: { disktype: "ssd" }, ...term("kubernetes.io/hostname", { matchLabels: own }) },
        { "unitfleet.io/application": "ledger" },
      ),
    );
    const frame = encodeFrame(
      message(
        "inventory.delta",
        {
          cluster: "fra-payments-prod",
          baseVersion: 1,
          version: 2,
          changes: [{ op: "upsert", key: "workload/x", value }],
        },
        { id: "a-1", seq: 1 },
      ),
    );
    const decoded = decodeFrame(frame);
    expect(decoded.ok).toBe(true);
  });
});

describe("taints, tolerations and required node affinity", () => {
  it("keeps a node's taints (not timeAdded) and its GPU product label", () => {
    const item = nodeItem({
      metadata: {
        name: "gpu-0",
        labels: { "nvidia.com/gpu.product": "NVIDIA-L4", "nvidia.com/gpu.count": "4" },
      },
      spec: {
        taints: [
          {
            key: "nvidia.com/gpu",
            value: "present",
            effect: "NoSchedule",
            timeAdded: "2026-11-25T10:00:00Z",
          },
          { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" },
        ] as never,
      },
    });
    expect(item.labels).toEqual({ "nvidia.com/gpu.product": "NVIDIA-L4" });
    expect(item.taints).toEqual([
      { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
      { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" },
    ]);
    expect(nodeItem({ metadata: { name: "n" } }).taints).toBeUndefined();
  });

  it("reads a template's tolerations and the terms of its required node affinity", () => {
    const item = workloadItem("Deployment", {
      metadata: { name: "train", namespace: "ml" },
      spec: {
        template: {
          spec: {
            tolerations: [
              { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
              {
                key: "node.kubernetes.io/not-ready",
                operator: "Exists",
                effect: "NoExecute",
                tolerationSeconds: 300,
              },
            ],
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    {
                      matchExpressions: [
                        {
                          key: "nvidia.com/gpu.product",
                          operator: "In",
                          values: ["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100"],
                        },
                        { key: "spot", operator: "DoesNotExist" },
                      ],
                    },
                    // Node names only: today's nodes, which a plan replaces.
                    { matchFields: [{ key: "metadata.name", operator: "In", values: ["gpu-0"] }] },
                  ],
                },
              },
            },
          },
        },
      },
    });
    expect(item.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
    ]);
    expect(item.nodeAffinity).toEqual({
      nodeSelectorTerms: [
        {
          matchExpressions: [
            {
              key: "nvidia.com/gpu.product",
              operator: "In",
              values: ["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100"],
            },
            { key: "spot", operator: "DoesNotExist" },
          ],
        },
      ],
    });
  });

  it("travels in an inventory delta the protocol accepts", () => {
    const node = nodeItem({
      metadata: { name: "gpu-0" },
      spec: { taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }] },
    });
    const workload = workloadItem("Deployment", {
      metadata: { name: "train", namespace: "ml" },
      spec: {
        template: {
          spec: {
            tolerations: [{ operator: "Exists" }],
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: "gpu-memory", operator: "Gt", values: ["40"] }] },
                  ],
                },
              },
            },
          },
        },
      },
    });
    const frame = encodeFrame(
      message(
        "inventory.delta",
        {
          cluster: "fra-ml-prod",
          baseVersion: 1,
          version: 2,
          changes: [
            { op: "upsert", key: "node/gpu-0", value: node },
            { op: "upsert", key: "workload/ml/Deployment/train", value: workload },
          ],
        },
        { id: "a-1", seq: 1 },
      ),
    );
    const decoded = decodeFrame(frame);
    expect(decoded.ok && decoded.message.body).toMatchObject({
      changes: [{ value: { taints: node.taints } }, { value: { tolerations: [{ operator: "Exists" }] } }],
    });
  });
});
