/**
 * The agent's reads of the addresses its cluster uses (issue 15, item 6), beside the inventory's watches: the
 * `ServiceCIDR` objects (`networking.k8s.io/v1`; an API server that does not serve them — before Kubernetes
 * 1.33, or with the API turned off — answers 404, and the report then says nothing of service ranges), the pods'
 * addresses (plain lists in pages of 500, finished pods left out, only the addresses and `hostNetwork` kept), and
 * the pod range the cluster declares, when kubeadm wrote one (`kube-system/kubeadm-config`, read if the agent may).
 * Nodes' podCIDRs come from the inventory's node informer. The summary itself is pure:
 * core/network/observed-network.ts.
 */
import { CoreV1Api, type KubeConfig, NetworkingV1Api, type V1Pod } from "@kubernetes/client-node";
import type { PodAddresses } from "../../core/network/observed-network.ts";
import { apiErrorCode } from "./api-error.ts";

/** What the agent reads of its cluster's network, apart from the nodes. */
export interface NetworkReads {
  /** Each ServiceCIDR's `spec.cidrs`; undefined when the API server does not serve ServiceCIDRs. */
  serviceCIDRs(): Promise<string[][] | undefined>;
  /** Pods that run or wait to run. */
  pods(): Promise<PodAddresses[]>;
  /** kubeadm's `networking.podSubnet`, when the cluster has one and the agent may read it. */
  declaredPodSubnet(): Promise<string | undefined>;
}

const pageSize = 500;
/** A missing API or object, or one the agent may not read: nothing to report, not a failure. */
const absent = (error: unknown) => [403, 404].includes(apiErrorCode(error) ?? 0);

/** The pod's addresses as the report reads them. */
export function podAddresses(pod: Pick<V1Pod, "spec" | "status">): PodAddresses {
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => Boolean(ip));
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP);
  return { hostNetwork: pod.spec?.hostNetwork === true, ips };
}

/** `networking.podSubnet` of a kubeadm ClusterConfiguration (YAML), without reading the rest of it. */
export function kubeadmPodSubnet(clusterConfiguration: string): string | undefined {
  const match = /^\s*podSubnet:\s*["']?([0-9a-fA-F.:/,\s]+?)["']?\s*$/m.exec(clusterConfiguration);
  return match?.[1]?.trim() || undefined;
}

export function kubeNetworkReads(kc: KubeConfig): NetworkReads {
  const core = kc.makeApiClient(CoreV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  return {
    async serviceCIDRs() {
      try {
        const list = await networking.listServiceCIDR();
        return list.items.map((s) => s.spec?.cidrs ?? []);
      } catch (error) {
        if (apiErrorCode(error) === 404) return undefined;
        throw error;
      }
    },
    async pods() {
      const pods: PodAddresses[] = [];
      let next: string | undefined;
      do {
        const page = await core.listPodForAllNamespaces({
          fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
          limit: pageSize,
          ...(next ? { _continue: next } : {}),
        });
        for (const pod of page.items) pods.push(podAddresses(pod));
        next = page.metadata?._continue || undefined;
      } while (next);
      return pods;
    },
    async declaredPodSubnet() {
      try {
        const map = await core.readNamespacedConfigMap({ name: "kubeadm-config", namespace: "kube-system" });
        const text = map.data?.ClusterConfiguration;
        return text ? kubeadmPodSubnet(text) : undefined;
      } catch (error) {
        if (absent(error)) return undefined;
        throw error;
      }
    },
  };
}
