import { describe, expect, it } from "vitest";
import { explainRows, explainTable } from "./explain.ts";
import type { Outcome } from "./scheduler.ts";

const outcome: Outcome = {
  decisions: [
    { cluster: "b", replicas: 5 },
    { cluster: "c", replicas: 2 },
  ],
  trace: [
    {
      cluster: "a",
      location: "fra",
      verdict: "unfit",
      chosen: false,
      replicas: 0,
      reasons: ["Health: not ready for 90 s, beyond the 60 s tolerance"],
      scores: {},
      total: 0,
    },
    {
      cluster: "b",
      location: "fra",
      verdict: "fit",
      chosen: true,
      replicas: 5,
      reasons: ["Divided: 5 of 7 replicas (ideal 4.7, fits 20)"],
      scores: { FreeCapacity: 100, AlreadyRunning: 100 },
      total: 200,
    },
    {
      cluster: "c",
      location: "fra",
      verdict: "hold",
      chosen: true,
      replicas: 2,
      reasons: [
        "Health: not ready for 20 s, within the 60 s tolerance: keeps its 2 replicas, gets no new ones",
      ],
      scores: { FreeCapacity: 40, AlreadyRunning: 100 },
      total: 140,
    },
    {
      cluster: "s",
      location: "sgp",
      verdict: "fit",
      chosen: false,
      replicas: 0,
      reasons: ["Residency: one Location only, fra: where the application runs"],
      scores: { FreeCapacity: 90, AlreadyRunning: 0 },
      total: 90,
    },
  ],
  unschedulable: { reason: "Resources: only 7 of 8 replicas fit in Location fra" },
};

describe("explain", () => {
  it("lists chosen clusters first, then kept, not chosen and rejected, with replicas, score and reasons", () => {
    expect(explainRows(outcome).map((r) => [r.cluster, r.verdict, r.replicas, r.score])).toEqual([
      ["b", "chosen", 5, 200],
      ["c", "kept", 2, 140],
      ["s", "not chosen", 0, 90],
      ["a", "rejected", 0, 0],
    ]);
  });

  it("renders string cells a CLI table can print, a summary, and the scores with wide", () => {
    const table = explainTable(outcome);
    expect(table.headers).toEqual(["Cluster", "Location", "Verdict", "Replicas", "Score", "Reasons"]);
    expect(table.rows[3]).toEqual([
      "a",
      "fra",
      "rejected",
      "0",
      "-",
      "Health: not ready for 90 s, beyond the 60 s tolerance",
    ]);
    expect(table.summary).toBe(
      "7 replicas on 2 clusters; unschedulable: Resources: only 7 of 8 replicas fit in Location fra",
    );
    expect(explainTable(outcome, { wide: true }).rows[0]![5]).toBe(
      "Divided: 5 of 7 replicas (ideal 4.7, fits 20); scores: FreeCapacity=100 AlreadyRunning=100",
    );
  });
});

describe("explain a blocked failover", () => {
  it("shows a failed cluster keeping its replicas as kept, and why in the summary", () => {
    const blocked: Outcome = {
      decisions: [{ cluster: "a", replicas: 4 }],
      trace: [
        {
          cluster: "a",
          location: "fra",
          verdict: "unfit",
          chosen: true,
          replicas: 4,
          reasons: [
            "Health: not ready for 90 s, beyond the 60 s tolerance",
            "Failover: keeps 4 replicas: no eligible cluster in Location fra has room for them",
          ],
          scores: {},
          total: 0,
        },
      ],
      failoverBlocked: {
        reason: "NoEligibleCluster",
        message: "replicas stay on a (4): no eligible cluster has room for them. a: Health: not ready",
      },
    };
    expect(explainRows(blocked).map((r) => [r.cluster, r.verdict, r.replicas])).toEqual([["a", "kept", 4]]);
    expect(explainTable(blocked).summary).toBe(
      "4 replicas on 1 cluster; failover blocked: replicas stay on a (4): no eligible cluster has room for them. a: Health: not ready",
    );
  });
});
