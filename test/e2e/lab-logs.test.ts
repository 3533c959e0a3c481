import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment, type V1Pod } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { sleep } from "../../src/lab/processes.ts";
import { kubectl } from "./kubectl.ts";
import { sharedLab } from "./shared-lab.ts";

const namespace = "e2e-logs";
const name = "echo";

const echo: V1Deployment = {
  metadata: { name, namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [{ name, image: "registry.example/echo:1.0", resources: { requests: { cpu: "50m" } } }],
      },
    },
  },
};

function clients(kubeconfig: string, context: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  kc.setCurrentContext(context);
  return { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api) };
}

async function runningPod(core: CoreV1Api, timeoutMs = 60_000): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  let phases: string[] = [];
  while (Date.now() < deadline) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
    const running = pods.items.find((p) => p.status?.phase === "Running");
    if (running) return running;
    phases = pods.items.map((p) => p.status?.phase ?? "?");
    await sleep(250);
  }
  throw new Error(`no Running pod of ${namespace}/${name}; phases: ${JSON.stringify(phases)}`);
}

function lines(text: string): string[] {
  return text.trimEnd().split("\n");
}

describe("pod logs in the lab: API server → kwok's kubelet endpoint → the cluster's pod log", () => {
  const lab = sharedLab();

  afterAll(async () => {
    for (const cluster of lab.topology.spec.clusters)
      await clients(lab.kubeconfig, cluster.name)
        .core.deleteNamespace({ name: namespace })
        .catch(() => undefined);
  });

  for (const cluster of lab.topology.spec.clusters) {
    it(`${cluster.name}: a new pod's logs name its cluster, through kubectl and client-node`, async () => {
      const { apps, core } = clients(lab.kubeconfig, cluster.name);
      await core
        .createNamespace({ body: { metadata: { name: namespace } } })
        .catch((e: { code?: number }) => {
          if (e.code !== 409) throw e;
        });
      await apps.createNamespacedDeployment({ namespace, body: echo });
      const pod = await runningPod(core);
      const podName = pod.metadata?.name ?? "";
      expect(pod.spec?.nodeName?.startsWith(`${cluster.name}-`)).toBe(true);

      const viaKubectl = await kubectl(lab, cluster.name, ["logs", "-n", namespace, podName]);
      expect(lines(viaKubectl)).toContain(`${cluster.name}: request served in 12ms`);
      // Every line is this cluster's: no other cluster's log leaks in.
      for (const line of lines(viaKubectl)) expect(line.startsWith(`${cluster.name}: `), line).toBe(true);

      const viaClient = await core.readNamespacedPodLog({ name: podName, namespace });
      expect(lines(viaClient)).toEqual(lines(viaKubectl));
      // Log options reach kwok's server: only the last line.
      const last = await core.readNamespacedPodLog({ name: podName, namespace, tailLines: 1 });
      expect(lines(last)).toEqual([`${cluster.name}: request served in 12ms`]);

      await apps.deleteNamespacedDeployment({ name, namespace });
    });
  }
});
