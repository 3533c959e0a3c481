/**
 * What the metering sampler reads from a cluster, behind one interface so that the sampler is tested with a
 * fake: pods, their owners, nodes, claims, LoadBalancer Services, and usage from the kubelet's resource metrics
 * or the metrics API. The shapes are the parts of the Kubernetes objects the sampler uses; client-node's objects
 * fit them as they are (../kube/metering-reader.ts).
 */

export type Quantities = Record<string, string | undefined>;

export interface OwnerReference {
  kind: string;
  name: string;
  controller?: boolean;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface ContainerShape {
  name: string;
  resources?: { requests?: Quantities; limits?: Quantities };
}

export interface PodShape {
  metadata?: ObjectMeta;
  spec?: {
    nodeName?: string;
    containers: ContainerShape[];
    initContainers?: ContainerShape[];
    volumes?: Array<{ persistentVolumeClaim?: { claimName: string } }>;
  };
  status?: { phase?: string };
}

export interface NodeShape {
  metadata?: ObjectMeta;
  status?: {
    allocatable?: Quantities;
    conditions?: Array<{ type: string; status: string }>;
  };
}

export interface ClaimShape {
  metadata?: ObjectMeta;
  spec?: { storageClassName?: string; resources?: { requests?: Quantities } };
  status?: { phase?: string; capacity?: Quantities };
}

export interface ServiceShape {
  metadata?: ObjectMeta;
  spec?: { type?: string; selector?: Record<string, string> };
}

/** A ReplicaSet or Job: only who owns it matters. */
export interface OwnedShape {
  metadata?: ObjectMeta;
}

/** One container's usage from the metrics API (`metrics.k8s.io/v1beta1` PodMetrics). */
export interface PodMetricsShape {
  metadata?: ObjectMeta;
  containers: Array<{ name: string; usage: Quantities }>;
}

/** The kubelet's resource metrics of one node, as Prometheus text, and when they were read. */
export interface NodeMetricsText {
  text: string;
  /** Epoch milliseconds at which the agent read them (for samples without their own timestamp). */
  readAt: number;
}

export interface ClusterReader {
  pods(): Promise<PodShape[]>;
  nodes(): Promise<NodeShape[]>;
  replicaSets(): Promise<OwnedShape[]>;
  jobs(): Promise<OwnedShape[]>;
  claims(): Promise<ClaimShape[]>;
  services(): Promise<ServiceShape[]>;
  /**
   * The node's kubelet resource metrics (`/metrics/resource`, or the path its
   * `metrics.k8s.io/resource-metrics-path` annotation names); throws when neither the API server's node proxy
   * nor the node's kubelet endpoint answers.
   */
  nodeResourceMetrics(node: NodeShape): Promise<NodeMetricsText>;
  /** Every pod's usage from the metrics API; throws when the cluster does not serve it. */
  podMetrics(): Promise<PodMetricsShape[]>;
}
