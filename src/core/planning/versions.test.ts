import { describe, expect, it } from "vitest";
import { compareVersions, minorSteps } from "./versions.ts";

describe("Kubernetes versions", () => {
  it("compares by major, minor and patch, with or without the v", () => {
    expect(compareVersions("v1.36.3", "v1.36.10")).toBeLessThan(0);
    expect(compareVersions("1.35", "v1.34.9")).toBeGreaterThan(0);
    expect(compareVersions("v1.36.3", "1.36.3")).toBe(0);
  });

  it("lists upgrades one minor version at a time", () => {
    expect(minorSteps("v1.33.1", "v1.36.3")).toEqual(["v1.34", "v1.35", "v1.36.3"]);
    expect(minorSteps("v1.36.1", "v1.36.3")).toEqual(["v1.36.3"]);
    expect(minorSteps("v1.36.3", "v1.35.0")).toEqual([]);
  });
});
