import { describe, expect, it } from "vitest";
import { clusterConditions, conditionsChanged, heartbeatReportDue } from "./cluster-conditions.ts";

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

  it("says nothing in its messages that a clock makes stale, so a written condition stays true", () => {
    const early = clusterConditions({
      now: at(10),
      lastHeartbeat: at(7),
      nodes: { total: 2, ready: 2 },
      current: [],
    });
    const late = clusterConditions({
      now: at(39),
      lastHeartbeat: at(12),
      nodes: { total: 2, ready: 2 },
      current: early,
    });
    expect(late.map((c) => c.message)).toEqual(early.map((c) => c.message));
    expect(early[0]!.message).not.toMatch(/ago/);
    const missed = clusterConditions({
      now: at(59),
      lastHeartbeat: at(12),
      nodes: { total: 2, ready: 2 },
      current: late,
    });
    expect(missed[0]!.message).toBe("no heartbeat since 2026-11-25T12:00:12Z (grace period 40 s)");
    const stillMissed = clusterConditions({
      now: at(59 + 600),
      lastHeartbeat: at(12),
      nodes: { total: 2, ready: 2 },
      current: missed,
    });
    expect(stillMissed[0]!.message).toBe(missed[0]!.message);
  });

  it("counts a changed message as a change: the nodes that are not Ready are news", () => {
    const two = clusterConditions({
      now: at(10),
      lastHeartbeat: at(9),
      nodes: { total: 3, ready: 2 },
      current: [],
    });
    const one = clusterConditions({
      now: at(20),
      lastHeartbeat: at(19),
      nodes: { total: 3, ready: 1 },
      current: two,
    });
    expect(conditionsChanged(two, one)).toBe(true);
  });
});

describe("heartbeatReportDue", () => {
  it("writes the first heartbeat, then again only once the written one is a report interval old", () => {
    expect(heartbeatReportDue(undefined, undefined, 60_000)).toBe(false);
    expect(heartbeatReportDue(undefined, at(5), 60_000)).toBe(true);
    expect(heartbeatReportDue("2026-11-25T12:00:05Z", at(40), 60_000)).toBe(false);
    expect(heartbeatReportDue("2026-11-25T11:59:40Z", at(40), 60_000)).toBe(true);
  });
});

describe("conditions of others", () => {
  it("keeps a condition another part owns (UsageMetered), whatever happens to Reachable and Ready", () => {
    const usage = {
      type: "UsageMetered",
      status: "False" as const,
      reason: "RequestsOnly",
      message: "m",
      lastTransitionTime: "2026-11-25T12:00:00Z",
    };
    const next = clusterConditions({
      now: at(50),
      lastHeartbeat: at(1),
      nodes: { total: 1, ready: 1 },
      current: [usage],
    });
    expect(next.map((c) => c.type)).toEqual(["UsageMetered", "Reachable", "Ready"]);
    expect(next[0]).toEqual(usage);
  });
});
