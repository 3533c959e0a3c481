import { describe, expect, it } from "vitest";
import { labelValueProblem } from "../validation/names.ts";
import { defaultPolicy } from "./consolidation-policy.ts";
import { type Fleet, type FleetSnapshot, readFleet } from "./fleet-snapshot.ts";
import { nodeShapeKey, shapesOf } from "./node-shapes.ts";

type Node = FleetSnapshot["clusters"][number]["nodes"][number];

const fleet = (nodes: Node[]): Fleet => {
  const read = readFleet({
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "FleetSnapshot",
    clusters: [
      {
        name: "fra-ml-prod",
        location: "frankfurt",
        environment: "prod",
        business: "ml",
        kubernetesVersion: "v1.36.3",
        nodes,
        workloads: [],
      },
    ],
  });
  if (!read.ok) throw new Error(JSON.stringify(read.problems));
  return read.value;
};

const product = "nvidia.com/gpu.product";
const a100 = "NVIDIA-A100-SXM4-80GB";
const cpuNode = (name: string): Node => ({
  name,
  zone: `fra-${name.length % 2}`,
  allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
  labels: { "kubernetes.io/hostname": name },
});
const gpuNode = (name: string, model: string): Node => ({
  name,
  allocatable: { cpu: "16", memory: "64Gi", pods: "110", "nvidia.com/gpu": "4" },
  labels: { "kubernetes.io/hostname": name, [product]: model },
  taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
});

describe("node shapes", () => {
  // Keys over 63 characters (a label value's most) are cut and end with a hash of the whole key.
  it("never makes GPU and CPU nodes of equal cpu and memory one shape, nor two GPU models (issue 16, finding 4)", () => {
    const shapes = shapesOf(
      fleet([
        cpuNode("cpu-0"),
        gpuNode("gpu-0", a100),
        cpuNode("cpu-1"),
        gpuNode("gpu-1", "NVIDIA-L4"),
        cpuNode("cpu-2"),
        gpuNode("gpu-2", a100),
      ]),
      defaultPolicy(),
      "frankfurt",
    );
    const gpuTaint = [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }];
    expect(shapes).toEqual([
      { name: "16cpu-64gi", allocatable: { cpu: 16, memory: 64 * 2 ** 30, pods: 110 }, labels: {} },
      {
        name: "16cpu-64gi-4xnvidia.com_gpu-NVIDIA-A100-SXM4-80GB-nvid-3b5cff24",
        allocatable: { cpu: 16, memory: 64 * 2 ** 30, pods: 110, "nvidia.com/gpu": 4 },
        labels: { [product]: a100 },
        taints: gpuTaint,
      },
      {
        name: "16cpu-64gi-4xnvidia.com_gpu-NVIDIA-L4-nvidia.com_gpu.p-5bc451f7",
        allocatable: { cpu: 16, memory: 64 * 2 ** 30, pods: 110, "nvidia.com/gpu": 4 },
        labels: { [product]: "NVIDIA-L4" },
        taints: gpuTaint,
      },
    ]);
  });

  it("makes nodes of one instance type one shape despite kubelet noise, with their most common allocatable", () => {
    const node = (name: string, memory: string, zone: string): Node => ({
      name,
      zone,
      instanceType: "m7i.4xlarge",
      allocatable: { cpu: "15890m", memory, pods: "110", "ephemeral-storage": `${name.charCodeAt(0)}Gi` },
      labels: { "node.kubernetes.io/instance-type": "m7i.4xlarge", "topology.kubernetes.io/zone": zone },
    });
    const shapes = shapesOf(
      fleet([
        node("a", "62000Mi", "fra-1"),
        node("b", "61996Mi", "fra-2"),
        node("c", "61996Mi", "fra-3"),
        // Cordoned: a state, not a shape.
        {
          ...node("d", "61996Mi", "fra-1"),
          taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }],
        },
      ]),
      defaultPolicy(),
      "frankfurt",
    );
    expect(shapes).toEqual([
      {
        name: "m7i.4xlarge",
        allocatable: { cpu: 15.89, memory: 61996 * 2 ** 20, pods: 110 },
        labels: { "node.kubernetes.io/instance-type": "m7i.4xlarge" },
      },
    ]);
  });

  it("tells apart what changes what a node runs: pods, any extended resource, a GPU model, a taint", () => {
    const base = { instanceType: "g6.12xlarge", labels: {} as Record<string, string> };
    const allocatable = { cpu: 48, memory: 192 * 2 ** 30, pods: 110, "nvidia.com/gpu": 4 };
    const keys = [
      nodeShapeKey({ ...base, allocatable }),
      nodeShapeKey({ ...base, allocatable: { ...allocatable, pods: 250 } }),
      nodeShapeKey({ ...base, allocatable: { ...allocatable, "nvidia.com/gpu": 16 } }),
      nodeShapeKey({
        ...base,
        allocatable: { ...allocatable, "nvidia.com/gpu": 0, "nvidia.com/mig-1g.10gb": 7 },
      }),
      nodeShapeKey({ ...base, allocatable, labels: { [product]: "NVIDIA-L4" } }),
      nodeShapeKey({
        ...base,
        allocatable,
        taints: [{ key: "dedicated", value: "ml", effect: "NoExecute" }],
      }),
      nodeShapeKey({ ...base, allocatable: { cpu: 48, memory: 192 * 2 ** 30, pods: 110 } }),
    ];
    expect(keys).toEqual([
      "g6.12xlarge-4xnvidia.com_gpu",
      "g6.12xlarge-250pods-4xnvidia.com_gpu",
      "g6.12xlarge-16xnvidia.com_gpu",
      "g6.12xlarge-7xnvidia.com_mig-1g.10gb",
      "g6.12xlarge-4xnvidia.com_gpu-NVIDIA-L4",
      "g6.12xlarge-4xnvidia.com_gpu-dedicated.ml.NoExecute",
      "g6.12xlarge",
    ]);
    expect(new Set(keys).size).toBe(keys.length);
    // Label values, like instance types: a policy's nodeShapes can name them to price them.
    expect(keys.filter((k) => labelValueProblem(k))).toEqual([]);
    // Name, zone, hostname and the order of taints do not count.
    const tainted = {
      ...base,
      allocatable,
      taints: [
        { key: "b", effect: "NoSchedule" as const },
        { key: "a", value: "1", effect: "NoSchedule" as const },
      ],
    };
    expect(
      nodeShapeKey({
        ...tainted,
        labels: { "kubernetes.io/hostname": "x" },
        taints: [...tainted.taints].reverse(),
      }),
    ).toBe(nodeShapeKey(tainted));
    expect(nodeShapeKey(tainted)).toBe("g6.12xlarge-4xnvidia.com_gpu-a.1.NoSchedule-b.NoSchedule");
  });

  it("offers the policy's shapes when it names some", () => {
    const policy = {
      ...defaultPolicy(),
      nodeShapes: [{ name: "m6.4xlarge", cpu: "16", memory: "64Gi", pods: 110, monthlyPrice: 500 }],
    };
    expect(shapesOf(fleet([gpuNode("gpu-0", a100)]), policy, "frankfurt").map((s) => s.name)).toEqual([
      "m6.4xlarge",
    ]);
  });
});
