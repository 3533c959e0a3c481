/**
 * RFC 6902 JSON Patch with every operation (add, remove, replace, move, copy, test) and RFC 6901 pointers, for
 * `kubectl patch --type=json`. Pure: never mutates its input. A malformed operation is refused before anything
 * is applied (`malformed`, HTTP 400 in the API); an operation that cannot apply — a path that does not exist, an
 * index out of range, a failed `test` — stops the patch (`failed`, HTTP 422), naming the operation and its path.
 */
import { canonicalJson } from "./canonical-json.ts";

export type JsonPatchOperation =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; path: string; from: string };

export type JsonPatchOutcome =
  | { ok: true; value: unknown }
  | { ok: false; kind: "malformed" | "failed"; problems: Array<{ path: string; message: string }> };

const operations = ["add", "remove", "replace", "move", "copy", "test"];

/** Checks the operations' shape: every problem, each at its field path (`[2].from`). */
export function parseJsonPatch(
  input: unknown,
): { ok: true; operations: JsonPatchOperation[] } | Extract<JsonPatchOutcome, { ok: false }> {
  const problems: Array<{ path: string; message: string }> = [];
  if (!Array.isArray(input))
    return {
      ok: false,
      kind: "malformed",
      problems: [{ path: "(root)", message: "a JSON patch is a list of operations" }],
    };
  input.forEach((op: unknown, i) => {
    if (op === null || typeof op !== "object" || Array.isArray(op)) {
      problems.push({ path: `[${i}]`, message: "must be an operation object" });
      return;
    }
    const o = op as Record<string, unknown>;
    if (typeof o.op !== "string" || !operations.includes(o.op))
      problems.push({ path: `[${i}].op`, message: `must be one of ${operations.join(", ")}` });
    for (const field of ["path", ...(o.op === "move" || o.op === "copy" ? ["from"] : [])]) {
      const pointer = o[field];
      if (typeof pointer !== "string")
        problems.push({ path: `[${i}].${field}`, message: "required field is missing" });
      else if (pointer !== "" && !pointer.startsWith("/"))
        problems.push({
          path: `[${i}].${field}`,
          message: `"${pointer}" is not a JSON pointer (starts with /)`,
        });
    }
    if ((o.op === "add" || o.op === "replace" || o.op === "test") && !("value" in o))
      problems.push({ path: `[${i}].value`, message: "required field is missing" });
  });
  if (problems.length > 0) return { ok: false, kind: "malformed", problems };
  return { ok: true, operations: input as JsonPatchOperation[] };
}

/** Applies operations in order; the first that cannot apply stops the patch. */
export function applyJsonPatch(target: unknown, patch: readonly JsonPatchOperation[]): JsonPatchOutcome {
  let doc = structuredClone(target);
  for (const [i, op] of patch.entries()) {
    const fail = (message: string): JsonPatchOutcome => ({
      ok: false,
      kind: "failed",
      problems: [{ path: `[${i}]`, message }],
    });
    try {
      switch (op.op) {
        case "add":
          doc = add(doc, op.path, structuredClone(op.value));
          break;
        case "remove":
          doc = remove(doc, op.path).doc;
          break;
        case "replace":
          doc = add(remove(doc, op.path).doc, op.path, structuredClone(op.value));
          break;
        case "move": {
          if (op.path.startsWith(`${op.from}/`))
            return fail(`cannot move "${op.from}" into itself ("${op.path}")`);
          const taken = remove(doc, op.from);
          doc = add(taken.doc, op.path, taken.value);
          break;
        }
        case "copy":
          doc = add(doc, op.path, structuredClone(get(doc, op.from)));
          break;
        case "test": {
          const actual = get(doc, op.path);
          if (canonicalJson(actual) !== canonicalJson(op.value))
            return fail(
              `test failed: "${op.path}" is ${JSON.stringify(actual)}, not ${JSON.stringify(op.value)}`,
            );
          break;
        }
      }
    } catch (error) {
      if (error instanceof PointerError) return fail(error.message);
      throw error;
    }
  }
  return { ok: true, value: doc };
}

class PointerError extends Error {}

function tokens(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return value !== null && typeof value === "object";
}

/** The index a token names in a list (`-` only where `allowEnd`, for add). */
function index(list: unknown[], token: string, pointer: string, allowEnd: boolean): number {
  if (token === "-" && allowEnd) return list.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PointerError(`"${pointer}": "${token}" is not a list index`);
  const i = Number(token);
  if (i > list.length || (!allowEnd && i === list.length))
    throw new PointerError(`"${pointer}": index ${i} is out of range (the list has ${list.length} items)`);
  return i;
}

/** The container the last token of `pointer` is in. */
function parentOf(
  doc: unknown,
  pointer: string,
): { parent: Record<string, unknown> | unknown[]; last: string } {
  const path = tokens(pointer);
  const last = path.pop()!;
  let node = doc;
  for (const [depth, token] of path.entries()) {
    const at = `/${path.slice(0, depth + 1).join("/")}`;
    if (Array.isArray(node)) node = node[index(node, token, at, false)];
    else if (isContainer(node) && Object.hasOwn(node, token)) node = (node as Record<string, unknown>)[token];
    else throw new PointerError(`"${pointer}" does not exist ("${at}" is missing)`);
  }
  if (!isContainer(node))
    throw new PointerError(`"${pointer}" does not exist (its parent is not an object or list)`);
  return { parent: node, last };
}

function get(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) return parent[index(parent, last, pointer, false)];
  if (!Object.hasOwn(parent, last)) throw new PointerError(`"${pointer}" does not exist`);
  return parent[last];
}

function add(doc: unknown, pointer: string, value: unknown): unknown {
  if (pointer === "") return value;
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) parent.splice(index(parent, last, pointer, true), 0, value);
  else parent[last] = value;
  return doc;
}

function remove(doc: unknown, pointer: string): { doc: unknown; value: unknown } {
  if (pointer === "") return { doc: undefined, value: doc };
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const [value] = parent.splice(index(parent, last, pointer, false), 1);
    return { doc, value };
  }
  if (!Object.hasOwn(parent, last)) throw new PointerError(`"${pointer}" does not exist`);
  const value = parent[last];
  delete parent[last];
  return { doc, value };
}
