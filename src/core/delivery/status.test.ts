import { describe, expect, it } from "vitest";
import { applicationStatus, type StatusInput, type WorkRecord } from "./status.ts";

const now = "2026-12-03T10:00:00Z";

type ReportedObject = NonNullable<WorkRecord["status"]>["objects"][number];
const deployment = (name: string, desired: number, ready: number): ReportedObject => ({
  kind: "Deployment",
  name,
  state: "Applied",
  replicas: { desired, ready },
  healthy: desired === ready,
});
const failed = (kind: string, name: string): ReportedObject => ({
  kind,
  name,
  state: "Failed",
  message: "admission webhook denied the request",
  healthy: false,
});
const work = (cluster: string, objects: ReportedObject[], generation = 2): WorkRecord => ({
  cluster,
  generation,
  removed: false,
  status: { generation, objects },
  drift: [],
});

function status(input: Partial<StatusInput> & Pick<StatusInput, "decisions" | "works">) {
  return applicationStatus({ generation: 1, previous: undefined, now, ...input });
}

describe("applicationStatus", () => {
  it("counts ready replicas against the replicas wanted, and says how many could not be placed", () => {
    // 9 wanted, room for 4: all 4 placed are ready.
    const s = status({
      decisions: [{ cluster: "tyo-a", replicas: 4 }],
      wanted: { mode: "Divided", count: 9 },
      unschedulable: "Resources: only 4 of 9 replicas fit in Location tokyo",
      works: new Map([["tyo-a", work("tyo-a", [deployment("web", 4, 4)])]]),
    });
    expect(s.summary).toMatchObject({ replicas: "4/9", ready: 4, desired: 9 });
    expect(s.conditions?.find((c) => c.type === "Scheduled")).toMatchObject({
      status: "False",
      reason: "Unschedulable",
      message: "Resources: only 4 of 9 replicas fit in Location tokyo (4 of 9 replicas placed)",
    });
    expect(s.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False" });
  });

  it("counts wanted replicas before any agent reports, and Duplicated ones per chosen cluster", () => {
    const divided = status({
      decisions: [
        { cluster: "tyo-a", replicas: 5 },
        { cluster: "tyo-b", replicas: 4 },
      ],
      wanted: { mode: "Divided", count: 9 },
      works: new Map(),
    });
    expect(divided.summary).toMatchObject({ replicas: "0/9", applied: "0/2" });
    const duplicated = status({
      decisions: [
        { cluster: "tyo-a", replicas: 3 },
        { cluster: "tyo-b", replicas: 3 },
      ],
      wanted: { mode: "Duplicated", count: 3 },
      works: new Map([["tyo-a", work("tyo-a", [deployment("web", 3, 3)])]]),
    });
    expect(duplicated.summary).toMatchObject({ replicas: "3/6" });
  });

  it("counts applied clusters and objects without a failure: 2 of 3 objects failed is not applied", () => {
    const s = status({
      decisions: [
        { cluster: "tyo-a", replicas: 2 },
        { cluster: "tyo-b", replicas: 2 },
      ],
      wanted: { mode: "Divided", count: 4 },
      works: new Map([
        [
          "tyo-a",
          work("tyo-a", [deployment("web", 2, 2), failed("Service", "web"), failed("Ingress", "web")]),
        ],
        ["tyo-b", work("tyo-b", [deployment("web", 2, 2)])],
      ]),
    });
    expect(s.summary).toMatchObject({ applied: "1/2", replicas: "4/4" });
    expect(s.clusters?.find((c) => c.name === "tyo-a")).toMatchObject({ objects: 3, failed: 2 });
    expect(s.conditions?.find((c) => c.type === "Applied")).toMatchObject({
      status: "False",
      reason: "ApplyFailed",
    });
  });

  it("counts an application replica as one pod of each workload, as the placement does", () => {
    const s = status({
      decisions: [{ cluster: "tyo-a", replicas: 3 }],
      wanted: { mode: "Divided", count: 3 },
      works: new Map([["tyo-a", work("tyo-a", [deployment("web", 3, 3), deployment("worker", 3, 2)])]]),
    });
    expect(s.clusters?.[0]?.replicas).toEqual({ desired: 3, ready: 2 });
    expect(s.summary).toMatchObject({ replicas: "2/3" });
  });
});

describe("applicationStatus on failover (ADR 0013)", () => {
  const blocked = {
    reason: "NoEligibleCluster",
    message: "replicas stay on fra-a (2): no eligible cluster has room for them. fra-a: Health: not ready",
  };

  it("says why replicas stay on a failed cluster, with a Warning event once, on the transition", () => {
    const first = status({
      decisions: [{ cluster: "fra-a", replicas: 2 }],
      works: new Map([["fra-a", work("fra-a", [deployment("web", 2, 2)])]]),
      unreachable: new Set(["fra-a"]),
      failoverBlocked: blocked,
    });
    expect(first.conditions?.find((c) => c.type === "FailoverBlocked")).toMatchObject({
      status: "True",
      ...blocked,
    });
    expect(first.events).toEqual([
      { at: now, type: "Warning", reason: "FailoverBlocked", message: blocked.message },
    ]);
    // Its last report is unconfirmed, not ready.
    expect(first.clusters?.[0]).toMatchObject({
      replicas: { desired: 2, ready: 0 },
      unconfirmed: 2,
      healthy: false,
    });
    const again = applicationStatus({
      generation: 1,
      previous: first,
      now: "2026-12-03T10:00:05Z",
      decisions: [{ cluster: "fra-a", replicas: 2 }],
      works: new Map([["fra-a", work("fra-a", [deployment("web", 2, 2)])]]),
      unreachable: new Set(["fra-a"]),
      failoverBlocked: blocked,
    });
    expect(again.events).toHaveLength(1);
    expect(again.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "FailoverBlocked",
    });
  });

  it("lists the works kept above their share, and is not blocked without a failed cluster", () => {
    const s = status({
      decisions: [{ cluster: "fra-b", replicas: 4 }],
      works: new Map([["fra-b", work("fra-b", [deployment("web", 4, 3)])]]),
      leaving: [{ cluster: "fra-a", replicas: 2 }],
    });
    expect(s.placement?.leaving).toEqual([{ name: "fra-a", replicas: 2 }]);
    expect(s.conditions?.find((c) => c.type === "FailoverBlocked")).toMatchObject({ status: "False" });
  });
});
