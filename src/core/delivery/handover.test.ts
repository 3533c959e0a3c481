import { describe, expect, it } from "vitest";
import { type HandoverWork, planHandover } from "./handover.ts";

const work = (cluster: string, asks: number, more: Partial<HandoverWork> = {}): HandoverWork => ({
  cluster,
  asks,
  ready: asks,
  reachable: true,
  registered: true,
  trace: { chosen: true, reasons: [] },
  ...more,
});
const left = (...reasons: string[]) => ({ trace: { chosen: false, reasons } });
const target = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe("planHandover: an unreachable cluster is not a dead one, failover is make-before-break", () => {
  it("keeps the work of an unreachable cluster left for its health, even once the new copies are ready", () => {
    const down = { reachable: false, ...left("Health: not ready for 70 s, beyond the 60 s tolerance") };
    const works = [work("a", 10, { ready: 10 }), work("b", 2, down)];
    expect(planHandover({ target: target({ a: 12 }), works })).toEqual({
      keep: [{ cluster: "b", replicas: 2 }],
      shrinkToZero: [],
      remove: [],
      released: [],
    });
  });

  it("shrinks a reachable cluster's work only once every new share reports Ready", () => {
    const notReady = left("Health: not ready for 70 s, beyond the 60 s tolerance");
    const starting = [work("a", 12, { ready: 11 }), work("b", 2, notReady)];
    expect(planHandover({ target: target({ a: 12 }), works: starting }).keep).toEqual([
      { cluster: "b", replicas: 2 },
    ]);
    const ready = [work("a", 12, { ready: 12 }), work("b", 2, notReady)];
    expect(planHandover({ target: target({ a: 12 }), works: ready })).toEqual({
      keep: [],
      shrinkToZero: ["b"],
      remove: [],
      released: [{ cluster: "b", from: 2, to: 0 }],
    });
  });

  it("waits for a new cluster that has no work yet, and a lower share waits as a departure does", () => {
    const works = [work("a", 8)];
    expect(planHandover({ target: target({ a: 6, b: 2 }), works }).keep).toEqual([
      { cluster: "a", replicas: 8 },
    ]);
    const both = [work("a", 8), work("b", 2, { ready: 2 })];
    expect(planHandover({ target: target({ a: 6, b: 2 }), works: both }).released).toEqual([
      { cluster: "a", from: 8, to: 6 },
    ]);
  });

  it("does not wait on unreachable clusters of the new placement: their replicas cannot be confirmed", () => {
    const works = [work("a", 3, { reachable: false, ready: 0 }), work("b", 2, { ready: 2 }), work("c", 1)];
    expect(planHandover({ target: target({ a: 3, b: 2 }), works }).released).toEqual([
      { cluster: "c", from: 1, to: 0 },
    ]);
  });

  it("removes a work only for an explicit change: the Cluster deleted, or the placement leaving it", () => {
    const works = [
      work("a", 4),
      work("gone", 2, { registered: false, reachable: false }),
      work("unselected", 2, left("Selection: Location fra is not one of [sgp]")),
      work("moved", 2, left("Residency: one Location only, sgp: where the application runs")),
      work("evicted", 2, left("Taints: does not tolerate maintenance:NoExecute")),
      work("cordoned", 2, left("Taints: does not tolerate maintenance:NoSchedule")),
      work("untraced", 2, { trace: undefined }),
    ];
    const plan = planHandover({ target: target({ a: 4 }), works });
    expect(plan.remove).toEqual(["evicted", "gone", "moved", "unselected", "untraced"]);
    expect(plan.released).toEqual([{ cluster: "cordoned", from: 2, to: 0 }]);
  });
});
