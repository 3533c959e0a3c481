import { describe, expect, it } from "vitest";
import { UserError } from "../../errors/user-error.ts";
import { checkUsageQuery } from "./usage-query.ts";
import { parseUsageWindow } from "./usage-window.ts";

const now = new Date("2026-12-03T14:27:05Z");

function refusal(run: () => unknown): UserError {
  try {
    run();
  } catch (error) {
    if (error instanceof UserError) return error;
    throw error;
  }
  throw new Error("expected a UserError");
}

describe("usage windows", () => {
  it("ends relative windows where the current hour began", () => {
    expect(parseUsageWindow("1h", now)).toEqual({
      start: new Date("2026-12-03T13:00:00Z"),
      end: new Date("2026-12-03T14:00:00Z"),
    });
    expect(parseUsageWindow("7d", now)).toEqual({
      start: new Date("2026-11-26T14:00:00Z"),
      end: new Date("2026-12-03T14:00:00Z"),
    });
  });

  it("reads dates and hours joined by a slash, the end excluded", () => {
    expect(parseUsageWindow("2026-11-01/2026-12-01", now)).toEqual({
      start: new Date("2026-11-01T00:00:00Z"),
      end: new Date("2026-12-01T00:00:00Z"),
    });
    expect(parseUsageWindow("2026-12-03T06:00:00Z/2026-12-04", now)).toEqual({
      start: new Date("2026-12-03T06:00:00Z"),
      end: new Date("2026-12-04T00:00:00Z"),
    });
  });

  it.each([
    ["", "must be a duration or START/END"],
    ["7", "must be a duration or START/END"],
    ["0d", "must be a duration or START/END"],
    ["07d", "must be a duration or START/END"],
    ["7w", "must be a duration or START/END"],
    [" 7d", "must be a duration or START/END"],
    ["3661d", "at most 3660 days"],
    ["2026-11-01", "must be a duration or START/END"],
    ["2026-11-01/", 'the end "" must be a date'],
    ["2026-11-01/2026-12-01/2027-01-01", "must be a duration or START/END"],
    ["2026-02-30/2026-03-02", 'the start "2026-02-30" is not a real date'],
    ["2026-12-01/2026-11-01", "the end must come after the start"],
    ["2026-11-01/2026-11-01", "the end must come after the start"],
    ["2026-11-01T06:30:00Z/2026-11-02", "must be a date (2026-11-01) or an hour"],
    ["2026-11-01T24:00:00Z/2026-11-02", "is not a real date"],
    ["2000-01-01/2026-01-01", "at most 3660 days"],
  ])("refuses %j with the field and why", (text, why) => {
    const error = refusal(() => parseUsageWindow(text, now));
    expect(error.code).toBe("BadRequest");
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]!.path).toBe("window");
    expect(error.problems[0]!.message).toContain(why);
  });
});

describe("usage query checks", () => {
  it("adds the cluster to a namespace aggregation unless a level above the cluster is named", () => {
    const applied = (aggregate: string[]) => checkUsageQuery({ window: "1h", aggregate }, now).aggregate;
    expect(applied(["namespace"])).toEqual(["cluster", "namespace"]);
    expect(applied(["workload"])).toEqual(["cluster", "namespace", "workload"]);
    expect(applied(["label:team", "workload"])).toEqual(["label:team", "cluster", "namespace", "workload"]);
    expect(applied(["business", "namespace"])).toEqual(["business", "namespace"]);
    expect(applied(["location", "workload"])).toEqual(["location", "namespace", "workload"]);
    expect(applied(["business", "environment"])).toEqual(["business", "environment"]);
    expect(applied([])).toEqual([]);
  });

  it("refuses an unknown aggregation, listing the allowed ones, and reports every problem at once", () => {
    const error = refusal(() =>
      checkUsageQuery(
        {
          window: "7x",
          aggregate: ["business", "pod", "label:", "business"],
          filters: { team: ["a"], "label:team": [], cluster: ["fra-shop-prod"] },
        },
        now,
      ),
    );
    expect(error.code).toBe("BadRequest");
    expect(error.problems.map((p) => p.path)).toEqual([
      "window",
      "aggregate[1]",
      "aggregate[2]",
      "aggregate[3]",
      "filters.team",
      'filters["label:team"]',
    ]);
    expect(error.problems[1]!.message).toBe(
      'unknown dimension "pod"; allowed: location, region, cluster, business, environment, namespace, workload, label:KEY',
    );
    expect(error.problems[3]!.message).toBe("business is listed twice");
    expect(error.problems[5]!.message).toBe("must list one or more values");
  });
});
