import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { labStartCluster, labStatus, labStopCluster } from "../../src/lab/lab.ts";
import { sharedLab } from "./shared-lab.ts";

describe("lab stop / lab start of one cluster", () => {
  const lab = sharedLab();
  const target = lab.topology.spec.clusters.at(-1)!.name;

  it(`makes ${target}'s API unreachable, then brings it back with its objects, leaving the others up`, async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(lab.kubeconfig);
    kc.setCurrentContext(target);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "survives-restart" }, data: { written: "before stop" } },
    });

    try {
      expect(await labStopCluster(lab.context, target)).toBe(4);
      await expect(core.readNamespace({ name: "default" })).rejects.toThrow(
        /ECONNREFUSED|fetch failed|connect/i,
      );
      const stopped = await labStatus(lab.context);
      expect(stopped.clusters.find((c) => c.name === target)?.state).toBe("down");
      expect(stopped.clusters.filter((c) => c.name !== target).every((c) => c.state === "up")).toBe(true);
    } finally {
      // Whatever happened above, the shared lab is left whole for the other test files.
      await labStartCluster(lab.context, target);
    }

    const back = await core.readNamespacedConfigMap({ name: "survives-restart", namespace: "default" });
    expect(back.data?.written).toBe("before stop");
    const status = await labStatus(lab.context);
    const restarted = status.clusters.find((c) => c.name === target)!;
    expect(restarted.state).toBe("up");
    expect(restarted.nodesReady).toBe(restarted.nodesTotal);
    await core.deleteNamespacedConfigMap({ name: "survives-restart", namespace: "default" });
  });
});
