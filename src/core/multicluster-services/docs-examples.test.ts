/**
 * The worked examples of docs/multi-cluster-services.md, run: each `yaml` block whose first line is
 * `# example: NAME` is read, the inputs run through the merge and the consumer objects, and the outputs in the
 * page must be exactly what the code gives. Change one and this test says which.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { desiredConsumerObjects } from "./consumer-objects.ts";
import type { ExportRecord } from "./export-record.ts";
import { type LocationMembers, mergeExports } from "./merge.ts";

const page = readFileSync(new URL("../../../docs/multi-cluster-services.md", import.meta.url), "utf8");
const examples = new Map(
  [...page.matchAll(/```yaml\n# example: ([a-z-]+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, parse(m[2]!)]),
);
const example = <T>(name: string): T => {
  if (!examples.has(name)) throw new Error(`docs/multi-cluster-services.md has no example "${name}"`);
  return examples.get(name) as T;
};

describe("docs/multi-cluster-services.md: worked examples", () => {
  const input = example<{ members: LocationMembers; records: ExportRecord[] }>("merge-input");
  const merged = mergeExports(input.members, input.records);
  if (!merged.ok) throw new Error("the example's merge is refused");

  it("merges the exports of shop/cart as the page says", () => {
    expect({
      imports: merged.imports.map((i) => ({ ...i, sources: i.sources.map((s) => s.cluster) })),
      exports: merged.exports,
    }).toEqual(example("merge-output"));
  });

  it("gives fra-shop-dev the objects the page shows", () => {
    const consumerInput = example<{
      consumer: { cluster: string; location: string; region: string; zones: string[] };
      unhealthyClusters: string[];
      derivedServiceIps: string[];
    }>("consumer-input");
    const result = desiredConsumerObjects({
      merged: merged.imports[0]!,
      consumer: consumerInput.consumer,
      unhealthyClusters: new Set(consumerInput.unhealthyClusters),
      derivedServiceIps: consumerInput.derivedServiceIps,
    });
    if (!result.ok) throw new Error(result.reason);
    expect(result.objects).toEqual(example("consumer-output"));
  });
});
