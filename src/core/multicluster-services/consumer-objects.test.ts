import { describe, expect, it } from "vitest";
import {
  type ConsumerObjectsInput,
  desiredConsumerObjects,
  type KubeObject,
  maxEndpointsPerSlice,
  standbyZone,
} from "./consumer-objects.ts";
import type { EndpointRecord, ExportRecord } from "./export-record.ts";
import { type MergedImport, mergeExports } from "./merge.ts";
import { diffObjects, writeCount } from "./object-diff.ts";
import { derivedServiceName } from "./object-names.ts";
import { foundExport, frankfurt, readyEndpoints } from "./sample-exports.ts";

const mergeOne = (records: ExportRecord[]): MergedImport => {
  const result = mergeExports(frankfurt, records);
  if (!result.ok || result.imports.length !== 1) throw new Error("expected one import");
  return result.imports[0]!;
};
const consumer = {
  cluster: "fra-shop-prod",
  location: "frankfurt",
  region: "fra-north",
  zones: ["z2", "z1"],
};
const objectsOf = (input: Partial<ConsumerObjectsInput> & { merged: MergedImport }): KubeObject[] => {
  const result = desiredConsumerObjects({ consumer, unhealthyClusters: new Set(), ...input });
  if (!result.ok) throw new Error(result.reason);
  return result.objects;
};
const slices = (objects: KubeObject[]) => objects.filter((o) => o.kind === "EndpointSlice");
const addressesOf = (slice: KubeObject) =>
  (slice.endpoints as Array<{ addresses: string[] }>).map((e) => e.addresses[0]!);

const threeClusters = (prod: EndpointRecord[] = readyEndpoints(1, 2)) =>
  mergeOne([
    foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", prod),
    foundExport("fra-shop-dev", "2026-11-02T00:00:00Z", readyEndpoints(2, 1)),
    foundExport("fra-payments-prod", "2026-11-03T00:00:00Z", readyEndpoints(3, 1)),
  ]);

describe("desiredConsumerObjects: a ClusterSetIP import", () => {
  const objects = objectsOf({ merged: threeClusters(), derivedServiceIps: ["10.96.4.20"] });
  const derived = derivedServiceName("shop", "cart");

  it("holds the ServiceImport with the derived Service's IP and the chain in its status", () => {
    expect(objects[0]).toEqual({
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceImport",
      metadata: {
        name: "cart",
        namespace: "shop",
        labels: { "app.kubernetes.io/managed-by": "mcs.unitfleet.io" },
        annotations: { "multicluster.kubernetes.io/derived-service": derived },
      },
      spec: {
        type: "ClusterSetIP",
        ports: [{ name: "http", protocol: "TCP", port: 80 }],
        ips: ["10.96.4.20"],
        sessionAffinity: "None",
        ipFamilies: ["IPv4"],
      },
      status: {
        clusters: [
          { cluster: "fra-shop-prod", region: "fra-north", tier: 0, readyEndpoints: 2 },
          { cluster: "fra-shop-dev", region: "fra-north", tier: 1, readyEndpoints: 1 },
          { cluster: "fra-payments-prod", region: "fra-south", tier: 2, readyEndpoints: 1 },
        ],
        servingTier: 0,
      },
    });
  });

  it("holds a selector-less derived Service that prefers the hinted zones", () => {
    expect(objects[1]).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: derived,
        namespace: "shop",
        labels: {
          "app.kubernetes.io/managed-by": "mcs.unitfleet.io",
          "multicluster.kubernetes.io/service-name": "cart",
        },
      },
      spec: {
        type: "ClusterIP",
        ports: [{ name: "http", protocol: "TCP", port: 80 }],
        sessionAffinity: "None",
        trafficDistribution: "PreferSameZone",
      },
    });
    expect(derived).toMatch(/^mcs-cart-[a-z2-7]{10}$/);
  });

  it("holds one slice per source cluster, labelled, tiered, with hints pointing at the serving tier only", () => {
    const found = slices(objects);
    expect(
      found.map((s) => [
        s.metadata.labels!["multicluster.kubernetes.io/source-cluster"],
        s.metadata.labels!["unitfleet.io/locality-tier"],
      ]),
    ).toEqual([
      ["fra-shop-prod", "0"],
      ["fra-shop-dev", "1"],
      ["fra-payments-prod", "2"],
    ]);
    const first = found[0]!;
    expect(first.metadata.labels).toEqual({
      "multicluster.kubernetes.io/service-name": "cart",
      "multicluster.kubernetes.io/source-cluster": "fra-shop-prod",
      "endpointslice.kubernetes.io/managed-by": "mcs.unitfleet.io",
      "app.kubernetes.io/managed-by": "mcs.unitfleet.io",
      "unitfleet.io/locality-tier": "0",
      "unitfleet.io/source-region": "fra-north",
      "kubernetes.io/service-name": derived,
    });
    expect(first.addressType).toBe("IPv4");
    expect(first.ports).toEqual([{ name: "http", protocol: "TCP", port: 8080 }]);
    expect((first.endpoints as unknown[])[0]).toEqual({
      addresses: ["10.1.0.1"],
      conditions: { ready: true, serving: true, terminating: false },
      zone: "z1",
      hints: { forZones: [{ name: "z1" }, { name: "z2" }] },
    });
    for (const standby of found.slice(1))
      for (const e of standby.endpoints as Array<{ hints: unknown }>)
        expect(e.hints).toEqual({ forZones: [{ name: standbyZone }] });
  });

  it("moves the hints to the next tier when the consumer's own copy has no ready endpoint", () => {
    const scaledToZero = objectsOf({
      merged: threeClusters(readyEndpoints(1, 2).map((e) => ({ ...e, ready: false }))),
    });
    expect(scaledToZero[0]!.status).toMatchObject({ servingTier: 1 });
    const byTier = Object.fromEntries(
      slices(scaledToZero).map((s) => [
        s.metadata.labels!["unitfleet.io/locality-tier"],
        (s.endpoints as Array<{ hints: unknown }>)[0]!.hints,
      ]),
    );
    expect(byTier).toEqual({
      "1": { forZones: [{ name: "z1" }, { name: "z2" }] },
      "2": { forZones: [{ name: standbyZone }] },
    });
  });

  it("publishes no hints when the consumer's zones cannot carry them (none, or more than 8)", () => {
    for (const zones of [[], ["a", "b", "c", "d", "e", "f", "g", "h", "i"]]) {
      const objects = objectsOf({ merged: threeClusters(), consumer: { ...consumer, zones } });
      expect((objects[1]!.spec as Record<string, unknown>).trafficDistribution).toBeUndefined();
      for (const s of slices(objects))
        for (const e of s.endpoints as Array<Record<string, unknown>>) expect(e.hints).toBeUndefined();
    }
  });
});

describe("desiredConsumerObjects: other shapes", () => {
  it("gives a Headless import no derived Service, no IPs and no kube-proxy label", () => {
    const objects = objectsOf({
      merged: mergeOne([
        foundExport(
          "fra-shop-dev",
          "2026-11-01T00:00:00Z",
          [{ ...readyEndpoints(2, 1)[0]!, hostname: "db-0" }],
          {
            type: "Headless",
          },
        ),
      ]),
      derivedServiceIps: ["10.96.0.9"],
    });
    expect(objects.map((o) => o.kind)).toEqual(["ServiceImport", "EndpointSlice"]);
    expect(objects[0]!.spec).not.toHaveProperty("ips");
    expect(objects[0]!.metadata.annotations).toBeUndefined();
    expect(objects[1]!.metadata.labels).not.toHaveProperty("kubernetes.io/service-name");
    expect((objects[1]!.endpoints as Array<Record<string, unknown>>)[0]).toMatchObject({ hostname: "db-0" });
  });

  it("cuts a source's endpoints into slices of at most 100, named <stem>-<index>, all within 63 characters", () => {
    const longName = "a-very-long-service-name-that-goes-on-and-on-and-on-until-it-is-63";
    const objects = objectsOf({
      merged: mergeOne([
        foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", readyEndpoints(1, 250), {
          name: longName.slice(0, 63),
        }),
      ]),
    });
    const found = slices(objects);
    expect(found.map((s) => (s.endpoints as unknown[]).length)).toEqual([100, 100, 50]);
    expect(found.map((s) => s.metadata.name.slice(-2))).toEqual(["-0", "-1", "-2"]);
    for (const o of objects) expect(o.metadata.name.length).toBeLessThanOrEqual(63);
    expect(new Set(found.flatMap(addressesOf)).size).toBe(250);
  });

  it("gives a consumer of another Location nothing", () => {
    const result = desiredConsumerObjects({
      merged: threeClusters(),
      consumer: { cluster: "sgp-shop-prod", location: "singapore", region: "sgp-1", zones: ["z1"] },
      unhealthyClusters: new Set(),
    });
    expect(result.ok).toBe(false);
  });
});

describe("desiredConsumerObjects: stable slices", () => {
  const big = (endpoints: EndpointRecord[]) =>
    mergeOne([foundExport("fra-shop-dev", "2026-11-01T00:00:00Z", endpoints)]);
  const before = objectsOf({ merged: big(readyEndpoints(1, 250)) });

  it("gives identical objects for an unchanged import: no writes", () => {
    const again = objectsOf({ merged: big(readyEndpoints(1, 250)), currentSlices: slices(before) });
    expect(again).toEqual(before);
    expect(writeCount(diffObjects(again, before))).toBe(0);
  });

  it("rewrites only the slice that held a removed endpoint (and the import's counts), not the slices after it", () => {
    const fewer = readyEndpoints(1, 250).filter((e) => e.address !== "10.1.0.5");
    const after = objectsOf({ merged: big(fewer), currentSlices: slices(before) });
    const diff = diffObjects(after, before);
    expect(diff.updates.map((o) => o.kind).sort()).toEqual(["EndpointSlice", "ServiceImport"]);
    expect(diff.creates).toEqual([]);
    expect(diff.deletes).toEqual([]);
    // without the current slices to stay in, every endpoint after the removed one would shift
    const naive = objectsOf({ merged: big(fewer) });
    expect(
      diffObjects(naive, before).updates.filter((o) => o.kind === "EndpointSlice").length,
    ).toBeGreaterThan(1);
  });

  it("puts a new endpoint where there is room, and deletes a slice that empties", () => {
    const added = [...readyEndpoints(1, 250), { ...readyEndpoints(7, 1)[0]! }];
    const grown = objectsOf({ merged: big(added), currentSlices: slices(before) });
    const grownDiff = diffObjects(grown, before);
    expect(grownDiff.updates.filter((o) => o.kind === "EndpointSlice")).toHaveLength(1);
    expect(addressesOf(slices(grown)[2]!)).toContain("10.7.0.1");

    const lastSlice = new Set(addressesOf(slices(before)[2]!));
    const shrunk = objectsOf({
      merged: big(readyEndpoints(1, 250).filter((e) => !lastSlice.has(e.address))),
      currentSlices: slices(before),
    });
    const shrunkDiff = diffObjects(shrunk, before);
    expect(shrunkDiff.deletes.map((d) => d.name)).toEqual([slices(before)[2]!.metadata.name]);
    expect(shrunkDiff.updates.map((o) => o.kind)).toEqual(["ServiceImport"]);
  });

  it("removes an unhealthy source's slices and keeps the others as they are", () => {
    const merged = threeClusters();
    const healthy = objectsOf({ merged });
    const partitioned = objectsOf({
      merged,
      unhealthyClusters: new Set(["fra-payments-prod"]),
      currentSlices: slices(healthy),
    });
    const diff = diffObjects(partitioned, healthy);
    expect(diff.deletes.map((d) => d.kind)).toEqual(["EndpointSlice"]);
    expect(diff.updates.map((o) => o.kind)).toEqual(["ServiceImport"]);
    expect(diff.creates).toEqual([]);
  });

  it("never puts more than the limit in a slice, even when current slices are overfull", () => {
    const overfull = {
      ...slices(before)[0]!,
      endpoints: readyEndpoints(1, 250).map((e) => ({ addresses: [e.address] })),
    };
    const placed = slices(objectsOf({ merged: big(readyEndpoints(1, 250)), currentSlices: [overfull] }));
    for (const s of placed)
      expect((s.endpoints as unknown[]).length).toBeLessThanOrEqual(maxEndpointsPerSlice);
    expect(placed.flatMap(addressesOf).sort()).toEqual(
      readyEndpoints(1, 250)
        .map((e) => e.address)
        .sort(),
    );
  });
});
