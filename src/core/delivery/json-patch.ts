/** RFC 6902 JSON Patch, the operations overrides use: add, replace, remove. Pure; never mutates its input. */

export type JsonPatchOperation =
  | { op: "add"; path: string; value?: unknown }
  | { op: "replace"; path: string; value?: unknown }
  | { op: "remove"; path: string };

export type PatchResult = { ok: true; value: unknown } | { ok: false; problem: string };

function pointer(path: string): string[] {
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function applyJsonPatch(target: unknown, operations: readonly JsonPatchOperation[]): PatchResult {
  let doc = structuredClone(target);
  for (const [i, op] of operations.entries()) {
    const steps = pointer(op.path);
    const last = steps.pop()!;
    let parent: unknown = doc;
    for (const step of steps) {
      const next = Array.isArray(parent)
        ? parent[Number(step)]
        : (parent as Record<string, unknown> | null)?.[step];
      if (typeof next !== "object" || next === null)
        return { ok: false, problem: `jsonPatch[${i}]: path ${op.path} does not exist` };
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length - (op.op === "add" ? 0 : 1))
        return { ok: false, problem: `jsonPatch[${i}]: index ${last} is out of range at ${op.path}` };
      if (op.op === "add") parent.splice(index, 0, op.value);
      else if (op.op === "replace") parent[index] = op.value;
      else parent.splice(index, 1);
      continue;
    }
    if (typeof parent !== "object" || parent === null)
      return { ok: false, problem: `jsonPatch[${i}]: path ${op.path} does not exist` };
    const object = parent as Record<string, unknown>;
    if (op.op !== "add" && !(last in object))
      return { ok: false, problem: `jsonPatch[${i}]: path ${op.path} does not exist` };
    if (op.op === "remove") delete object[last];
    else object[last] = op.value;
    if (steps.length === 0 && last === "") doc = op.op === "remove" ? undefined : op.value;
  }
  return { ok: true, value: doc };
}
