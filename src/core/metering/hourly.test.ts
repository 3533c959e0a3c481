import { describe, expect, it } from "vitest";
import {
  addMinute,
  emptyHour,
  finishHour,
  hourStart,
  type MinuteSample,
  type PodMinute,
  usageHoursMessages,
  workloadMinutes,
} from "./hourly.ts";
import { workloadHourKey } from "./usage.ts";

const Gi = 2 ** 30;

function pod(
  workload: string,
  cpu: [number, number],
  memory: [number, number],
  gpu: [number, number] = [0, 0],
) {
  return {
    namespace: "shop",
    workload,
    labels: { team: "web" },
    cpu: { request: cpu[0], usage: cpu[1] },
    memory: { request: memory[0], usage: memory[1] },
    gpu: { request: gpu[0], usage: gpu[1] },
  } satisfies PodMinute;
}

describe("hourStart", () => {
  it("is the start of the UTC hour, without milliseconds", () => {
    expect(hourStart(Date.parse("2026-12-03T14:37:12.345Z"))).toBe("2026-12-03T14:00:00Z");
    expect(hourStart(Date.parse("2026-12-03T14:00:00.000Z"))).toBe("2026-12-03T14:00:00Z");
  });

  it("takes a shorter period (compressed hours in tests)", () => {
    expect(hourStart(Date.parse("2026-12-03T14:37:12.345Z"), 10_000)).toBe("2026-12-03T14:37:10Z");
  });
});

describe("workloadMinutes", () => {
  it("sums pods per workload; allocated is max(request, usage) per pod, not of the sums", () => {
    // web: one pod over its request (300m used of 200m), one under (100m of 500m).
    const [web, worker] = workloadMinutes([
      pod("Deployment/web", [200, 300], [1 * Gi, 0.5 * Gi]),
      pod("Deployment/web", [500, 100], [1 * Gi, 2 * Gi]),
      pod("Job/worker", [1000, 999.6], [2 * Gi, 1.5 * Gi], [1, 1]),
    ]);
    expect(web).toMatchObject({
      workload: "Deployment/web",
      pods: 2,
      cpu: { request: 700, usage: 400, allocated: 300 + 500 },
      memory: { request: 2 * Gi, usage: 2.5 * Gi, allocated: 1 * Gi + 2 * Gi },
      gpu: { request: 0, usage: 0, allocated: 0 },
    });
    // Rounded to integers per pod.
    expect(worker?.cpu).toEqual({ request: 1000, usage: 1000, allocated: 1000 });
    expect(worker?.gpu).toEqual({ request: 1, usage: 1, allocated: 1 });
  });

  it("adds claims per storage class and LoadBalancer Services to their workloads; unused ones stand alone", () => {
    const minutes = workloadMinutes(
      [pod("StatefulSet/db", [100, 50], [Gi, Gi])],
      [
        { namespace: "shop", workload: "StatefulSet/db", storageClass: "fast", bytes: 10 * Gi },
        { namespace: "shop", workload: "StatefulSet/db", storageClass: "fast", bytes: 10 * Gi },
        { namespace: "shop", workload: "PersistentVolumeClaim/old", storageClass: "slow", bytes: 5 * Gi },
      ],
      [{ namespace: "shop", workload: "StatefulSet/db" }],
    );
    expect(minutes.map((m) => [m.workload, m.pods, m.storage, m.loadBalancers])).toEqual([
      ["PersistentVolumeClaim/old", 0, { slow: 5 * Gi }, 0],
      ["StatefulSet/db", 1, { fast: 20 * Gi }, 1],
    ]);
  });
});

describe("an hour of minutes", () => {
  const node = (ready: boolean) => ({
    node: "n1",
    instanceType: "m6.xlarge",
    ready,
    allocatable: { cpu: 4000, memory: 16 * Gi, gpu: 0 },
  });
  const minute = (pods: PodMinute[], source: MinuteSample["source"], ready = true): MinuteSample => ({
    source,
    workloads: workloadMinutes(pods),
    nodes: [node(ready)],
  });

  it("sums the minutes into one record per workload and node, counting samples", () => {
    const hour = emptyHour("2026-12-03T14:00:00Z");
    // 3 minutes of web (2 pods, then 1), worker only in the last one; the node is NotReady in minute 2.
    addMinute(
      hour,
      minute(
        [pod("Deployment/web", [200, 300], [Gi, Gi]), pod("Deployment/web", [200, 100], [Gi, Gi])],
        "kubelet",
      ),
    );
    addMinute(hour, minute([pod("Deployment/web", [200, 150], [Gi, Gi])], "kubelet", false));
    addMinute(
      hour,
      minute([pod("Deployment/web", [200, 250], [Gi, Gi]), pod("Job/worker", [500, 0], [Gi, 0])], "kubelet"),
    );
    const finished = finishHour(hour, "fra-shop-prod");
    expect(finished.source).toBe("kubelet");
    expect(finished.workloads.map((w) => workloadHourKey(w))).toEqual([
      "fra-shop-prod/2026-12-03T14:00:00Z/workload/shop/Deployment/web",
      "fra-shop-prod/2026-12-03T14:00:00Z/workload/shop/Job/worker",
    ]);
    const [web, worker] = finished.workloads;
    expect(web).toEqual({
      cluster: "fra-shop-prod",
      hour: "2026-12-03T14:00:00Z",
      namespace: "shop",
      workload: "Deployment/web",
      labels: { team: "web" },
      samples: 3,
      // request 400 + 200 + 200; usage 400 + 150 + 250; allocated (300+200) + 200 + 250.
      cpu: { request: 800, usage: 800, allocated: 950 },
      memory: { request: 4 * Gi, usage: 4 * Gi, allocated: 4 * Gi },
      gpu: { request: 0, usage: 0, allocated: 0 },
      storage: {},
      loadBalancers: 0,
    });
    expect(worker?.samples).toBe(1);
    expect(worker?.cpu).toEqual({ request: 500, usage: 0, allocated: 500 });
    // Only the two Ready minutes count for the node.
    expect(finished.nodes).toEqual([
      {
        cluster: "fra-shop-prod",
        hour: "2026-12-03T14:00:00Z",
        node: "n1",
        instanceType: "m6.xlarge",
        samples: 2,
        allocatable: { cpu: 8000, memory: 32 * Gi, gpu: 0 },
      },
    ]);
  });

  it("names the least precise source any minute used", () => {
    const hour = emptyHour("2026-12-03T14:00:00Z");
    addMinute(hour, minute([], "kubelet"));
    addMinute(hour, minute([], "metrics-api"));
    expect(finishHour(hour, "c").source).toBe("metrics-api");
    addMinute(hour, minute([], "requests"));
    expect(finishHour(hour, "c").source).toBe("requests");
  });

  it("survives a round trip through JSON (the agent keeps the hour on disk)", () => {
    const hour = emptyHour("2026-12-03T14:00:00Z");
    addMinute(hour, minute([pod("Deployment/web", [200, 300], [Gi, Gi])], "kubelet"));
    const reread = JSON.parse(JSON.stringify(hour));
    addMinute(reread, minute([pod("Deployment/web", [200, 300], [Gi, Gi])], "kubelet"));
    expect(finishHour(reread, "c").workloads[0]?.cpu).toEqual({ request: 400, usage: 600, allocated: 600 });
  });
});

describe("usageHoursMessages", () => {
  it("splits an hour into messages of at most 500 records, none lost or repeated", () => {
    const hour = emptyHour("2026-12-03T14:00:00Z");
    const pods = Array.from({ length: 1203 }, (_, i) => pod(`Deployment/w${i}`, [10, 5], [Gi, Gi]));
    addMinute(hour, {
      source: "kubelet",
      workloads: workloadMinutes(pods),
      nodes: Array.from({ length: 10 }, (_, i) => ({
        node: `n${i}`,
        ready: true,
        allocatable: { cpu: 1000, memory: Gi, gpu: 0 },
      })),
    });
    const bodies = usageHoursMessages("c", finishHour(hour, "c"));
    expect(bodies.map((b) => b.workloads.length + b.nodes.length)).toEqual([500, 500, 213]);
    expect(bodies.every((b) => b.cluster === "c" && b.source === "kubelet")).toBe(true);
    const keys = bodies.flatMap((b) => [
      ...b.workloads.map((w) => w.workload),
      ...b.nodes.map((n) => n.node),
    ]);
    expect(new Set(keys).size).toBe(1213);
  });

  it("sends nothing for an empty hour", () => {
    expect(usageHoursMessages("c", finishHour(emptyHour("2026-12-03T14:00:00Z"), "c"))).toEqual([]);
  });
});
