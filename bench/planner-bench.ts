/**
 * Consolidation planner benchmark: a synthetic fleet of 1,000 clusters, 20,000 nodes and 500,000 pods (4
 * Locations, fixed seed) planned under the default policy — wall time, CPU time, peak heap and RSS — for each
 * fleet shape (mixed, memory-heavy, tiny pods, huge pods); each plan's node count beside its lower bound, and
 * beside the same plan packed with first-fit-decreasing (the baseline) in the same run.
 *
 *   npx node --expose-gc bench/planner-bench.ts [--clusters 1000] [--nodes 20000] [--pods 500000] [--runs 3]
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { planConsolidation } from "../src/core/planning/consolidation-planner.ts";
import { consolidationPolicySpec } from "../src/core/planning/consolidation-policy.ts";
import { type FleetShape, generateFleet } from "../src/core/planning/fleet-generator.ts";
import { readFleet } from "../src/core/planning/fleet-snapshot.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "1000" },
    nodes: { type: "string", default: "20000" },
    pods: { type: "string", default: "500000" },
    runs: { type: "string", default: "3" },
  },
});
const size = { clusters: Number(values.clusters), nodes: Number(values.nodes), pods: Number(values.pods) };
const runs = Number(values.runs);
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const policy = consolidationPolicySpec.parse({});

let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 50);

function fleetOf(shape: FleetShape) {
  const read = readFleet(generateFleet({ ...size, locations: 4, shape, seed: 1 }));
  if (!read.ok) throw new Error(JSON.stringify(read.problems.slice(0, 5)));
  return read.value;
}

interface ShapeRow {
  shape: FleetShape;
  clustersAfter: number;
  nodesBefore: number;
  nodes: number;
  bound: number;
  seconds: number[];
  cpuSeconds: number[];
  ffdNodes: number;
  ffdBound: number;
  ffdSeconds: number;
}

const rows: ShapeRow[] = [];
for (const shape of ["mixed", "memory-heavy", "tiny-pods", "huge-pods"] as const) {
  log(`generating ${shape}: ${size.clusters} clusters, ${size.nodes} nodes, ${size.pods} pods`);
  const fleet = fleetOf(shape);
  const row: ShapeRow = {
    shape,
    clustersAfter: 0,
    nodesBefore: 0,
    nodes: 0,
    bound: 0,
    seconds: [],
    cpuSeconds: [],
    ffdNodes: 0,
    ffdBound: 0,
    ffdSeconds: 0,
  };
  for (let run = 0; run < (shape === "mixed" ? runs : 1); run += 1) {
    (globalThis as { gc?: () => void }).gc?.();
    // Let the sampler see the heap while planning runs: plan on a macrotask after a sample.
    await new Promise((r) => setTimeout(r, 60));
    const cpu = process.cpuUsage();
    const started = performance.now();
    const plan = planConsolidation(fleet, policy);
    row.seconds.push((performance.now() - started) / 1000);
    const used = process.cpuUsage(cpu);
    row.cpuSeconds.push((used.user + used.system) / 1e6);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    row.clustersAfter = plan.targets.length;
    row.nodesBefore = plan.locations.reduce((n, l) => n + l.before.nodes, 0);
    row.nodes = plan.targets.reduce((n, t) => n + t.nodes, 0);
    row.bound = plan.targets.reduce((n, t) => n + t.lowerBound, 0);
    log(
      `${shape} run ${run + 1}: ${row.seconds.at(-1)?.toFixed(1)} s, ${row.clustersAfter} targets, ${row.nodes} nodes (bound ${row.bound})`,
    );
  }
  const started = performance.now();
  const baseline = planConsolidation(fleet, policy, { packer: "first-fit-decreasing" });
  row.ffdSeconds = (performance.now() - started) / 1000;
  row.ffdNodes = baseline.targets.reduce((n, t) => n + t.nodes, 0);
  row.ffdBound = baseline.targets.reduce((n, t) => n + t.lowerBound, 0);
  log(`${shape} with first-fit-decreasing: ${row.ffdNodes} nodes in ${row.ffdSeconds.toFixed(1)} s`);
  rows.push(row);
}
clearInterval(sampler);
const rss = process.resourceUsage().maxRSS * 1024;

const day = new Date().toISOString().slice(0, 10);
const lscpu = execFileSync("lscpu")
  .toString()
  .split("\n")
  .filter((line) => /^(Architecture|CPU\(s\)|Model name|Thread|Core|Socket|BogoMIPS)/.test(line))
  .join("\n");
const mixed = rows[0] as ShapeRow;
const lines = [
  `# Consolidation planner benchmark — ${day}`,
  "",
  `\`npx node --expose-gc bench/planner-bench.ts\` (Node ${process.version}), one process, one core used; load average`,
  `at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}. Machine:`,
  "",
  "```",
  lscpu,
  "```",
  "",
  `Fleet: \`generateFleet({ clusters: ${size.clusters}, nodes: ${size.nodes}, pods: ${size.pods}, locations: 4, seed: 1 })\``,
  "for each shape; default ConsolidationPolicy (headroom 20%, at most 1,000 nodes and 30,000 pods per cluster,",
  "production apart from other environments, shapes taken from the fleet's nodes).",
  "",
  "| figure | result | target |",
  "| --- | --- | --- |",
  `| plan, mixed fleet, wall time (median of ${mixed.seconds.length}) | **${median(mixed.seconds).toFixed(1)} s** (runs: ${mixed.seconds.map((s) => s.toFixed(1)).join(", ")}) | under 30 s |`,
  `| the same, CPU time | ${median(mixed.cpuSeconds).toFixed(1)} s | |`,
  `| peak heap (sampled) / peak RSS of the whole run | ${formatBytes(peakHeap)} / ${formatBytes(rss)} | under 2 GiB |`,
  "",
  "| fleet shape | clusters before → after | nodes before | lower bound | planner nodes | planner ÷ bound | plan time | FFD nodes | FFD ÷ its bound | FFD plan time |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map(
    (r) =>
      `| ${r.shape} | ${size.clusters} → ${r.clustersAfter} | ${r.nodesBefore} | ${r.bound} | ${r.nodes} | ${(r.nodes / r.bound).toFixed(3)} | ${median(r.seconds).toFixed(1)} s | ${r.ffdNodes} | ${(r.ffdNodes / r.ffdBound).toFixed(3)} | ${r.ffdSeconds.toFixed(1)} s |`,
  ),
  "",
  "The lower bound is the sum over targets and pools of the bound the packer computes for the workloads of that",
  "pool on the shape chosen for it; first-fit-decreasing packs the same pools on the shape whose lower bound",
  "costs least (nearly always the one the planner ends on) and is set beside the bound of the shapes it used.",
  "",
];
await writeFile(join(import.meta.dirname, "results", `planner-${day}.md`), lines.join("\n"));
process.stdout.write(lines.join("\n"));
