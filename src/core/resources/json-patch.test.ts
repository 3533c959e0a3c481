import { describe, expect, it } from "vitest";
import { applyJsonPatch, type JsonPatchOperation, parseJsonPatch } from "./json-patch.ts";

const doc = { spec: { name: "a", zones: ["z1", "z2"], nested: { x: 1 } }, "a/b": { "~c": 1 } };
const apply = (ops: unknown[]) => {
  const parsed = parseJsonPatch(ops);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return applyJsonPatch(doc, parsed.operations as JsonPatchOperation[]);
};

describe("JSON patch (RFC 6902)", () => {
  it("applies add, remove, replace, move, copy and test in order, without touching its input", () => {
    const before = structuredClone(doc);
    const result = apply([
      { op: "test", path: "/spec/name", value: "a" },
      { op: "add", path: "/spec/zones/-", value: "z3" },
      { op: "add", path: "/spec/zones/0", value: "z0" },
      { op: "remove", path: "/spec/zones/1" },
      { op: "replace", path: "/spec/name", value: "b" },
      { op: "copy", from: "/spec/nested", path: "/spec/copied" },
      { op: "move", from: "/spec/nested/x", path: "/spec/moved" },
      { op: "test", path: "/a~1b/~0c", value: 1 },
    ]);
    expect(result).toEqual({
      ok: true,
      value: {
        spec: { name: "b", zones: ["z0", "z2", "z3"], nested: {}, copied: { x: 1 }, moved: 1 },
        "a/b": { "~c": 1 },
      },
    });
    expect(doc).toEqual(before);
  });

  it("stops at a failed test, naming the operation, the path and both values", () => {
    const result = apply([
      { op: "replace", path: "/spec/name", value: "b" },
      { op: "test", path: "/spec/name", value: "c" },
    ]);
    expect(result).toEqual({
      ok: false,
      kind: "failed",
      problems: [{ path: "[1]", message: 'test failed: "/spec/name" is "b", not "c"' }],
    });
  });

  it("refuses paths that do not exist and indexes out of range, naming the path", () => {
    for (const [op, message] of [
      [{ op: "replace", path: "/spec/missing", value: 1 }, '"/spec/missing" does not exist'],
      [{ op: "remove", path: "/nope/deeper" }, '"/nope/deeper" does not exist ("/nope" is missing)'],
      [
        { op: "add", path: "/spec/zones/5", value: "z" },
        '"/spec/zones/5": index 5 is out of range (the list has 2 items)',
      ],
      [{ op: "remove", path: "/spec/zones/-" }, '"/spec/zones/-": "-" is not a list index'],
      [{ op: "move", from: "/spec", path: "/spec/inner" }, 'cannot move "/spec" into itself ("/spec/inner")'],
    ] as const) {
      const result = apply([op]);
      expect(result).toEqual({ ok: false, kind: "failed", problems: [{ path: "[0]", message }] });
    }
  });

  it("refuses malformed operations before applying any, listing each with its field path", () => {
    expect(parseJsonPatch({ op: "add" })).toMatchObject({ ok: false, kind: "malformed" });
    expect(
      parseJsonPatch([
        { op: "frobnicate", path: "/a" },
        { op: "move", path: "/a" },
        { op: "add", path: "a" },
        7,
      ]),
    ).toEqual({
      ok: false,
      kind: "malformed",
      problems: [
        { path: "[0].op", message: "must be one of add, remove, replace, move, copy, test" },
        { path: "[1].from", message: "required field is missing" },
        { path: "[2].path", message: '"a" is not a JSON pointer (starts with /)' },
        { path: "[2].value", message: "required field is missing" },
        { path: "[3]", message: "must be an operation object" },
      ],
    });
  });
});
