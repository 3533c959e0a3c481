/**
 * Invariants of every plan, on random fleets and policies: no policy rule broken, every pod placed exactly once,
 * no node over its usable capacity, no node count below its lower bound, the same plan for the same input.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planConsolidation } from "./consolidation-planner.ts";
import { type ConsolidationPolicySpec, consolidationPolicySpec } from "./consolidation-policy.ts";
import { type ClusterSketch, sketchFleet } from "./fleet-fixtures.test-support.ts";
import { readFleet } from "./fleet-snapshot.ts";
import { compareVersions } from "./versions.ts";

const shapes = [
  { instanceType: "m6.2xlarge", cpu: 8, memory: "32Gi" },
  { instanceType: "m6.4xlarge", cpu: 16, memory: "64Gi" },
  { instanceType: "r6.2xlarge", cpu: 8, memory: "128Gi" },
];

const workload = fc.record({
  name: fc.constantFrom("web", "api", "cache", "worker", "db"),
  replicas: fc.integer({ min: 0, max: 12 }),
  cpu: fc.constantFrom("100m", "250m", "500m", "1", "2", "3"),
  memory: fc.constantFrom("128Mi", "512Mi", "1Gi", "4Gi", "8Gi", "16Gi"),
  anti: fc.constantFrom("none", "none", "hostname", "zone-spread"),
});

const cluster = fc.record({
  location: fc.constantFrom("frankfurt", "singapore"),
  region: fc.constantFrom("north", "south"),
  environment: fc.constantFrom("prod", "staging", "dev"),
  business: fc.constantFrom("shop", "payments", "search"),
  version: fc.constantFrom("v1.34.2", "v1.35.0", "v1.36.3"),
  zones: fc.constantFrom<string[]>(["z1"], ["z1", "z2"], ["z1", "z2", "z3"]),
  shape: fc.constantFrom(...shapes),
  nodes: fc.integer({ min: 1, max: 6 }),
  workloads: fc.uniqueArray(workload, { maxLength: 4, selector: (w) => w.name }),
});

const policy = fc.record({
  scope: fc.constantFrom("Location" as const, "Region" as const),
  isolation: fc.record({ businesses: fc.subarray(["shop", "payments", "search"]) }),
  maxClusterSize: fc.record({
    nodes: fc.integer({ min: 2, max: 40 }),
    pods: fc.integer({ min: 10, max: 200 }),
  }),
  headroomPercent: fc.integer({ min: 0, max: 40 }),
  versions: fc.record({ upgradeTargets: fc.boolean() }),
}) as fc.Arbitrary<ConsolidationPolicySpec>;

const fleetArbitrary = fc.array(cluster, { minLength: 1, maxLength: 8 }).map((clusters) =>
  sketchFleet(
    clusters.map(
      (c, i): ClusterSketch => ({
        name: `c${i}`,
        location: c.location,
        region: c.region,
        environment: c.environment,
        business: c.business,
        version: c.version,
        zones: c.zones,
        nodes: { count: c.nodes, ...c.shape },
        workloads: c.workloads.map((w) => ({
          name: w.name,
          namespace: `ns-${i}`,
          replicas: w.anti === "hostname" ? Math.min(w.replicas, 4) : w.replicas,
          cpu: w.cpu,
          memory: w.memory,
          ...(w.anti === "hostname"
            ? { podAntiAffinity: { topologyKey: "kubernetes.io/hostname" as const } }
            : {}),
          ...(w.anti === "zone-spread"
            ? { topologySpread: [{ topologyKey: "topology.kubernetes.io/zone" as const, maxSkew: 1 }] }
            : {}),
        })),
      }),
    ),
  ),
);

const gib = 2 ** 30;
const allocatableOf: Record<string, { cpu: number; memory: number; pods: number }> = {
  "m6.2xlarge": { cpu: 8, memory: 32 * gib, pods: 110 },
  "m6.4xlarge": { cpu: 16, memory: 64 * gib, pods: 110 },
  "r6.2xlarge": { cpu: 8, memory: 128 * gib, pods: 110 },
};

describe("every consolidation plan", () => {
  it("obeys the policy, places every pod once, overfills no node and never undercuts its lower bound", () => {
    fc.assert(
      fc.property(fleetArbitrary, policy, (snapshot, spec) => {
        const read = readFleet(snapshot);
        if (!read.ok) throw new Error(JSON.stringify(read.problems));
        const fleet = read.value;
        const resolved = consolidationPolicySpec.parse(spec);
        const plan = planConsolidation(fleet, resolved, { keepNodes: true });
        const clusters = new Map(fleet.clusters.map((c) => [c.name, c]));

        // Every cluster is in exactly one target.
        const sources = plan.targets.flatMap((t) => t.sources).sort();
        expect(sources).toEqual([...clusters.keys()].sort());

        for (const t of plan.targets) {
          const members = t.sources.map((s) => clusters.get(s)!);
          const target = members[0]!;
          expect(target.name).toBe(t.name);
          if (members.length > 1) {
            // The rules of the policy.
            expect(new Set(members.map((m) => m.location)).size).toBe(1);
            if (resolved.scope === "Region") expect(new Set(members.map((m) => m.region)).size).toBe(1);
            for (const group of resolved.isolation.environmentGroups)
              if (members.some((m) => group.includes(m.environment)))
                expect(members.every((m) => group.includes(m.environment))).toBe(true);
            for (const b of resolved.isolation.businesses)
              if (members.some((m) => m.business === b))
                expect(members.every((m) => m.business === b)).toBe(true);
            expect(t.nodes).toBeLessThanOrEqual(resolved.maxClusterSize.nodes);
            expect(t.after.pods).toBeLessThanOrEqual(resolved.maxClusterSize.pods);
            for (const m of members)
              if (resolved.versions.upgradeTargets)
                expect(compareVersions(t.version.to, m.kubernetesVersion)).toBeGreaterThanOrEqual(0);
              else
                expect(compareVersions(target.kubernetesVersion, m.kubernetesVersion)).toBeGreaterThanOrEqual(
                  0,
                );
          }
          if (t.unplanned) continue;

          // Every pod placed exactly once.
          const placed = new Map<string, number>();
          for (const pool of t.pools)
            for (const node of pool.nodeList ?? [])
              for (const [id, count] of Object.entries(node.pods))
                placed.set(id, (placed.get(id) ?? 0) + count);
          const expected = new Map(
            members.flatMap((m) =>
              m.workloads
                .filter((w) => w.replicas > 0)
                .map((w) => [`${m.name}/${w.namespace}/${w.kind}/${w.name}`, w.replicas] as const),
            ),
          );
          expect(Object.fromEntries(placed)).toEqual(Object.fromEntries(expected));

          for (const pool of t.pools) {
            // Never below the lower bound.
            expect(pool.nodes).toBeGreaterThanOrEqual(pool.lowerBound);
            expect(pool.nodeList).toHaveLength(pool.nodes);
            // No node over its usable capacity.
            const usable = allocatableOf[pool.shape]!;
            const keep = 1 - resolved.headroomPercent / 100;
            for (const node of pool.nodeList ?? []) {
              expect(node.used.cpu ?? 0).toBeLessThanOrEqual(usable.cpu * keep + 1e-9);
              expect(node.used.memory ?? 0).toBeLessThanOrEqual(usable.memory * keep + 1);
              expect(node.used.pods ?? 0).toBeLessThanOrEqual(usable.pods * keep + 1e-9);
            }
          }
          // Anti-affinity: one pod of such a workload per node.
          for (const m of members)
            for (const w of m.workloads.filter((x) => x.antiAffinity === "hostname")) {
              const id = `${m.name}/${w.namespace}/${w.kind}/${w.name}`;
              for (const pool of t.pools)
                for (const node of pool.nodeList ?? []) expect(node.pods[id] ?? 0).toBeLessThanOrEqual(1);
            }
        }
        // Deterministic.
        expect(planConsolidation(fleet, resolved, { keepNodes: true })).toEqual(plan);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
