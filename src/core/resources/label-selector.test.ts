import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { matchesSelector, parseLabelSelector } from "./label-selector.ts";

function select(selector: string, labels: Record<string, string>): boolean {
  const parsed = parseLabelSelector(selector);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return matchesSelector(parsed.requirements, labels);
}

describe("label selectors", () => {
  const prod = { environment: "prod", business: "shop", "unitfleet.io/tier": "gold" };

  it("matches equality, inequality, sets and existence as kubectl means them", () => {
    expect(select("environment=prod", prod)).toBe(true);
    expect(select("environment==prod,business=shop", prod)).toBe(true);
    expect(select("environment!=prod", prod)).toBe(false);
    expect(select("environment!=dev", {})).toBe(true);
    expect(select("business in (shop, payments)", prod)).toBe(true);
    expect(select("business notin (shop)", prod)).toBe(false);
    expect(select("unitfleet.io/tier", prod)).toBe(true);
    expect(select("!unitfleet.io/tier", prod)).toBe(false);
    expect(select("environment=prod,business in (ads)", prod)).toBe(false);
    expect(select("", prod)).toBe(true);
  });

  it("refuses what it cannot read, saying where", () => {
    const parsed = parseLabelSelector("environment=prod,busi ness=shop");
    expect(parsed).toEqual({
      ok: false,
      problem: {
        path: "labelSelector",
        message: 'cannot read "busi ness=shop" in "environment=prod,busi ness=shop"',
      },
    });
    expect(parseLabelSelector("env in (a,b").ok).toBe(false);
  });

  it("never selects an object that lacks a label the selector requires to equal something", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("a", "b", "c"), fc.constantFrom("x", "y")),
        fc.constantFrom("a", "b", "c"),
        fc.constantFrom("x", "y"),
        (labels, key, value) => select(`${key}=${value}`, labels) === (labels[key] === value),
      ),
    );
  });
});
