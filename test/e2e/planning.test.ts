/**
 * The consolidation planner on the lab's live inventory: a hub, relays and agents on the shared lab, and the CLI
 * as a user runs it. The plan merges the small under-used clusters of the default topology, its figures match
 * what the lab runs, every refusal names its rule, and a snapshot file plans the same as the live fleet.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsolidationPlan, Decision } from "../../src/core/planning/consolidation-planner.ts";
import type { MigrationWave } from "../../src/core/planning/migration-waves.ts";
import type { UnitsPlan } from "../../src/core/planning/unit-planner.ts";
import { parseQuantity } from "../../src/core/quantity/quantity.ts";
import { repositoryRoot, unitfleetCli } from "./cli.ts";
import { adminCliHome, type LabFleet, startLabFleet } from "./lab-fleet.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
let fleet: LabFleet;
let home: string;

async function cli<T>(args: string[]): Promise<T> {
  const result = await unitfleetCli(home, [...args, "-o", "json"]);
  if (result.code !== 0) throw new Error(`unitfleet ${args.join(" ")}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

const amount = (q: string | number) => {
  const parsed = parseQuantity(q);
  return parsed.ok ? parsed.value : Number.NaN;
};

/** What the lab's topology runs in a Location: nodes, requested cores and pods. */
function topologyFigures(location: string) {
  const clusters = lab.topology.spec.clusters.filter((c) => c.location === location);
  const workloads = clusters.flatMap((c) => c.workloads ?? []);
  return {
    clusters: clusters.length,
    nodes: clusters.reduce((n, c) => n + c.nodePools.reduce((m, p) => m + p.count, 0), 0),
    cpu: workloads.reduce((n, w) => n + w.replicas * amount(w.cpu), 0),
    pods: workloads.reduce((n, w) => n + w.replicas, 0),
  };
}

beforeAll(async () => {
  fleet = await startLabFleet(lab, { prefix: "unitfleet-planning-e2e-" });
  home = await adminCliHome(fleet);
}, 300_000);

afterAll(async () => {
  await fleet?.stop();
});

describe("unitfleet plan on the lab's live inventory", () => {
  let plan: ConsolidationPlan;

  it("merges the small dev and staging clusters of Frankfurt, with figures that match the lab", async () => {
    plan = await cli<ConsolidationPlan>(["plan", "consolidation"]);
    const sources = Object.fromEntries(plan.targets.map((t) => [t.name, t.sources]));
    expect(sources).toEqual({
      "fra-shop-dev": ["fra-shop-dev", "fra-search-staging"],
      "fra-shop-prod": ["fra-shop-prod", "fra-payments-prod"],
      "sgp-shop-dev": ["sgp-shop-dev"],
      "sgp-shop-prod": ["sgp-shop-prod"],
    });
    for (const location of ["frankfurt", "singapore"]) {
      const expected = topologyFigures(location);
      const figures = plan.locations.find((l) => l.location === location);
      expect(figures?.before).toMatchObject({
        clusters: expected.clusters,
        nodes: expected.nodes,
        pods: expected.pods,
      });
      expect(figures?.before.requested.cpu).toBeCloseTo(expected.cpu);
      expect(figures?.after.requested.cpu).toBeCloseTo(expected.cpu);
      expect(figures?.after.pods).toBe(expected.pods);
      expect(figures?.after.nodes).toBeLessThan(expected.nodes);
    }
    const small = plan.targets.find((t) => t.name === "fra-shop-dev");
    // fra-shop-dev and fra-search-staging: 2 + 2 nodes of 8 cores for 3 pods asking 2 cores.
    expect(small?.before).toMatchObject({ nodes: 4, pods: 3 });
    expect(small?.before.utilization.cpu).toBeCloseTo(2 / 32);
    for (const t of plan.targets) {
      expect(t.nodes).toBeGreaterThanOrEqual(t.lowerBound);
      expect(t.lowerBound).toBeGreaterThan(0);
    }
  });

  it("prints the plan as a table with the hub's ConsolidationPolicy and its prices", async () => {
    const applied = await unitfleetCli(home, [
      "apply",
      "-f",
      join(repositoryRoot, "examples/consolidation-policy.yaml"),
    ]);
    expect(applied.code, applied.stderr).toBe(0);
    const result = await unitfleetCli(home, ["plan", "consolidation"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("Policy: ConsolidationPolicy default (hub)");
    const row = result.stdout.split("\n").find((l) => l.includes("fra-search-staging"));
    expect(row).toMatch(/frankfurt\s+fra-shop-dev\s+fra-search-staging\s+4 → \d/);
    expect(row).toMatch(/1,120 → \d/); // four m6.2xlarge at 280 a month before
    expect(result.stdout).toMatch(/6 clusters → 4/);
  });

  it("explains each merge and each refusal with its rule", async () => {
    const decisions = await cli<Decision[]>(["explain", "plan", "fra-search-staging"]);
    expect(decisions).toContainEqual(expect.objectContaining({ verdict: "merged", target: "fra-shop-dev" }));
    expect(decisions).toContainEqual(
      expect.objectContaining({ verdict: "refused", target: "fra-shop-prod", rule: "isolated-environments" }),
    );
    const sgp = await cli<Decision[]>(["explain", "plan", "sgp-shop-dev"]);
    expect(sgp).toContainEqual(
      expect.objectContaining({ target: "fra-shop-dev", rule: "never-cross-locations" }),
    );
    const table = await unitfleetCli(home, ["explain", "plan", "sgp-shop-dev"]);
    expect(table.stdout).toMatch(/sgp-shop-dev\s+refused\s+sgp-shop-prod\s+isolated-environments/);
  });

  it("keeps a business the policy isolates on its own, and refuses a bad policy whole", async () => {
    const policy = join(fleet.dir, "isolate-search.yaml");
    await writeFile(
      policy,
      "apiVersion: unitfleet.io/v1alpha1\nkind: ConsolidationPolicy\nmetadata: { name: isolate-search }\nspec:\n  isolation: { businesses: [search] }\n",
    );
    const isolated = await cli<ConsolidationPlan>(["plan", "consolidation", "-f", policy]);
    expect(isolated.targets.find((t) => t.sources.includes("fra-search-staging"))?.sources).toEqual([
      "fra-search-staging",
    ]);
    const why = await cli<Decision[]>(["explain", "plan", "fra-search-staging", "-f", policy]);
    expect(why).toContainEqual(
      expect.objectContaining({ target: "fra-shop-dev", rule: "isolated-businesses" }),
    );

    const bad = join(fleet.dir, "bad-policy.yaml");
    await writeFile(
      bad,
      "apiVersion: unitfleet.io/v1alpha1\nkind: ConsolidationPolicy\nmetadata: { name: bad }\nspec:\n  headroomPercent: 120\n  maxClusterSize: { nodes: 9000 }\n",
    );
    const refused = await unitfleetCli(home, ["plan", "consolidation", "-f", bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("the ConsolidationPolicy is not valid");
    expect(refused.stderr).toContain("spec.headroomPercent");
    expect(refused.stderr).toContain("spec.maxClusterSize.nodes");
    expect(refused.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it("plans the same from a snapshot file as from the live fleet", async () => {
    const file = join(fleet.dir, "fleet.json");
    const written = await unitfleetCli(home, ["snapshot", "-o", file]);
    expect(written.code, written.stderr).toBe(0);
    const policy = join(repositoryRoot, "examples/consolidation-policy.yaml");
    const live = await cli<ConsolidationPlan>(["plan", "consolidation", "-f", policy]);
    const offline = await cli<ConsolidationPlan>(["plan", "consolidation", "-f", policy, "--from", file]);
    expect(offline).toEqual(live);
  });

  it("lists migration waves lowest risk first, and units for a Location", async () => {
    const waves = await cli<MigrationWave[]>(["plan", "waves"]);
    expect(waves.map((w) => [w.target, w.risk])).toEqual([
      ["fra-shop-dev", "low"],
      ["fra-shop-prod", "high"],
    ]);
    expect(waves[0]?.steps.at(-1)).toMatchObject({
      action: "retire",
      cluster: "fra-search-staging",
      executor: "unitfleet",
    });

    const units = await cli<UnitsPlan>(["plan", "units", "--location", "frankfurt"]);
    expect(units.regions.map((r) => r.name)).toEqual(["fra-north", "fra-south"]);
    expect(units.units.map((u) => u.name)).toContain("shop-prod-fra-north");
    expect(units.units).toHaveLength(8);
    expect(units.after.blastRadius.share).toBeCloseTo(0.5);
  });
});
