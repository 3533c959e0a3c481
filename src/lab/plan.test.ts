import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { labPaths } from "./paths.ts";
import { planLab } from "./plan.ts";
import { defaultTopologyPath, parseTopology } from "./topology-file.ts";

const topology = parseTopology(readFileSync(defaultTopologyPath, "utf8"), "default.yaml");
const paths = labPaths("/cache/unitfleet", "/home/u/.unitfleet");

describe("planLab on the default topology", () => {
  const plan = planLab(topology, paths);

  it("gives every cluster its own loopback port and etcd prefix, one after the other", () => {
    expect(plan.clusters.map((c) => c.apiPort)).toEqual([16441, 16442, 16443, 16444, 16445, 16446]);
    expect(new Set(plan.clusters.map((c) => c.etcdPrefix)).size).toBe(plan.clusters.length);
    expect(plan.ports.map((p) => p.port)).toEqual([23790, 23791, 16441, 16442, 16443, 16444, 16445, 16446]);
    const api = plan.clusters[0]!.components["kube-apiserver"].args;
    expect(api).toContain("--secure-port=16441");
    expect(api).toContain("--etcd-prefix=/unitfleet-lab/fra-shop-prod/registry");
    expect(api).toContain("--etcd-servers=http://127.0.0.1:23790");
  });

  it("spreads a pool's nodes round-robin over its zones, labelled with zone, region and pool", () => {
    const prod = plan.clusters.find((c) => c.name === "fra-shop-prod")!;
    const general = prod.nodes.filter((n) => n.metadata.labels["unitfleet.io/node-pool"] === "general");
    expect(general.map((n) => n.metadata.labels["topology.kubernetes.io/zone"])).toEqual([
      "fra-north-1",
      "fra-north-2",
      "fra-north-3",
      "fra-north-1",
      "fra-north-2",
      "fra-north-3",
    ]);
    expect(general[0]!.metadata.labels["topology.kubernetes.io/region"]).toBe("fra-north");
    expect(general[0]!.status.capacity).toEqual({ cpu: "16", memory: "64Gi", pods: "110" });
    const sgp = plan.clusters.find((c) => c.name === "sgp-shop-prod")!;
    expect(sgp.nodes[0]!.metadata.labels["topology.kubernetes.io/region"]).toBe("singapore");
  });

  it("turns workloads into Deployments with per-pod requests that tolerate kwok's nodes", () => {
    const prod = plan.clusters.find((c) => c.name === "fra-shop-prod")!;
    const storefront = prod.workloads.find((w) => w.metadata.name === "storefront")!;
    expect(storefront.metadata.namespace).toBe("shop");
    expect(storefront.spec.replicas).toBe(12);
    expect(JSON.stringify(storefront.spec)).toContain('"requests":{"cpu":"2","memory":"4Gi"}');
  });

  it("gives kwok a HOME of its own and the lab's stages", () => {
    const kwok = plan.clusters[0]!.components.kwok;
    expect(kwok.env.HOME).toBe("/home/u/.unitfleet/lab/clusters/fra-shop-prod");
    expect(kwok.args).toContain(`--config=${paths.kwokStages}`);
  });
});
