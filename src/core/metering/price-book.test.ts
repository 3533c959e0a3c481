import { describe, expect, it } from "vitest";
import {
  nodePrice,
  type PriceBookLike,
  type PriceBookSpec,
  parseEffectiveTime,
  parsePrice,
  priceAt,
  priceBookConflicts,
  priceBookSpec,
} from "./price-book.ts";

const book = (name: string, spec: Partial<PriceBookSpec> & Pick<PriceBookSpec, "prices">): PriceBookLike => ({
  metadata: { name },
  spec: { location: "frankfurt", currency: "EUR", ...spec },
});

const gib = 2 ** 30;

describe("parsePrice", () => {
  it("converts decimal strings exactly to integer micro-units", () => {
    expect(parsePrice("0.0316")).toEqual({ ok: true, micros: 31_600 });
    expect(parsePrice("12")).toEqual({ ok: true, micros: 12_000_000 });
    expect(parsePrice("0.000001")).toEqual({ ok: true, micros: 1 });
    expect(parsePrice("0.1")).toEqual({ ok: true, micros: 100_000 });
    expect(parsePrice("1234567.891234")).toEqual({ ok: true, micros: 1_234_567_891_234 });
    expect(parsePrice("0")).toEqual({ ok: true, micros: 0 });
  });

  it("refuses negative prices, more than six decimals, and anything that is not a plain decimal", () => {
    expect(parsePrice("-0.1")).toMatchObject({ ok: false, reason: expect.stringContaining("negative") });
    expect(parsePrice("0.0000001")).toMatchObject({
      ok: false,
      reason: expect.stringContaining("7 decimals"),
    });
    for (const text of ["NaN", "Infinity", "1e-3", "", "1.", ".5", "0,5", "1.2.3", "0x10"])
      expect(parsePrice(text), text).toMatchObject({ ok: false });
    expect(parsePrice("1000000001")).toMatchObject({ ok: false, reason: expect.stringContaining("at most") });
  });
});

describe("parseEffectiveTime", () => {
  it("reads dates as midnight UTC and RFC 3339 times with any offset", () => {
    expect(parseEffectiveTime("2026-11-01")).toEqual({ ok: true, ms: Date.UTC(2026, 10, 1) });
    expect(parseEffectiveTime("2026-11-01T06:00:00Z")).toEqual({ ok: true, ms: Date.UTC(2026, 10, 1, 6) });
    expect(parseEffectiveTime("2026-11-01T07:00:00+01:00")).toEqual({
      ok: true,
      ms: Date.UTC(2026, 10, 1, 6),
    });
    expect(parseEffectiveTime("2026-11-01T00:00:00.000-02:00")).toEqual({
      ok: true,
      ms: Date.UTC(2026, 10, 1, 2),
    });
  });

  it("refuses impossible dates, times between hours, and other formats", () => {
    expect(parseEffectiveTime("2026-02-30")).toMatchObject({
      ok: false,
      reason: expect.stringContaining("real"),
    });
    expect(parseEffectiveTime("2026-11-01T06:30:00Z")).toMatchObject({
      ok: false,
      reason: expect.stringContaining("whole hour"),
    });
    expect(parseEffectiveTime("2026-11-01T06:00:00+05:30")).toMatchObject({ ok: false });
    expect(parseEffectiveTime("2026-11-01T06:00:00.5Z")).toMatchObject({ ok: false });
    for (const text of [
      "tomorrow",
      "2026-11-01T06:00:00",
      "01/11/2026",
      "2026-13-01",
      "2026-11-01 06:00:00Z",
    ])
      expect(parseEffectiveTime(text), text).toMatchObject({ ok: false });
  });
});

describe("the PriceBook spec", () => {
  const paths = (spec: unknown) => {
    const result = priceBookSpec.safeParse(spec);
    return result.success ? [] : result.error.issues.map((i) => i.path.join("."));
  };

  it("refuses an unknown currency, a period starting twice, and an instance type priced twice in one period", () => {
    expect(
      paths({
        location: "frankfurt",
        currency: "EURO",
        prices: [
          { from: "2026-01-01", nodes: [{ instanceType: "m6.xlarge", perHour: "0.19" }] },
          {
            from: "2026-01-01T00:00:00Z",
            nodes: [
              { instanceType: "m6.xlarge", perHour: "0.19" },
              { instanceType: "m6.xlarge", perHour: "0.2" },
            ],
          },
        ],
      }),
    ).toEqual(["currency", "prices.1.from", "prices.1.nodes.1.instanceType"]);
  });

  it("accepts several currencies of ISO 4217, and a book whose last period is empty", () => {
    for (const currency of ["EUR", "USD", "SGD", "JPY", "KWD"])
      expect(paths({ location: "x", currency, prices: [{ from: "2026-01-01" }] }), currency).toEqual([]);
    expect(paths({ location: "x", currency: "usd", prices: [{ from: "2026-01-01" }] })).toEqual(["currency"]);
  });
});

describe("priceAt", () => {
  const frankfurt = book("frankfurt-nodes", {
    prices: [
      {
        from: "2026-11-01",
        nodes: [{ instanceType: "m6.xlarge", perHour: "0.19" }],
        units: { cpuPerCoreHour: "0.0316", memoryPerGiBHour: "0.0042" },
        loadBalancerPerHour: "0.025",
      },
      // Listed out of order: periods are read by their `from`.
      { from: "2026-12-01" },
      { from: "2026-11-15T12:00:00Z", nodes: [{ instanceType: "m6.xlarge", perHour: "0.21" }] },
    ],
  });

  it("gives the price that held at the hour: up to the hour before a change the old one, from its hour the new one", () => {
    expect(priceAt([frankfurt], "frankfurt", "2026-11-15T11:00:00Z")).toEqual({
      location: "frankfurt",
      hour: "2026-11-15T11:00:00Z",
      currency: "EUR",
      books: ["frankfurt-nodes"],
      nodesPerHour: { "m6.xlarge": 190_000 },
      units: { cpuPerCoreHour: 31_600, memoryPerGiBHour: 4_200 },
      storagePerGiBMonth: {},
      loadBalancerPerHour: 25_000,
    });
    const after = priceAt([frankfurt], "frankfurt", "2026-11-15T12:00:00Z");
    expect(after?.nodesPerHour).toEqual({ "m6.xlarge": 210_000 });
    // The new period is the whole price list: it has no unit prices and no LoadBalancer price.
    expect(after?.units).toBeUndefined();
    expect(after?.loadBalancerPerHour).toBeUndefined();
    expect(priceAt([frankfurt], "frankfurt", "2026-11-01T00:00:00Z")?.nodesPerHour["m6.xlarge"]).toBe(
      190_000,
    );
  });

  it("has no price before a book's first period, after an empty period, or in another Location", () => {
    expect(priceAt([frankfurt], "frankfurt", "2026-10-31T23:00:00Z")).toBeUndefined();
    expect(priceAt([frankfurt], "frankfurt", "2026-12-01T00:00:00Z")).toBeUndefined();
    expect(priceAt([frankfurt], "frankfurt", "2026-11-30T23:00:00Z")).toBeDefined();
    expect(priceAt([frankfurt], "singapore", "2026-11-15T11:00:00Z")).toBeUndefined();
  });

  it("never reprices an hour before a period added later", () => {
    const before = priceAt([frankfurt], "frankfurt", "2026-11-20T08:00:00Z");
    const amended = book("frankfurt-nodes", {
      prices: [
        ...frankfurt.spec.prices,
        { from: "2026-11-20T09:00:00Z", nodes: [{ instanceType: "m6.xlarge", perHour: "9" }] },
      ],
    });
    expect(priceAt([amended], "frankfurt", "2026-11-20T08:00:00Z")).toEqual(before);
    expect(priceAt([amended], "frankfurt", "2026-11-20T09:00:00Z")?.nodesPerHour["m6.xlarge"]).toBe(
      9_000_000,
    );
  });

  it("joins the books of one Location: nodes from one, storage from another", () => {
    const storage = book("frankfurt-storage", {
      prices: [{ from: "2026-06-01", storage: [{ storageClass: "fast.ssd", perGiBMonth: "0.119" }] }],
    });
    const prices = priceAt([storage, frankfurt], "frankfurt", "2026-11-02T00:00:00Z");
    expect(prices?.books).toEqual(["frankfurt-nodes", "frankfurt-storage"]);
    expect(prices?.storagePerGiBMonth).toEqual({ "fast.ssd": 119_000 });
    expect(prices?.nodesPerHour).toEqual({ "m6.xlarge": 190_000 });
  });
});

describe("nodePrice", () => {
  const prices = priceAt(
    [
      book("b", {
        prices: [
          {
            from: "2026-01-01",
            nodes: [{ instanceType: "m6.xlarge", perHour: "0.19" }],
            units: { cpuPerCoreHour: "0.0316", memoryPerGiBHour: "0.0042" },
          },
        ],
      }),
    ],
    "frankfurt",
    "2026-06-01T00:00:00Z",
  );

  it("takes the whole-node price of a listed instance type", () => {
    expect(
      nodePrice(prices, { instanceType: "m6.xlarge", allocatable: { cpu: 4000, memory: 16 * gib, gpu: 0 } }),
    ).toEqual({
      basis: "instanceType",
      instanceType: "m6.xlarge",
      perHour: 190_000,
    });
  });

  it("prices other nodes at unit prices, exactly: 4 cores × 0.0316 + 16 GiB × 0.0042", () => {
    expect(
      nodePrice(prices, { instanceType: "c7.large", allocatable: { cpu: 4000, memory: 16 * gib, gpu: 0 } }),
    ).toEqual({
      basis: "units",
      perHour: 126_400 + 67_200,
      parts: { cpu: 126_400, memory: 67_200, gpu: 0 },
    });
    // 1500m × 0.0316 = 0.0474; 1 byte short of 1 GiB rounds to the whole GiB's price.
    expect(nodePrice(prices, { allocatable: { cpu: 1500, memory: gib - 1, gpu: 0 } })).toMatchObject({
      parts: { cpu: 47_400, memory: 4_200 },
    });
  });

  it("says why when a node cannot be priced", () => {
    const nodesOnly = priceAt(
      [
        book("n", {
          prices: [{ from: "2026-01-01", nodes: [{ instanceType: "m6.xlarge", perHour: "0.19" }] }],
        }),
      ],
      "frankfurt",
      "2026-06-01T00:00:00Z",
    );
    expect(
      nodePrice(nodesOnly, { instanceType: "c7.large", allocatable: { cpu: 1, memory: 1, gpu: 0 } }),
    ).toEqual({
      basis: undefined,
      perHour: undefined,
      reason:
        'instance type "c7.large" has no price in the PriceBooks of Location "frankfurt" at 2026-06-01T00:00:00Z (n), and they have no unit prices',
    });
    expect(nodePrice(prices, { allocatable: { cpu: 1, memory: 1, gpu: 2 } })).toMatchObject({
      perHour: undefined,
      reason: expect.stringContaining("2 GPUs"),
    });
    expect(nodePrice(undefined, { allocatable: { cpu: 1, memory: 1, gpu: 0 } })).toMatchObject({
      perHour: undefined,
      reason: "no PriceBook of its Location holds a price at that hour",
    });
  });
});

describe("priceBookConflicts", () => {
  const nodes = book("nodes", {
    prices: [
      { from: "2026-01-01", nodes: [{ instanceType: "m6.xlarge", perHour: "0.19" }] },
      { from: "2026-07-01" },
    ],
  });

  it("refuses a second price for the same instance type at the same hours, at the new book's path", () => {
    const other = book("other", {
      prices: [
        { from: "2025-01-01" },
        {
          from: "2026-06-01",
          nodes: [
            { instanceType: "m6.2xlarge", perHour: "0.38" },
            { instanceType: "m6.xlarge", perHour: "0.2" },
          ],
        },
      ],
    });
    expect(priceBookConflicts(other, [nodes])).toEqual([
      {
        path: "spec.prices[1].nodes[1].perHour",
        message:
          'PriceBook "nodes" (its prices[0], from 2026-01-01T00:00:00Z) prices instance type m6.xlarge differently from 2026-06-01T00:00:00Z: two books of one Location may not give one thing two prices at the same hour',
      },
    ]);
  });

  it("allows the same price twice, books that follow each other, other Locations, and the book itself", () => {
    const same = book("same", {
      prices: [{ from: "2026-03-01", nodes: [{ instanceType: "m6.xlarge", perHour: "0.190" }] }],
    });
    const next = book("next", {
      prices: [{ from: "2026-07-01", nodes: [{ instanceType: "m6.xlarge", perHour: "0.3" }] }],
    });
    const elsewhere = { ...next, spec: { ...next.spec, location: "singapore", currency: "SGD" } };
    const edited = book("nodes", {
      prices: [{ from: "2026-01-01", nodes: [{ instanceType: "m6.xlarge", perHour: "5" }] }],
    });
    expect(priceBookConflicts(same, [nodes])).toEqual([]);
    expect(priceBookConflicts(next, [nodes])).toEqual([]);
    expect(priceBookConflicts(elsewhere, [nodes])).toEqual([]);
    expect(priceBookConflicts(edited, [nodes])).toEqual([]);
  });

  it("refuses a second currency for a Location at the same hours", () => {
    const dollars = book("dollars", {
      currency: "USD",
      prices: [{ from: "2026-05-01", storage: [{ storageClass: "standard", perGiBMonth: "0.1" }] }],
    });
    expect(priceBookConflicts(dollars, [nodes]).map((p) => p.path)).toEqual(["spec.currency"]);
    const later = {
      ...dollars,
      spec: { ...dollars.spec, prices: [{ ...dollars.spec.prices[0]!, from: "2026-07-01" }] },
    };
    expect(priceBookConflicts(later, [nodes])).toEqual([]);
  });
});
