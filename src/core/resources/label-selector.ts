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
    const set = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(t);
    const equality = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(t);
    const absent = /^!\s*([^\s!=(),]+)$/.exec(t);
    if (set) {
      const values = set[3]!.split(",").map((v) => v.trim());
      if (!keyPattern.test(set[1]!)) return fail(`invalid key "${set[1]}"`);
      if (values.some((v) => !valuePattern.test(v))) return fail(`invalid value in "${t}"`);
      requirements.push({ key: set[1]!, op: set[2] as "in" | "notin", values });
    } else if (equality) {
      if (!keyPattern.test(equality[1]!)) return fail(`invalid key "${equality[1]}"`);
      if (!valuePattern.test(equality[3]!)) return fail(`invalid value "${equality[3]}"`);
      requirements.push({
        key: equality[1]!,
        op: equality[2] === "!=" ? "notin" : "in",
        values: [equality[3]!],
      });
    } else if (absent) {
      if (!keyPattern.test(absent[1]!)) return fail(`invalid key "${absent[1]}"`);
      requirements.push({ key: absent[1]!, op: "doesnotexist" });
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
  return requirements.every((r) => satisfies(r, labels));
}

function satisfies(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  if (r.op === "exists") return has;
  if (r.op === "doesnotexist") return !has;
  if (r.op === "in") return has && r.values.includes(labels[r.key]!);
  return !has || !r.values.includes(labels[r.key]!);
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
