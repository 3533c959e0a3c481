import { describe, expect, it } from "vitest";
import { applyMergePatch } from "./merge-patch.ts";

describe("applyMergePatch (RFC 7386)", () => {
  it("merges objects, replaces arrays and scalars, deletes on null", () => {
    const target = { a: "b", c: { d: "e", f: "g" }, list: [1, 2] };
    expect(applyMergePatch(target, { a: "z", c: { f: null, h: 1 }, list: [3] })).toEqual({
      a: "z",
      c: { d: "e", h: 1 },
      list: [3],
    });
    expect(target).toEqual({ a: "b", c: { d: "e", f: "g" }, list: [1, 2] });
    expect(applyMergePatch({ a: 1 }, ["x"])).toEqual(["x"]);
    expect(applyMergePatch("text", { a: { b: null } })).toEqual({ a: {} });
  });
});
