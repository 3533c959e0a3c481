/**
 * The FOCUS rows of hand-computed cluster-hours (docs/metering.md, Rule 6's example): one node of 4 cores and
 * 16 GiB at 0.04 per core-hour and 0.005 per GiB-hour costs 240,000 micro-units; web (2 cores, 4 GiB), api
 * (0.8 cores, 2 GiB) and kube-proxy (kube-system, 0.4 cores, 1 GiB) divide it, idle `separate`, shared
 * `weighted`: web 114,762, api 48,238, kube-proxy 0, idle cpu 32,000, idle memory 45,000.
 */
import { describe, expect, it } from "vitest";
import { type Allocation, allocate, defaultAllocationRules } from "./allocation.ts";
import {
  allocatedMethodId,
  billingMonth,
  decimalFromMicros,
  type FocusClusterHour,
  type FocusIssuer,
  focusColumns,
  focusCsv,
  focusDateTime,
  focusRows,
} from "./focus.ts";
import type { WorkloadHour } from "./usage.ts";

const coreHour = 1000 * 60;
const gibHour = 2 ** 30 * 60;

function workload(namespace: string, name: string, cores: number, gib: number, labels = {}): WorkloadHour {
  const minutes = (amount: number) => ({ request: amount, usage: amount / 2, allocated: amount });
  return {
    cluster: "fra-a",
    hour: "2026-11-03T14:00:00Z",
    namespace,
    workload: name,
    labels,
    samples: 60,
    cpu: minutes(cores * coreHour),
    memory: minutes(gib * gibHour),
    gpu: { request: 0, usage: 0, allocated: 0 },
    storage: {},
    loadBalancers: 0,
  };
}

function allocation(hour: string, idle: "separate" | "share" = "separate"): Allocation {
  const result = allocate({
    cluster: { name: "fra-a", business: "shop", environment: "prod" },
    hour,
    nodes: [
      {
        cluster: "fra-a",
        hour,
        node: "n1",
        samples: 60,
        allocatable: { cpu: 4 * coreHour, memory: 16 * gibHour, gpu: 0 },
      },
    ],
    workloads: [
      { ...workload("shop", "Deployment/web", 2, 4, { team: "checkout" }), hour },
      { ...workload("shop", "Deployment/api", 0.8, 2), hour },
      { ...workload("kube-system", "DaemonSet/kube-proxy", 0.4, 1), hour },
    ],
    prices: {
      nodes: { n1: { cpuPerCoreHour: 40_000, memoryPerGiBHour: 5_000, gpuPerDeviceHour: 0 } },
      storagePerGiBMonth: {},
      loadBalancerPerHour: 0,
    },
    rules: { ...defaultAllocationRules, idle },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

const place = {
  cluster: "fra-a",
  location: "frankfurt",
  region: "fra-north",
  business: "shop",
  environment: "prod",
};
const issuer: FocusIssuer = {
  provider: "unitfleet",
  host: "unitfleet",
  invoiceIssuer: "platform team",
  billingAccountId: "acme-fleet",
  billingAccountName: "ACME fleet",
};
const november = { start: new Date("2026-11-01T00:00:00Z"), end: new Date("2026-12-01T00:00:00Z") };
const rules = { idle: "separate", sharedSplit: "weighted" } as const;

function rowsOf(hours: FocusClusterHour[], idle: "separate" | "share" = "separate") {
  const result = focusRows(hours, november, issuer, { ...rules, idle });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

describe("money, months and times", () => {
  it("writes micro-units as exact decimals with at most six places", () => {
    expect(decimalFromMicros(0)).toBe("0");
    expect(decimalFromMicros(114_762)).toBe("0.114762");
    expect(decimalFromMicros(40_000)).toBe("0.04");
    expect(decimalFromMicros(3_000_000)).toBe("3");
    expect(decimalFromMicros(-5)).toBe("-0.000005");
    expect(decimalFromMicros(Number.MAX_SAFE_INTEGER)).toBe("9007199254.740991");
  });

  it("reads a billing month, December rolling into the next year, and refuses anything else with its field", () => {
    expect(billingMonth("2026-11")).toEqual({ ok: true, value: november });
    expect(billingMonth("2026-12")).toMatchObject({
      ok: true,
      value: { end: new Date("2027-01-01T00:00:00Z") },
    });
    for (const bad of ["2026-13", "2026-00", "2026-1", "november", "2026-11-01", ""])
      expect(billingMonth(bad, "query.month")).toEqual({
        ok: false,
        problems: [{ path: "query.month", message: expect.stringContaining("YYYY-MM") }],
      });
  });

  it("writes times as ISO 8601 UTC to the second", () => {
    expect(focusDateTime(new Date("2026-11-03T14:00:00.000Z"))).toBe("2026-11-03T14:00:00Z");
  });
});

describe("FOCUS rows of a cluster-hour", () => {
  const hour = "2026-11-03T14:00:00Z";
  const rows = rowsOf([{ place, currency: "EUR", allocation: allocation(hour) }]);
  const byWorkload = Object.fromEntries(rows.map((r) => [`${r.x_Namespace}/${r.x_Workload}`, r]));

  it("has one row per workload and idle resource, costs as the allocation divided them", () => {
    expect(Object.keys(byWorkload).sort()).toEqual([
      "__idle__/cpu",
      "__idle__/memory",
      "kube-system/DaemonSet/kube-proxy",
      "shop/Deployment/api",
      "shop/Deployment/web",
    ]);
    const billed = Object.fromEntries(Object.entries(byWorkload).map(([k, r]) => [k, r.BilledCost]));
    expect(billed).toEqual({
      "shop/Deployment/web": "0.114762",
      "shop/Deployment/api": "0.048238",
      "kube-system/DaemonSet/kube-proxy": "0",
      "__idle__/cpu": "0.032",
      "__idle__/memory": "0.045",
    });
    for (const r of rows) {
      expect([r.EffectiveCost, r.ListCost, r.ContractedCost]).toEqual([
        r.BilledCost,
        r.BilledCost,
        r.BilledCost,
      ]);
    }
  });

  it("has every column on every row, non-nullable ones filled, ours last and prefixed x_", () => {
    const names = focusColumns.map((c) => c.name);
    const firstOurs = names.findIndex((n) => n.startsWith("x_"));
    expect(names.slice(firstOurs).every((n) => n.startsWith("x_"))).toBe(true);
    expect(names.slice(0, firstOurs).some((n) => n.startsWith("x_"))).toBe(false);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual([...names].sort());
      for (const c of focusColumns) if (!c.nullable) expect(r[c.name], `${c.name}`).not.toBeNull();
    }
  });

  it("keeps the cluster's dimensions on every row and the period of the hour and the month", () => {
    const web = byWorkload["shop/Deployment/web"]!;
    expect(web).toMatchObject({
      ChargeCategory: "Usage",
      ChargeClass: null,
      ChargePeriodStart: "2026-11-03T14:00:00Z",
      ChargePeriodEnd: "2026-11-03T15:00:00Z",
      BillingPeriodStart: "2026-11-01T00:00:00Z",
      BillingPeriodEnd: "2026-12-01T00:00:00Z",
      BillingCurrency: "EUR",
      BillingAccountId: "acme-fleet",
      SubAccountId: "shop",
      ResourceName: "fra-a",
      ResourceType: "Kubernetes Cluster",
      RegionId: "fra-north",
      ServiceProviderName: "unitfleet",
      InvoiceIssuerName: "platform team",
      x_Location: "frankfurt",
      x_Region: "fra-north",
      x_Cluster: "fra-a",
      x_Payer: "team=checkout",
    });
    for (const r of rows) {
      expect(r.ResourceId).toBe(web.ResourceId);
      expect(JSON.parse(r.Tags!)).toEqual({
        "unitfleet.io/location": "frankfurt",
        "unitfleet.io/region": "fra-north",
        "unitfleet.io/cluster": "fra-a",
        "unitfleet.io/business": "shop",
        "unitfleet.io/environment": "prod",
      });
    }
  });

  it("carries the split allocation columns: method, resource and tags; none of the latter on idle rows", () => {
    const web = byWorkload["shop/Deployment/web"]!;
    expect(web.AllocatedMethodId).toBe(allocatedMethodId(rules));
    expect(web.AllocatedResourceId).toBe("shop/Deployment/web");
    expect(JSON.parse(web.AllocatedTags!)).toEqual({
      team: "checkout",
      "unitfleet.io/namespace": "shop",
      "unitfleet.io/workload": "Deployment/web",
    });
    const idle = byWorkload["__idle__/cpu"]!;
    expect(idle.AllocatedMethodId).toBe(allocatedMethodId(rules));
    expect([idle.AllocatedResourceId, idle.AllocatedResourceName, idle.AllocatedTags]).toEqual([
      null,
      null,
      null,
    ]);
    expect(JSON.parse(idle.AllocatedMethodDetails!)).toEqual({
      Elements: [
        { AllocatedRatio: 32_000 / 240_000, UsageUnit: "Core-Hours", UsageQuantity: 0.8, x_Resource: "cpu" },
      ],
    });
    // web received 11,429 of kube-proxy's cpu and 3,333 of its memory (Rule 6).
    const details = JSON.parse(web.AllocatedMethodDetails!);
    expect(details.x_SharedIncluded).toBe("0.014762");
    expect(details.Elements.map((e: { x_Resource: string }) => e.x_Resource)).toEqual(["cpu", "memory"]);
    expect(
      JSON.parse(byWorkload["kube-system/DaemonSet/kube-proxy"]!.AllocatedMethodDetails!).x_SharedSpread,
    ).toBe("0.021");
    const ratios = rows.flatMap((r) =>
      JSON.parse(r.AllocatedMethodDetails!).Elements.map((e: { AllocatedRatio: number }) => e.AllocatedRatio),
    );
    expect(ratios.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it("divides the hour's PricingQuantity by cost, to the millionth, adding up to exactly one hour", () => {
    expect(Object.fromEntries(Object.entries(byWorkload).map(([k, r]) => [k, r.PricingQuantity]))).toEqual({
      "shop/Deployment/web": "0.478175",
      "shop/Deployment/api": "0.200992",
      "kube-system/DaemonSet/kube-proxy": "0",
      "__idle__/cpu": "0.133333",
      "__idle__/memory": "0.1875",
    });
    expect(rows.every((r) => r.PricingUnit === "Hours")).toBe(true);
  });

  it("shares idle out when asked, and says so in the method", () => {
    const shared = rowsOf([{ place, currency: "EUR", allocation: allocation(hour, "share") }], "share");
    expect(shared.some((r) => r.x_RowKind === "idle")).toBe(false);
    expect(shared[0]!.AllocatedMethodId).toBe("unitfleet-v1-idle-share-shared-weighted");
    const micros = shared.reduce((sum, r) => sum + Math.round(Number(r.BilledCost) * 1e6), 0);
    expect(micros).toBe(240_000);
    expect(
      JSON.parse(shared.find((r) => r.x_Workload === "Deployment/web")!.AllocatedMethodDetails!),
    ).toHaveProperty("x_IdleIncluded");
  });

  it("orders rows by hour then cluster, and refuses an hour outside the billing period", () => {
    const later = allocation("2026-11-30T23:00:00Z");
    const ordered = rowsOf([
      { place, currency: "EUR", allocation: later },
      { place, currency: "EUR", allocation: allocation(hour) },
    ]);
    expect(ordered[0]!.ChargePeriodStart).toBe("2026-11-03T14:00:00Z");
    expect(ordered.at(-1)!.ChargePeriodEnd).toBe("2026-12-01T00:00:00Z");
    expect(
      focusRows(
        [{ place, currency: "EUR", allocation: allocation("2026-12-01T00:00:00Z") }],
        november,
        issuer,
        rules,
      ),
    ).toEqual({
      ok: false,
      problems: [
        { path: "[0].allocation.hour", message: expect.stringContaining("outside the billing period") },
      ],
    });
  });
});

describe("corrections", () => {
  it("writes a correction of an earlier month's hour as Correction rows of this month, PricingQuantity 0", () => {
    const october = allocation("2026-10-20T08:00:00Z");
    const rows = rowsOf([{ place, currency: "EUR", allocation: october, correction: true }]);
    expect(rows.length).toBe(october.rows.length);
    for (const row of rows) {
      expect(row.ChargeClass).toBe("Correction");
      expect(row.PricingQuantity).toBe("0");
      expect(row.ChargePeriodStart).toBe("2026-10-20T08:00:00Z");
      expect(row.BillingPeriodStart).toBe("2026-11-01T00:00:00Z");
    }
    // Corrections come after the month's own rows.
    const both = rowsOf([
      { place, currency: "EUR", allocation: october, correction: true },
      { place, currency: "EUR", allocation: allocation("2026-11-03T14:00:00Z") },
    ]);
    expect(both[0]!.ChargeClass).toBeNull();
    expect(both.at(-1)!.ChargeClass).toBe("Correction");
    // A correction of an hour of this month or later is refused: that is the month's own bill.
    expect(
      focusRows(
        [{ place, currency: "EUR", allocation: allocation("2026-11-03T14:00:00Z"), correction: true }],
        november,
        issuer,
        rules,
      ),
    ).toEqual({
      ok: false,
      problems: [
        {
          path: "[0].allocation.hour",
          message: expect.stringContaining("must be before the billing period"),
        },
      ],
    });
  });
});

describe("CSV", () => {
  it("writes a header and CRLF lines, quoting commas and quotes as RFC 4180 says, null as empty", () => {
    const hour = "2026-11-03T14:00:00Z";
    const rows = rowsOf([
      { place: { ...place, region: null }, currency: "EUR", allocation: allocation(hour) },
    ]);
    const csv = focusCsv(rows);
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe(focusColumns.map((c) => c.name).join(","));
    expect(lines).toHaveLength(rows.length + 2);
    expect(lines.at(-1)).toBe("");
    expect(csv).not.toMatch(/[^\r]\n/);
    // Tags is JSON: quoted, its quotes doubled.
    expect(lines[1]).toContain(
      '"{""unitfleet.io/location"":""frankfurt"",""unitfleet.io/cluster"":""fra-a"",""unitfleet.io/business"":""shop"",""unitfleet.io/environment"":""prod""}"',
    );
    // No Region: RegionId falls back to the Location, x_Region is empty, ChargeClass is empty.
    expect(rows[0]!.RegionId).toBe("frankfurt");
    expect(lines.at(-3)).toMatch(/,frankfurt,,fra-a,prod,__idle__,cpu,__idle__,idle$/);
    expect(lines[1]).toMatch(
      /^0,acme-fleet,ACME fleet,EUR,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,Usage,,/,
    );
  });
});
