import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshnessWarnings, groupedWarnings, readPlanningInput } from "./planning-input.ts";

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

const podsWarning = "no pods in allocatable: the kubelet default, 110, is used";

describe("groupedWarnings", () => {
  it("prints one line per kind of case, however many nodes it concerns", () => {
    const warnings = Array.from({ length: 20_000 }, (_, i) => ({
      path: `clusters[${Math.floor(i / 20)}].nodes[${i % 20}].allocatable.pods`,
      message: podsWarning,
    }));
    expect(groupedWarnings([...warnings, { path: "clusters[3].name", message: "something else" }])).toEqual([
      `warning: clusters[0].nodes[0].allocatable.pods: ${podsWarning} (also at 19999 more: clusters[0].nodes[1].allocatable.pods, clusters[0].nodes[2].allocatable.pods, clusters[0].nodes[3].allocatable.pods, …)`,
      "warning: clusters[3].name: something else",
    ]);
    expect(groupedWarnings(warnings.slice(0, 2))).toEqual([
      `warning: clusters[0].nodes[0].allocatable.pods: ${podsWarning} (also at 1 more: clusters[0].nodes[1].allocatable.pods)`,
    ]);
  });
});

describe("readPlanningInput --from a snapshot file", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "unitfleet-planning-input-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints on stderr that nodes without pods run the kubelet default, once for all of them", async () => {
    const node = (i: number) => ({ name: `n${i}`, allocatable: { cpu: "16", memory: "64Gi" } });
    const cluster = (name: string, nodes: number) => ({
      name,
      location: "frankfurt",
      environment: "dev",
      business: "shop",
      kubernetesVersion: "v1.36.3",
      nodes: Array.from({ length: nodes }, (_, i) => node(i)),
      workloads: [],
    });
    const from = join(dir, "fleet.json");
    await writeFile(
      from,
      JSON.stringify({
        apiVersion: "unitfleet.io/v1alpha1",
        kind: "FleetSnapshot",
        clusters: [cluster("fra-a", 3), cluster("fra-b", 2)],
      }),
    );
    const filename = join(dir, "policy.yaml");
    await writeFile(
      filename,
      "apiVersion: unitfleet.io/v1alpha1\nkind: ConsolidationPolicy\nmetadata:\n  name: default\nspec: {}\n",
    );
    const lines: string[] = [];
    const input = await readPlanningInput({ home: dir }, { from, filename }, (line) => lines.push(line));
    expect(input.fleet.clusters.flatMap((c) => c.nodes.map((n) => n.allocatable.pods))).toEqual([
      110, 110, 110, 110, 110,
    ]);
    expect(lines).toEqual([
      `policy: ${filename} (-f)`,
      `warning: clusters[0].nodes[0].allocatable.pods: ${podsWarning} (also at 4 more: clusters[0].nodes[1].allocatable.pods, clusters[0].nodes[2].allocatable.pods, clusters[1].nodes[0].allocatable.pods, …)`,
    ]);
  });
});
