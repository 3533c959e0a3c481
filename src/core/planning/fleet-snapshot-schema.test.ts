/**
 * The documented format stays the code's: docs/fleet-snapshot.schema.json is what zod generates from
 * `fleetSnapshotSchema` (input side: quantities as strings or numbers), and the example in
 * docs/fleet-snapshot.md is a snapshot `readFleet` accepts. Set UPDATE_GOLDEN=1 to rewrite the schema file
 * after a deliberate change of the format.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { fleetSnapshotSchema, readFleet } from "./fleet-snapshot.ts";

const docs = join(import.meta.dirname, "../../../docs");
const schemaFile = join(docs, "fleet-snapshot.schema.json");

/** The JSON Schema of the snapshot files unitfleet reads. */
function generatedSchema(): unknown {
  return z.toJSONSchema(fleetSnapshotSchema, { io: "input" });
}

/** JSON as Biome formats it (the repository's formatter): lists of plain values on one line when they fit. */
function formatted(value: unknown, indent = "", prefix = 0): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (value.every((v) => v === null || typeof v !== "object")) {
      const line = `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
      if (prefix + line.length + 1 <= 110) return line;
    }
    return `[\n${value.map((v) => `${inner}${formatted(v, inner, inner.length)}`).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    const lines = entries.map(([k, v]) => {
      const head = `${inner}${JSON.stringify(k)}: `;
      return `${head}${formatted(v, inner, head.length)}`;
    });
    return `{\n${lines.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

describe("the fleet snapshot's documentation", () => {
  it("publishes the JSON Schema generated from the schema the code validates with", () => {
    const generated = generatedSchema();
    if (process.env.UPDATE_GOLDEN) writeFileSync(schemaFile, `${formatted(generated)}\n`);
    expect(JSON.parse(readFileSync(schemaFile, "utf8"))).toEqual(generated);
  });

  it("describes quantities as strings or numbers, and refuses unknown fields", () => {
    type NodeSchema = {
      properties: { allocatable: { additionalProperties: { type: string[] } } };
      required: string[];
    };
    const schema = generatedSchema() as {
      additionalProperties: boolean;
      properties: { clusters: { items: { properties: { nodes: { items: NodeSchema } } } } };
    };
    expect(schema.additionalProperties).toBe(false);
    const node = schema.properties.clusters.items.properties.nodes.items;
    expect(node.properties.allocatable.additionalProperties.type).toEqual(["string", "number"]);
    expect(node.required).toEqual(["name", "allocatable"]);
  });

  it("gives an example that readFleet accepts", () => {
    const text = readFileSync(join(docs, "fleet-snapshot.md"), "utf8");
    const examples = [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const read = readFleet(example);
      expect(read.ok ? [] : read.problems).toEqual([]);
    }
  });
});
