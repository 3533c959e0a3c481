import { describe, expect, it } from "vitest";
import { placementSpec } from "../scheduling/placement.ts";
import type { ClusterFacts } from "../scheduling/scheduler.ts";
import { nextTimedDecision } from "./decision-timing.ts";

const cluster = (name: string, location: string, ready: boolean, since: number): ClusterFacts => ({
  name,
  location,
  zones: [],
  labels: { environment: "prod" },
  taints: [],
  free: { cpuMilli: 4000, memoryBytes: 8 * 2 ** 30, pods: 100 },
  health: { ready, since },
});
const placement = (more: object = {}) =>
  placementSpec.parse({ replicas: { mode: "Divided", count: 4 }, locations: ["frankfurt"], ...more });
const now = 1_000_000;

describe("nextTimedDecision: when time alone can change a placement's decision", () => {
  it("is nothing while every selected cluster has been ready past its stable period", () => {
    const fleet = [cluster("a", "frankfurt", true, 0), cluster("b", "frankfurt", true, now - 400_000)];
    expect(nextTimedDecision(placement(), fleet, now)).toBeUndefined();
  });

  it("is the end of a not-ready cluster's tolerance, just past it, as the Health filter compares", () => {
    const fleet = [cluster("a", "frankfurt", true, 0), cluster("b", "frankfurt", false, now - 20_000)];
    // Default tolerance 60 s: not ready since now - 20 s, so it drops out at now + 40 s (and 1 ms).
    expect(nextTimedDecision(placement(), fleet, now)).toBe(now + 40_001);
  });

  it("is the end of a recovered cluster's stable period, with the placement's own failover timings", () => {
    const fleet = [cluster("a", "frankfurt", true, now - 5_000)];
    const timed = placement({ failover: { toleranceSeconds: 10, stableSeconds: 30 } });
    expect(nextTimedDecision(timed, fleet, now)).toBe(now + 25_001);
  });

  it("takes the soonest of several clocks", () => {
    const fleet = [
      cluster("a", "frankfurt", false, now - 50_000),
      cluster("b", "frankfurt", true, now - 100_000),
      cluster("c", "frankfurt", false, now - 1_000),
    ];
    expect(nextTimedDecision(placement(), fleet, now)).toBe(now + 10_001);
  });

  it("ignores the clocks of clusters the placement does not select", () => {
    const fleet = [cluster("a", "frankfurt", true, 0), cluster("s", "singapore", false, now - 1_000)];
    expect(nextTimedDecision(placement(), fleet, now)).toBeUndefined();
    expect(nextTimedDecision(placement({ locations: ["singapore"] }), fleet, now)).toBe(now + 59_001);
  });
});
