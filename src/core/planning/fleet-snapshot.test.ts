import { describe, expect, it } from "vitest";
import { type FleetSnapshot, readFleet } from "./fleet-snapshot.ts";

type Node = FleetSnapshot["clusters"][number]["nodes"][number];
type Workload = FleetSnapshot["clusters"][number]["workloads"][number];

const snapshot = (nodes: Node[], workloads: Workload[] = []): FleetSnapshot => ({
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
      workloads,
    },
  ],
});
const gpuNode = (name: string, allocatable: Node["allocatable"]): Node => ({ name, allocatable });
const full = { cpu: "16", memory: "64Gi", pods: "110" };
const train = (podRequests: Workload["podRequests"], extra: Partial<Workload> = {}): Workload => ({
  namespace: "ml",
  kind: "Deployment",
  name: "train",
  replicas: 2,
  podRequests,
  ...extra,
});

describe("readFleet reads extended resources as Kubernetes counts them", () => {
  it("refuses a fraction of a GPU in a node's allocatable, a pod's requests or its usage, at its field path", () => {
    const read = readFleet(
      snapshot(
        [
          gpuNode("gpu-0", { ...full, "nvidia.com/gpu": "460m" }),
          gpuNode("gpu-1", { ...full, "nvidia.com/gpu": 4 }),
        ],
        [
          train(
            { cpu: "4", memory: "16Gi", "nvidia.com/gpu": 0.5 },
            { podUsage: { cpu: "3", "nvidia.com/gpu": "1500m" } },
          ),
        ],
      ),
    );
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.problems.map((p) => p.path)).toEqual([
      'clusters[0].nodes[0].allocatable["nvidia.com/gpu"]',
      'clusters[0].workloads[0].podRequests["nvidia.com/gpu"]',
      'clusters[0].workloads[0].podUsage["nvidia.com/gpu"]',
    ]);
    expect(read.problems[0]?.message).toMatch(
      /^"460m" is not a whole number: Kubernetes counts extended resources such as nvidia\.com\/gpu in whole units/,
    );
  });

  it("accepts whole units however written, and fractions of cpu and memory", () => {
    const read = readFleet(
      snapshot(
        [gpuNode("gpu-0", { ...full, "nvidia.com/gpu": "4000m" })],
        [train({ cpu: "250m", memory: "1.5Gi", "nvidia.com/gpu": "1" })],
      ),
    );
    expect(read.ok && read.value.clusters[0]?.nodes[0]?.allocatable["nvidia.com/gpu"]).toBe(4);
  });

  it("refuses a quantity that does not parse, at its field path, instead of dropping it", () => {
    const read = readFleet(snapshot([gpuNode("n0", { ...full, "nvidia.com/gpu": "four" })]));
    expect(read.ok ? [] : read.problems).toEqual([
      {
        path: 'clusters[0].nodes[0].allocatable["nvidia.com/gpu"]',
        message: '"four" is not a Kubernetes quantity (examples: 500m, 4, 16Gi, 64G)',
      },
    ]);
  });
});

describe("readFleet gives a node without pods the kubelet default", () => {
  it("reads 110 pods and warns once per such node, with its field path", () => {
    const read = readFleet(
      snapshot([
        gpuNode("n0", { cpu: "16", memory: "64Gi" }),
        gpuNode("n1", full),
        gpuNode("n2", { cpu: "8", memory: "32Gi" }),
      ]),
    );
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value.clusters[0]?.nodes.map((n) => n.allocatable.pods)).toEqual([110, 110, 110]);
    expect(read.warnings).toEqual([
      {
        path: "clusters[0].nodes[0].allocatable.pods",
        message: "no pods in allocatable: the kubelet default, 110, is used",
      },
      {
        path: "clusters[0].nodes[2].allocatable.pods",
        message: "no pods in allocatable: the kubelet default, 110, is used",
      },
    ]);
  });

  it("keeps the pods a node says, even 0, without a warning", () => {
    const read = readFleet(snapshot([gpuNode("n0", { ...full, pods: 0 })]));
    expect(read.ok && read.value.clusters[0]?.nodes[0]?.allocatable.pods).toBe(0);
    expect(read.ok && read.warnings).toEqual([]);
  });
});
