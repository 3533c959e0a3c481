/**
 * The agent's view of its cluster, from watches (client-node informers) on nodes, Deployments, StatefulSets
 * and DaemonSets, and the server's version; and, read once a minute, the addresses the cluster uses (the
 * `network` item: nodes' podCIDRs from the node informer, ServiceCIDRs, a bounded summary of pod addresses;
 * network-reader.ts). Reports the whole inventory after each change, debounced; the tunnel client turns
 * consecutive inventories into deltas.
 */
import {
  AppsV1Api,
  CHANGE,
  CoreV1Api,
  ERROR,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  ListWatch,
  type V1Node,
  VersionApi,
  Watch,
} from "@kubernetes/client-node";
import {
  type InventoryItem,
  type NetworkItem,
  networkKey,
  nodeKey,
  workloadKey,
} from "../../core/inventory/inventory.ts";
import { type NetworkObservation, observeNetwork } from "../../core/network/observed-network.ts";
import { type NodeObject, nodeItem, type WorkloadObject, workloadItem } from "./inventory-items.ts";
import { kubeNetworkReads, type NetworkReads } from "./network-reader.ts";

export interface InventorySource {
  start(onChange: (items: Map<string, InventoryItem>) => void): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A watch that opens nothing once stopped. An informer that is (re)connecting when it is stopped — listing, or
 * waiting for the watch's response — still opens its watch afterwards, which then stays open: this one aborts
 * such a watch as soon as it is opened.
 */
class StoppableWatch extends Watch {
  stopped = false;

  override async watch(...args: Parameters<Watch["watch"]>): Promise<AbortController> {
    if (this.stopped) {
      const aborted = new AbortController();
      aborted.abort();
      return aborted;
    }
    const controller = await super.watch(...args);
    if (this.stopped) controller.abort();
    return controller;
  }
}

/** The nodes' podCIDRs (`spec.podCIDRs`, or the older `spec.podCIDR`). */
function nodePodCIDRs(node: V1Node): string[] {
  return node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
}

/**
 * The inventory of the cluster `kc` reaches. `networkEveryMs`: how often the network is read again (pods are
 * listed, not watched: a watch of every pod would keep them all in memory); `networkReads` replaces the reads
 * (tests).
 */
export function kubeInventorySource(
  kc: KubeConfig,
  debounceMs = 500,
  networkEveryMs = 60_000,
  networkReads: NetworkReads = kubeNetworkReads(kc),
): InventorySource {
  const watches: StoppableWatch[] = [];
  let stopped = false;
  const restarts = new Set<NodeJS.Timeout>();
  const makeInformer = <T extends KubernetesObject>(path: string, list: ListPromise<T>) => {
    const watch = new StoppableWatch(kc);
    watches.push(watch);
    return new ListWatch<T>(path, watch, list, false);
  };
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const nodes = makeInformer("/api/v1/nodes", () => core.listNode());
  const deployments = makeInformer("/apis/apps/v1/deployments", () => apps.listDeploymentForAllNamespaces());
  const statefulSets = makeInformer("/apis/apps/v1/statefulsets", () =>
    apps.listStatefulSetForAllNamespaces(),
  );
  const daemonSets = makeInformer("/apis/apps/v1/daemonsets", () => apps.listDaemonSetForAllNamespaces());
  const informers = [nodes, deployments, statefulSets, daemonSets] as unknown as Array<
    Informer<KubernetesObject>
  >;
  let version = "";
  let timer: NodeJS.Timeout | undefined;
  let versionTimer: NodeJS.Timeout | undefined;
  let networkTimer: NodeJS.Timeout | undefined;
  /** The last network read that succeeded (without nodes), and the item made of it with the nodes of then. */
  let networkRead: Omit<NetworkObservation, "nodePodCIDRs"> | undefined;
  let network: { nodes: string; item: NetworkItem } | undefined;

  const readNetwork = async () => {
    try {
      const [serviceCIDRs, pods, declaredPodSubnet] = await Promise.all([
        networkReads.serviceCIDRs(),
        networkReads.pods(),
        networkReads.declaredPodSubnet(),
      ]);
      networkRead = {
        pods,
        ...(serviceCIDRs ? { serviceCIDRs } : {}),
        ...(declaredPodSubnet ? { declaredPodSubnet } : {}),
      };
      network = undefined;
    } catch {
      // Unreachable or refused for now: the last read stands; the next one tries again.
    }
  };

  /** The network item for the nodes of now: made again only when a read or the nodes' podCIDRs changed. */
  const networkItem = (): NetworkItem | undefined => {
    if (!networkRead) return undefined;
    const podCIDRs = nodes.list().map((n) => nodePodCIDRs(n as V1Node));
    const key = JSON.stringify(podCIDRs);
    if (network?.nodes !== key)
      network = { nodes: key, item: observeNetwork({ ...networkRead, nodePodCIDRs: podCIDRs }) };
    return network.item;
  };

  const snapshot = () => {
    const items = new Map<string, InventoryItem>();
    if (version) items.set("cluster", { kubernetesVersion: version });
    const workloads: Array<["Deployment" | "StatefulSet" | "DaemonSet", readonly KubernetesObject[]]> = [
      ["Deployment", deployments.list()],
      ["StatefulSet", statefulSets.list()],
      ["DaemonSet", daemonSets.list()],
    ];
    // Nodes keep the labels workloads select them by, so that a plan can match their nodeSelectors and
    // node affinity.
    const selectedKeys = new Set<string>();
    const workloadItems = workloads.flatMap(([kind, list]) =>
      list.map((o) => workloadItem(kind, o as WorkloadObject)),
    );
    for (const item of workloadItems) {
      for (const key of Object.keys(item.nodeSelector ?? {})) selectedKeys.add(key);
      for (const term of item.nodeAffinity?.nodeSelectorTerms ?? [])
        for (const requirement of term.matchExpressions) selectedKeys.add(requirement.key);
    }
    for (const n of nodes.list())
      items.set(nodeKey(n.metadata?.name ?? ""), nodeItem(n as NodeObject, selectedKeys));
    for (const item of workloadItems) items.set(workloadKey(item), item);
    const observed = networkItem();
    if (observed) items.set(networkKey, observed);
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
        if (stopped) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => onChange(snapshot()), debounceMs);
      };
      for (const informer of informers) {
        informer.on(CHANGE, changed);
        // client-node stops an informer on a watch error; start it again after a pause. Stopping an informer
        // aborts its watch, which client-node reports as an error too: that one must not start it again (the
        // watches, reopened, kept the lab's API servers from shutting down).
        informer.on(ERROR, () => {
          if (stopped) return;
          const restart = setTimeout(() => {
            restarts.delete(restart);
            if (!stopped) void informer.start().catch(() => {});
          }, 2000);
          restarts.add(restart);
        });
      }
      // The network is read beside the informers' first lists, so that the first report has it too.
      await Promise.all([readNetwork(), ...informers.map((i) => i.start())]);
      onChange(snapshot());
      versionTimer = setInterval(() => void readVersion().then(changed), 60_000);
      networkTimer = setInterval(() => void readNetwork().then(changed), networkEveryMs);
    },
    async stop() {
      stopped = true;
      for (const watch of watches) watch.stopped = true;
      for (const restart of restarts) clearTimeout(restart);
      restarts.clear();
      if (timer) clearTimeout(timer);
      if (versionTimer) clearInterval(versionTimer);
      if (networkTimer) clearInterval(networkTimer);
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
