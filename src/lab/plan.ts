/**
 * The lab as data: from a topology and the folders, every process to start (binary, flags, log file), every
 * port, every fake node and baseline workload, and each cluster's place in the topology's network plan (its
 * service range for kube-apiserver, its pod range and node mask for kube-controller-manager's node CIDRs, which
 * kwok gives pods their addresses from). Pure, so the whole layout is tested without starting anything.
 */
import { join } from "node:path";
import {
  apiServerPort,
  clusterZones,
  kwokServerPort,
  type LabBasePorts,
  type Topology,
  type TopologyCluster,
  type TopologyNodePool,
  type TopologyWorkload,
} from "../core/topology/topology.ts";
import {
  type LabClusterNetwork,
  planTopologyNetwork,
  type TopologyNetworkPlan,
} from "../core/topology/topology-network.ts";
import { UserError } from "../errors/user-error.ts";
import { binaryPath, type LabPaths } from "./paths.ts";
import { pkiFiles, serviceAccountFiles } from "./pki.ts";
import { kubernetesGitVersion, type LabBinary } from "./versions.ts";

export const defaultPorts = { etcd: 23790, apiServers: 16440 } as const;

/** One process the lab runs. */
export interface ProcessSpec {
  /** Stable name within the lab: `etcd`, or `<cluster>/<component>`. */
  name: string;
  binary: LabBinary;
  command: string;
  args: string[];
  logFile: string;
  /** Extra environment for the process. */
  env: Record<string, string>;
}

export type ComponentName = "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";
export const componentOrder: readonly ComponentName[] = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
];

export interface ClusterPlan {
  name: string;
  index: number;
  cluster: TopologyCluster;
  region: string;
  zones: string[];
  apiPort: number;
  apiUrl: string;
  /** Port of the cluster's kwok server: the kubelet endpoint of all its fake nodes, on 127.0.0.1. */
  kwokPort: number;
  etcdPrefix: string;
  dir: string;
  /** kwok's own config for this cluster (a ClusterLogs object), read after the lab's stages. */
  kwokConfig: string;
  /** The log every pod of the cluster shows (`kubectl logs`), in the CRI log format. */
  podLogFile: string;
  /** Kubeconfig the cluster's own components use (one context). */
  componentKubeconfig: string;
  /** Its ranges and ID in the topology's network plan, which its components' flags follow. */
  network: LabClusterNetwork;
  components: Record<ComponentName, ProcessSpec>;
  nodes: NodeManifest[];
  workloads: DeploymentManifest[];
}

export interface LabPlan {
  /** The topology's network plan: the Locations' NetworkPools and every cluster's ranges. */
  network: TopologyNetworkPlan;
  etcd: ProcessSpec & { clientPort: number; peerPort: number; url: string };
  clusters: ClusterPlan[];
  /** Every loopback port the lab listens on, with what uses it. */
  ports: Array<{ port: number; owner: string }>;
}

/** Lays out the whole lab. */
export function planLab(topology: Topology, paths: LabPaths): LabPlan {
  const ports = topology.spec.ports ?? defaultPorts;
  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  const etcd = {
    name: "etcd",
    binary: "etcd" as const,
    command: binaryPath(paths, "etcd"),
    args: [
      "--name=unitfleet-lab",
      `--data-dir=${paths.etcdDataDir}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcd + 1}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcd + 1}`,
      `--initial-cluster=unitfleet-lab=http://127.0.0.1:${ports.etcd + 1}`,
      "--auto-compaction-retention=1",
      "--quota-backend-bytes=4294967296",
      // Lab data is throwaway: skipping fsync makes every write (and so every cluster) much faster.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ],
    logFile: join(paths.logsDir, "etcd.log"),
    env: {},
    clientPort: ports.etcd,
    peerPort: ports.etcd + 1,
    url: etcdUrl,
  };
  const network = planTopologyNetwork(topology);
  // A topology read from a file was checked with its network plan; one built in code may not have been.
  if (!network.ok)
    throw new UserError("InvalidInput", "the topology's network plan cannot be made", {
      problems: network.problems,
    });
  const clusters = topology.spec.clusters.map((c, i) =>
    planCluster(topology, c, i, network.value.clusters[i]!, ports, etcdUrl, paths),
  );
  return {
    network: network.value,
    etcd,
    clusters,
    ports: [
      { port: etcd.clientPort, owner: "etcd (client)" },
      { port: etcd.peerPort, owner: "etcd (peer)" },
      ...clusters.map((c) => ({ port: c.apiPort, owner: `${c.name} API server` })),
      ...clusters.map((c) => ({ port: c.kwokPort, owner: `${c.name} kwok server` })),
    ],
  };
}

function planCluster(
  topology: Topology,
  c: TopologyCluster,
  index: number,
  network: LabClusterNetwork,
  ports: LabBasePorts,
  etcdUrl: string,
  paths: LabPaths,
): ClusterPlan {
  const apiPort = apiServerPort(ports, index);
  const kwokPort = kwokServerPort(ports, index);
  const dir = join(paths.stateDir, "clusters", c.name);
  const kwokConfig = join(dir, "kwok.yaml");
  const pki = pkiFiles(paths.pkiDir);
  const sa = serviceAccountFiles(paths.pkiDir, c.name);
  const componentKubeconfig = join(dir, "kubeconfig");
  const log = (component: string) => join(paths.logsDir, `${c.name}-${component}.log`);
  const spec = (component: ComponentName, args: string[], env: Record<string, string> = {}): ProcessSpec => ({
    name: `${c.name}/${component}`,
    binary: component,
    command: binaryPath(paths, component),
    args,
    logFile: log(component),
    env,
  });
  const zones = clusterZones(topology, c);
  return {
    name: c.name,
    index,
    cluster: c,
    region: c.region ?? c.location,
    zones,
    apiPort,
    apiUrl: `https://127.0.0.1:${apiPort}`,
    kwokPort,
    etcdPrefix: `/unitfleet-lab/${c.name}/registry`,
    dir,
    kwokConfig,
    podLogFile: join(dir, "pod.log"),
    componentKubeconfig,
    network,
    components: {
      "kube-apiserver": spec("kube-apiserver", [
        `--etcd-servers=${etcdUrl}`,
        `--etcd-prefix=/unitfleet-lab/${c.name}/registry`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        // A loopback advertise address cannot be written to the kubernetes Endpoints: no reconciler.
        "--endpoint-reconciler-type=none",
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${sa.publicKey}`,
        `--service-account-signing-key-file=${sa.privateKey}`,
        `--service-cluster-ip-range=${network.services.join(",")}`,
        "--allow-privileged=true",
        "--profiling=false",
        `--cert-dir=${join(dir, "certs")}`,
        // pods/log (and exec, port-forward) are proxied to the node's kubelet endpoint: kwok's server, at the
        // node's InternalIP (127.0.0.1) and daemonEndpoints port, checked against the lab's CA.
        "--kubelet-preferred-address-types=InternalIP",
        `--kubelet-certificate-authority=${pki.caCert}`,
        `--kubelet-client-certificate=${pki.kubeletClientCert}`,
        `--kubelet-client-key=${pki.kubeletClientKey}`,
      ]),
      "kube-controller-manager": spec("kube-controller-manager", [
        `--kubeconfig=${componentKubeconfig}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        `--service-account-private-key-file=${sa.privateKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-name=${c.name}`,
        "--node-monitor-period=5s",
        "--node-monitor-grace-period=40s",
        "--controllers=*,-bootstrapsigner,-tokencleaner",
        // Node IPAM: each node gets spec.podCIDRs from the cluster's planned pod range, which kwok's pods use.
        ...nodeCidrFlags(network),
      ]),
      "kube-scheduler": spec("kube-scheduler", [
        `--kubeconfig=${componentKubeconfig}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
      ]),
      // kwok also reads ~/.kwok/kwok.yaml: its HOME is the cluster's folder so that nothing of the user's leaks in.
      kwok: spec(
        "kwok",
        [
          `--kubeconfig=${componentKubeconfig}`,
          `--config=${paths.kwokStages}`,
          `--config=${kwokConfig}`,
          "--manage-all-nodes=true",
          "--node-lease-duration-seconds=40",
          // Pods get addresses from their node's spec.podCIDRs; this is for a pod whose node has none yet.
          `--cidr=${network.pods[0]}`,
          "--node-ip=127.0.0.1",
          // The node stages write this port into every node's daemonEndpoints.kubeletEndpoint.
          `--node-port=${kwokPort}`,
          // Without it kwok would listen on every interface.
          `--server-address=127.0.0.1:${kwokPort}`,
          `--tls-cert-file=${pki.kwokServerCert}`,
          `--tls-private-key-file=${pki.kwokServerKey}`,
        ],
        { HOME: dir },
      ),
    },
    nodes: c.nodePools.flatMap((pool) => poolNodes(c, pool, pool.zones ?? zones, c.region ?? c.location)),
    workloads: (c.workloads ?? []).map((w) =>
      deployment(
        w.namespace,
        w.name,
        w.replicas,
        { cpu: String(w.cpu), memory: String(w.memory) },
        usageAnnotations(w.usage),
      ),
    ),
  };
}

/**
 * kube-controller-manager's flags for node IPAM (v1.36): allocate each node a range of the planned pod ranges
 * at the planned node mask, keeping clear of the service range. One mask flag for a single-stack cluster, one
 * per family for a dual-stack one.
 */
export function nodeCidrFlags(network: LabClusterNetwork): string[] {
  const masks =
    network.nodeMask.ipv4 !== undefined && network.nodeMask.ipv6 !== undefined
      ? [
          `--node-cidr-mask-size-ipv4=${network.nodeMask.ipv4}`,
          `--node-cidr-mask-size-ipv6=${network.nodeMask.ipv6}`,
        ]
      : [`--node-cidr-mask-size=${network.nodeMask.ipv4 ?? network.nodeMask.ipv6}`];
  return [
    "--allocate-node-cidrs=true",
    `--cluster-cidr=${network.pods.join(",")}`,
    ...masks,
    `--service-cluster-ip-range=${network.services.join(",")}`,
    // No cloud provider: no routes to configure.
    "--configure-cloud-routes=false",
  ];
}

/** The pod annotations kwok reads a container's usage from (its `usage-from-annotation` convention). */
export const usageAnnotation = {
  cpu: "kwok.x-k8s.io/usage-cpu",
  memory: "kwok.x-k8s.io/usage-memory",
} as const;

/**
 * The path of a node's kubelet resource metrics on kwok's server, which serves every node of a cluster on one
 * port. Each node names it in its `metrics.k8s.io/resource-metrics-path` annotation, as metrics-server (0.7 and
 * newer) and unitfleet's agent read it: `/api/v1/nodes/NODE/proxy` + this path reaches kwok through the API
 * server's node proxy.
 */
export function resourceMetricsPath(node: string): string {
  return `/metrics/nodes/${node}/metrics/resource`;
}

/**
 * kwok's per-cluster config: every pod of the cluster (any container) shows the cluster's pod log; each node
 * serves kubelet-style resource metrics (`/metrics/resource`: cpu as a counter of core-seconds, memory working
 * set as a gauge); and each container uses what its pod's usage annotations say, or else a share of its
 * requests (35% of cpu, 60% of memory: a typical over-provisioned service), or else kwok's 1m and 1Mi.
 */
export function kwokClusterConfig(cluster: Pick<ClusterPlan, "podLogFile">) {
  const perContainer = (resource: "cpu" | "memory", share: number, floor: string) =>
    [
      `"${usageAnnotation[resource]}" in pod.metadata.annotations`,
      `? Quantity(pod.metadata.annotations["${usageAnnotation[resource]}"])`,
      `: ("${resource}" in container.resources.requests`,
      `  ? container.resources.requests["${resource}"] * ${share.toFixed(2)}`,
      `  : Quantity("${floor}"))`,
    ].join("\n");
  const podLabels = [
    { name: "namespace", value: "pod.metadata.namespace" },
    { name: "pod", value: "pod.metadata.name" },
  ];
  return [
    {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "ClusterLogs",
      metadata: { name: "unitfleet-lab-pod-log" },
      spec: { logs: [{ logsFile: cluster.podLogFile }] },
    },
    {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "ClusterResourceUsage",
      metadata: { name: "unitfleet-lab-usage" },
      spec: {
        usages: [
          {
            usage: {
              cpu: { expression: perContainer("cpu", 0.35, "1m") },
              memory: { expression: perContainer("memory", 0.6, "1Mi") },
            },
          },
        ],
      },
    },
    {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "Metric",
      metadata: { name: "unitfleet-lab-metrics-resource" },
      spec: {
        path: resourceMetricsPath("{nodeName}"),
        metrics: [
          {
            name: "scrape_error",
            dimension: "node",
            kind: "gauge",
            help: "1 if there was an error while getting metrics from the node, 0 otherwise",
            value: "0",
          },
          {
            name: "node_cpu_usage_seconds_total",
            dimension: "node",
            kind: "counter",
            help: "Cumulative cpu time consumed by the node in core-seconds",
            value: 'node.CumulativeUsage("cpu")',
          },
          {
            name: "node_memory_working_set_bytes",
            dimension: "node",
            kind: "gauge",
            help: "Current working set of the node in bytes",
            value: 'node.Usage("memory")',
          },
          {
            name: "pod_cpu_usage_seconds_total",
            dimension: "pod",
            kind: "counter",
            help: "Cumulative cpu time consumed by the pod in core-seconds",
            labels: podLabels,
            value: 'pod.CumulativeUsage("cpu")',
          },
          {
            name: "pod_memory_working_set_bytes",
            dimension: "pod",
            kind: "gauge",
            help: "Current working set of the pod in bytes",
            labels: podLabels,
            value: 'pod.Usage("memory")',
          },
          {
            name: "container_cpu_usage_seconds_total",
            dimension: "container",
            kind: "counter",
            help: "Cumulative cpu time consumed by the container in core-seconds",
            labels: [{ name: "container", value: "container.name" }, ...podLabels],
            value: 'pod.CumulativeUsage("cpu", container.name)',
          },
          {
            name: "container_memory_working_set_bytes",
            dimension: "container",
            kind: "gauge",
            help: "Current working set of the container in bytes",
            labels: [{ name: "container", value: "container.name" }, ...podLabels],
            value: 'pod.Usage("memory", container.name)',
          },
        ],
      },
    },
  ];
}

/** A workload's usage from the topology as kwok's pod annotations (what each container uses). */
function usageAnnotations(usage: TopologyWorkload["usage"]): Record<string, string> {
  const annotations: Record<string, string> = {};
  if (usage?.cpu !== undefined) annotations[usageAnnotation.cpu] = String(usage.cpu);
  if (usage?.memory !== undefined) annotations[usageAnnotation.memory] = String(usage.memory);
  return annotations;
}

/**
 * The few lines every pod of a cluster shows in `kubectl logs`, each naming the cluster, in the CRI log format
 * kwok reads (`<RFC 3339 time> stdout F <line>`), one second apart and ending at `now`.
 */
export function podLogText(cluster: string, now: Date): string {
  const lines = [
    `${cluster}: listening on :8080`,
    `${cluster}: GET /healthz 200`,
    `${cluster}: request served in 12ms`,
  ];
  return lines
    .map((line, i) => {
      const at = new Date(now.getTime() - (lines.length - 1 - i) * 1000).toISOString();
      return `${at} stdout F ${line}\n`;
    })
    .join("");
}

export interface NodeManifest {
  apiVersion: "v1";
  kind: "Node";
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { taints?: Array<{ key: string; value?: string; effect: string }> };
  status: {
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    nodeInfo: Record<string, string>;
  };
}

/** The fake nodes of a pool, spread round-robin over its zones. */
export function poolNodes(
  c: TopologyCluster,
  pool: TopologyNodePool,
  zones: string[],
  region: string,
): NodeManifest[] {
  const resources: Record<string, string> = {
    cpu: String(pool.cpu),
    memory: String(pool.memory),
    pods: String(pool.pods),
    ...Object.fromEntries(Object.entries(pool.extendedResources ?? {}).map(([k, v]) => [k, String(v)])),
  };
  return Array.from({ length: pool.count }, (_, i) => {
    const name = `${c.name}-${pool.name}-${i}`;
    const zone = zones[i % zones.length] ?? region;
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name,
        labels: {
          ...pool.labels,
          "kubernetes.io/hostname": name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          "topology.kubernetes.io/zone": zone,
          "topology.kubernetes.io/region": region,
          "node.kubernetes.io/instance-type":
            pool.instanceType ?? `${pool.cpu}cpu-${pool.memory}`.toLowerCase(),
          "unitfleet.io/node-pool": pool.name,
          type: "kwok",
        },
        annotations: {
          "node.alpha.kubernetes.io/ttl": "0",
          "kwok.x-k8s.io/node": "fake",
          "metrics.k8s.io/resource-metrics-path": resourceMetricsPath(name),
        },
      },
      spec: pool.taints && pool.taints.length > 0 ? { taints: pool.taints } : {},
      status: {
        capacity: resources,
        allocatable: resources,
        nodeInfo: {
          kubeletVersion: kubernetesGitVersion,
          kubeProxyVersion: kubernetesGitVersion,
          containerRuntimeVersion: "containerd://2.1.4",
          kernelVersion: "6.12.48+deb13-amd64",
          osImage: "Debian GNU/Linux 13 (trixie)",
          operatingSystem: "linux",
          architecture: "amd64",
        },
      },
    };
  });
}

export interface DeploymentManifest {
  apiVersion: "apps/v1";
  kind: "Deployment";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

/** A Deployment of `replicas` pods with the given requests (and pod annotations), tolerating kwok's fake nodes. */
export function deployment(
  namespace: string,
  name: string,
  replicas: number,
  requests: Record<string, string>,
  podAnnotations: Record<string, string> = {},
): DeploymentManifest {
  const labels = { app: name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { ...labels, "app.kubernetes.io/managed-by": "unitfleet-lab" } },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: {
          labels,
          ...(Object.keys(podAnnotations).length > 0 ? { annotations: podAnnotations } : {}),
        },
        spec: {
          containers: [{ name, image: `registry.example/${name}:1.0`, resources: { requests } }],
          tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
        },
      },
    },
  };
}

/** The lab's kubeconfig: one context per cluster, named after it, all with the lab's admin certificate. */
export function kubeconfigFor(
  clusters: ReadonlyArray<Pick<ClusterPlan, "name" | "apiUrl">>,
  pkiDir: string,
  current?: string,
) {
  const pki = pkiFiles(pkiDir);
  return {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: clusters.map((c) => ({
      name: c.name,
      cluster: { server: c.apiUrl, "certificate-authority": pki.caCert },
    })),
    users: [
      {
        name: "unitfleet-lab-admin",
        user: { "client-certificate": pki.adminCert, "client-key": pki.adminKey },
      },
    ],
    contexts: clusters.map((c) => ({
      name: c.name,
      context: { cluster: c.name, user: "unitfleet-lab-admin" },
    })),
    "current-context": current ?? clusters[0]?.name ?? "",
  };
}
