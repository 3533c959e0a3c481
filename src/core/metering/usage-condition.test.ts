import { describe, expect, it } from "vitest";
import { usageCondition, withCondition } from "./usage-condition.ts";

const now = new Date("2026-12-03T15:00:00.250Z");

describe("the UsageMetered condition", () => {
  it("is False with RequestsOnly when an hour was metered by requests, True with the source otherwise", () => {
    const requests = usageCondition("requests", [], now);
    expect(requests).toMatchObject({ type: "UsageMetered", status: "False", reason: "RequestsOnly" });
    expect(requests.lastTransitionTime).toBe("2026-12-03T15:00:00Z");
    expect(usageCondition("kubelet", [], now)).toMatchObject({
      status: "True",
      reason: "KubeletResourceMetrics",
    });
    expect(usageCondition("metrics-api", [], now)).toMatchObject({ status: "True", reason: "MetricsAPI" });
  });

  it("keeps its transition time while the status holds, and changes nothing when nothing changed", () => {
    const first = usageCondition("kubelet", [], now);
    const later = usageCondition("metrics-api", [first], new Date("2026-12-03T17:00:00Z"));
    expect(later.lastTransitionTime).toBe(first.lastTransitionTime);
    const ready = {
      type: "Ready",
      status: "True" as const,
      reason: "NodesReady",
      message: "m",
      lastTransitionTime: "x",
    };
    expect(withCondition([ready, first], usageCondition("kubelet", [ready, first], now))).toBeUndefined();
    const fallen = usageCondition("requests", [ready, first], new Date("2026-12-03T18:00:00Z"));
    expect(withCondition([ready, first], fallen)).toEqual([ready, fallen]);
    expect(fallen.lastTransitionTime).toBe("2026-12-03T18:00:00Z");
  });
});
