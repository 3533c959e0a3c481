import { describe, expect, it } from "vitest";
import { problemsFromZod } from "../validation/zod-problems.ts";
import { consolidationPolicySpec, policyShapes } from "./consolidation-policy.ts";

const shape = (extendedResources: Record<string, string | number>) => ({
  name: "g6.12xlarge",
  cpu: "48",
  memory: "192Gi",
  pods: 110,
  extendedResources,
  monthlyPrice: 3000,
});

describe("a policy's node shapes", () => {
  it("refuses a fraction of an extended resource, at its field path", () => {
    const parsed = consolidationPolicySpec.safeParse({ nodeShapes: [shape({ "nvidia.com/gpu": "0.5" })] });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    const problems = problemsFromZod(parsed.error, ["spec"]);
    expect(problems.map((p) => p.path)).toEqual(['spec.nodeShapes[0].extendedResources["nvidia.com/gpu"]']);
    expect(problems[0]?.message).toContain(
      "Kubernetes counts extended resources such as nvidia.com/gpu in whole units",
    );
  });

  it("reads whole units as counts", () => {
    const policy = consolidationPolicySpec.parse({ nodeShapes: [shape({ "nvidia.com/gpu": "4" })] });
    expect(policyShapes(policy, "frankfurt")[0]?.allocatable).toEqual({
      cpu: 48,
      memory: 192 * 2 ** 30,
      pods: 110,
      "nvidia.com/gpu": 4,
    });
  });
});
