/**
 * A small Location of exports for the tests of multi-cluster services and the worked examples of
 * docs/multi-cluster-services.md: Frankfurt with two Regions (fra-north: fra-shop-prod, fra-shop-dev;
 * fra-south: fra-payments-prod) and a builder of valid export records.
 */
import type { EndpointRecord, ExportRecord } from "./export-record.ts";
import type { LocationMembers } from "./merge.ts";

export const frankfurt: LocationMembers = {
  location: "frankfurt",
  clusters: [
    { name: "fra-shop-prod", region: "fra-north" },
    { name: "fra-shop-dev", region: "fra-north" },
    { name: "fra-payments-prod", region: "fra-south" },
  ],
};

/** `count` ready IPv4 endpoints from `10.<octet>.0.1` on, in `zone`. */
export function readyEndpoints(octet: number, count: number, zone = "z1"): EndpointRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    address: `10.${octet}.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`,
    ready: true,
    serving: true,
    terminating: false,
    zone,
  }));
}

/** A valid ClusterSetIP export of `shop/cart` (port http TCP/80 → 8080) from `cluster`, with `endpoints`. */
export function foundExport(
  cluster: string,
  exportCreatedAt: string,
  endpoints: EndpointRecord[],
  overrides: Partial<Extract<ExportRecord, { serviceState: "Found" }>> = {},
): ExportRecord {
  return {
    cluster,
    namespace: "shop",
    name: "cart",
    exportCreatedAt,
    serviceState: "Found",
    type: "ClusterSetIP",
    ports: [{ name: "http", protocol: "TCP", port: 80 }],
    sessionAffinity: "None",
    ipFamilies: ["IPv4"],
    endpointGroups: [
      { addressType: "IPv4", ports: [{ name: "http", protocol: "TCP", port: 8080 }], endpoints },
    ],
    endpointsOmitted: 0,
    ...overrides,
  } as ExportRecord;
}
