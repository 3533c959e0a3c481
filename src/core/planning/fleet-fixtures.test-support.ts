/** Small fleet snapshots for the planner's tests: clusters described by what matters to a plan. */
import type { FleetSnapshot, SnapshotCluster, SnapshotWorkload } from "./fleet-snapshot.ts";

export interface ClusterSketch {
  name: string;
  location?: string;
  region?: string;
  environment?: string;
  business?: string;
  version?: string;
  zones?: string[];
  /** Nodes: count × shape. */
  nodes?: {
    count: number;
    instanceType?: string;
    cpu?: number;
    memory?: string;
    pods?: number;
    labels?: Record<string, string>;
    gpu?: number;
  };
  workloads?: Array<
    Partial<SnapshotWorkload> & { name: string; replicas: number; cpu?: string; memory?: string }
  >;
}

export function sketchCluster(s: ClusterSketch): SnapshotCluster {
  const zones = s.zones ?? ["z1", "z2"];
  const shape = s.nodes ?? { count: 2 };
  return {
    name: s.name,
    location: s.location ?? "frankfurt",
    ...(s.region ? { region: s.region } : {}),
    environment: s.environment ?? "dev",
    business: s.business ?? "shop",
    kubernetesVersion: s.version ?? "v1.36.3",
    zones,
    nodes: Array.from({ length: shape.count }, (_, i) => ({
      name: `${s.name}-node-${i}`,
      zone: zones[i % zones.length],
      instanceType: shape.instanceType ?? "m6.4xlarge",
      allocatable: {
        cpu: String(shape.cpu ?? 16),
        memory: shape.memory ?? "64Gi",
        pods: String(shape.pods ?? 110),
        ...(shape.gpu ? { "nvidia.com/gpu": String(shape.gpu) } : {}),
      },
      ...(shape.labels ? { labels: shape.labels } : {}),
    })),
    workloads: (s.workloads ?? []).map(({ cpu, memory, ...w }) => ({
      namespace: w.namespace ?? s.name,
      kind: w.kind ?? "Deployment",
      ...w,
      podRequests: w.podRequests ?? { cpu: cpu ?? "500m", memory: memory ?? "1Gi" },
    })),
  };
}

export function sketchFleet(clusters: ClusterSketch[]): FleetSnapshot {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "FleetSnapshot",
    clusters: clusters.map(sketchCluster),
  };
}

/** The default lab's fleet as its inventory reports it (src/lab/topologies/default.yaml). */
export function labLikeFleet(): FleetSnapshot {
  return sketchFleet([
    {
      name: "fra-shop-prod",
      region: "fra-north",
      environment: "prod",
      zones: ["fra-north-1", "fra-north-2", "fra-north-3"],
      nodes: { count: 6 },
      workloads: [
        { namespace: "shop", name: "storefront", replicas: 12, cpu: "2", memory: "4Gi" },
        { namespace: "shop", name: "checkout", replicas: 6, cpu: "1", memory: "2Gi" },
        { namespace: "shop", name: "catalog-cache", replicas: 3, cpu: "500m", memory: "24Gi" },
      ],
    },
    {
      name: "fra-payments-prod",
      region: "fra-south",
      environment: "prod",
      business: "payments",
      zones: ["fra-south-1", "fra-south-2"],
      nodes: { count: 4 },
      workloads: [
        { namespace: "payments", name: "ledger", replicas: 6, cpu: "2", memory: "8Gi" },
        { namespace: "payments", name: "gateway", replicas: 4, cpu: "1", memory: "2Gi" },
      ],
    },
    {
      name: "fra-shop-dev",
      region: "fra-north",
      zones: ["fra-north-1"],
      nodes: { count: 2, instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
      workloads: [{ namespace: "shop-dev", name: "storefront", replicas: 2, cpu: "500m", memory: "1Gi" }],
    },
    {
      name: "fra-search-staging",
      region: "fra-south",
      environment: "staging",
      business: "search",
      zones: ["fra-south-1"],
      nodes: { count: 2, instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
      workloads: [{ namespace: "search", name: "indexer", replicas: 1, cpu: "1", memory: "4Gi" }],
    },
    {
      name: "sgp-shop-prod",
      location: "singapore",
      environment: "prod",
      zones: ["sgp-1", "sgp-2"],
      nodes: { count: 4 },
      workloads: [
        { namespace: "shop", name: "storefront", replicas: 8, cpu: "2", memory: "4Gi" },
        { namespace: "shop", name: "checkout", replicas: 4, cpu: "1", memory: "2Gi" },
      ],
    },
    {
      name: "sgp-shop-dev",
      location: "singapore",
      zones: ["sgp-1"],
      nodes: { count: 2, instanceType: "m6.xlarge", cpu: 4, memory: "16Gi" },
      workloads: [{ namespace: "shop-dev", name: "storefront", replicas: 1, cpu: "250m", memory: "512Mi" }],
    },
  ]);
}
