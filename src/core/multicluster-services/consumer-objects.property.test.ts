/**
 * Invariants of a consumer's objects on random imports (a few source clusters, up to 450 endpoints each, some
 * not ready, some sources unhealthy): every ready endpoint of a healthy source is in exactly one slice, of at
 * most 100, labelled with its source; no other endpoint is; names are unique DNS labels of at most 63
 * characters; computing again from what the consumer holds gives identical objects and no writes; and a
 * change of one source's endpoints touches only that source's slices and the ServiceImport (unless it moves
 * the serving tier, which rewrites the hints of every slice).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { desiredConsumerObjects, type KubeObject, maxEndpointsPerSlice } from "./consumer-objects.ts";
import type { EndpointRecord } from "./export-record.ts";
import { mergeExports } from "./merge.ts";
import { diffObjects, writeCount } from "./object-diff.ts";
import { foundExport, frankfurt } from "./sample-exports.ts";

const clusters = frankfurt.clusters.map((c) => c.name);
const endpointsOf = (octet: number) =>
  fc.uniqueArray(
    fc.record({ host: fc.integer({ min: 1, max: 2000 }), ready: fc.boolean() }).map(
      ({ host, ready }): EndpointRecord => ({
        address: `10.${octet}.${host >> 8}.${host & 255}`,
        ready: ready || host % 3 !== 0,
        serving: true,
        terminating: false,
      }),
    ),
    { selector: (e) => e.address, maxLength: 450 },
  );
const world = fc.record({
  endpoints: fc.tuple(endpointsOf(1), endpointsOf(2), endpointsOf(3)),
  unhealthy: fc.subarray(clusters),
  consumer: fc.constantFrom(...clusters),
  changed: fc.integer({ min: 0, max: 2 }),
});

const objectsFor = (
  endpoints: EndpointRecord[][],
  unhealthy: string[],
  consumer: string,
  current: KubeObject[] = [],
) => {
  const merged = mergeExports(
    frankfurt,
    clusters.map((c, i) => foundExport(c, `2026-11-0${i + 1}T00:00:00Z`, endpoints[i]!)),
  );
  if (!merged.ok) throw new Error("merge failed");
  const region = frankfurt.clusters.find((c) => c.name === consumer)!.region;
  const result = desiredConsumerObjects({
    merged: merged.imports[0]!,
    consumer: { cluster: consumer, location: "frankfurt", region, zones: ["z1", "z2"] },
    unhealthyClusters: new Set(unhealthy),
    currentSlices: current.filter((o) => o.kind === "EndpointSlice"),
  });
  if (!result.ok) throw new Error(result.reason);
  return result.objects;
};

describe("desiredConsumerObjects: properties", () => {
  it("slices every ready endpoint of a healthy source once, at most 100 a slice, under unique short names", () => {
    fc.assert(
      fc.property(world, ({ endpoints, unhealthy, consumer }) => {
        const objects = objectsFor(endpoints, unhealthy, consumer);
        const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
        expect(new Set(names).size).toBe(names.length);
        for (const o of objects) expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
        const slices = objects.filter((o) => o.kind === "EndpointSlice");
        const seen: string[] = [];
        for (const s of slices) {
          const list = s.endpoints as Array<{ addresses: string[] }>;
          expect(list.length).toBeGreaterThan(0);
          expect(list.length).toBeLessThanOrEqual(maxEndpointsPerSlice);
          const source = s.metadata.labels!["multicluster.kubernetes.io/source-cluster"]!;
          expect(unhealthy).not.toContain(source);
          const octet = clusters.indexOf(source) + 1;
          for (const e of list) {
            expect(e.addresses[0]!.startsWith(`10.${octet}.`)).toBe(true);
            seen.push(e.addresses[0]!);
          }
        }
        const expected = endpoints
          .flatMap((list, i) => (unhealthy.includes(clusters[i]!) ? [] : list))
          .filter((e) => e.ready)
          .map((e) => e.address);
        expect(seen.sort()).toEqual(expected.sort());
      }),
      { numRuns: 60 },
    );
  });

  it("is stable: computed again from what the consumer holds, the same objects and no writes", () => {
    fc.assert(
      fc.property(world, ({ endpoints, unhealthy, consumer }) => {
        const first = objectsFor(endpoints, unhealthy, consumer);
        const again = objectsFor(endpoints, unhealthy, consumer, first);
        expect(again).toEqual(first);
        expect(writeCount(diffObjects(again, first))).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("touches only the changed source's slices and the ServiceImport when one source changes", () => {
    fc.assert(
      fc.property(world, endpointsOf(9), ({ endpoints, consumer, changed }, replacement) => {
        const first = objectsFor(endpoints, [], consumer);
        const next = endpoints.map((list, i) =>
          i === changed
            ? replacement.map((e) => ({ ...e, address: e.address.replace(/^10\.9\./, `10.${i + 1}.`) }))
            : list,
        );
        const after = objectsFor(next, [], consumer, first);
        const servingTier = (objects: KubeObject[]) =>
          (objects[0]!.status as { servingTier?: number }).servingTier;
        // a change of serving tier moves the hints of every slice (failover): that is the one exception
        fc.pre(servingTier(after) === servingTier(first));
        const diff = diffObjects(after, first);
        for (const o of [...diff.creates, ...diff.updates])
          if (o.kind === "EndpointSlice")
            expect(o.metadata.labels!["multicluster.kubernetes.io/source-cluster"]).toBe(clusters[changed]);
          else expect(o.kind).toBe("ServiceImport");
        for (const d of diff.deletes) {
          const gone = first.find((o) => o.metadata.name === d.name)!;
          expect(gone.metadata.labels!["multicluster.kubernetes.io/source-cluster"]).toBe(clusters[changed]);
        }
      }),
      { numRuns: 60 },
    );
  });
});
