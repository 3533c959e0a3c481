import { describe, expect, it } from "vitest";
import type { Application, Cluster } from "../resources/kinds.ts";
import { explainTable } from "../scheduling/explain.ts";
import { type PlacementInput, validatePlacementSpec } from "../scheduling/placement.ts";
import { factsOf, scheduleApplication } from "./schedule-application.ts";

const now = Date.parse("2026-12-03T10:00:00Z");
const meta = { uid: "u", resourceVersion: "1", generation: 1, creationTimestamp: "2026-12-01T00:00:00Z" };

/** A cluster with `cores` allocatable, `requestedCores` requested by ready pods. */
function cluster(name: string, cores: number, requestedCores: number): Cluster {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "Cluster",
    metadata: { ...meta, name, labels: { location: "tokyo" } },
    spec: { location: "tokyo", environment: "prod", business: "shop" },
    status: {
      allocatable: { cpu: String(cores), memory: "64Gi", pods: "110" },
      requested: { cpu: String(requestedCores), memory: "0" },
      pods: requestedCores,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Heartbeat",
          message: "",
          lastTransitionTime: "2026-12-01T00:00:00Z",
        },
      ],
    },
  };
}

/** An Application of one Deployment asking 1 cpu per replica, placed as `placed`, with `ready` of them ready. */
function application(placed: Record<string, number>, ready: Record<string, number>): Application {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "Application",
    metadata: { ...meta, name: "web", generation: 2 },
    spec: {
      manifests: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: "web" },
          spec: {
            template: { spec: { containers: [{ name: "web", resources: { requests: { cpu: "1" } } }] } },
          },
        },
      ],
    },
    status: {
      placement: { clusters: Object.entries(placed).map(([name, replicas]) => ({ name, replicas })) },
      clusters: Object.entries(placed).map(([name, replicas]) => ({
        name,
        generation: 1,
        appliedGeneration: 1,
        replicas: { desired: replicas, ready: ready[name] ?? 0 },
        objects: 1,
        failed: 0,
        healthy: replicas === (ready[name] ?? 0),
      })),
    },
  };
}

function placement(input: PlacementInput) {
  const result = validatePlacementSpec(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

const divided = (count: number) => placement({ replicas: { mode: "Divided", count } });

describe("scheduleApplication", () => {
  it("counts a cluster's own ready replicas once: room for 2 in all fits 2, and a third is unschedulable", () => {
    // 2 cores, both taken by the application's own 2 ready replicas.
    const fleet = factsOf([cluster("tyo-a", 2, 2)], now);
    const app = application({ "tyo-a": 2 }, { "tyo-a": 2 });
    const same = scheduleApplication(app, divided(2), fleet, now, "all");
    expect(same.decisions).toEqual([{ cluster: "tyo-a", replicas: 2 }]);
    expect(same.unschedulable).toBeUndefined();
    expect(explainTable(same).rows[0]![5]).toContain("fits 2");

    const scaled = scheduleApplication(app, divided(3), fleet, now, "all");
    expect(scaled.decisions).toEqual([{ cluster: "tyo-a", replicas: 2 }]);
    expect(scaled.unschedulable?.reason).toBe("Resources: only 2 of 3 replicas fit in Location tokyo");
    expect(explainTable(scaled).summary).toBe(
      "2 replicas on 1 cluster; unschedulable: Resources: only 2 of 3 replicas fit in Location tokyo",
    );
  });

  it("adds the room left to what the application runs: 2 of 4 cores taken by its 2 replicas fits 4", () => {
    const fleet = factsOf([cluster("tyo-a", 4, 2)], now);
    const app = application({ "tyo-a": 2 }, { "tyo-a": 2 });
    const outcome = scheduleApplication(app, divided(6), fleet, now, "all");
    expect(outcome.decisions).toEqual([{ cluster: "tyo-a", replicas: 4 }]);
    expect(explainTable(outcome).rows[0]![5]).toContain("fits 4");
  });

  it("counts replicas placed but not ready yet against growth: 2 starting in room for 2 fit 2, not 4", () => {
    // The inventory has not counted the 2 starting replicas: both cores still look free.
    const fleet = factsOf([cluster("tyo-a", 2, 0)], now);
    const starting = application({ "tyo-a": 2 }, {});
    const outcome = scheduleApplication(starting, divided(3), fleet, now, "all");
    expect(outcome.decisions).toEqual([{ cluster: "tyo-a", replicas: 2 }]);
    expect(outcome.unschedulable?.reason).toBe("Resources: only 2 of 3 replicas fit in Location tokyo");
  });

  it("keeps what a cluster runs when its inventory counts pods its work has not reported ready yet", () => {
    const fleet = factsOf([cluster("tyo-a", 2, 2)], now);
    const reportLate = application({ "tyo-a": 2 }, {});
    expect(scheduleApplication(reportLate, divided(2), fleet, now, "all").decisions).toEqual([
      { cluster: "tyo-a", replicas: 2 },
    ]);
  });

  it("still sheds replicas from a cluster that lost nodes", () => {
    // 2 ready replicas and another workload's core on a cluster down to 2 cores: 1 fits.
    const fleet = factsOf([cluster("tyo-a", 2, 3)], now);
    const app = application({ "tyo-a": 2 }, { "tyo-a": 2 });
    const outcome = scheduleApplication(app, divided(2), fleet, now, "all");
    expect(outcome.decisions).toEqual([{ cluster: "tyo-a", replicas: 1 }]);
  });
});
