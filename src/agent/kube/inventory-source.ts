/**
 * The agent's view of its cluster, from watches (client-node informers) on nodes, Deployments, StatefulSets
 * and DaemonSets, and the server's version. Reports the whole inventory after each change, debounced; the
 * tunnel client turns consecutive inventories into deltas.
 */
import {
  AppsV1Api,
  CHANGE,
  CoreV1Api,
  ERROR,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  VersionApi,
} from "@kubernetes/client-node";
import { type InventoryItem, nodeKey, workloadKey } from "../../core/inventory/inventory.ts";
import { type NodeObject, nodeItem, type WorkloadObject, workloadItem } from "./inventory-items.ts";

export interface InventorySource {
  start(onChange: (items: Map<string, InventoryItem>) => void): Promise<void>;
  stop(): Promise<void>;
}

export function kubeInventorySource(kc: KubeConfig, debounceMs = 500): InventorySource {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const nodes = makeInformer(kc, "/api/v1/nodes", () => core.listNode());
  const deployments = makeInformer(kc, "/apis/apps/v1/deployments", () =>
    apps.listDeploymentForAllNamespaces(),
  );
  const statefulSets = makeInformer(kc, "/apis/apps/v1/statefulsets", () =>
    apps.listStatefulSetForAllNamespaces(),
  );
  const daemonSets = makeInformer(kc, "/apis/apps/v1/daemonsets", () => apps.listDaemonSetForAllNamespaces());
  const informers = [nodes, deployments, statefulSets, daemonSets] as unknown as Array<
    Informer<KubernetesObject>
  >;
  let version = "";
  let timer: NodeJS.Timeout | undefined;
  let versionTimer: NodeJS.Timeout | undefined;

  const snapshot = () => {
    const items = new Map<string, InventoryItem>();
    if (version) items.set("cluster", { kubernetesVersion: version });
    const workloads: Array<["Deployment" | "StatefulSet" | "DaemonSet", readonly KubernetesObject[]]> = [
      ["Deployment", deployments.list()],
      ["StatefulSet", statefulSets.list()],
      ["DaemonSet", daemonSets.list()],
    ];
    // Nodes keep the labels workloads select them by, so that a plan can match their nodeSelectors.
    const selectedKeys = new Set<string>();
    const workloadItems = workloads.flatMap(([kind, list]) =>
      list.map((o) => workloadItem(kind, o as WorkloadObject)),
    );
    for (const item of workloadItems)
      for (const key of Object.keys(item.nodeSelector ?? {})) selectedKeys.add(key);
    for (const n of nodes.list())
      items.set(nodeKey(n.metadata?.name ?? ""), nodeItem(n as NodeObject, selectedKeys));
    for (const item of workloadItems) items.set(workloadKey(item), item);
    return items;
  };

  return {
    async start(onChange) {
      const readVersion = async () => {
        try {
          version = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
        } catch {
          // Unreachable for now: the informers report it; the next read fills the version in.
        }
      };
      await readVersion();
      const changed = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => onChange(snapshot()), debounceMs);
      };
      for (const informer of informers) {
        informer.on(CHANGE, changed);
        // client-node stops an informer on a watch error; start it again after a pause.
        informer.on(ERROR, () => setTimeout(() => void informer.start().catch(() => {}), 2000));
      }
      await Promise.all(informers.map((i) => i.start()));
      onChange(snapshot());
      versionTimer = setInterval(() => void readVersion().then(changed), 60_000);
    },
    async stop() {
      if (timer) clearTimeout(timer);
      if (versionTimer) clearInterval(versionTimer);
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
