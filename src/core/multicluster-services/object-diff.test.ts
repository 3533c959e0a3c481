import { describe, expect, it } from "vitest";
import { desiredConsumerObjects, type KubeObject } from "./consumer-objects.ts";
import { mergeExports } from "./merge.ts";
import { diffObjects, writeCount } from "./object-diff.ts";
import { foundExport, frankfurt, readyEndpoints } from "./sample-exports.ts";

const desired = (() => {
  const merged = mergeExports(frankfurt, [
    foundExport("fra-shop-dev", "2026-11-01T00:00:00Z", readyEndpoints(2, 3)),
  ]);
  if (!merged.ok) throw new Error("merge failed");
  const result = desiredConsumerObjects({
    merged: merged.imports[0]!,
    consumer: { cluster: "fra-shop-prod", location: "frankfurt", region: "fra-north", zones: ["z1"] },
    unhealthyClusters: new Set(),
    derivedServiceIps: ["10.96.4.20"],
  });
  if (!result.ok) throw new Error(result.reason);
  return result.objects;
})();

/** The objects as the API server returns them: server fields and defaults added. */
const asStored = (objects: readonly KubeObject[]): KubeObject[] =>
  objects.map((o, i) => {
    const stored = structuredClone(o);
    Object.assign(stored.metadata, {
      uid: `uid-${i}`,
      resourceVersion: "42",
      creationTimestamp: "2026-11-01T00:00:00Z",
    });
    if (o.kind === "Service")
      Object.assign(stored.spec as object, {
        clusterIP: "10.96.4.20",
        clusterIPs: ["10.96.4.20"],
        ipFamilies: ["IPv4"],
        ipFamilyPolicy: "SingleStack",
        internalTrafficPolicy: "Cluster",
        ports: (o.spec as { ports: object[] }).ports.map((p) => ({ ...p, targetPort: 80 })),
      });
    return stored;
  });

describe("diffObjects", () => {
  it("creates everything in an empty cluster", () => {
    const diff = diffObjects(desired, []);
    expect(diff.creates).toHaveLength(desired.length);
    expect(writeCount(diff)).toBe(desired.length);
  });

  it("is idempotent: what it wrote, read back with the server's fields and defaults, needs no write", () => {
    expect(diffObjects(desired, asStored(desired))).toEqual({
      creates: [],
      updates: [],
      deletes: [],
      conflicts: [],
    });
  });

  it("updates an object whose owned field, label or optional field changed", () => {
    const stored = asStored(desired);
    const slice = stored.find((o) => o.kind === "EndpointSlice")!;
    (slice.endpoints as Array<{ conditions: { ready: boolean } }>)[0]!.conditions.ready = false;
    const service = stored.find((o) => o.kind === "Service")!;
    service.metadata.labels!["unitfleet.io/locality-tier"] = "1"; // a label unitfleet never sets on a Service
    const imp = stored.find((o) => o.kind === "ServiceImport")!;
    (imp.spec as Record<string, unknown>).trafficDistribution = "PreferSameNode";
    expect(
      diffObjects(desired, stored)
        .updates.map((o) => o.kind)
        .sort(),
    ).toEqual(["EndpointSlice", "Service", "ServiceImport"]);
  });

  it("ignores labels that are not unitfleet's", () => {
    const stored = asStored(desired);
    stored[0]!.metadata.labels!.team = "shop";
    expect(writeCount(diffObjects(desired, stored))).toBe(0);
  });

  it("deletes only the objects unitfleet manages", () => {
    const stale: KubeObject = {
      ...structuredClone(desired.find((o) => o.kind === "EndpointSlice")!),
      metadata: {
        name: "mcs-cart-old-0",
        namespace: "shop",
        labels: { "endpointslice.kubernetes.io/managed-by": "mcs.unitfleet.io" },
      },
    };
    const someoneElses: KubeObject = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: "cart-abcde",
        namespace: "shop",
        labels: { "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" },
      },
    };
    const diff = diffObjects(desired, [...asStored(desired), stale, someoneElses]);
    expect(diff.deletes).toEqual([
      { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", namespace: "shop", name: "mcs-cart-old-0" },
    ]);
  });

  it("leaves an object of the same name that unitfleet does not manage, and says so", () => {
    const users: KubeObject = {
      apiVersion: "multicluster.x-k8s.io/v1alpha1",
      kind: "ServiceImport",
      metadata: { name: "cart", namespace: "shop" },
      spec: { type: "Headless", ports: [] },
    };
    const diff = diffObjects(desired, [users]);
    expect(diff.conflicts).toEqual([
      {
        ref: {
          apiVersion: "multicluster.x-k8s.io/v1beta1",
          kind: "ServiceImport",
          namespace: "shop",
          name: "cart",
        },
        reason: "ServiceImport shop/cart exists and is not managed by unitfleet: left as it is",
      },
    ]);
    expect(diff.updates).toEqual([]);
  });
});
