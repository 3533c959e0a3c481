import type { z } from "zod";
import { fieldPath, type Problem } from "./problems.ts";

/**
 * Turns Zod issues into problems with Kubernetes-style field paths and short messages. Unknown fields get
 * one problem each, at their own path, so that a misspelt key is pointed at directly.
 */
export function problemsFromZod(error: z.ZodError, prefix: ReadonlyArray<string | number> = []): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...(issue.path as Array<string | number>)];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys)
          problems.push({ path: fieldPath([...path, key]), message: "unknown field" });
        break;
      case "invalid_type":
        problems.push({
          path: fieldPath(path),
          message:
            issue.input === undefined ? "required field is missing" : `must be ${article(issue.expected)}`,
        });
        break;
      case "invalid_value":
        problems.push({
          path: fieldPath(path),
          message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`,
        });
        break;
      default:
        problems.push({ path: fieldPath(path), message: issue.message });
    }
  }
  return problems;
}

function article(type: string): string {
  if (type === "array") return "a list";
  if (type === "object" || type === "record") return "a mapping";
  if (type === "int") return "an integer";
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
