import { describe, expect, it } from "vitest";
import type { ExportRecord } from "./export-record.ts";
import { type ExportStatus, mergeExports } from "./merge.ts";
import { foundExport, frankfurt, readyEndpoints } from "./sample-exports.ts";

const merged = (records: ExportRecord[]) => {
  const result = mergeExports(frankfurt, records);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result;
};
const conditionOf = (exports: ExportStatus[], cluster: string, type: "Valid" | "Conflict") =>
  exports.find((e) => e.cluster === cluster)!.conditions.find((c) => c.type === type)!;

describe("mergeExports: namespace sameness", () => {
  it("merges identical exports of one name into one import, with no conflict", () => {
    const { imports, exports } = merged([
      foundExport("fra-shop-prod", "2026-11-02T08:00:00Z", readyEndpoints(1, 2)),
      foundExport("fra-payments-prod", "2026-11-03T08:00:00Z", readyEndpoints(2, 1)),
    ]);
    expect(imports).toHaveLength(1);
    expect(imports[0]).toMatchObject({
      location: "frankfurt",
      namespace: "shop",
      name: "cart",
      type: "ClusterSetIP",
      ports: [{ name: "http", protocol: "TCP", port: 80 }],
      oldestExportCluster: "fra-shop-prod",
    });
    expect(imports[0]!.sources.map((s) => [s.cluster, s.region])).toEqual([
      ["fra-payments-prod", "fra-south"],
      ["fra-shop-prod", "fra-north"],
    ]);
    for (const cluster of ["fra-shop-prod", "fra-payments-prod"]) {
      expect(conditionOf(exports, cluster, "Valid")).toMatchObject({ status: "True", reason: "Valid" });
      expect(conditionOf(exports, cluster, "Conflict")).toMatchObject({
        status: "False",
        reason: "NoConflicts",
      });
    }
  });

  it("takes the union of ports and raises PortConflict on every export", () => {
    const { imports, exports } = merged([
      foundExport("fra-shop-prod", "2026-11-02T08:00:00Z", [], {
        ports: [{ name: "http", protocol: "TCP", port: 80 }],
      }),
      foundExport("fra-shop-dev", "2026-11-03T08:00:00Z", [], {
        ports: [
          { name: "http", protocol: "TCP", port: 80 },
          { name: "metrics", protocol: "TCP", port: 9090 },
        ],
      }),
    ]);
    expect(imports[0]!.ports).toEqual([
      { name: "http", protocol: "TCP", port: 80 },
      { name: "metrics", protocol: "TCP", port: 9090 },
    ]);
    for (const cluster of ["fra-shop-prod", "fra-shop-dev"])
      expect(conditionOf(exports, cluster, "Conflict")).toMatchObject({
        status: "True",
        reason: "PortConflict",
      });
  });

  it("resolves clashing ports for the oldest export: same name, or same protocol and port", () => {
    const { imports, exports } = merged([
      foundExport("fra-shop-dev", "2026-11-05T08:00:00Z", [], {
        ports: [
          { name: "http", protocol: "TCP", port: 8080 },
          { name: "web", protocol: "TCP", port: 80 },
        ],
      }),
      foundExport("fra-shop-prod", "2026-11-02T08:00:00Z", [], {
        ports: [{ name: "http", protocol: "TCP", port: 80 }],
      }),
    ]);
    expect(imports[0]!.ports).toEqual([{ name: "http", protocol: "TCP", port: 80 }]);
    const conflict = conditionOf(exports, "fra-shop-prod", "Conflict");
    expect(conflict.reason).toBe("PortConflict");
    expect(conflict.message).toContain('http TCP/8080 of "fra-shop-dev" (its name is taken by http TCP/80)');
    expect(conflict.message).toContain('web TCP/80 of "fra-shop-dev" (TCP/80 is taken by http TCP/80)');
  });

  it("lets the oldest export decide headlessness and affinity, with TypeConflict and SessionAffinityConflict", () => {
    const { imports, exports } = merged([
      foundExport("fra-payments-prod", "2026-11-04T08:00:00Z", [], {
        type: "Headless",
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      }),
      foundExport("fra-shop-prod", "2026-11-01T08:00:00Z", []),
      foundExport("fra-shop-dev", "2026-11-02T08:00:00Z", []),
    ]);
    expect(imports[0]).toMatchObject({
      type: "ClusterSetIP",
      sessionAffinity: "None",
      oldestExportCluster: "fra-shop-prod",
    });
    expect(imports[0]!.sessionAffinityConfig).toBeUndefined();
    for (const cluster of ["fra-shop-prod", "fra-shop-dev", "fra-payments-prod"]) {
      const conflict = conditionOf(exports, cluster, "Conflict");
      expect(conflict.status).toBe("True");
      expect(conflict.reason).toBe("TypeConflict,SessionAffinityConflict,SessionAffinityConfigConflict");
      expect(conflict.message).toContain(
        'type: using "ClusterSetIP" from the oldest export (cluster "fra-shop-prod"); 1 of 3 exports disagree (fra-payments-prod)',
      );
    }
  });

  it("breaks a tie of creation times by cluster name, whatever the time zone the times are written in", () => {
    const { imports } = merged([
      foundExport("fra-shop-prod", "2026-11-02T09:00:00+01:00", [], { type: "Headless" }),
      foundExport("fra-payments-prod", "2026-11-02T08:00:00Z", []),
    ]);
    expect(imports[0]).toMatchObject({ oldestExportCluster: "fra-payments-prod", type: "ClusterSetIP" });
  });

  it("raises the traffic and family conflicts of v1beta1", () => {
    const { exports } = merged([
      foundExport("fra-shop-prod", "2026-11-01T08:00:00Z", [], { internalTrafficPolicy: "Local" }),
      foundExport("fra-shop-dev", "2026-11-02T08:00:00Z", [], {
        trafficDistribution: "PreferSameZone",
        ipFamilies: ["IPv4", "IPv6"],
      }),
    ]);
    expect(conditionOf(exports, "fra-shop-dev", "Conflict").reason).toBe(
      "InternalTrafficPolicyConflict,TrafficDistributionConflict,IPFamilyConflict",
    );
  });
});

describe("mergeExports: invalid exports", () => {
  const base = { namespace: "shop", name: "cart", exportCreatedAt: "2026-11-01T08:00:00Z" };

  it("sets Valid=False with NoService, InvalidServiceType or ExportScopeBeyondLocation, and leaves them out", () => {
    const { imports, exports } = merged([
      { ...base, cluster: "fra-shop-prod", serviceState: "NoService" },
      {
        ...base,
        cluster: "fra-shop-dev",
        serviceState: "Invalid",
        reason: "InvalidServiceType",
        message: "Service shop/cart is of type ExternalName, which cannot be exported",
      },
      { ...foundExport("fra-payments-prod", "2026-11-01T07:00:00Z", []), requestedScope: "global" },
    ]);
    expect(imports).toEqual([]);
    expect(exports.map((e) => [e.cluster, e.conditions[0].reason, e.conditions[1].status])).toEqual([
      ["fra-payments-prod", "ExportScopeBeyondLocation", "Unknown"],
      ["fra-shop-dev", "InvalidServiceType", "Unknown"],
      ["fra-shop-prod", "NoService", "Unknown"],
    ]);
    expect(conditionOf(exports, "fra-shop-prod", "Valid").message).toBe(
      'there is no Service shop/cart in cluster "fra-shop-prod"',
    );
  });

  it("does not let an invalid export win a conflict, even when it is the oldest", () => {
    const { imports, exports } = merged([
      {
        ...foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", [], { type: "Headless" }),
        requestedScope: "global",
      },
      foundExport("fra-shop-dev", "2026-11-02T00:00:00Z", []),
    ]);
    expect(imports[0]).toMatchObject({ type: "ClusterSetIP", oldestExportCluster: "fra-shop-dev" });
    expect(conditionOf(exports, "fra-shop-dev", "Conflict").reason).toBe("NoConflicts");
  });

  it("accepts scope location, and refuses a cluster of another Location", () => {
    const { imports, exports } = merged([
      { ...foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", []), requestedScope: "location" },
      foundExport("sgp-shop-prod", "2026-11-01T00:00:00Z", []),
    ]);
    expect(imports[0]!.sources.map((s) => s.cluster)).toEqual(["fra-shop-prod"]);
    expect(conditionOf(exports, "sgp-shop-prod", "Valid")).toMatchObject({
      status: "False",
      reason: "ClusterNotInLocation",
    });
  });

  it("refuses two records of one export", () => {
    const result = mergeExports(frankfurt, [
      foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", []),
      foundExport("fra-shop-prod", "2026-11-02T00:00:00Z", []),
    ]);
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          path: "records[1]",
          message:
            'a second record for export shop/cart of cluster "fra-shop-prod" (the first is records[0])',
        },
      ],
    });
  });
});
