import { describe, expect, it } from "vitest";
import { applicationLabel, generationAnnotation } from "./apply-order.ts";
import { driftOf, type Observed } from "./drift.ts";

const ours = { labels: { [applicationLabel]: "web" }, annotations: { [generationAnnotation]: "2" } };
const deployment = (generation: number, resourceVersion: string): Observed => ({
  uid: "u1",
  generation,
  resourceVersion,
  ...ours,
});
const configMap = (resourceVersion: string, uid = "u2"): Observed => ({ uid, resourceVersion, ...ours });
const input = { application: "web", generation: 2, steady: true };

describe("drift: what a re-apply of an unchanged manifest put back", () => {
  it("nothing, when the object was as applied (a status update in between is not drift)", () => {
    expect(driftOf({ ...input, before: deployment(4, "100"), after: deployment(4, "100") })).toBeUndefined();
    expect(driftOf({ ...input, before: deployment(4, "100"), after: deployment(4, "105") })).toBeUndefined();
    expect(driftOf({ ...input, before: configMap("7"), after: configMap("7") })).toBeUndefined();
  });

  it("a deletion, when the object was missing or came back with another uid", () => {
    expect(driftOf({ ...input, before: "absent", after: deployment(1, "200") })).toBe("deleted");
    expect(driftOf({ ...input, before: configMap("7", "old"), after: configMap("9", "new") })).toBe(
      "deleted",
    );
  });

  it("a change, when the apply changed the spec (generation) or an object without a generation", () => {
    expect(driftOf({ ...input, before: deployment(5, "150"), after: deployment(6, "151") })).toBe("changed");
    expect(driftOf({ ...input, before: configMap("7"), after: configMap("8") })).toBe("changed");
  });

  it("a change, when someone removed the Application's label", () => {
    const unlabelled = { ...deployment(4, "100"), labels: {} };
    expect(driftOf({ ...input, before: unlabelled, after: deployment(4, "101") })).toBe("changed");
  });

  it("nothing, when the manifest is new (a new generation changes objects by design) or the read failed", () => {
    expect(driftOf({ ...input, steady: false, before: "absent", after: configMap("1") })).toBeUndefined();
    expect(
      driftOf({ ...input, steady: false, before: configMap("7"), after: configMap("8") }),
    ).toBeUndefined();
    expect(driftOf({ ...input, before: "unknown", after: configMap("8") })).toBeUndefined();
  });
});
