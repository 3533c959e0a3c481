import { describe, expect, it } from "vitest";
import { problemsFromZod } from "../validation/zod-problems.ts";
import {
  buildExportRecord,
  type EndpointSliceObject,
  exportRecordSchema,
  maxExportEndpoints,
  type ServiceObject,
} from "./export-record.ts";
import { foundExport, readyEndpoints } from "./sample-exports.ts";

const serviceExport = {
  metadata: { name: "cart", namespace: "shop", creationTimestamp: "2026-11-02T08:00:00Z" },
};
const service = (spec: ServiceObject["spec"]): ServiceObject => ({
  metadata: { name: "cart", namespace: "shop" },
  spec,
});
const slice = (
  name: string,
  endpoints: NonNullable<EndpointSliceObject["endpoints"]>,
  extra: Partial<EndpointSliceObject> = {},
): EndpointSliceObject => ({
  metadata: { name, namespace: "shop", labels: { "kubernetes.io/service-name": "cart" } },
  addressType: "IPv4",
  ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  endpoints,
  ...extra,
});

describe("buildExportRecord", () => {
  it("reads a ClusterIP Service and its slices: type, ports, affinity, traffic fields, endpoints", () => {
    const record = buildExportRecord({
      cluster: "fra-shop-prod",
      serviceExport,
      service: service({
        type: "LoadBalancer",
        clusterIP: "10.96.0.10",
        ports: [{ name: "http", protocol: "TCP", port: 80, appProtocol: "http" }],
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
        ipFamilies: ["IPv4"],
        internalTrafficPolicy: "Cluster",
        trafficDistribution: "PreferSameZone",
      }),
      endpointSlices: [
        slice("cart-a", [
          { addresses: ["10.1.0.2"], conditions: { ready: true }, zone: "z1", nodeName: "n1" },
          {
            addresses: ["10.1.0.1"],
            conditions: { ready: false, serving: true, terminating: true },
            zone: "z2",
          },
        ]),
        // the same pod seen in a second slice during a resize: counted once, its ready copy kept
        slice("cart-b", [{ addresses: ["10.1.0.2"], conditions: { ready: false }, zone: "z1" }]),
        // another Service's slice, and a slice unitfleet imported: both ignored
        slice("other", [{ addresses: ["10.9.9.9"] }], {
          metadata: { name: "other", namespace: "shop", labels: { "kubernetes.io/service-name": "other" } },
        }),
        slice("mcs-cart-x-0", [{ addresses: ["10.8.8.8"] }], {
          metadata: {
            name: "mcs-cart-x-0",
            namespace: "shop",
            labels: {
              "kubernetes.io/service-name": "cart",
              "endpointslice.kubernetes.io/managed-by": "mcs.unitfleet.io",
            },
          },
        }),
      ],
    });
    expect(record).toEqual({
      cluster: "fra-shop-prod",
      namespace: "shop",
      name: "cart",
      exportCreatedAt: "2026-11-02T08:00:00Z",
      serviceState: "Found",
      type: "ClusterSetIP",
      ports: [{ name: "http", protocol: "TCP", port: 80, appProtocol: "http" }],
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      ipFamilies: ["IPv4"],
      internalTrafficPolicy: "Cluster",
      trafficDistribution: "PreferSameZone",
      endpointGroups: [
        {
          addressType: "IPv4",
          ports: [{ name: "http", protocol: "TCP", port: 8080 }],
          endpoints: [
            { address: "10.1.0.1", ready: false, serving: true, terminating: true, zone: "z2" },
            {
              address: "10.1.0.2",
              ready: true,
              serving: true,
              terminating: false,
              zone: "z1",
              nodeName: "n1",
            },
          ],
        },
      ],
      endpointsOmitted: 0,
    });
    expect(exportRecordSchema.safeParse(record).success).toBe(true);
  });

  it("says Headless for clusterIP None, NoService without a Service, Invalid for ExternalName", () => {
    const headless = buildExportRecord({
      cluster: "c",
      serviceExport,
      service: service({ clusterIP: "None", ports: [{ port: 5432 }] }),
      endpointSlices: [],
    });
    expect(headless).toMatchObject({
      serviceState: "Found",
      type: "Headless",
      ports: [{ name: "", protocol: "TCP", port: 5432 }],
    });
    expect(
      buildExportRecord({ cluster: "c", serviceExport, service: undefined, endpointSlices: [] }),
    ).toEqual({
      cluster: "c",
      namespace: "shop",
      name: "cart",
      exportCreatedAt: "2026-11-02T08:00:00Z",
      serviceState: "NoService",
    });
    expect(
      buildExportRecord({
        cluster: "c",
        serviceExport,
        service: service({ type: "ExternalName" }),
        endpointSlices: [],
      }),
    ).toMatchObject({ serviceState: "Invalid", reason: "InvalidServiceType" });
  });

  it("carries the export-scope annotation for the hub to judge", () => {
    const record = buildExportRecord({
      cluster: "c",
      serviceExport: {
        metadata: { ...serviceExport.metadata, annotations: { "unitfleet.io/export-scope": "global" } },
      },
      service: undefined,
      endpointSlices: [],
    });
    expect(record.requestedScope).toBe("global");
  });

  it("keeps at most 1,000 endpoints, ready ones first, and counts what it left out", () => {
    const notReady = Array.from({ length: 200 }, (_, i) => ({
      addresses: [`10.0.${i}.1`],
      conditions: { ready: false, serving: false },
    }));
    const ready = readyEndpoints(2, 1000).map((e) => ({
      addresses: [e.address],
      conditions: { ready: true },
    }));
    const record = buildExportRecord({
      cluster: "c",
      serviceExport,
      service: service({ ports: [{ name: "http", port: 80 }] }),
      endpointSlices: [slice("s1", notReady), slice("s2", ready)],
    });
    if (record.serviceState !== "Found") throw new Error("expected a found service");
    const kept = record.endpointGroups.flatMap((g) => g.endpoints);
    expect(kept).toHaveLength(maxExportEndpoints);
    expect(kept.every((e) => e.ready)).toBe(true);
    expect(record.endpointsOmitted).toBe(200);
    expect(exportRecordSchema.safeParse(record).success).toBe(true);
  });
});

describe("exportRecordSchema", () => {
  it("refuses what breaks its bounds, each problem at its path", () => {
    const tooMany = foundExport("fra-shop-prod", "2026-11-02T08:00:00Z", readyEndpoints(1, 1001), {
      ports: [
        { name: "", protocol: "TCP", port: 80 },
        { name: "b", protocol: "TCP", port: 81 },
        { name: "c", protocol: "TCP", port: 80 },
      ],
    });
    const parsed = exportRecordSchema.safeParse({
      ...tooMany,
      cluster: "Fra_Shop",
      exportCreatedAt: "yesterday",
    });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    const problems = problemsFromZod(parsed.error).map((p) => p.path);
    expect(problems).toEqual(
      expect.arrayContaining(["cluster", "exportCreatedAt", "ports[0].name", "endpointGroups[0].endpoints"]),
    );
  });

  it("accepts a NoService record and refuses unknown fields", () => {
    const base = { cluster: "c", namespace: "n", name: "s", exportCreatedAt: "2026-11-02T08:00:00Z" };
    expect(exportRecordSchema.safeParse({ ...base, serviceState: "NoService" }).success).toBe(true);
    const extra = exportRecordSchema.safeParse({ ...base, serviceState: "NoService", podSpec: {} });
    expect(extra.success).toBe(false);
  });
});
