/**
 * How plans read: kubectl-style tables on a terminal, the same tables in markdown for documents, before → after
 * figures side by side, every node count beside its lower bound.
 */
import { type ConsolidationPlan, counted, type Decision } from "../../core/planning/consolidation-planner.ts";
import type { Figures } from "../../core/planning/figures.ts";
import type { MigrationWave } from "../../core/planning/migration-waves.ts";
import { inWholeUnits, type Showback, type ShowbackSide } from "../../core/planning/showback.ts";
import type { UnitsPlan } from "../../core/planning/unit-planner.ts";
import { formatBytes } from "../../core/quantity/quantity.ts";
import { renderMarkdownTable } from "../output/markdown.ts";
import { renderTable } from "../output/table.ts";

export type TableStyle = "table" | "markdown";

const percent = (share: number) => `${Math.round(share * 100)}%`;
const money = (value: number | undefined) =>
  value === undefined ? "unpriced" : Math.round(value).toLocaleString("en-US");
const arrow = (before: string, after: string) => (before === after ? after : `${before} → ${after}`);
const cores = (value: number) =>
  value >= 100 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);

function table(
  style: TableStyle,
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
): string {
  return style === "markdown" ? renderMarkdownTable(headers, rows) : renderTable(headers, rows);
}

function heading(style: TableStyle, text: string): string {
  return style === "markdown" ? `## ${text}\n` : `${text.toUpperCase()}\n`;
}

/** The clusters a target absorbs: all of them in markdown, the first two and a count on a terminal. */
function mergedCell(merged: readonly string[], style: TableStyle): string {
  if (merged.length === 0) return "—";
  if (style === "markdown" || merged.length <= 2) return merged.join(", ");
  return `${merged.slice(0, 2).join(", ")} +${merged.length - 2} more`;
}

/** Utilisation as "cpu 14% → 61%". */
const utilization = (before: Figures, after: Figures, resource: "cpu" | "memory") =>
  arrow(percent(before.utilization[resource]), percent(after.utilization[resource]));

/** A share as a percentage, or "—" when there is nothing to share. */
const shareOf = (part: number, whole: number) => (whole > 0 ? percent(part / whole) : "—");

/** "-482 (-86%)", "+78", or "—" when a side is unpriced. */
function change(today: number | undefined, after: number | undefined): string {
  if (today === undefined || after === undefined) return "—";
  const delta = after - today;
  const amount = `${delta > 0 ? "+" : delta < 0 ? "-" : ""}${Math.abs(delta).toLocaleString("en-US")}`;
  return today > 0 ? `${amount} (${delta > 0 ? "+" : ""}${Math.round((delta / today) * 100)}%)` : amount;
}

/**
 * Per Location and business, the monthly cost today → after and the shares of cpu and memory the rule weighs; a
 * total row per Location. Costs are whole units that add up to the Location's Cost/month (largest remainder).
 */
export function showbackText(showback: Showback, style: TableStyle): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const l of showback.locations) {
    const today = inWholeUnits(l.today);
    const after = inWholeUnits(l.after);
    const businesses = [
      ...new Set([...l.today.businesses, ...l.after.businesses].map((b) => b.business)),
    ].sort();
    const total = (side: ShowbackSide, resource: "cpu" | "memory") =>
      side.businesses.reduce((n, b) => n + b.allocated[resource], 0);
    const held = (side: ShowbackSide, business: string, resource: "cpu" | "memory") =>
      side.businesses.find((b) => b.business === business)?.allocated[resource] ?? 0;
    const share = (business: string, resource: "cpu" | "memory") =>
      arrow(
        shareOf(held(l.today, business, resource), total(l.today, resource)),
        shareOf(held(l.after, business, resource), total(l.after, resource)),
      );
    for (const business of businesses) {
      const before = today && (today.businesses.get(business) ?? 0);
      const later = after && (after.businesses.get(business) ?? 0);
      rows.push([
        l.location,
        business,
        share(business, "cpu"),
        share(business, "memory"),
        arrow(money(before), money(later)),
        change(before, later),
      ]);
    }
    rows.push([
      l.location,
      "(total)",
      "",
      "",
      arrow(money(today?.total), money(after?.total)),
      change(today?.total, after?.total),
    ]);
    const unpriced = [l.today, l.after].filter((side) => side.monthlyCostMicro === undefined);
    if (unpriced.length > 0) {
      const when = unpriced.length === 2 ? "" : unpriced[0] === l.today ? " today" : " after the plan";
      const types = [...new Set(unpriced.flatMap((side) => side.unpriced))].sort();
      notes.push(
        `${l.location}: unpriced${when} (no monthlyPrice for ${types.join(", ")}): cpu and memory shares only`,
      );
    }
  }
  return [
    table(style, ["Location", "Business", "CPU share", "Mem share", "Cost/month", "Change"], rows),
    "",
    ...(notes.length > 0 ? [...notes.map((n) => `- ${n}`), ""] : []),
    `Showback: ${showback.rule}. Each Location's rows add up to its Cost/month.`,
  ].join("\n");
}

export function consolidationText(
  plan: ConsolidationPlan,
  style: TableStyle,
  header: string,
  showback?: Showback,
): string {
  const targets = table(
    style,
    [
      "Location",
      "Target",
      "Merges",
      "Nodes",
      "Lower bound",
      "Ratio",
      "Shapes",
      "CPU util",
      "Mem util",
      "Cost/month",
      "Blast radius",
      "Version",
    ],
    plan.targets.map((t) => [
      t.location,
      t.name,
      mergedCell(t.sources.slice(1), style),
      arrow(String(t.before.nodes), String(t.nodes)),
      String(t.lowerBound),
      t.ratio.toFixed(2),
      t.unplanned ? "kept as is" : t.pools.map((p) => `${p.nodes}×${p.shape}`).join(" + ") || "none",
      utilization(t.before, t.after, "cpu"),
      utilization(t.before, t.after, "memory"),
      arrow(money(t.before.monthlyCost), money(t.after.monthlyCost)),
      `${t.after.blastRadius.business || "—"} ${percent(t.after.blastRadius.share)}`,
      t.version.steps.length > 0 ? `${t.version.from} → ${t.version.to}` : t.version.from,
    ]),
  );
  const locations = table(
    style,
    [
      "Location",
      "Clusters",
      "Nodes",
      "CPU util",
      "Mem util",
      "Headroom",
      "Cost/month",
      "Blast radius",
      "Upgrades",
    ],
    plan.locations.map((l) => [
      l.location,
      arrow(String(l.before.clusters), String(l.after.clusters)),
      arrow(String(l.before.nodes), String(l.after.nodes)),
      utilization(l.before, l.after, "cpu"),
      utilization(l.before, l.after, "memory"),
      arrow(percent(l.before.headroom), percent(l.after.headroom)),
      arrow(money(l.before.monthlyCost), money(l.after.monthlyCost)),
      arrow(percent(l.before.blastRadius.share), percent(l.after.blastRadius.share)),
      String(l.upgrades),
    ]),
  );
  const notes = [
    ...plan.targets.flatMap((t) =>
      t.unplanned ? [`${t.name}: not planned, kept as is: ${t.unplanned}`] : [],
    ),
    ...plan.targets.flatMap((t) =>
      t.version.steps.map(
        (v) => `${t.name}: upgrade to ${v} before it absorbs ${t.sources.slice(1).join(", ")}`,
      ),
    ),
    ...plan.targets.flatMap((t) => t.conflicts.map((c) => `${t.name}: ${c}: rename one before merging`)),
  ];
  const clustersBefore = plan.locations.reduce((n, l) => n + l.before.clusters, 0);
  const clustersAfter = plan.locations.reduce((n, l) => n + l.after.clusters, 0);
  const nodesBefore = plan.locations.reduce((n, l) => n + l.before.nodes, 0);
  const nodesAfter = plan.targets.reduce((n, t) => n + t.nodes, 0);
  const bound = plan.targets.reduce((n, t) => n + t.lowerBound, 0);
  const summary = `${clustersBefore} clusters → ${clustersAfter}; ${nodesBefore} nodes → ${nodesAfter} (lower bound ${bound}, ratio ${(bound > 0 ? nodesAfter / bound : 1).toFixed(3)}). \`unitfleet explain plan CLUSTER\` says why.`;
  return [
    header,
    "",
    heading(style, "Targets") + targets,
    "",
    heading(style, "Locations") + locations,
    "",
    ...(showback ? [heading(style, "Showback") + showbackText(showback, style), ""] : []),
    ...(notes.length > 0 ? [heading(style, "Notes") + notes.map((n) => `- ${n}`).join("\n"), ""] : []),
    summary,
    "",
  ].join("\n");
}

export function explainText(decisions: readonly Decision[], style: TableStyle): string {
  return `${table(
    style,
    ["Cluster", "Verdict", "Target", "Rule", "Why"],
    decisions.map((d) => [d.cluster, d.verdict, d.target, d.rule ?? "—", d.message]),
  )}\n`;
}

export function unitsText(plan: UnitsPlan, style: TableStyle, header: string): string {
  const regions = plan.regions
    .map(
      (r) =>
        `${r.name} (${r.existing ? "existing" : "proposed"}; zones ${r.zones.join(", ") || "to choose"})`,
    )
    .join("; ");
  const units = table(
    style,
    [
      "Unit",
      "Region",
      "Business",
      "Environment",
      "Nodes",
      "Lower bound",
      "Ratio",
      "Shapes",
      "Pods",
      "Pods at failure",
      "Cost/month",
    ],
    plan.units.map((u) => [
      u.name,
      u.region,
      u.business,
      u.environment,
      String(u.nodes),
      String(u.lowerBound),
      u.ratio.toFixed(2),
      u.pools.map((p) => `${p.nodes}×${p.shape}`).join(" + "),
      String(Math.round(u.pods * 10) / 10),
      String(u.podsAtFailure),
      money(u.monthlyCost),
    ]),
  );
  const b = plan.before;
  const a = plan.after;
  const figures = table(
    style,
    ["Figure", "Before", "After"],
    [
      ["clusters", String(b.clusters), String(a.clusters)],
      ["nodes", String(b.nodes), String(a.nodes)],
      [
        "cpu allocatable / requested",
        `${cores(b.allocatable.cpu)} / ${cores(b.requested.cpu)}`,
        `${cores(a.allocatable.cpu)} / ${cores(a.requested.cpu)}`,
      ],
      [
        "memory allocatable / requested",
        `${formatBytes(b.allocatable.memory)} / ${formatBytes(b.requested.memory)}`,
        `${formatBytes(a.allocatable.memory)} / ${formatBytes(a.requested.memory)}`,
      ],
      ["cpu utilisation (normal load)", percent(b.utilization.cpu), percent(a.utilization.cpu)],
      ["memory utilisation (normal load)", percent(b.utilization.memory), percent(a.utilization.memory)],
      ["headroom", percent(b.headroom), percent(a.headroom)],
      ["cost per month", money(b.monthlyCost), money(a.monthlyCost)],
      [
        "blast radius (largest share of a business in one cluster)",
        `${percent(b.blastRadius.share)} (${b.blastRadius.business} in ${b.blastRadius.cluster})`,
        `${percent(a.blastRadius.share)} (${a.blastRadius.business} in ${a.blastRadius.cluster})`,
      ],
    ],
  );
  return [
    header,
    `Regions: ${regions}. Each unit carries its group's whole load with ${plan.toleratedRegionFailures} Region(s) down.`,
    "",
    heading(style, "Units") + units,
    "",
    heading(style, "Before and after") + figures,
    "",
    ...plan.unplanned.map((u) => `not planned: ${u.group}: ${u.reason}`),
  ].join("\n");
}

export function wavesText(waves: readonly MigrationWave[], style: TableStyle, header: string): string {
  const rows = waves.flatMap((w) =>
    w.steps.map((s, i) => [
      i === 0 ? String(w.wave) : "",
      i === 0 ? `${w.risk} (${counted(w.podsMoved, "pod")})` : "",
      i === 0 ? w.target : "",
      s.action,
      s.cluster,
      s.executor,
      s.command ? `${s.description}\n  $ ${s.command}` : s.description,
    ]),
  );
  const flat = rows.flatMap((r) => {
    const [first, ...more] = (r[6] as string).split("\n");
    return [[...r.slice(0, 6), first as string], ...more.map((m) => ["", "", "", "", "", "", m])];
  });
  return [
    header,
    "",
    waves.length === 0
      ? "Nothing to merge: no waves."
      : table(style, ["Wave", "Risk", "Target", "Action", "Cluster", "By", "Step"], flat),
    "",
    "By: unitfleet = unitfleet carries it out through delivery (the command shows how); advice = the team does it.",
    "",
  ].join("\n");
}
