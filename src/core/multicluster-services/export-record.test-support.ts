/**
 * Export records for tests of what carries them (relay, store, hub): a ClusterSetIP Service of namespace `shop`,
 * port 80 to 8080, exported at 2026-12-03T09:00:00Z, with one ready endpoint unless told otherwise.
 */
import type { EndpointRecord, ExportRecord } from "./export-record.ts";

export function exportRecordFixture(
  cluster: string,
  name: string,
  options: { endpoints?: EndpointRecord[]; more?: Partial<ExportRecord> } = {},
): ExportRecord {
  return {
    cluster,
    namespace: "shop",
    name,
    exportCreatedAt: "2026-12-03T09:00:00Z",
    serviceState: "Found",
    type: "ClusterSetIP",
    ports: [{ name: "http", protocol: "TCP", port: 80 }],
    sessionAffinity: "None",
    ipFamilies: ["IPv4"],
    endpointGroups: [
      {
        addressType: "IPv4",
        ports: [{ name: "http", protocol: "TCP", port: 8080 }],
        endpoints: options.endpoints ?? [
          { address: "10.4.1.7", ready: true, serving: true, terminating: false },
        ],
      },
    ],
    endpointsOmitted: 0,
    ...options.more,
  } as ExportRecord;
}

/** `count` ready endpoints; with `long`, each carries a 63-character zone and a long node name (~300 bytes). */
export function readyEndpoints(count: number, long = false): EndpointRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    address: `10.${i >> 8}.${i & 255}.7`,
    ready: true,
    serving: true,
    terminating: false,
    ...(long ? { zone: "z".repeat(63), nodeName: `node-${"n".repeat(200)}-${i}` } : {}),
  }));
}
