import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cidr, cidrsOverlap } from "../core/network/cidr.ts";
import { UserError } from "../errors/user-error.ts";
import { labPaths } from "./paths.ts";
import { type ClusterPlan, kwokClusterConfig, planLab, podLogText } from "./plan.ts";
import { defaultTopologyPath, parseTopology } from "./topology-file.ts";

const topology = parseTopology(readFileSync(defaultTopologyPath, "utf8"), "default.yaml");
const paths = labPaths("/cache/unitfleet", "/home/u/.unitfleet");

describe("planLab on the default topology", () => {
  const plan = planLab(topology, paths);

  it("gives every cluster its own loopback port and etcd prefix, one after the other", () => {
    expect(plan.clusters.map((c) => c.apiPort)).toEqual([16441, 16442, 16443, 16444, 16445, 16446]);
    expect(new Set(plan.clusters.map((c) => c.etcdPrefix)).size).toBe(plan.clusters.length);
    expect(plan.ports.map((p) => p.port)).toEqual([
      23790, 23791, 16441, 16442, 16443, 16444, 16445, 16446, 23792, 23793, 23794, 23795, 23796, 23797,
    ]);
    expect(new Set(plan.ports.map((p) => p.port)).size).toBe(plan.ports.length);
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

  it("runs each cluster's kwok server on its own loopback port after etcd's, with a lab certificate", () => {
    expect(plan.clusters.map((c) => c.kwokPort)).toEqual([23792, 23793, 23794, 23795, 23796, 23797]);
    const prod = plan.clusters[0]!;
    expect(plan.ports).toContainEqual({ port: 23792, owner: "fra-shop-prod kwok server" });
    expect(prod.components.kwok.args).toEqual(
      expect.arrayContaining([
        "--config=/home/u/.unitfleet/lab/clusters/fra-shop-prod/kwok.yaml",
        "--node-port=23792",
        "--server-address=127.0.0.1:23792",
        "--tls-cert-file=/home/u/.unitfleet/lab/pki/kwok-server.crt",
        "--tls-private-key-file=/home/u/.unitfleet/lab/pki/kwok-server.key",
      ]),
    );
  });

  it("lets the API server reach kwok's server at the node's InternalIP, checking it against the lab CA", () => {
    expect(plan.clusters[0]!.components["kube-apiserver"].args).toEqual(
      expect.arrayContaining([
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-certificate-authority=/home/u/.unitfleet/lab/pki/ca.crt",
        "--kubelet-client-certificate=/home/u/.unitfleet/lab/pki/apiserver-kubelet-client.crt",
        "--kubelet-client-key=/home/u/.unitfleet/lab/pki/apiserver-kubelet-client.key",
      ]),
    );
  });

  it("points every pod of a cluster at that cluster's own pod log", () => {
    const prod = plan.clusters[0]!;
    expect(kwokClusterConfig(prod)).toContainEqual({
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "ClusterLogs",
      metadata: { name: "unitfleet-lab-pod-log" },
      spec: { logs: [{ logsFile: "/home/u/.unitfleet/lab/clusters/fra-shop-prod/pod.log" }] },
    });
    expect(new Set(plan.clusters.map((c) => c.podLogFile)).size).toBe(plan.clusters.length);
  });

  it("serves each node's resource metrics on kwok's server at the path its annotation names", () => {
    const prod = plan.clusters[0]!;
    const metric = kwokClusterConfig(prod).find((d) => d.kind === "Metric") as {
      spec: { path: string; metrics: Array<{ name: string; kind: string; value: string }> };
    };
    expect(metric.spec.path).toBe("/metrics/nodes/{nodeName}/metrics/resource");
    expect(metric.spec.metrics).toContainEqual(
      expect.objectContaining({ name: "pod_cpu_usage_seconds_total", kind: "counter" }),
    );
    expect(metric.spec.metrics).toContainEqual(
      expect.objectContaining({ name: "pod_memory_working_set_bytes", kind: "gauge" }),
    );
    const node = prod.nodes[0]!;
    expect(node.metadata.annotations["metrics.k8s.io/resource-metrics-path"]).toBe(
      `/metrics/nodes/${node.metadata.name}/metrics/resource`,
    );
  });

  it("gives the default lab's workloads usage below their requests, varied per workload", () => {
    const annotations = plan.clusters.flatMap((c) =>
      c.workloads.map(
        (w) =>
          ((w.spec.template as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ??
            {}) as Record<string, string>,
      ),
    );
    expect(annotations.every((a) => a["kwok.x-k8s.io/usage-cpu"] && a["kwok.x-k8s.io/usage-memory"])).toBe(
      true,
    );
    expect(new Set(annotations.map((a) => a["kwok.x-k8s.io/usage-cpu"])).size).toBeGreaterThan(5);
    const storefront = plan.clusters[0]!.workloads.find((w) => w.metadata.name === "storefront")!;
    expect(storefront.spec.template).toMatchObject({
      metadata: {
        annotations: { "kwok.x-k8s.io/usage-cpu": "900m", "kwok.x-k8s.io/usage-memory": "2800Mi" },
      },
    });
  });
});

describe("planLab's network: each cluster's components follow the topology's network plan", () => {
  const plan = planLab(topology, paths);
  const flag = (c: ClusterPlan, component: keyof ClusterPlan["components"], name: string) =>
    c.components[component].args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.split("=")[1]);

  it("gives kube-apiserver, kube-controller-manager and kwok the cluster's planned ranges", () => {
    expect(
      plan.clusters.map((c) => [
        c.name,
        ...flag(c, "kube-apiserver", "service-cluster-ip-range"),
        ...flag(c, "kube-controller-manager", "allocate-node-cidrs"),
        ...flag(c, "kube-controller-manager", "cluster-cidr"),
        ...flag(c, "kube-controller-manager", "node-cidr-mask-size"),
        ...flag(c, "kube-controller-manager", "service-cluster-ip-range"),
        ...flag(c, "kwok", "cidr"),
      ]),
    ).toEqual([
      ["fra-shop-prod", "10.96.0.0/22", "true", "10.0.0.0/15", "24", "10.96.0.0/22", "10.0.0.0/15"],
      ["fra-payments-prod", "10.96.4.0/22", "true", "10.4.0.0/16", "24", "10.96.4.0/22", "10.4.0.0/16"],
      ["fra-shop-dev", "10.96.8.0/22", "true", "10.2.0.0/16", "24", "10.96.8.0/22", "10.2.0.0/16"],
      ["fra-search-staging", "10.96.12.0/22", "true", "10.5.0.0/16", "24", "10.96.12.0/22", "10.5.0.0/16"],
      ["sgp-shop-prod", "10.96.0.0/22", "true", "10.0.0.0/16", "24", "10.96.0.0/22", "10.0.0.0/16"],
      ["sgp-shop-dev", "10.96.4.0/22", "true", "10.1.0.0/16", "24", "10.96.4.0/22", "10.1.0.0/16"],
    ]);
    // The nodes keep their loopback InternalIP: the API server reaches their kubelet endpoint (kwok) there.
    expect(plan.clusters[0]!.components.kwok.args).toContain("--node-ip=127.0.0.1");
  });

  it("gives no two clusters of a Location a service or pod range that shares an address", () => {
    for (const location of ["frankfurt", "singapore"]) {
      const here = plan.clusters.filter((c) => c.cluster.location === location);
      const ranges = here.flatMap((c) => [
        ...flag(c, "kube-apiserver", "service-cluster-ip-range"),
        ...flag(c, "kube-controller-manager", "cluster-cidr"),
      ]);
      expect(ranges.length).toBe(2 * here.length);
      for (const [i, a] of ranges.entries())
        for (const b of ranges.slice(i + 1))
          expect(cidrsOverlap(cidr(a!), cidr(b!)), `${a} ${b}`).toBe(false);
    }
  });

  it("moves no cluster's ranges when a cluster is added at the end of the topology", () => {
    const grown = structuredClone(topology);
    grown.spec.clusters.push({
      ...structuredClone(grown.spec.clusters[1]!),
      name: "fra-payments-big",
      network: { maxNodes: 2000 },
    });
    const after = planLab(grown, paths);
    expect(after.clusters.slice(0, plan.clusters.length).map((c) => c.components)).toEqual(
      plan.clusters.map((c) => c.components),
    );
    expect(after.clusters.at(-1)!.network.pods).toEqual(["10.8.0.0/13"]);
  });

  it("starts a cluster pinned to an overlapping range as written, when its topology allows it", () => {
    const pair = parseTopology(
      readFileSync(new URL("../../test/fixtures/topologies/overlapping-pair.yaml", import.meta.url), "utf8"),
      "overlapping-pair.yaml",
    );
    const lab = planLab(pair, paths);
    expect(lab.clusters.map((c) => flag(c, "kube-apiserver", "service-cluster-ip-range")[0])).toEqual([
      "10.96.64.0/22",
      "10.96.64.0/22",
      "10.96.64.0/22",
    ]);
  });

  it("refuses a topology built in code whose network plan cannot be made, with the paths", () => {
    const broken = structuredClone(topology);
    broken.spec.clusters[1]!.network = { pods: ["10.0.0.0/16"], services: ["10.96.200.0/22"] };
    expect(() => planLab(broken, paths)).toThrow(UserError);
    try {
      planLab(broken, paths);
    } catch (error) {
      expect((error as UserError).problems).toEqual([
        {
          path: "spec.clusters[1].network.pods[0]",
          message: '10.0.0.0/16 overlaps 10.0.0.0/14 of NetworkPool "fra-north", kept for Region fra-north',
        },
      ]);
    }
  });
});

describe("podLogText", () => {
  it("writes lines naming the cluster in the CRI log format, one second apart, ending now", () => {
    expect(podLogText("fra-shop-prod", new Date("2026-03-01T12:00:00Z")).split("\n")).toEqual([
      "2026-03-01T11:59:58.000Z stdout F fra-shop-prod: listening on :8080",
      "2026-03-01T11:59:59.000Z stdout F fra-shop-prod: GET /healthz 200",
      "2026-03-01T12:00:00.000Z stdout F fra-shop-prod: request served in 12ms",
      "",
    ]);
  });
});
