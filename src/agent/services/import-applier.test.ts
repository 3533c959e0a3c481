import { beforeEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import type { ExportRecord } from "../../core/multicluster-services/export-record.ts";
import { derivedServiceName } from "../../core/multicluster-services/object-names.ts";
import { foundExport, readyEndpoints } from "../../core/multicluster-services/sample-exports.ts";
import { ManualClock } from "../../runtime/clock.ts";
import { ImportApplier } from "./import-applier.ts";
import { InMemoryServicesCluster } from "./in-memory-services-cluster.ts";
import { LocationExports } from "./location-exports.ts";
import type { StoredCondition } from "./services-cluster.ts";

const here = "fra-shop-dev";
const derived = derivedServiceName("shop", "cart");
const namespace = (name: string): KubeObject => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
const node = (name: string, zone: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "topology.kubernetes.io/zone": zone } },
});
const managed = { "app.kubernetes.io/managed-by": "mcs.unitfleet.io" };

let clock: ManualClock;
let cluster: InMemoryServicesCluster;
let location: LocationExports;
let applier: ImportApplier;
let logs: Array<Record<string, unknown>>;

const records = (source: string, region: string, list: ExportRecord[], present = true) =>
  location.apply({
    cluster: source,
    region,
    records: list,
    removed: [],
    ...(present ? { present: list.map(({ namespace, name }) => ({ namespace, name })) } : {}),
  });
const fromProd = (endpoints = readyEndpoints(1, 2, "z1")) =>
  records("fra-shop-prod", "fra-north", [foundExport("fra-shop-prod", "2026-12-03T09:00:00Z", endpoints)]);
const changed = async (ms = 1000) => {
  applier.changed();
  await clock.advance(ms);
};
const kinds = () =>
  [...cluster.objects.values()].map((o) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`);

beforeEach(() => {
  clock = new ManualClock(Date.parse("2026-12-03T12:00:00Z"));
  cluster = new InMemoryServicesCluster();
  cluster.put(namespace("shop"));
  cluster.put(node("n1", "z1"));
  cluster.put(node("n2", "z2"));
  location = new LocationExports("frankfurt");
  logs = [];
  applier = new ImportApplier({
    cluster: here,
    location: "frankfurt",
    region: "fra-north",
    exports: location,
    view: cluster,
    writes: cluster,
    clock,
    log: (entry) => logs.push(entry),
  });
});

describe("ImportApplier", () => {
  it("creates the ServiceImport with the derived Service's IP, the derived Service and the slices, in 4 writes", async () => {
    fromProd();
    applier.enable();
    await clock.advance(1000);
    expect(cluster.calls).toEqual([
      `apply Service shop/${derived}`,
      expect.stringMatching(/^apply EndpointSlice shop\/mcs-cart-/),
      "apply ServiceImport shop/cart",
      "status ServiceImport shop/cart",
    ]);
    expect(applier.counters).toMatchObject({
      writes: 4,
      applies: 3,
      statusApplies: 1,
      deletes: 0,
      imports: 1,
    });
    const serviceImport = cluster.get("multicluster.x-k8s.io/v1beta1", "ServiceImport", "shop", "cart")!;
    const service = cluster.get("v1", "Service", "shop", derived)!;
    expect((serviceImport.spec as { ips: string[] }).ips).toEqual(
      (service.spec as { clusterIPs: string[] }).clusterIPs,
    );
    expect(serviceImport.status).toEqual({
      clusters: [{ cluster: "fra-shop-prod", region: "fra-north", tier: 1, readyEndpoints: 2 }],
      servingTier: 1,
    });
    const [slice] = cluster.list("EndpointSlice");
    expect(slice!.metadata.labels).toMatchObject({
      "multicluster.kubernetes.io/source-cluster": "fra-shop-prod",
      "kubernetes.io/service-name": derived,
      ...managed,
    });
    expect((slice!.endpoints as unknown[]).length).toBe(2);
  });

  it("makes no write on a second pass, nor on a resync", async () => {
    fromProd();
    applier.enable();
    await clock.advance(1000);
    const before = cluster.writes;
    await changed();
    await clock.advance(31_000);
    expect(cluster.writes).toBe(before);
    expect(applier.counters.passes).toBeGreaterThanOrEqual(3);
  });

  it("rewrites one slice and the ServiceImport's status when one endpoint changes", async () => {
    fromProd();
    applier.enable();
    await clock.advance(1000);
    const before = cluster.calls.length;
    fromProd(readyEndpoints(1, 3, "z1"));
    await changed();
    expect(cluster.calls.slice(before)).toEqual([
      expect.stringMatching(/^apply EndpointSlice shop\/mcs-cart-/),
      "status ServiceImport shop/cart",
    ]);
  });

  it("deletes only the objects unitfleet manages when the export goes", async () => {
    fromProd();
    applier.enable();
    await clock.advance(1000);
    // The cluster's own Service and slice of the same name, and a slice someone else made for the derived Service.
    cluster.put({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "cart", namespace: "shop" },
      spec: {},
    });
    cluster.put({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "by-hand", namespace: "shop", labels: { "kubernetes.io/service-name": derived } },
      addressType: "IPv4",
      endpoints: [],
    });
    const before = cluster.calls.length;
    records("fra-shop-prod", "fra-north", []);
    await changed();
    expect(cluster.calls.slice(before).sort()).toEqual([
      expect.stringMatching(/^delete EndpointSlice shop\/mcs-cart-/),
      `delete Service shop/${derived}`,
      "delete ServiceImport shop/cart",
    ]);
    expect(kinds()).toEqual(expect.arrayContaining(["Service shop/cart", "EndpointSlice shop/by-hand"]));
    expect(kinds().filter((k) => k.includes("mcs-") || k.startsWith("ServiceImport"))).toEqual([]);
  });

  it("leaves a ServiceImport it does not manage alone, and its whole import", async () => {
    cluster.put({
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceImport",
      metadata: { name: "cart", namespace: "shop" },
      spec: { type: "ClusterSetIP", ports: [] },
    });
    fromProd();
    applier.enable();
    await clock.advance(1000);
    expect(cluster.writes).toBe(0);
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: "multi-cluster services: object not managed by unitfleet, left as it is",
      }),
    );
  });

  it("skips an import whose namespace does not exist here, and imports it once the namespace is made", async () => {
    records("fra-shop-prod", "fra-north", [
      { ...foundExport("fra-shop-prod", "2026-12-03T09:00:00Z", readyEndpoints(1, 1)), namespace: "billing" },
    ]);
    applier.enable();
    await clock.advance(1000);
    expect(cluster.writes).toBe(0);
    expect(applier.counters).toMatchObject({ imports: 1, skippedImports: 1 });
    cluster.put(namespace("billing"));
    await changed();
    expect(applier.counters.skippedImports).toBe(0);
    expect(cluster.get("multicluster.x-k8s.io/v1beta1", "ServiceImport", "billing", "cart")).toBeDefined();
  });

  it("writes nothing before it is enabled, and nothing is lost meanwhile", async () => {
    fromProd();
    applier.changed();
    await clock.advance(60_000);
    expect(cluster.writes).toBe(0);
    applier.enable();
    await clock.advance(1000);
    expect(cluster.writes).toBe(4);
  });

  it("keeps the imports while the API server is down and catches up when it answers", async () => {
    fromProd();
    applier.enable();
    await clock.advance(1000);
    cluster.down = true;
    fromProd(readyEndpoints(1, 5, "z1"));
    await changed(10_000);
    expect(
      applier.counters.failures + logs.filter((l) => String(l.msg).includes("could not be computed")).length,
    ).toBeGreaterThan(0);
    cluster.down = false;
    await clock.advance(35_000);
    const [slice] = cluster.list("EndpointSlice");
    expect((slice!.endpoints as unknown[]).length).toBe(5);
  });

  it("writes Valid and Conflict into this cluster's own export, stamped when a status changes", async () => {
    cluster.put({
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceExport",
      metadata: { name: "cart", namespace: "shop", creationTimestamp: "2026-12-03T10:00:00Z" },
      status: { conditions: [{ type: "Ready", status: "True", reason: "Someone", message: "kept" }] },
    });
    const own = foundExport(here, "2026-12-03T10:00:00Z", readyEndpoints(2, 1, "z1"));
    records(here, "fra-north", [own]);
    fromProd();
    applier.enable();
    await clock.advance(1000);
    const conditions = () =>
      (
        cluster.get("multicluster.x-k8s.io/v1beta1", "ServiceExport", "shop", "cart")!.status as {
          conditions: StoredCondition[];
        }
      ).conditions;
    expect(conditions()).toEqual([
      { type: "Ready", status: "True", reason: "Someone", message: "kept" },
      expect.objectContaining({ type: "Valid", status: "True", lastTransitionTime: "2026-12-03T12:00:00Z" }),
      expect.objectContaining({
        type: "Conflict",
        status: "False",
        reason: "NoConflicts",
        lastTransitionTime: "2026-12-03T12:00:00Z",
      }),
    ]);
    // The other cluster's export now has another port: Conflict=True here too, stamped now; Valid keeps its time.
    await clock.advance(60_000);
    records("fra-shop-prod", "fra-north", [
      foundExport("fra-shop-prod", "2026-12-03T09:00:00Z", readyEndpoints(1, 2, "z1"), {
        ports: [{ name: "http", protocol: "TCP", port: 8080 }],
      }),
    ]);
    await changed();
    expect(conditions()).toEqual([
      expect.objectContaining({ type: "Ready" }),
      expect.objectContaining({ type: "Valid", status: "True", lastTransitionTime: "2026-12-03T12:00:00Z" }),
      expect.objectContaining({
        type: "Conflict",
        status: "True",
        reason: "PortConflict",
        lastTransitionTime: "2026-12-03T12:01:01Z",
      }),
    ]);
    const statusWrites = applier.counters.exportStatusWrites;
    await changed();
    await clock.advance(31_000);
    expect(applier.counters.exportStatusWrites).toBe(statusWrites);
  });

  it("bounds the writes of a storm by the churn policy", async () => {
    fromProd();
    applier.enable();
    await clock.advance(1000);
    const before = cluster.writes;
    // 1,000 endpoint changes over 1 s: one every millisecond.
    for (let i = 0; i < 1000; i++) {
      fromProd(readyEndpoints(1, 1 + (i % 37), "z1"));
      applier.changed();
      await clock.advance(1);
    }
    await clock.advance(5000);
    const writes = cluster.writes - before;
    // The slice and the ServiceImport's status, each at most once per 250 ms of coalescing: 2 × 6 in 1.5 s.
    expect(writes).toBeGreaterThanOrEqual(4);
    expect(writes).toBeLessThanOrEqual(12);
    const [slice] = cluster.list("EndpointSlice");
    expect((slice!.endpoints as unknown[]).length).toBe(1 + (999 % 37));
  });

  it("does not write again an object the API server keeps rewriting, until it changes", async () => {
    // This API server drops the ServiceImport's servingTier (as a schema without the field would prune it).
    cluster.rewrite = (o) => {
      if (o.kind !== "ServiceImport" || !o.status) return o;
      const { servingTier: _pruned, ...status } = o.status as Record<string, unknown>;
      return { ...o, status };
    };
    fromProd();
    applier.enable();
    await clock.advance(1000);
    const writes = cluster.writes;
    await changed();
    await changed();
    expect(cluster.writes).toBe(writes);
    expect(logs).toContainEqual(
      expect.objectContaining({ object: "multicluster.x-k8s.io/ServiceImport/shop/cart" }),
    );
    // A real change is written; the resync tries once more.
    fromProd(readyEndpoints(1, 3, "z1"));
    await changed();
    expect(cluster.writes).toBe(writes + 2);
    await clock.advance(31_000);
    expect(cluster.writes).toBe(writes + 3);
  });
});
