import { describe, expect, it } from "vitest";
import { clusterConditions, conditionsChanged } from "./cluster-conditions.ts";

const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, s));

describe("clusterConditions", () => {
  it("is Reachable and Ready while heartbeats arrive and every node is Ready", () => {
    const c = clusterConditions({
      now: at(30),
      lastHeartbeat: at(25),
      nodes: { total: 4, ready: 4 },
      current: [],
    });
    expect(c.map((x) => [x.type, x.status, x.reason])).toEqual([
      ["Reachable", "True", "HeartbeatReceived"],
      ["Ready", "True", "NodesReady"],
    ]);
  });

  it("turns Unreachable only after the grace period, and Ready becomes Unknown", () => {
    const within = clusterConditions({
      now: at(40),
      lastHeartbeat: at(1),
      nodes: { total: 2, ready: 2 },
      current: [],
    });
    expect(within[0]!.status).toBe("True");
    const after = clusterConditions({
      now: at(42),
      lastHeartbeat: at(1),
      nodes: { total: 2, ready: 2 },
      current: within,
    });
    expect(after.map((x) => [x.type, x.status, x.reason])).toEqual([
      ["Reachable", "False", "HeartbeatMissed"],
      ["Ready", "Unknown", "ClusterUnreachable"],
    ]);
    expect(after[0]!.lastTransitionTime).toBe("2026-11-25T12:00:42Z");
    expect(conditionsChanged(within, after)).toBe(true);
  });

  it("keeps the transition time while the status holds, and says which nodes are not Ready", () => {
    const first = clusterConditions({
      now: at(10),
      lastHeartbeat: at(9),
      nodes: { total: 3, ready: 2 },
      current: [],
    });
    const later = clusterConditions({
      now: at(20),
      lastHeartbeat: at(19),
      nodes: { total: 3, ready: 2 },
      current: first,
    });
    expect(later[1]).toMatchObject({
      status: "False",
      reason: "NodesNotReady",
      message: "2 of 3 nodes are Ready",
      lastTransitionTime: "2026-11-25T12:00:10Z",
    });
    expect(conditionsChanged(first, later)).toBe(false);
    expect(
      clusterConditions({ now: at(5), lastHeartbeat: undefined, nodes: undefined, current: [] })[0]!.reason,
    ).toBe("NeverConnected");
  });
});
