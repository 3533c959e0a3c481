import { describe, expect, it } from "vitest";
import {
  boundedObject,
  maxAuditObjectBytes,
  maxRefusalsPerWindow,
  RefusalAuditLimiter,
  refusalWindowMs,
  truncated,
} from "./audit-bounds.ts";

describe("audit bounds", () => {
  it("records at most the window's refusals per token, then hands back how many it dropped", () => {
    const limiter = new RefusalAuditLimiter();
    const decisions = Array.from({ length: maxRefusalsPerWindow + 5 }, (_, i) => limiter.admit("flooder", i));
    expect(decisions.filter((d) => d.record)).toHaveLength(maxRefusalsPerWindow);
    expect(limiter.admit("someone-else", 10)).toEqual({ record: true, dropped: 0 });
    expect(limiter.admit("flooder", refusalWindowMs + 1)).toEqual({ record: true, dropped: 5 });
    expect(limiter.admit("flooder", refusalWindowMs + 2)).toEqual({ record: true, dropped: 0 });
  });

  it("cuts long names and keeps large objects as their identity and size", () => {
    expect(truncated("a".repeat(1000), 10)).toBe("aaaaaaaaaa… (1000 characters)");
    expect(truncated("short", 10)).toBe("short");
    const large = {
      kind: "Location",
      metadata: { name: "big", resourceVersion: "7" },
      spec: { x: "y".repeat(maxAuditObjectBytes) },
    };
    expect(boundedObject(large)).toMatchObject({
      truncated: true,
      kind: "Location",
      name: "big",
      resourceVersion: "7",
    });
    const small = { kind: "Location", metadata: { name: "small" } };
    expect(boundedObject(small)).toBe(small);
  });
});
