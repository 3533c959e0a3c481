import { describe, expect, it } from "vitest";
import { selectorRequirements, validatePlacementSpec } from "./placement.ts";

describe("validatePlacementSpec", () => {
  it("accepts a full spec and fills in the defaults", () => {
    const result = validatePlacementSpec({
      clusterSelector: {
        matchLabels: { tier: "web" },
        matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }],
      },
      locations: ["fra"],
      environments: ["prod"],
      businesses: ["shop"],
      spread: [{ by: "zone", minGroups: 2, maxGroups: 3 }],
      replicas: { mode: "Divided", count: 10 },
      tolerations: [{ key: "dedicated", value: "shop" }],
    });
    expect(result.ok ? [] : result.problems).toEqual([]);
    if (!result.ok) return;
    expect(result.value.replicas).toEqual({ mode: "Divided", count: 10, weighting: "AvailableCapacity" });
    expect(result.value.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "shop" }]);
    expect(validatePlacementSpec({ replicas: { mode: "Duplicated", count: 1 }, failover: {} })).toMatchObject(
      {
        ok: true,
        value: { failover: { toleranceSeconds: 60, stableSeconds: 300 } },
      },
    );
  });

  it("says minGroups must not exceed maxGroups, at its field path", () => {
    const result = validatePlacementSpec({
      replicas: { mode: "Duplicated", count: 1 },
      spread: [{ by: "zone", minGroups: 3, maxGroups: 2 }],
    });
    expect(result).toEqual({
      ok: false,
      problems: [{ path: "spec.spread[0].minGroups", message: "must not exceed maxGroups" }],
    });
  });

  it("reports every problem of a bad spec in one pass, in path order", () => {
    const result = validatePlacementSpec(
      {
        clusterSelector: { matchExpressions: [{ key: "tier", operator: "In" }] },
        spread: [{ by: "zone" }, { by: "zone" }, { by: "location", minGroups: 2 }],
        replicas: { mode: "Divided", count: 0, weighting: "Static" },
        tolerations: [{ key: "gpu", operator: "Exists", value: "yes" }],
        colour: "blue",
      },
      ["placement"],
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "placement.clusterSelector.matchExpressions[0].values: must list at least one value for operator In",
      "placement.colour: unknown field",
      "placement.replicas.count: Too small: expected number to be >=1",
      "placement.replicas.weights: must list at least one weight when weighting is Static",
      'placement.spread[1].by: "zone" is already constrained by placement.spread[0]',
      "placement.spread[2].minGroups: spreading over 2 Locations needs placement.locations to list at least 2 (an application stays in one Location unless several are listed)",
      "placement.tolerations[0].value: must be absent with operator Exists",
    ]);
  });

  it("names the replica modes when the mode is wrong, and refuses weights without Static", () => {
    const wrongMode = validatePlacementSpec({ replicas: { mode: "Spread", count: 2 } });
    expect(wrongMode.ok ? [] : wrongMode.problems.map((p) => p.path)).toEqual(["spec.replicas.mode"]);
    const weights = validatePlacementSpec({
      replicas: { mode: "Divided", count: 2, weights: [{ weight: 1 }] },
    });
    expect(weights.ok ? [] : weights.problems).toEqual([
      { path: "spec.replicas.weights", message: "is only read when weighting is Static" },
      { path: "spec.replicas.weights[0]", message: "must name clusterNames or a clusterSelector" },
    ]);
  });

  it("refuses bad label keys and values in selectors", () => {
    const result = validatePlacementSpec({
      clusterSelector: { matchLabels: { "bad key": "x", tier: "not ok!" } },
      replicas: { mode: "Duplicated", count: 1 },
    });
    expect(result.ok ? [] : result.problems.map((p) => p.path)).toEqual([
      "spec.clusterSelector.matchLabels.tier",
      'spec.clusterSelector.matchLabels["bad key"]',
    ]);
  });
});

describe("selectorRequirements", () => {
  it("turns matchLabels and expressions into label-selector requirements", () => {
    expect(
      selectorRequirements({
        matchLabels: { tier: "web" },
        matchExpressions: [
          { key: "zone", operator: "NotIn", values: ["a"] },
          { key: "gpu", operator: "Exists" },
        ],
      }),
    ).toEqual([
      { key: "tier", op: "in", values: ["web"] },
      { key: "zone", op: "notin", values: ["a"] },
      { key: "gpu", op: "exists" },
    ]);
    expect(selectorRequirements(undefined)).toEqual([]);
  });
});
