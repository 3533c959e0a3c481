/**
 * Invariants of the merge on random exports of a few names from the clusters of a Location (and one outsider):
 * the answer does not depend on the order of the records; every export gets Valid and Conflict; the valid
 * exports of one name share one Conflict condition; the oldest valid export decides the type; the import's
 * ports have unique names and unique protocol/port pairs and each is a port of some valid export; an import's
 * sources are exactly its valid exports.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ExportRecord, ServicePortRecord } from "./export-record.ts";
import { mergeExports } from "./merge.ts";
import { foundExport, frankfurt } from "./sample-exports.ts";

const clusters = [...frankfurt.clusters.map((c) => c.name), "sgp-shop-prod"];

const port: fc.Arbitrary<ServicePortRecord> = fc.record({
  name: fc.constantFrom("", "http", "grpc", "metrics"),
  protocol: fc.constantFrom("TCP" as const, "UDP" as const),
  port: fc.constantFrom(80, 443, 9090),
});

const validPorts = fc
  .uniqueArray(port, { selector: (p) => p.name, maxLength: 3 })
  .map((ports) =>
    ports.filter((p, i) => ports.findIndex((q) => q.protocol === p.protocol && q.port === p.port) === i),
  )
  .map((ports) => (ports.length > 1 ? ports.filter((p) => p.name !== "") : ports));

const record: fc.Arbitrary<ExportRecord> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        cluster: fc.constantFrom(...clusters),
        name: fc.constantFrom("cart", "pay"),
        day: fc.integer({ min: 1, max: 3 }),
        type: fc.constantFrom("ClusterSetIP" as const, "Headless" as const),
        affinity: fc.constantFrom("None" as const, "ClientIP" as const),
        ports: validPorts,
        scope: fc.constantFrom(undefined, "location", "global"),
      })
      .map((r) => ({
        ...foundExport(r.cluster, `2026-11-0${r.day}T00:00:00Z`, [], {
          name: r.name,
          type: r.type,
          sessionAffinity: r.affinity,
          ports: r.ports,
        }),
        ...(r.scope ? { requestedScope: r.scope } : {}),
      })),
  },
  {
    weight: 1,
    arbitrary: fc.record({ cluster: fc.constantFrom(...clusters), name: fc.constantFrom("cart", "pay") }).map(
      (r): ExportRecord => ({
        ...r,
        namespace: "shop",
        exportCreatedAt: "2026-11-01T00:00:00Z",
        serviceState: "NoService",
      }),
    ),
  },
);

const records = fc.uniqueArray(record, { selector: (r) => `${r.cluster}/${r.name}`, maxLength: 8 });

describe("mergeExports: properties", () => {
  it("gives the same answer for any order of the records", () => {
    fc.assert(
      fc.property(
        records.chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length }))),
        ([rs, shuffled]) => {
          expect(mergeExports(frankfurt, shuffled)).toEqual(mergeExports(frankfurt, rs));
        },
      ),
    );
  });

  it("keeps the KEP's rules on every input", () => {
    fc.assert(
      fc.property(records, (rs) => {
        const result = mergeExports(frankfurt, rs);
        if (!result.ok) throw new Error("unique records are never refused");
        expect(result.exports).toHaveLength(rs.length);
        for (const imp of result.imports) {
          const mine = result.exports.filter((e) => e.name === imp.name && e.conditions[0].status === "True");
          expect(imp.sources.map((s) => s.cluster)).toEqual(mine.map((e) => e.cluster).sort());
          expect(new Set(mine.map((e) => JSON.stringify(e.conditions[1]))).size).toBe(1);
          const valid = rs.filter(
            (r): r is Extract<ExportRecord, { serviceState: "Found" }> =>
              r.name === imp.name && mine.some((e) => e.cluster === r.cluster) && r.serviceState === "Found",
          );
          const oldest = [...valid].sort(
            (a, b) =>
              Date.parse(a.exportCreatedAt) - Date.parse(b.exportCreatedAt) ||
              (a.cluster < b.cluster ? -1 : 1),
          )[0]!;
          expect(imp.oldestExportCluster).toBe(oldest.cluster);
          expect(imp.type).toBe(oldest.type);
          expect(imp.ports.slice(0, oldest.ports.length)).toEqual(oldest.ports);
          expect(new Set(imp.ports.map((p) => p.name)).size).toBe(imp.ports.length);
          expect(new Set(imp.ports.map((p) => `${p.protocol}/${p.port}`)).size).toBe(imp.ports.length);
          if (imp.ports.length > 1) expect(imp.ports.every((p) => p.name !== "")).toBe(true);
          for (const p of imp.ports)
            expect(valid.some((v) => v.ports.some((q) => JSON.stringify(q) === JSON.stringify(p)))).toBe(
              true,
            );
          const typesDiffer = new Set(valid.map((v) => v.type)).size > 1;
          expect(mine[0]!.conditions[1].reason.split(",").includes("TypeConflict")).toBe(typesDiffer);
        }
        for (const e of result.exports)
          if (e.conditions[0].status === "False")
            expect(e.conditions[1]).toMatchObject({ status: "Unknown" });
      }),
    );
  });
});
