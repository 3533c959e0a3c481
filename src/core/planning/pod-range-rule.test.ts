/** The planner's rule `fits-pod-range`: a merge whose target's pod range cannot hold the merged nodes is refused. */
import { describe, expect, it } from "vitest";
import { planConsolidation, planRules } from "./consolidation-planner.ts";
import { consolidationPolicySpec } from "./consolidation-policy.ts";
import { sketchFleet } from "./fleet-fixtures.test-support.ts";
import { type FleetSnapshot, readFleet, type SnapshotNetwork } from "./fleet-snapshot.ts";

const policy = consolidationPolicySpec.parse({});
const big = {
  name: "fra-big",
  nodes: { count: 4 },
  workloads: [{ name: "api", replicas: 20, cpu: "2", memory: "4Gi" }],
};
const small = {
  name: "fra-small",
  nodes: { count: 2 },
  workloads: [{ name: "web", replicas: 10, cpu: "2", memory: "4Gi" }],
};

function planWith(network: SnapshotNetwork | undefined) {
  const snapshot: FleetSnapshot = sketchFleet([big, small]);
  if (network) snapshot.clusters[0]!.network = network;
  const read = readFleet(snapshot);
  if (!read.ok) throw new Error(JSON.stringify(read.problems));
  return planConsolidation(read.value, policy);
}

describe("the rule fits-pod-range", () => {
  it("merges the two clusters when the target states no pod range, or one large enough", () => {
    for (const network of [undefined, { pods: ["10.0.0.0/16"], source: "allocated" as const }]) {
      const plan = planWith(network);
      expect(plan.targets.find((t) => t.name === "fra-big")?.sources).toEqual(["fra-big", "fra-small"]);
      expect(plan.targets.find((t) => t.name === "fra-big")!.nodes).toBeGreaterThan(4);
    }
  });

  it("refuses the merge when the target's pod range cannot hold the merged nodes, saying what it would need", () => {
    const plan = planWith({ pods: ["10.4.0.0/22"], nodeMask: { ipv4: 24 }, source: "allocated" });
    expect(plan.targets.map((t) => t.sources)).toEqual([["fra-big"], ["fra-small"]]);
    const refusal = plan.decisions.find((d) => d.cluster === "fra-small" && d.verdict === "refused");
    expect(refusal).toEqual({
      cluster: "fra-small",
      target: "fra-big",
      verdict: "refused",
      rule: planRules.podRange,
      message: expect.stringMatching(
        /^with it, fra-big would need (at least )?\d+ nodes: its pod range 10\.4\.0\.0\/22 \(IPv4, from the network plan\) holds 4 nodes at \/24 per node: it would need a \/21$/,
      ),
    });
  });

  it("counts nodes at the cluster's own node mask, and in every family of a dual-stack range", () => {
    // A /22 at /26 per node holds 16 nodes: enough.
    const wideMask = planWith({ pods: ["10.4.0.0/22"], nodeMask: { ipv4: 26 } });
    expect(wideMask.targets.find((t) => t.name === "fra-big")?.sources).toEqual(["fra-big", "fra-small"]);
    // The IPv6 range holds 4 nodes at /64 per node: the smaller family decides.
    const dual = planWith({ pods: ["10.0.0.0/16", "fd00:10::/62"], source: "observed" });
    const refusal = dual.decisions.find((d) => d.cluster === "fra-small" && d.verdict === "refused");
    expect(refusal?.rule).toBe(planRules.podRange);
    expect(refusal?.message).toContain(
      "fd00:10::/62 (IPv6, declared by the cluster) holds 4 nodes at /64 per node",
    );
  });

  it("is refused in a snapshot when a pod range is not a block, with its field path", () => {
    const snapshot: FleetSnapshot = sketchFleet([big]);
    snapshot.clusters[0]!.network = { pods: ["10.4.0.1/22"], nodeMask: { ipv4: 40 } };
    const read = readFleet(snapshot);
    expect(read.ok).toBe(false);
    if (!read.ok)
      expect(read.problems).toEqual([
        { path: "clusters[0].network.pods[0]", message: expect.stringContaining("the block is 10.4.0.0/22") },
        { path: "clusters[0].network.nodeMask.ipv4", message: expect.any(String) },
      ]);
  });
});
