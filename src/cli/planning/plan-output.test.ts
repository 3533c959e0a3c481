import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { planConsolidation } from "../../core/planning/consolidation-planner.ts";
import {
  type ConsolidationPolicySpec,
  consolidationPolicySpec,
} from "../../core/planning/consolidation-policy.ts";
import { labLikeFleet } from "../../core/planning/fleet-fixtures.test-support.ts";
import { readFleet } from "../../core/planning/fleet-snapshot.ts";
import { showback } from "../../core/planning/showback.ts";
import { consolidationText } from "./plan-output.ts";

const examplePolicy = parse(
  readFileSync(new URL("../../../examples/consolidation-policy.yaml", import.meta.url), "utf8"),
).spec as ConsolidationPolicySpec;

function planned(spec: ConsolidationPolicySpec) {
  const read = readFleet(labLikeFleet());
  if (!read.ok) throw new Error(JSON.stringify(read.problems));
  const policy = consolidationPolicySpec.parse(spec);
  const plan = planConsolidation(read.value, policy);
  return { plan, showback: showback(read.value, policy, plan) };
}

/** The lines of a section of a terminal plan, from its heading to the next blank line, header row left out. */
function section(text: string, heading: string): string[][] {
  const lines = text.split("\n");
  const start = lines.indexOf(heading);
  const end = lines.indexOf("", start);
  return lines.slice(start + 2, end).map((l) => l.split(/ {3,}/));
}

const amount = (cell: string) => Number(cell.replaceAll(",", ""));
/** "6,720 → 2,380" as [6720, 2380]. */
const beforeAfter = (cell: string) => cell.split(" → ").map(amount);

describe("plan consolidation's showback table", () => {
  const { plan, showback: s } = planned(examplePolicy);
  const text = consolidationText(plan, "table", "header", s);

  it("adds up, Location by Location, to the Cost/month of the Locations table, today and after", () => {
    const locations = section(text, "LOCATIONS");
    const rows = section(text, "SHOWBACK");
    expect(locations.length).toBe(2);
    for (const [location, , , , , , cost] of locations) {
      const [today, after] = beforeAfter(cost!);
      const mine = rows.filter((r) => r[0] === location && r[1] !== "(total)");
      expect(mine.length).toBeGreaterThan(0);
      const sums = mine.map((r) => beforeAfter(r.at(-2)!)).reduce((a, b) => [a[0]! + b[0]!, a[1]! + b[1]!]);
      expect(sums).toEqual([today, after]);
      expect(rows.find((r) => r[0] === location && r[1] === "(total)")?.at(-2)).toBe(cost);
    }
  });

  it("says who saves what", () => {
    expect(text).toMatch(/frankfurt\s+search\s+2%\s+2%\s+560 → 78\s+-482 \(-86%\)/);
    expect(text).toMatch(/frankfurt\s+\(total\)\s+6,720 → 2,380\s+-4,340 \(-65%\)/);
    expect(text).toContain("Showback: each cluster's (today) and target's (after) monthly node cost");
  });

  it("leaves the rest of the plan as it was", () => {
    const without = consolidationText(plan, "table", "header");
    const start = text.indexOf("SHOWBACK\n");
    const end = text.indexOf("\n\n", text.indexOf("Showback: ", start)) + 2;
    expect(text.slice(0, start) + text.slice(end)).toBe(without);
  });

  it("reads the same in markdown", () => {
    const markdown = consolidationText(plan, "markdown", "header", s);
    expect(markdown).toContain(
      "## Showback\n| Location | Business | CPU share | Mem share | Cost/month | Change |",
    );
    expect(markdown).toContain("| frankfurt | search | 2% | 2% | 560 → 78 | -482 (-86%) |");
  });

  it("says when a Location has no prices, and shows the shares only", () => {
    const unpriced = planned({});
    const table = consolidationText(unpriced.plan, "table", "header", unpriced.showback);
    expect(table).toMatch(/frankfurt\s+search\s+2%\s+2%\s+unpriced\s+—/);
    expect(table).toContain(
      "- frankfurt: unpriced (no monthlyPrice for m6.2xlarge, m6.4xlarge): cpu and memory shares only",
    );
  });
});
