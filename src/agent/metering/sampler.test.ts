import { describe, expect, it } from "vitest";
import type { ClusterReader, NodeShape, PodShape } from "./cluster-reader.ts";
import { parseResourceMetrics } from "./resource-metrics.ts";
import { UsageSampler } from "./sampler.ts";

const Mi = 2 ** 20;

function pod(
  name: string,
  owner: { kind: string; name: string } | undefined,
  extra: Partial<PodShape> = {},
): PodShape {
  return {
    metadata: {
      name,
      namespace: "shop",
      labels: { app: name.split("-")[0]!, team: "web", secret: "x" },
      ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}),
    },
    spec: {
      nodeName: "n1",
      containers: [{ name: "c", resources: { requests: { cpu: "500m", memory: "1Gi" } } }],
      ...extra.spec,
    },
    status: { phase: "Running" },
  };
}

const node: NodeShape = {
  metadata: { name: "n1", labels: { "node.kubernetes.io/instance-type": "m6.xlarge" } },
  status: {
    allocatable: { cpu: "4", memory: "16Gi", "nvidia.com/gpu": "2" },
    conditions: [{ type: "Ready", status: "True" }],
  },
};

/** A fake cluster whose kubelet counters the test moves by hand. */
function fakeCluster(overrides: Partial<ClusterReader> = {}) {
  const state = { cpuSeconds: 0, now: 1_000_000, kubeletAnswers: true };
  const pods = [
    pod("web-abc-1", { kind: "ReplicaSet", name: "web-abc" }),
    pod("web-abc-2", { kind: "ReplicaSet", name: "web-abc" }),
    pod(
      "report-1-x",
      { kind: "Job", name: "report-1" },
      {
        spec: {
          containers: [
            { name: "c", resources: { limits: { "nvidia.com/gpu": "1" }, requests: { cpu: "1" } } },
          ],
          volumes: [{ persistentVolumeClaim: { claimName: "data" } }],
        },
      },
    ),
    pod("lonely", undefined),
    { ...pod("done", undefined), status: { phase: "Succeeded" } },
  ];
  const reader: ClusterReader = {
    pods: async () => pods,
    nodes: async () => [node],
    replicaSets: async () => [
      {
        metadata: {
          name: "web-abc",
          namespace: "shop",
          ownerReferences: [{ kind: "Deployment", name: "web", controller: true }],
        },
      },
    ],
    jobs: async () => [
      {
        metadata: {
          name: "report-1",
          namespace: "shop",
          ownerReferences: [{ kind: "CronJob", name: "report", controller: true }],
        },
      },
    ],
    claims: async () => [
      {
        metadata: { name: "data", namespace: "shop" },
        spec: { storageClassName: "fast", resources: { requests: { storage: "10Gi" } } },
        status: { phase: "Bound" },
      },
      {
        metadata: { name: "orphan", namespace: "shop" },
        spec: { storageClassName: "slow", resources: { requests: { storage: "1Gi" } } },
        status: { phase: "Bound" },
      },
      {
        metadata: { name: "pending", namespace: "shop" },
        spec: { resources: { requests: { storage: "1Gi" } } },
        status: { phase: "Pending" },
      },
    ],
    services: async () => [
      {
        metadata: { name: "web-lb", namespace: "shop" },
        spec: { type: "LoadBalancer", selector: { app: "web" } },
      },
      {
        metadata: { name: "idle-lb", namespace: "shop" },
        spec: { type: "LoadBalancer", selector: { app: "none" } },
      },
      { metadata: { name: "web", namespace: "shop" }, spec: { type: "ClusterIP", selector: { app: "web" } } },
    ],
    async nodeResourceMetrics() {
      if (!state.kubeletAnswers) throw new Error("GET …: 503");
      // web pods use 0.25 cores each (a counter of core-seconds) and 300Mi; the others appear without cpu.
      const lines = ["# TYPE pod_cpu_usage_seconds_total counter"];
      for (const p of ["web-abc-1", "web-abc-2"])
        lines.push(
          `pod_cpu_usage_seconds_total{namespace="shop",pod="${p}"} ${state.cpuSeconds}`,
          `pod_memory_working_set_bytes{namespace="shop",pod="${p}"} ${300 * Mi}`,
        );
      return { text: lines.join("\n"), readAt: state.now };
    },
    podMetrics: async () => {
      throw new Error("the server could not find the requested resource");
    },
    ...overrides,
  };
  /** Moves time by 60 s, in which each web pod used 0.25 cores. */
  const advance = () => {
    state.now += 60_000;
    state.cpuSeconds += 15;
  };
  return { reader, state, advance };
}

describe("UsageSampler", () => {
  it("resolves owners, takes usage from the kubelet's counter rate, and keeps only the chosen labels", async () => {
    const { reader, advance } = fakeCluster();
    const sampler = new UsageSampler({ reader, log: () => {} });
    await sampler.prime();
    advance();
    const minute = await sampler.sample();
    expect(minute.source).toBe("kubelet");
    expect(minute.workloads.map((w) => [w.workload, w.pods])).toEqual([
      ["CronJob/report", 1],
      ["Deployment/web", 2],
      ["PersistentVolumeClaim/orphan", 0],
      ["Pod/lonely", 1],
      ["Service/idle-lb", 0],
    ]);
    const web = minute.workloads.find((w) => w.workload === "Deployment/web")!;
    expect(web.labels).toEqual({ team: "web" });
    expect(web.cpu).toEqual({ request: 1000, usage: 500, allocated: 1000 });
    expect(web.memory).toEqual({ request: 2048 * Mi, usage: 600 * Mi, allocated: 2048 * Mi });
    expect(web.loadBalancers).toBe(1);
    const report = minute.workloads.find((w) => w.workload === "CronJob/report")!;
    // No kubelet figure for it: its requests stand in; its gpu comes from the limit.
    expect(report.cpu).toEqual({ request: 1000, usage: 1000, allocated: 1000 });
    expect(report.gpu).toEqual({ request: 1, usage: 1, allocated: 1 });
    expect(report.storage).toEqual({ fast: 10 * 1024 * Mi });
    expect(minute.workloads.find((w) => w.workload === "PersistentVolumeClaim/orphan")?.storage).toEqual({
      slow: 1024 * Mi,
    });
    expect(minute.nodes).toEqual([
      {
        node: "n1",
        instanceType: "m6.xlarge",
        ready: true,
        allocatable: { cpu: 4000, memory: 16 * 1024 * Mi, gpu: 2 },
      },
    ]);
  });

  it("uses the requests for a pod's first cpu reading, and a counter that went back", async () => {
    const { reader, state, advance } = fakeCluster();
    const sampler = new UsageSampler({ reader, log: () => {} });
    advance();
    const first = await sampler.sample();
    expect(first.workloads.find((w) => w.workload === "Deployment/web")?.cpu.usage).toBe(1000);
    advance();
    expect((await sampler.sample()).workloads.find((w) => w.workload === "Deployment/web")?.cpu.usage).toBe(
      500,
    );
    state.cpuSeconds = 1;
    state.now += 60_000;
    expect((await sampler.sample()).workloads.find((w) => w.workload === "Deployment/web")?.cpu.usage).toBe(
      1000,
    );
  });

  it("falls back to the metrics API, then to requests, and says so", async () => {
    const metricsApi = fakeCluster({
      podMetrics: async () => [
        {
          metadata: { name: "web-abc-1", namespace: "shop" },
          containers: [{ name: "c", usage: { cpu: "120m", memory: "100Mi" } }],
        },
      ],
    });
    metricsApi.state.kubeletAnswers = false;
    const viaApi = await new UsageSampler({ reader: metricsApi.reader, log: () => {} }).sample();
    expect(viaApi.source).toBe("metrics-api");
    expect(viaApi.workloads.find((w) => w.workload === "Deployment/web")?.cpu).toEqual({
      request: 1000,
      usage: 120 + 500,
      allocated: 1000,
    });

    const bare = fakeCluster();
    bare.state.kubeletAnswers = false;
    const logs: Array<Record<string, unknown>> = [];
    const viaRequests = await new UsageSampler({ reader: bare.reader, log: (e) => logs.push(e) }).sample();
    expect(viaRequests.source).toBe("requests");
    expect(viaRequests.workloads.find((w) => w.workload === "Deployment/web")?.cpu.usage).toBe(1000);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: "metering usage source", source: "requests" }),
    );
  });
});

describe("parseResourceMetrics", () => {
  it("reads kwok's and the kubelet's lines, with labels in any order, escapes and timestamps", () => {
    const text = [
      "# HELP pod_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the pod in core-seconds",
      "# TYPE pod_cpu_usage_seconds_total counter",
      'pod_cpu_usage_seconds_total{namespace="web",pod="api-1"} 6.36868e-05',
      'pod_cpu_usage_seconds_total{pod="api-2",namespace="web"} 12.5 1733234400000',
      'pod_memory_working_set_bytes{namespace="web",pod="api-1"} 3.145728e+08',
      'container_cpu_usage_seconds_total{container="c",namespace="web",pod="api-1"} 99',
      'pod_memory_working_set_bytes{namespace="we\\"b",pod="odd"} 1',
      "node_cpu_usage_seconds_total 1.69",
      "pod_memory_working_set_bytes{broken 1",
    ].join("\n");
    const pods = parseResourceMetrics(text);
    expect(pods.get("web/api-1")).toEqual({ cpuSeconds: { value: 6.36868e-5 }, memoryBytes: 314572800 });
    expect(pods.get("web/api-2")).toEqual({ cpuSeconds: { value: 12.5, at: 1733234400000 } });
    expect(pods.get('we"b/odd')).toEqual({ memoryBytes: 1 });
    expect(pods.size).toBe(3);
  });
});
