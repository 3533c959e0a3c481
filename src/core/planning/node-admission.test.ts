import { describe, expect, it } from "vitest";
import { admits, refusalOf, tolerates } from "./node-admission.ts";

const gpuNode = {
  labels: { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "gpu-count": "8" },
  taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" as const }],
};
const plainNode = { labels: { "node.kubernetes.io/instance-type": "m7i.4xlarge" } };
const tolerateGpu = [{ key: "nvidia.com/gpu", operator: "Exists" as const, effect: "NoSchedule" as const }];

describe("node admission", () => {
  it("refuses a tainted node to a pod without the toleration, and admits it with one", () => {
    expect(refusalOf(gpuNode, {})).toBe("taint nvidia.com/gpu=present:NoSchedule is not tolerated");
    expect(admits(gpuNode, { tolerations: tolerateGpu })).toBe(true);
    expect(admits(gpuNode, { tolerations: [{ operator: "Exists" }] })).toBe(true);
    expect(admits(gpuNode, { tolerations: [{ key: "nvidia.com/gpu", value: "absent" }] })).toBe(false);
    expect(admits(gpuNode, { tolerations: [{ key: "nvidia.com/gpu", value: "present" }] })).toBe(true);
  });

  it("ignores PreferNoSchedule taints and checks the effect of a toleration", () => {
    expect(admits({ labels: {}, taints: [{ key: "spot", effect: "PreferNoSchedule" }] }, {})).toBe(true);
    const noExecute = { key: "nvidia.com/gpu", effect: "NoExecute" as const };
    expect(tolerates({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }, noExecute)).toBe(
      false,
    );
    expect(tolerates({ key: "nvidia.com/gpu", operator: "Exists" }, noExecute)).toBe(true);
    expect(tolerates({ key: "", operator: "Equal" }, noExecute)).toBe(false);
  });

  it("holds a required node affinity when one term holds, all its requirements together", () => {
    const anyOf = [
      {
        matchExpressions: [
          {
            key: "nvidia.com/gpu.product",
            operator: "In" as const,
            values: ["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100"],
          },
        ],
      },
    ];
    expect(admits(gpuNode, { nodeAffinity: anyOf, tolerations: tolerateGpu })).toBe(true);
    expect(refusalOf(plainNode, { nodeAffinity: anyOf })).toBe(
      "no term of its required node affinity matches",
    );
    const notGpu = [
      { matchExpressions: [{ key: "nvidia.com/gpu.product", operator: "DoesNotExist" as const }] },
    ];
    expect(admits(plainNode, { nodeAffinity: notGpu })).toBe(true);
    expect(admits(gpuNode, { nodeAffinity: notGpu, tolerations: tolerateGpu })).toBe(false);
    const notA100 = [
      {
        matchExpressions: [
          { key: "nvidia.com/gpu.product", operator: "NotIn" as const, values: ["NVIDIA-A100-SXM4-80GB"] },
        ],
      },
    ];
    expect(admits(plainNode, { nodeAffinity: notA100 })).toBe(true);
    expect(admits(gpuNode, { nodeAffinity: notA100, tolerations: tolerateGpu })).toBe(false);
    const bigger = (operator: "Gt" | "Lt", v: string) => [
      { matchExpressions: [{ key: "gpu-count", operator, values: [v] }] },
    ];
    expect(admits(gpuNode, { nodeAffinity: bigger("Gt", "4"), tolerations: tolerateGpu })).toBe(true);
    expect(admits(gpuNode, { nodeAffinity: bigger("Lt", "8"), tolerations: tolerateGpu })).toBe(false);
    expect(admits(plainNode, { nodeAffinity: bigger("Gt", "0") })).toBe(false);
    const twoTerms = [
      { matchExpressions: [{ key: "zone-class", operator: "Exists" as const }] },
      {
        matchExpressions: [
          { key: "node.kubernetes.io/instance-type", operator: "In" as const, values: ["m7i.4xlarge"] },
        ],
      },
    ];
    expect(admits(plainNode, { nodeAffinity: twoTerms })).toBe(true);
  });

  it("requires every nodeSelector pair", () => {
    expect(
      refusalOf(plainNode, { nodeSelector: { "node.kubernetes.io/instance-type": "m7i.8xlarge" } }),
    ).toBe("nodeSelector node.kubernetes.io/instance-type=m7i.8xlarge does not match");
  });
});
