/**
 * Kubernetes label selectors as kubectl sends them in `?labelSelector=`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a`, `!a`, joined by commas. Parsed once into requirements, then matched against labels.
 */
import type { Problem } from "../validation/problems.ts";

export type Requirement =
  | { key: string; op: "in"; values: string[] }
  | { key: string; op: "notin"; values: string[] }
  | { key: string; op: "exists" }
  | { key: string; op: "doesnotexist" };

export type ParsedSelector = { ok: true; requirements: Requirement[] } | { ok: false; problem: Problem };

const keyPattern = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Parses a selector; an empty selector selects everything. */
export function parseLabelSelector(text: string): ParsedSelector {
  const requirements: Requirement[] = [];
  const fail = (message: string): ParsedSelector => ({
    ok: false,
    problem: { path: "labelSelector", message: `${message} in "${text}"` },
  });
  for (const term of splitTerms(text)) {
    const t = term.trim();
    if (t === "") continue;
    let match: RegExpExecArray | null;
    if ((match = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(t))) {
      const values = match[3]!.split(",").map((v) => v.trim());
      if (!keyPattern.test(match[1]!)) return fail(`invalid key "${match[1]}"`);
      if (values.some((v) => !valuePattern.test(v))) return fail(`invalid value in "${t}"`);
      requirements.push({ key: match[1]!, op: match[2] as "in" | "notin", values });
    } else if ((match = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(t))) {
      if (!keyPattern.test(match[1]!)) return fail(`invalid key "${match[1]}"`);
      if (!valuePattern.test(match[3]!)) return fail(`invalid value "${match[3]}"`);
      requirements.push({ key: match[1]!, op: match[2] === "!=" ? "notin" : "in", values: [match[3]!] });
    } else if ((match = /^!\s*([^\s!=(),]+)$/.exec(t))) {
      if (!keyPattern.test(match[1]!)) return fail(`invalid key "${match[1]}"`);
      requirements.push({ key: match[1]!, op: "doesnotexist" });
    } else if (keyPattern.test(t)) {
      requirements.push({ key: t, op: "exists" });
    } else {
      return fail(`cannot read "${t}"`);
    }
  }
  return { ok: true, requirements };
}

/** True when the labels satisfy every requirement. */
export function matchesSelector(
  requirements: readonly Requirement[],
  labels: Readonly<Record<string, string>> = {},
): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case "exists":
        return has;
      case "doesnotexist":
        return !has;
      case "in":
        return has && r.values.includes(labels[r.key]!);
      case "notin":
        return !has || !r.values.includes(labels[r.key]!);
    }
  });
}

// Commas separate terms, except inside the parentheses of `in (a,b)`.
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth += 1;
    if (ch === ")") depth -= 1;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += ch;
  }
  terms.push(current);
  return terms;
}
