import { describe, expect, it } from "vitest";
import { parseQuantity } from "../../src/core/quantity/quantity.ts";
import { clusterZones } from "../../src/core/topology/topology.ts";
import { labStatus } from "../../src/lab/lab.ts";
import { labVersions } from "../../src/lab/versions.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";
import { sharedLab } from "./shared-lab.ts";

interface NodeJson {
  metadata: { name: string; labels: Record<string, string> };
  status: { capacity: Record<string, string>; conditions: Array<{ type: string; status: string }> };
}

describe("the lab's clusters, seen with the built kubectl through each context", () => {
  const lab = sharedLab();

  for (const cluster of lab.topology.spec.clusters) {
    it(`${cluster.name} answers /version with the pinned version and has every node Ready with its zone and capacity`, async () => {
      const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(lab, cluster.name, [
        "version",
      ]);
      expect(version.serverVersion.gitVersion).toBe(`v${labVersions.kubernetes}`);

      const nodes = await kubectlJson<{ items: NodeJson[] }>(lab, cluster.name, ["get", "nodes"]);
      const expectedCount = cluster.nodePools.reduce((n, p) => n + p.count, 0);
      expect(nodes.items).toHaveLength(expectedCount);
      const zones = clusterZones(lab.topology, cluster);
      for (const node of nodes.items) {
        expect(node.status.conditions.find((c) => c.type === "Ready")?.status, node.metadata.name).toBe(
          "True",
        );
        expect(node.metadata.labels["topology.kubernetes.io/region"]).toBe(
          cluster.region ?? cluster.location,
        );
        const pool = cluster.nodePools.find((p) => p.name === node.metadata.labels["unitfleet.io/node-pool"]);
        expect(pool, node.metadata.name).toBeDefined();
        expect(pool!.zones ?? zones).toContain(node.metadata.labels["topology.kubernetes.io/zone"]);
        expect(quantity(node.status.capacity.cpu)).toBe(quantity(pool!.cpu));
        expect(quantity(node.status.capacity.memory)).toBe(quantity(pool!.memory));
        expect(Number(node.status.capacity.pods)).toBe(pool!.pods);
      }
    });
  }

  it("has each cluster's baseline workloads running, pods bound by the real scheduler", async () => {
    for (const cluster of lab.topology.spec.clusters) {
      for (const w of cluster.workloads ?? []) {
        const d = await kubectlJson<{ status: { readyReplicas?: number } }>(lab, cluster.name, [
          "get",
          "deployment",
          "-n",
          w.namespace,
          w.name,
        ]);
        expect(d.status.readyReplicas ?? 0, `${cluster.name} ${w.namespace}/${w.name}`).toBe(w.replicas);
      }
    }
  });

  it("keeps clusters apart: an object created in one cluster is absent from the others", async () => {
    const [first, second] = lab.topology.spec.clusters;
    await kubectl(lab, first!.name, ["create", "namespace", "only-in-first"]);
    try {
      await expect(kubectl(lab, second!.name, ["get", "namespace", "only-in-first"])).rejects.toThrow(
        /NotFound/,
      );
    } finally {
      await kubectl(lab, first!.name, ["delete", "namespace", "only-in-first", "--wait=false"]);
    }
  });

  it("reports every cluster up in `lab status`, with memory per cluster", async () => {
    const status = await labStatus(lab.context);
    expect(status.etcd.state).toBe("up");
    expect(status.clusters.map((c) => [c.name, c.state])).toEqual(
      lab.topology.spec.clusters.map((c) => [c.name, "up"]),
    );
    for (const c of status.clusters) {
      expect(c.nodesReady).toBe(c.nodesTotal);
      expect(c.version).toBe(`v${labVersions.kubernetes}`);
      expect(c.memoryBytes).toBeGreaterThan(50 * 2 ** 20);
    }
  });
});

function quantity(text: string | number | undefined): number {
  const parsed = parseQuantity(text ?? "");
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}
