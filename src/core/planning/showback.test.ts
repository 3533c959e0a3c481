import { describe, expect, it } from "vitest";
import { planConsolidation } from "./consolidation-planner.ts";
import { type ConsolidationPolicySpec, consolidationPolicySpec } from "./consolidation-policy.ts";
import { type ClusterSketch, labLikeFleet, sketchFleet } from "./fleet-fixtures.test-support.ts";
import { type Fleet, type FleetSnapshot, readFleet } from "./fleet-snapshot.ts";
import { expectSumsToFigures } from "./showback.test-support.ts";
import { inWholeUnits, type ShowbackSide, showback } from "./showback.ts";

const fleetOf = (snapshot: FleetSnapshot): Fleet => {
  const read = readFleet(snapshot);
  if (!read.ok) throw new Error(JSON.stringify(read.problems));
  return read.value;
};
const policyOf = (spec: ConsolidationPolicySpec = {}) => consolidationPolicySpec.parse(spec);

function showbackOf(snapshot: FleetSnapshot, spec?: ConsolidationPolicySpec) {
  const fleet = fleetOf(snapshot);
  const policy = policyOf(spec);
  const plan = planConsolidation(fleet, policy);
  return { plan, showback: showback(fleet, policy, plan) };
}

const costs = (side: ShowbackSide) =>
  Object.fromEntries(side.businesses.map((b) => [b.business, b.monthlyCostMicro]));

/** The example policy's Frankfurt shapes (examples/consolidation-policy.yaml). */
const frankfurtShapes: ConsolidationPolicySpec["nodeShapes"] = [
  { name: "m6.xlarge", cpu: "4", memory: "16Gi", pods: 110, monthlyPrice: 140, locations: ["frankfurt"] },
  { name: "m6.2xlarge", cpu: "8", memory: "32Gi", pods: 110, monthlyPrice: 280, locations: ["frankfurt"] },
  { name: "m6.4xlarge", cpu: "16", memory: "64Gi", pods: 110, monthlyPrice: 560, locations: ["frankfurt"] },
];

/** One cluster of two m6.2xlarge (8 cores, 32 GiB; 280 a month each): shop and search share it. */
const shared: ClusterSketch = {
  name: "fra-shop-dev",
  business: "shop",
  nodes: { count: 2, instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
  workloads: [
    { namespace: "shop", name: "web", replicas: 3, cpu: "1", memory: "1Gi" },
    { namespace: "search", name: "indexer", replicas: 1, cpu: "1", memory: "9Gi", business: "search" },
    {
      namespace: "kube-system",
      kind: "DaemonSet",
      name: "kube-proxy",
      replicas: 2,
      cpu: "100m",
      memory: "128Mi",
    },
  ],
};

describe("showback by hand", () => {
  it("splits a cluster's node cost into cpu and memory and divides each by what businesses request", () => {
    const { showback: s } = showbackOf(sketchFleet([shared]), { nodeShapes: frankfurtShapes });
    const today = s.targets[0]!.today;
    // Each node: 280,000,000 micro-units split 8 × 31,611 : 32 × 4,237 (metering's Rule 2) = 182,274,758.54 :
    // 97,725,241.46 → cpu 182,274,759, memory 97,725,241. Two nodes: cpu 364,549,518, memory 195,450,482.
    // Cpu 3,000m : 1,000m → 273,412,138.5 : 91,137,379.5, the spare unit to the smaller key on a tie (search).
    // Memory 3 GiB : 9 GiB → 48,862,620.5 : 146,587,861.5, the spare unit to search again.
    // kube-proxy (kube-system) is shared: its part and idle go along in the same proportions.
    expect(costs(today)).toEqual({
      shop: 273_412_138 + 48_862_620,
      search: 91_137_380 + 146_587_862,
    });
    expect(today.monthlyCostMicro).toBe(560_000_000);
    expect(today.businesses.find((b) => b.business === "shop")?.allocated).toEqual({
      cpu: 3000,
      memory: 3 * 2 ** 30,
      gpu: 0,
    });
    // In whole units for a table: 322.27 and 237.73 → 322 and 238, adding up to 560.
    expect(inWholeUnits(today)).toEqual({
      total: 560,
      businesses: new Map([
        ["search", 238],
        ["shop", 322],
      ]),
    });
  });

  it("charges max(request, usage), as metering does", () => {
    const used: ClusterSketch = {
      ...shared,
      workloads: [
        { namespace: "shop", name: "web", replicas: 1, cpu: "1", memory: "1Gi" },
        {
          namespace: "search",
          name: "indexer",
          replicas: 1,
          cpu: "1",
          memory: "1Gi",
          business: "search",
          podUsage: { cpu: "3", memory: "512Mi" },
        },
      ],
    };
    const today = showbackOf(sketchFleet([used]), { nodeShapes: frankfurtShapes }).showback.targets[0]!.today;
    // Cpu 1 : 3 (search used 3 cores of a 1-core request), memory 1 : 1 (search used less than it requested).
    expect(costs(today)).toEqual({
      shop: 91_137_379 + 97_725_241,
      search: 273_412_139 + 97_725_241,
    });
  });

  it("puts a gpu node's gpu part on the business whose pods request its gpus", () => {
    const gpu: ClusterSketch = {
      name: "fra-ml-prod",
      business: "shop",
      nodes: { count: 1, instanceType: "g6.12xlarge", cpu: 48, memory: "192Gi", gpu: 4 },
      workloads: [
        {
          namespace: "ml",
          name: "train",
          replicas: 1,
          business: "ml",
          podRequests: { cpu: "1", memory: "4Gi", "nvidia.com/gpu": "4" },
        },
        { namespace: "shop", name: "web", replicas: 1, cpu: "1", memory: "4Gi" },
      ],
    };
    const spec: ConsolidationPolicySpec = {
      nodeShapes: [
        {
          name: "g6.12xlarge",
          cpu: "48",
          memory: "192Gi",
          pods: 110,
          extendedResources: { "nvidia.com/gpu": "4" },
          monthlyPrice: 1000,
        },
      ],
    };
    const today = showbackOf(sketchFleet([gpu]), spec).showback.targets[0]!.today;
    // 1,000,000,000 split 48 × 31,611 : 192 × 4,237 : 4 × 950,000 → cpu 247,491,368, memory 132,690,637
    // (largest remainder), gpu 619,817,995. Cpu and memory halve (memory's odd unit to "ml" on the tie).
    expect(costs(today)).toEqual({
      ml: 123_745_684 + 66_345_319 + 619_817_995,
      shop: 123_745_684 + 66_345_318,
    });
  });

  it("pays a part no pod claims to the cluster's business", () => {
    const empty: ClusterSketch = { ...shared, workloads: [] };
    const today = showbackOf(sketchFleet([empty]), { nodeShapes: frankfurtShapes }).showback.targets[0]!
      .today;
    expect(costs(today)).toEqual({ shop: 560_000_000 });
  });
});

describe("showback before and after a merge", () => {
  const policy = {
    nodeShapes: [
      ...frankfurtShapes,
      { name: "m6.xlarge", cpu: "4", memory: "16Gi", pods: 110, monthlyPrice: 230, locations: ["singapore"] },
      {
        name: "m6.2xlarge",
        cpu: "8",
        memory: "32Gi",
        pods: 110,
        monthlyPrice: 460,
        locations: ["singapore"],
      },
      {
        name: "m6.4xlarge",
        cpu: "16",
        memory: "64Gi",
        pods: 110,
        monthlyPrice: 920,
        locations: ["singapore"],
      },
    ],
  } satisfies ConsolidationPolicySpec;
  const { plan, showback: s } = showbackOf(labLikeFleet(), policy);

  it("says what each business pays today and after, and who saves what", () => {
    const target = s.targets.find((t) => t.name === "fra-shop-dev")!;
    // Today: search alone on fra-search-staging (2 × m6.2xlarge at 280), shop on fra-shop-dev (the same).
    expect(costs(target.today)).toEqual({ search: 560_000_000, shop: 560_000_000 });
    // After: one m6.xlarge (140): cpu 91,137,379 halved (1 core each; the spare unit to search on the tie),
    // memory 48,862,621 divided 2 GiB : 4 GiB (shop's two 1 GiB pods, search's 4 GiB).
    expect(costs(target.after)).toEqual({
      search: 45_568_690 + 32_575_081,
      shop: 45_568_689 + 16_287_540,
    });
    expect(target.after.monthlyCostMicro).toBe(140_000_000);
  });

  it("adds up to the plan's cost figures for every target and Location", () => {
    expectSumsToFigures(plan, s);
    const frankfurt = s.locations.find((l) => l.location === "frankfurt")!;
    expect(frankfurt.today.monthlyCostMicro).toBe(6_720_000_000);
    expect(frankfurt.after.monthlyCostMicro).toBe(2_380_000_000);
  });
});

describe("DaemonSets in a merge", () => {
  it("counts a DaemonSet several sources run once per target node, for the first source that runs it", () => {
    const logShipper = {
      namespace: "logging",
      kind: "DaemonSet",
      name: "log-shipper",
      cpu: "100m",
      memory: "128Mi",
    };
    const { plan, showback: s } = showbackOf(
      sketchFleet([
        {
          name: "fra-shop-dev",
          nodes: { count: 3, instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
          workloads: [
            { namespace: "shop", name: "web", replicas: 2, cpu: "1", memory: "1Gi" },
            { ...logShipper, replicas: 3 },
          ],
        },
        {
          name: "fra-search-dev",
          business: "search",
          nodes: { count: 2, instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
          workloads: [
            { namespace: "search", name: "indexer", replicas: 1, cpu: "1", memory: "1Gi" },
            { ...logShipper, replicas: 2 },
          ],
        },
      ]),
      { nodeShapes: frankfurtShapes },
    );
    const target = plan.targets[0]!;
    expect(target.sources).toEqual(["fra-shop-dev", "fra-search-dev"]);
    const after = s.targets[0]!.after;
    const cpu = Object.fromEntries(after.businesses.map((b) => [b.business, b.allocated.cpu]));
    expect(cpu).toEqual({ shop: 2000 + 100 * target.nodes, search: 1000 });
    const today = s.targets[0]!.today;
    expect(Object.fromEntries(today.businesses.map((b) => [b.business, b.allocated.cpu]))).toEqual({
      shop: 2000 + 300,
      search: 1000 + 200,
    });
  });
});

describe("showback without prices", () => {
  it("shows allocations only, naming the node types that have no price", () => {
    const { plan, showback: s } = showbackOf(labLikeFleet());
    for (const scope of [...s.locations, ...s.targets])
      for (const side of [scope.today, scope.after]) {
        expect(side.monthlyCostMicro).toBeUndefined();
        expect(side.businesses.every((b) => b.monthlyCostMicro === undefined)).toBe(true);
        expect(inWholeUnits(side)).toBeUndefined();
      }
    const frankfurt = s.locations.find((l) => l.location === "frankfurt")!;
    expect(frankfurt.today.unpriced).toEqual(["m6.2xlarge", "m6.4xlarge"]);
    expect(frankfurt.today.businesses.map((b) => [b.business, b.allocated.cpu])).toEqual([
      ["payments", 16_000],
      ["search", 1000],
      ["shop", 32_500],
    ]);
    expectSumsToFigures(plan, s);
  });

  it("prices one side and not the other when only the policy's shapes have prices", () => {
    // Today's nodes are m6.2xlarge, which the policy does not price; the plan packs onto m6.4xlarge, which it does.
    const { plan, showback: s } = showbackOf(
      sketchFleet([shared, { ...shared, name: "fra-search-dev", business: "search" }]),
      { nodeShapes: [frankfurtShapes[2]!] },
    );
    const frankfurt = s.locations[0]!;
    expect(frankfurt.today).toMatchObject({ unpriced: ["m6.2xlarge"] });
    expect(frankfurt.today.monthlyCostMicro).toBeUndefined();
    expect(frankfurt.after).toMatchObject({ unpriced: [], monthlyCostMicro: 560_000_000 });
    expectSumsToFigures(plan, s);
  });
});
