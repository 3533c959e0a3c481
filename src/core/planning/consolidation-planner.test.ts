import { describe, expect, it } from "vitest";
import { type ConsolidationPlan, planConsolidation, planRules } from "./consolidation-planner.ts";
import { type ConsolidationPolicySpec, consolidationPolicySpec } from "./consolidation-policy.ts";
import { type ClusterSketch, labLikeFleet, sketchFleet } from "./fleet-fixtures.test-support.ts";
import { type Fleet, type FleetSnapshot, readFleet } from "./fleet-snapshot.ts";
import { migrationWaves } from "./migration-waves.ts";

const fleetOf = (snapshot: FleetSnapshot): Fleet => {
  const read = readFleet(snapshot);
  if (!read.ok) throw new Error(JSON.stringify(read.problems));
  return read.value;
};
const policyOf = (spec: ConsolidationPolicySpec = {}) => consolidationPolicySpec.parse(spec);
const plan = (clusters: ClusterSketch[], spec?: ConsolidationPolicySpec) =>
  planConsolidation(fleetOf(sketchFleet(clusters)), policyOf(spec));
const targetOf = (p: ConsolidationPlan, cluster: string) =>
  p.targets.find((t) => t.sources.includes(cluster));
const refusals = (p: ConsolidationPlan, cluster: string) =>
  p.decisions.filter((d) => d.cluster === cluster && d.verdict === "refused");

const tiny = (name: string, extra: Partial<ClusterSketch> = {}): ClusterSketch => ({
  name,
  nodes: { count: 2, instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
  workloads: [{ name: "web", replicas: 2, cpu: "500m", memory: "1Gi" }],
  ...extra,
});

describe("planConsolidation on the default lab's fleet", () => {
  const result = planConsolidation(fleetOf(labLikeFleet()), policyOf());

  it("merges Frankfurt's small dev and staging clusters into one, and its production clusters into one", () => {
    expect(targetOf(result, "fra-search-staging")?.name).toBe("fra-shop-dev");
    expect(targetOf(result, "fra-shop-dev")?.sources).toEqual(["fra-shop-dev", "fra-search-staging"]);
    expect(targetOf(result, "fra-payments-prod")?.sources).toEqual(["fra-shop-prod", "fra-payments-prod"]);
    expect(result.locations.find((l) => l.location === "frankfurt")).toMatchObject({
      before: { clusters: 4, nodes: 14 },
      after: { clusters: 2 },
      merges: 2,
    });
  });

  it("keeps Singapore's dev cluster apart from its production cluster, naming the rule", () => {
    expect(targetOf(result, "sgp-shop-dev")?.sources).toEqual(["sgp-shop-dev"]);
    expect(refusals(result, "sgp-shop-dev")).toContainEqual(
      expect.objectContaining({ target: "sgp-shop-prod", rule: planRules.environments }),
    );
  });

  it("sets every node count beside its lower bound, never below it, and sums figures that match the inventory", () => {
    for (const t of result.targets) {
      expect(t.nodes).toBeGreaterThanOrEqual(t.lowerBound);
      expect(t.ratio).toBeCloseTo(t.lowerBound === 0 ? 1 : t.nodes / t.lowerBound);
    }
    const fra = result.locations.find((l) => l.location === "frankfurt");
    // Requests of the lab's Frankfurt workloads: 24 + 6 + 1.5 + 12 + 4 + 1 + 1 = 49.5 cores, 31 + 3 pods.
    expect(fra?.before.requested.cpu).toBeCloseTo(49.5);
    expect(fra?.after.requested.cpu).toBeCloseTo(49.5);
    expect(fra?.before.pods).toBe(34);
    expect(fra?.after.pods).toBe(34);
    expect(fra?.after.nodes).toBeLessThan(fra?.before.nodes ?? 0);
    expect(fra?.after.utilization.cpu).toBeGreaterThan(fra?.before.utilization.cpu ?? 1);
  });

  it("is deterministic, whatever the order of the clusters", () => {
    const snapshot = labLikeFleet();
    const reversed = { ...snapshot, clusters: [...snapshot.clusters].reverse() };
    expect(planConsolidation(fleetOf(reversed), policyOf())).toEqual(result);
  });
});

describe("each rule refuses the merge that breaks it, and says so", () => {
  it("never merges across Locations", () => {
    const p = plan([tiny("fra-a"), tiny("sgp-a", { location: "singapore" })]);
    expect(p.targets.map((t) => t.sources)).toEqual([["fra-a"], ["sgp-a"]]);
    const refused = refusals(p, "fra-a");
    expect(refused).toEqual([expect.objectContaining({ target: "sgp-a", rule: "never-cross-locations" })]);
    expect(refused[0]?.message).toContain("merges never cross Locations");
  });

  it("never mixes production with development", () => {
    const p = plan([tiny("shop-prod", { environment: "prod" }), tiny("shop-dev")]);
    expect(p.targets).toHaveLength(2);
    expect(refusals(p, "shop-dev")).toEqual([
      expect.objectContaining({ target: "shop-prod", rule: "isolated-environments" }),
    ]);
  });

  it("keeps a named business apart", () => {
    const p = plan(
      [
        tiny("shop-dev"),
        tiny("payments-dev", { business: "payments" }),
        tiny("search-dev", { business: "search" }),
      ],
      {
        isolation: { businesses: ["payments"] },
      },
    );
    expect(targetOf(p, "search-dev")?.sources).toHaveLength(2);
    expect(targetOf(p, "payments-dev")?.sources).toEqual(["payments-dev"]);
    expect(refusals(p, "payments-dev")).toContainEqual(
      expect.objectContaining({ rule: "isolated-businesses" }),
    );
  });

  it("never grows a cluster beyond the size limit", () => {
    const busy = (name: string) =>
      tiny(name, { workloads: [{ name: "web", replicas: 10, cpu: "1", memory: "2Gi" }] });
    // Each runs 10 cores on 8-core nodes: alone 2 nodes, two together 3, all three 4 (30 cores on 32).
    const roomy = plan([busy("a"), busy("b"), busy("c")], {
      maxClusterSize: { nodes: 4, pods: 1000 },
      headroomPercent: 0,
    });
    expect(roomy.targets.map((t) => [t.sources.length, t.nodes])).toEqual([[3, 4]]);
    const tight = plan([busy("a"), busy("b"), busy("c")], {
      maxClusterSize: { nodes: 3, pods: 1000 },
      headroomPercent: 0,
    });
    expect(tight.targets.map((t) => t.sources)).toEqual([["a", "b"], ["c"]]);
    for (const t of tight.targets) expect(t.nodes).toBeLessThanOrEqual(3);
    const refused = tight.decisions.filter((d) => d.rule === "max-cluster-size");
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.message).toMatch(/more than the 3 nodes the policy allows/);
  });

  it("never moves a workload to an older version when upgrades are not allowed", () => {
    const clusters = [
      tiny("big-old", { version: "v1.34.2", nodes: { count: 6 } }),
      tiny("small-new", { version: "v1.36.1" }),
    ];
    const refused = plan(clusters, { versions: { upgradeTargets: false } });
    expect(refused.targets).toHaveLength(2);
    expect(refusals(refused, "small-new")).toEqual([
      expect.objectContaining({ target: "big-old", rule: "target-not-older" }),
    ]);
    expect(refusals(refused, "small-new")[0]?.message).toContain("would move to an older version");

    const upgraded = plan(clusters);
    const target = targetOf(upgraded, "small-new");
    expect(target?.name).toBe("big-old");
    expect(target?.version).toEqual({ from: "v1.34.2", to: "v1.36.1", steps: ["v1.35", "v1.36.1"] });
  });

  it("merges only within a Region when the scope says so", () => {
    const clusters = [tiny("north-a", { region: "north" }), tiny("south-a", { region: "south" })];
    expect(plan(clusters).targets).toHaveLength(1);
    const p = plan(clusters, { scope: "Region" });
    expect(p.targets).toHaveLength(2);
    expect(refusals(p, "south-a")).toContainEqual(expect.objectContaining({ rule: "same-region" }));
  });
});

describe("node-type constraints and shapes", () => {
  it("packs gpu workloads onto gpu nodes only, the rest onto general nodes", () => {
    const gpuLabels = { "unitfleet.io/accelerator": "gpu" };
    const p = plan(
      [
        tiny("ml-dev", {
          nodes: { count: 2, instanceType: "g5.4xlarge", cpu: 16, memory: "64Gi", gpu: 4, labels: gpuLabels },
          workloads: [
            {
              name: "train",
              replicas: 3,
              podRequests: { cpu: "4", memory: "16Gi", "nvidia.com/gpu": "2" },
              nodeSelector: gpuLabels,
            },
          ],
        }),
        tiny("web-dev"),
      ],
      { headroomPercent: 0 },
    );
    const t = p.targets[0];
    expect(t?.pools.map((pool) => [pool.name, pool.shape, pool.nodes])).toEqual([
      ["general", "m6.2xlarge", 1],
      ["nodeSelector unitfleet.io/accelerator=gpu nvidia.com/gpu", "g5.4xlarge-4xnvidia.com_gpu", 2],
    ]);
  });

  it("prices targets with the policy's shapes and picks the cheapest", () => {
    const p = plan([tiny("a"), tiny("b")], {
      headroomPercent: 0,
      nodeShapes: [
        { name: "m6.2xlarge", cpu: "8", memory: "32Gi", pods: 110, monthlyPrice: 280 },
        { name: "m6.xlarge", cpu: "4", memory: "16Gi", pods: 110, monthlyPrice: 100 },
      ],
    });
    const t = p.targets[0];
    // 4 pods of 500m/1Gi: one m6.xlarge (100) is cheaper than one m6.2xlarge (280).
    expect(t?.pools[0]).toMatchObject({ shape: "m6.xlarge", nodes: 1 });
    expect(t?.after.monthlyCost).toBe(100);
    expect(t?.before.monthlyCost).toBe(4 * 280);
  });
});

describe("migration waves", () => {
  it("puts non-production first and ends each source with drain and retire", () => {
    const fleet = fleetOf(labLikeFleet());
    const policy = policyOf();
    const waves = migrationWaves(fleet, planConsolidation(fleet, policy), policy);
    expect(waves.map((w) => [w.target, w.risk])).toEqual([
      ["fra-shop-dev", "low"],
      ["fra-shop-prod", "high"],
    ]);
    const actions = waves[0]?.steps.map((s) => `${s.action} ${s.cluster}`);
    expect(actions).toEqual([
      "resize-target fra-shop-dev",
      "move-workload fra-search-staging",
      "drain fra-search-staging",
      "retire fra-search-staging",
    ]);
  });

  it("moves a workload unitfleet delivers by its Application's placement, and advises for the others", () => {
    const fleet = fleetOf(
      sketchFleet([
        tiny("a", { nodes: { count: 4 } }),
        tiny("b", {
          workloads: [
            { name: "web", replicas: 2, application: "web" },
            { name: "batch", replicas: 1 },
          ],
        }),
      ]),
    );
    const policy = policyOf();
    const steps = migrationWaves(fleet, planConsolidation(fleet, policy), policy)[0]?.steps ?? [];
    const moves = steps.filter((s) => s.action === "move-workload");
    expect(moves.map((m) => [m.workload, m.executor])).toEqual([
      ["b/Deployment/batch", "advice"],
      ["b/Deployment/web", "unitfleet"],
    ]);
    expect(moves[1]?.command).toContain("spec.placement.clusterNames: [a]");
  });
});
