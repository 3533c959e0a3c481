/**
 * Problems found in user input, each with the field path it concerns. Validators collect every problem
 * they can find instead of stopping at the first, so that a user fixes a file in one pass.
 */

/** One thing wrong with an input, at a field path such as `spec.clusters[2].nodePools[0].memory`. */
export interface Problem {
  path: string;
  message: string;
}

/** A validation outcome: the typed value, or every problem found. */
export type Validated<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** Joins path segments the way Kubernetes field paths read: `a.b[2].c`. */
export function fieldPath(segments: ReadonlyArray<string | number | symbol>): string {
  let path = "";
  for (const segment of segments) {
    if (typeof segment === "number") path += `[${segment}]`;
    else if (typeof segment === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment))
      path += path ? `.${segment}` : segment;
    else path += `[${JSON.stringify(String(segment))}]`;
  }
  return path || "(root)";
}

/** Renders problems one per line, in path order, for terminals and error bodies. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `  - ${p.path}: ${p.message}`).join("\n");
}
