import { describe, expect, it } from "vitest";
import { freshnessWarnings } from "./planning-input.ts";

const fleet = {
  takenAt: "2026-11-25T18:00:00Z",
  clusters: [
    {
      name: "fra-a",
      freshness: {
        lastHeartbeatTime: "2026-11-25T17:59:30Z",
        reachable: "True" as const,
        ready: "True" as const,
      },
    },
    {
      name: "fra-b",
      freshness: {
        lastHeartbeatTime: "2026-11-25T17:48:00Z",
        reachable: "False" as const,
        ready: "Unknown" as const,
      },
    },
  ],
};

describe("freshnessWarnings", () => {
  it("judges a live snapshot at the hub's takenAt, naming the Unreachable cluster and how long it is silent", () => {
    expect(freshnessWarnings(fleet, new Date("2026-11-25T18:00:02Z"), true)).toEqual([
      "warning: the data of 1 cluster may be stale: fra-b (Unreachable, last heard from 12 min ago)",
    ]);
  });

  it("judges a snapshot file now: its age, and clusters silent for too long since", () => {
    expect(freshnessWarnings(fleet, new Date("2026-11-25T21:00:00Z"), false)).toEqual([
      "warning: the fleet snapshot was taken at 2026-11-25T18:00:00Z (3 h ago)",
      "warning: the data of 2 clusters may be stale: fra-a (last heard from 3 h ago), fra-b (Unreachable, last heard from 3 h ago)",
    ]);
  });

  it("says nothing of a fresh fleet, nor of a hand-written snapshot without freshness", () => {
    expect(
      freshnessWarnings({ clusters: [fleet.clusters[0]!] }, new Date("2026-11-25T18:01:00Z"), true),
    ).toEqual([]);
    expect(
      freshnessWarnings({ clusters: [{ name: "mine" }] }, new Date("2027-01-01T00:00:00Z"), false),
    ).toEqual([]);
  });
});
