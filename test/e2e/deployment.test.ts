import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { sleep } from "../../src/lab/processes.ts";
import { sharedLab } from "./shared-lab.ts";

const namespace = "e2e-deploy";

function deployment(): V1Deployment {
  return {
    metadata: { name: "web", namespace },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [
            { name: "web", image: "registry.example/web:1.0", resources: { requests: { cpu: "100m" } } },
          ],
        },
      },
    },
  };
}

async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch {
      // Retry until the deadline.
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

describe("a Deployment on every lab cluster, through @kubernetes/client-node", () => {
  const lab = sharedLab();

  for (const cluster of lab.topology.spec.clusters) {
    it(`${cluster.name}: 3 replicas become ready (scheduled by kube-scheduler, Running by kwok), then go away`, async () => {
      const kc = new KubeConfig();
      kc.loadFromFile(lab.kubeconfig);
      kc.setCurrentContext(cluster.name);
      const apps = kc.makeApiClient(AppsV1Api);
      const core = kc.makeApiClient(CoreV1Api);

      await core
        .createNamespace({ body: { metadata: { name: namespace } } })
        .catch((e: { code?: number }) => {
          if (e.code !== 409) throw e;
        });
      await apps.createNamespacedDeployment({ namespace, body: deployment() });

      const ready = await until(
        "3 ready replicas",
        () => apps.readNamespacedDeployment({ name: "web", namespace }),
        (d) => d.status?.readyReplicas === 3,
      );
      expect(ready.status?.readyReplicas).toBe(3);
      const pods = await core.listNamespacedPod({ namespace, labelSelector: "app=web" });
      expect(pods.items).toHaveLength(3);
      for (const pod of pods.items) {
        expect(pod.status?.phase).toBe("Running");
        expect(pod.spec?.nodeName?.startsWith(`${cluster.name}-`)).toBe(true);
      }

      await apps.deleteNamespacedDeployment({ name: "web", namespace });
      await until(
        "the pods to be deleted",
        () => core.listNamespacedPod({ namespace, labelSelector: "app=web" }),
        (list) => list.items.length === 0,
      );
      await core.deleteNamespace({ name: namespace });
    });
  }
});
