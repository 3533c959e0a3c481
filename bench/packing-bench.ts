/**
 * Packing benchmark: the planner's packer (`pack`) against first-fit decreasing on synthetic workload sets of four
 * kinds (mixed, memory-heavy, many tiny pods, a few huge pods), each at about 2,000 and 30,000 pods per packing,
 * with hostname anti-affinity and zone spread over 3 zones on some items, 10% headroom. For each: the lower bound
 * and the nodes, ratio and time (median of the runs) of both packers. Then a planner-scale run: 300 packings,
 * 500,000 pods, on one shape with `pack` and on three shapes with `packCheapest`. Everything comes from fixed
 * seeds, so runs compare.
 *
 *   taskset -c 0 npx node bench/packing-bench.ts [--runs 5] [--out bench/results/packing-2026-11-25.md]
 */
import { writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  firstFitDecreasing,
  type NodeShape,
  type PackItem,
  type PackOptions,
  type PackOutcome,
  pack,
  packCheapest,
} from "../src/core/planning/packing/bin-packing.ts";
import { SeededRandom } from "../src/core/planning/seeded-random.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    out: { type: "string", default: "bench/results/packing-2026-11-25.md" },
  },
});
const runs = Number(values.runs);
const log = (text: string) => process.stderr.write(`[bench] ${text}\n`);

const Mi = 2 ** 20;
const Gi = 2 ** 30;
const zones = ["fra-1", "fra-2", "fra-3"];
const options: PackOptions = { zones, headroomPercent: 10 };
const shape: NodeShape = {
  name: "m6.4xlarge",
  allocatable: { cpu: 16, memory: 64 * Gi, pods: 110 },
  monthlyPrice: 560,
};
const shapes: NodeShape[] = [
  shape,
  { name: "c6.4xlarge", allocatable: { cpu: 16, memory: 32 * Gi, pods: 110 }, monthlyPrice: 490 },
  { name: "r6.4xlarge", allocatable: { cpu: 16, memory: 128 * Gi, pods: 110 }, monthlyPrice: 730 },
];

/** One pod's cpu (cores, to the millicore) and memory (bytes, to the MiB). */
const pod = (cpu: number, memory: number) => ({
  cpu: Math.max(1, Math.round(cpu * 1000)) / 1000,
  memory: Math.max(1, Math.round(memory / Mi)) * Mi,
  pods: 1,
});

interface SetKind {
  name: string;
  description: string;
  /** Draws one item (its count is cut to the pod target by the caller). */
  item: (r: SeededRandom) => Omit<PackItem, "id">;
}

/** Constraints on some items: 5% hostname anti-affinity, 20% zone spread (skew 1), 2% zone anti-affinity. */
function constrained(r: SeededRandom, base: Omit<PackItem, "id">): Omit<PackItem, "id"> {
  const roll = r.next();
  if (roll < 0.05) return { ...base, count: Math.min(base.count, r.int(2, 12)), maxPerNode: 1 };
  if (roll < 0.25) return { ...base, zoneMaxSkew: 1 };
  if (roll < 0.27) return { ...base, count: r.int(1, 3), maxPerZone: 1 };
  return base;
}

const kinds: SetKind[] = [
  {
    name: "mixed",
    description:
      "0.5–16 GiB per core (cpu-heavy to memory-heavy) and 0.05–2 cores, both log-uniform, memory ≤ 16 GiB; 1–40 replicas",
    item: (r) => {
      const gibPerCore = r.logUniform(0.5, 16);
      const cpu = Math.min(r.logUniform(0.05, 2), 16 / gibPerCore);
      return constrained(r, { count: r.int(1, 40), demand: pod(cpu, cpu * gibPerCore * Gi) });
    },
  },
  {
    name: "memory-heavy",
    description: "0.05–0.5 cores and 1–8 GiB, both log-uniform; 1–40 replicas",
    item: (r) =>
      constrained(r, { count: r.int(1, 40), demand: pod(r.logUniform(0.05, 0.5), r.logUniform(1, 8) * Gi) }),
  },
  {
    name: "many tiny pods",
    description: "cpu 10–200m, 32–512 MiB, 1–60 replicas (the pod limit binds)",
    item: (r) =>
      constrained(r, { count: r.int(1, 60), demand: pod(r.between(0.01, 0.2), r.between(32, 512) * Mi) }),
  },
  {
    name: "a few huge pods",
    description:
      "70% of items: 35–60% of a node in cpu or memory, 5–25% in the other; 30% small; 1–6 replicas",
    item: (r) => {
      const usableCpu = 14.4;
      const usableMemory = 57.6 * Gi;
      if (r.next() < 0.3)
        return constrained(r, {
          count: r.int(1, 6),
          demand: pod(r.between(0.1, 1), r.between(0.25, 4) * Gi),
        });
      const big = r.between(0.35, 0.6);
      const small = r.between(0.05, 0.25);
      const demand =
        r.next() < 0.5
          ? pod(big * usableCpu, small * usableMemory)
          : pod(small * usableCpu, big * usableMemory);
      return constrained(r, { count: r.int(1, 6), demand });
    },
  },
];

/** Items of one kind, drawn until they hold `pods` pods (the last item's count is cut to hit it). */
function itemSet(kind: SetKind, pods: number, seed: number): PackItem[] {
  const r = new SeededRandom(seed);
  const items: PackItem[] = [];
  let total = 0;
  while (total < pods) {
    const drawn = kind.item(r);
    const count = Math.min(drawn.count, pods - total);
    if (drawn.maxPerZone !== undefined && count > drawn.maxPerZone * zones.length) continue;
    items.push({ ...drawn, id: `${kind.name.replaceAll(" ", "-")}-${items.length}`, count });
    total += count;
  }
  return items;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timed(run: () => PackOutcome): { outcome: PackOutcome; ms: number } {
  const times: number[] = [];
  let outcome: PackOutcome | undefined;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    outcome = run();
    times.push(performance.now() - start);
  }
  return { outcome: outcome!, ms: median(times) };
}

function nodesOf(outcome: PackOutcome): number {
  if (!outcome.ok) throw new Error(`unexpected unfit items: ${JSON.stringify(outcome.unfit.slice(0, 3))}`);
  return outcome.packing.nodes.length;
}

interface Row {
  set: string;
  pods: number;
  items: number;
  bound: number;
  binding: string;
  packNodes: number;
  packMs: number;
  ffdNodes: number;
  ffdMs: number;
}

function measure(kind: SetKind, pods: number, seed: number): Row {
  const items = itemSet(kind, pods, seed);
  const packed = timed(() => pack(items, shape, options));
  const baseline = timed(() => firstFitDecreasing(items, shape, options));
  if (!packed.outcome.ok) throw new Error(`pack failed: ${JSON.stringify(packed.outcome.unfit.slice(0, 3))}`);
  const row = {
    set: kind.name,
    pods,
    items: items.length,
    bound: packed.outcome.packing.lowerBound.nodes,
    binding: packed.outcome.packing.lowerBound.binding,
    packNodes: nodesOf(packed.outcome),
    packMs: packed.ms,
    ffdNodes: nodesOf(baseline.outcome),
    ffdMs: baseline.ms,
  };
  log(
    `${row.set} ${row.pods}: bound ${row.bound}, pack ${row.packNodes} (${row.packMs.toFixed(1)} ms), ffd ${row.ffdNodes} (${row.ffdMs.toFixed(1)} ms)`,
  );
  return row;
}

/** 300 packings of 500–30,000 pods, 500,000 pods in all, kinds in turn: what the planner does to a big fleet. */
function plannerScale() {
  const r = new SeededRandom(42);
  const draws = Array.from({ length: 300 }, () => Math.exp(r.between(Math.log(500), Math.log(30_000))));
  const factor = 500_000 / draws.reduce((a, b) => a + b, 0);
  const sets = draws.map((draw, i) => {
    const kind = kinds[i % kinds.length]!;
    const size = Math.min(30_000, Math.max(500, Math.round(draw * factor)));
    return { kind: kind.name, items: itemSet(kind, size, 1000 + i) };
  });
  const pods = sets.reduce((n, s) => n + s.items.reduce((m, item) => m + item.count, 0), 0);
  const items = sets.reduce((n, s) => n + s.items.length, 0);
  const overByKind = new Map<string, { packings: number; mostNodesOver: number }>();
  const packMsByKind = new Map<string, number>();
  let start = performance.now();
  for (const set of sets) {
    const began = performance.now();
    const outcome = pack(set.items, shape, options);
    packMsByKind.set(set.kind, (packMsByKind.get(set.kind) ?? 0) + performance.now() - began);
    if (outcome.ok && outcome.packing.nodes.length > outcome.packing.lowerBound.nodes * 1.03) {
      const over = overByKind.get(set.kind) ?? { packings: 0, mostNodesOver: 0 };
      over.packings += 1;
      over.mostNodesOver = Math.max(
        over.mostNodesOver,
        outcome.packing.nodes.length - outcome.packing.lowerBound.nodes,
      );
      overByKind.set(set.kind, over);
    }
  }
  const packMs = performance.now() - start;
  start = performance.now();
  for (const set of sets) packCheapest(set.items, shapes, options);
  const cheapestMs = performance.now() - start;
  return { packings: sets.length, pods, items, packMs, packMsByKind, cheapestMs, overByKind };
}

const fmt = (n: number) => n.toLocaleString("en-US");
const ratio = (nodes: number, bound: number) => (nodes / bound).toFixed(3);

const rows: Row[] = [];
kinds.forEach((kind, k) => {
  rows.push(measure(kind, 2_000, 100 + k));
  rows.push(measure(kind, 30_000, 200 + k));
});
log("planner scale…");
const scale = plannerScale();
log(`planner scale: pack ${scale.packMs.toFixed(0)} ms, packCheapest ${scale.cheapestMs.toFixed(0)} ms`);

const table = [
  "| set | pods | items | lower bound | pack nodes | pack / bound | pack ms | FFD nodes | FFD / bound | FFD ms |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map(
    (row) =>
      `| ${row.set} | ${fmt(row.pods)} | ${fmt(row.items)} | ${row.bound} | ${row.packNodes} | ${ratio(row.packNodes, row.bound)} | ` +
      `${row.packMs.toFixed(1)} | ${row.ffdNodes} | ${ratio(row.ffdNodes, row.bound)} | ${row.ffdMs.toFixed(1)} |`,
  ),
].join("\n");
const bindings = rows.map((row) => `- ${row.set}, ${fmt(row.pods)} pods: ${row.binding}`).join("\n");
const cpu = cpus()[0];
const report = `# Packing benchmark, ${new Date().toISOString().slice(0, 10)}

Command: \`npx node bench/packing-bench.ts --runs ${runs}\`; ${cpu?.model ?? "unknown cpu"}, ${cpus().length} cores,
Node ${process.version}; load average at the end ${loadavg()
  .map((l) => l.toFixed(2))
  .join(" ")}.

Shape ${shape.name} (16 cores, 64 GiB, 110 pods), headroom ${options.headroomPercent}%, so 14.4 cores, 57.6 GiB and
99 pods usable per node; zones ${zones.join(", ")}. In every set 5% of items have hostname anti-affinity (2–12
replicas), 20% spread over the zones with skew 1 and 2% have zone anti-affinity (1–3 replicas). Times are the
median of ${runs} runs.

${kinds.map((k) => `- **${k.name}**: ${k.description}`).join("\n")}

${table}

Binding bounds:

${bindings}

Planner scale: ${scale.packings} packings (log-uniform sizes scaled to 500,000 pods, 500–30,000 each, the four kinds in
turn), ${fmt(scale.pods)} pods in
${fmt(scale.items)} items: \`pack\` on one shape took ${(scale.packMs / 1000).toFixed(2)} s in all (packings over 1.03 × bound:
${
  [...scale.overByKind.entries()]
    .map(
      ([kind, over]) =>
        `${over.packings} ${kind} (at most ${over.mostNodesOver} ${over.mostNodesOver === 1 ? "node" : "nodes"} over)`,
    )
    .join(", ") || "none"
}); by kind: ${[...scale.packMsByKind.entries()]
  .map(([kind, ms]) => `${kind} ${(ms / 1000).toFixed(2)} s`)
  .join(", ")}. \`packCheapest\` over three shapes (${shapes.map((s) => s.name).join(", ")}) took
${(scale.cheapestMs / 1000).toFixed(2)} s.
`;
process.stdout.write(`${table}\n`);
await writeFile(values.out, report);
log(`wrote ${values.out}`);
