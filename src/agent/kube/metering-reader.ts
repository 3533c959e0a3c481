/**
 * The metering sampler's reads against a real cluster (client-node, so it lives with the other adapters). Lists are plain lists, once a minute.
 *
 * A node's kubelet resource metrics are read the way metrics-server reads them, at the path the node's
 * `metrics.k8s.io/resource-metrics-path` annotation names (kwok serves every node on one port, each at its own
 * path) or `/metrics/resource`: first through the API server's node proxy (`/api/v1/nodes/NODE/proxy/…`, which
 * needs `nodes/proxy` get), and, when the API server refuses to proxy to the node's address (it proxies only to
 * global unicast addresses, so never to the lab's 127.0.0.1 nodes), straight from the node's kubelet endpoint
 * (InternalIP and `daemonEndpoints.kubeletEndpoint.Port`) with the kubeconfig's credentials, its server
 * certificate checked against the cluster's CA — as metrics-server does from inside a cluster.
 */
import { request } from "node:https";
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Node,
} from "@kubernetes/client-node";
import type {
  ClusterReader,
  NodeMetricsText,
  NodeShape,
  PodMetricsShape,
} from "../metering/cluster-reader.ts";

const requestTimeoutMs = 10_000;
const resourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path";

export function kubeClusterReader(kc: KubeConfig): ClusterReader {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  /** How each node answered last time, so that a refused proxy is not asked again every minute. */
  const route = new Map<string, "proxy" | "direct">();

  const getText = async (url: string): Promise<string> => {
    const options: Parameters<typeof request>[1] = { method: "GET", timeout: requestTimeoutMs };
    await kc.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`GET ${url}: ${res.statusCode} ${body.slice(0, 200).trim()}`));
        });
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer in ${requestTimeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    });
  };

  const viaProxy = (node: NodeShape, path: string) => {
    const server = kc.getCurrentCluster()?.server ?? "";
    return getText(`${server}/api/v1/nodes/${encodeURIComponent(node.metadata?.name ?? "")}/proxy${path}`);
  };
  const direct = (node: NodeShape, path: string) => {
    const status = (node as V1Node).status;
    const address = status?.addresses?.find((a) => a.type === "InternalIP")?.address;
    const port = status?.daemonEndpoints?.kubeletEndpoint?.Port;
    if (!address || !port) throw new Error(`node ${node.metadata?.name} names no InternalIP or kubelet port`);
    const host = address.includes(":") ? `[${address}]` : address;
    return getText(`https://${host}:${port}${path}`);
  };

  return {
    pods: async () => (await core.listPodForAllNamespaces()).items,
    nodes: async () => (await core.listNode()).items,
    replicaSets: async () => (await apps.listReplicaSetForAllNamespaces()).items,
    jobs: async () => (await batch.listJobForAllNamespaces()).items,
    claims: async () => (await core.listPersistentVolumeClaimForAllNamespaces()).items,
    services: async () => (await core.listServiceForAllNamespaces()).items,
    async nodeResourceMetrics(node): Promise<NodeMetricsText> {
      const name = node.metadata?.name ?? "";
      const path = node.metadata?.annotations?.[resourceMetricsPathAnnotation] ?? "/metrics/resource";
      if (route.get(name) !== "direct") {
        try {
          const text = await viaProxy(node, path);
          route.set(name, "proxy");
          return { text, readAt: Date.now() };
        } catch (error) {
          // Only a refusal of the node's address (400) is worth the direct way; anything else is an answer.
          if (!/: 400 /.test((error as Error).message)) throw error;
        }
      }
      const text = await direct(node, path);
      route.set(name, "direct");
      return { text, readAt: Date.now() };
    },
    async podMetrics(): Promise<PodMetricsShape[]> {
      const list = (await custom.listClusterCustomObject({
        group: "metrics.k8s.io",
        version: "v1beta1",
        plural: "pods",
      })) as { items?: PodMetricsShape[] };
      return list.items ?? [];
    },
  };
}
