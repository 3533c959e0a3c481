import { describe, expect, it } from "vitest";
import { columnValue } from "./columns.ts";
import { type FleetResource, kinds } from "./kinds.ts";

const now = new Date("2026-12-03T10:00:00Z");
const metadata = (name: string) => ({ name, creationTimestamp: "2026-12-03T09:00:00Z" });

/** One object of each kind with every field a column reads filled in, as the hub stores them. */
const samples: Record<FleetResource["kind"], object> = {
  Location: { metadata: metadata("tokyo"), spec: { displayName: "Tokyo" } },
  Region: {
    metadata: metadata("tyo-east"),
    spec: { location: "tokyo", zones: ["tyo-east-1", "tyo-east-2"] },
  },
  Cluster: {
    metadata: metadata("tyo-a"),
    spec: { location: "tokyo", region: "tyo-east", environment: "prod", business: "shop" },
    status: {
      kubernetesVersion: "v1.36.3",
      nodes: { total: 3, ready: 3 },
      conditions: [
        { type: "Reachable", status: "True" },
        { type: "Ready", status: "True" },
      ],
      observedZones: ["tyo-east-1", "tyo-east-2"],
      capacity: { cpu: "48", memory: "192Gi" },
      requested: { cpu: "12500m", memory: "40Gi" },
      pods: 31,
    },
  },
  Application: {
    metadata: metadata("web"),
    spec: {},
    status: {
      placement: {
        clusters: [
          { name: "tyo-a", replicas: 3 },
          { name: "tyo-b", replicas: 1 },
        ],
      },
      summary: { clusters: 2, replicas: "4/9", ready: 4, desired: 9, applied: "1/2" },
      conditions: [{ type: "Ready", status: "False" }],
    },
  },
  Placement: {
    metadata: metadata("tokyo-only"),
    spec: { locations: ["tokyo", "osaka"], replicas: { mode: "Divided", count: 9 } },
  },
  Override: { metadata: metadata("mirror"), spec: { applications: ["web", "api"], rules: [] } },
  ConsolidationPolicy: {
    metadata: metadata("default"),
    spec: { scope: "Location", headroomPercent: 20, maxClusterSize: { nodes: 500, pods: 15000 } },
  },
  PriceBook: {
    metadata: metadata("tokyo-2026"),
    spec: { location: "tokyo", currency: "JPY", prices: [{ from: "2026-01-01" }, { from: "2026-07-01" }] },
  },
  NetworkPool: {
    metadata: metadata("tokyo"),
    spec: {
      location: "tokyo",
      region: "tyo-east",
      pods: ["10.0.0.0/12"],
      services: ["10.96.0.0/16"],
      nodes: ["10.128.0.0/16"],
      clusterIds: { first: 1, last: 255 },
    },
    status: { retiredClusterIds: [{ clusterId: 3, cluster: "tyo-old", retiredAt: "2026-12-01T00:00:00Z" }] },
  },
};

const row = (kind: FleetResource["kind"]) =>
  kinds[kind].columns.map((c) => [c.name, columnValue(c, samples[kind], now)]);

describe("columnValue", () => {
  it("prints every column of every kind, wide ones included, as a plain value: no object, no JSON", () => {
    for (const kind of Object.keys(kinds) as Array<FleetResource["kind"]>)
      for (const [name, value] of row(kind)) {
        expect(value, `${kind} ${name}`).not.toBeNull();
        expect(String(value), `${kind} ${name}`).not.toMatch(/\[object|[{}[\]"]/);
      }
  });

  it("prints an Application's placement as cluster=replicas, and its replicas against those wanted", () => {
    expect(Object.fromEntries(row("Application"))).toEqual({
      Clusters: 2,
      Replicas: "4/9",
      Applied: "1/2",
      Ready: "False",
      Placement: "tyo-a=3,tyo-b=1",
      Age: "60m",
    });
  });

  it("prints lists of plain values joined by commas, an empty list as absent, and any other object as JSON", () => {
    const zones = kinds.Region.columns.find((c) => c.name === "Zones")!;
    expect(columnValue(zones, samples.Region, now)).toBe("tyo-east-1,tyo-east-2");
    expect(columnValue(zones, { spec: { zones: [] } }, now)).toBeNull();
    const unformatted = { ...zones, jsonPath: ".spec" };
    expect(columnValue(unformatted, { spec: { a: [1, { b: 2 }] } }, now)).toBe('{"a":[1,{"b":2}]}');
  });
});
