import { describe, expect, it } from "vitest";
import { localityChain } from "./locality.ts";
import { mergeExports } from "./merge.ts";
import { foundExport, frankfurt, readyEndpoints } from "./sample-exports.ts";

const cart = (() => {
  const result = mergeExports(frankfurt, [
    foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", readyEndpoints(1, 3)),
    foundExport("fra-shop-dev", "2026-11-02T00:00:00Z", [
      ...readyEndpoints(2, 2),
      { address: "10.2.9.9", ready: false, serving: false, terminating: true },
    ]),
    foundExport("fra-payments-prod", "2026-11-03T00:00:00Z", readyEndpoints(3, 4)),
  ]);
  if (!result.ok) throw new Error("merge failed");
  return result.imports[0]!;
})();

const consumer = { cluster: "fra-shop-prod", location: "frankfurt", region: "fra-north", zones: ["z1"] };

describe("localityChain", () => {
  it("orders sources: the consumer itself, then its Region, then the Location's other Regions", () => {
    const chain = localityChain(cart, consumer, new Set());
    expect(chain).toMatchObject({
      ok: true,
      servingTier: 0,
      tiers: [
        { tier: 0, clusters: ["fra-shop-prod"], readyEndpoints: 3 },
        { tier: 1, clusters: ["fra-shop-dev"], readyEndpoints: 2 },
        { tier: 2, clusters: ["fra-payments-prod"], readyEndpoints: 4 },
      ],
    });
  });

  it("counts ready endpoints only, and serves from the next tier when a tier has none ready", () => {
    const fromSouth = localityChain(
      cart,
      { cluster: "fra-payments-prod", location: "frankfurt", region: "fra-south", zones: ["z1"] },
      new Set(),
    );
    if (!fromSouth.ok) throw new Error(fromSouth.reason);
    expect(fromSouth.sources.map((s) => [s.cluster, s.tier, s.readyEndpoints])).toEqual([
      ["fra-payments-prod", 0, 4],
      ["fra-shop-dev", 2, 2],
      ["fra-shop-prod", 2, 3],
    ]);
    const scaledToZero = {
      ...cart,
      sources: cart.sources.map((s) => (s.cluster === "fra-shop-prod" ? { ...s, endpointGroups: [] } : s)),
    };
    expect(localityChain(scaledToZero, consumer, new Set())).toMatchObject({ ok: true, servingTier: 1 });
  });

  it("leaves an unhealthy source out whole, and changes nothing else", () => {
    const healthy = localityChain(cart, consumer, new Set());
    const partitioned = localityChain(cart, consumer, new Set(["fra-shop-dev"]));
    if (!healthy.ok || !partitioned.ok) throw new Error("no chain");
    expect(partitioned.sources).toEqual(healthy.sources.filter((s) => s.cluster !== "fra-shop-dev"));
    expect(partitioned.tiers.map((t) => t.tier)).toEqual([0, 2]);
  });

  it("gives a consumer of another Location nothing", () => {
    expect(
      localityChain(
        cart,
        { cluster: "sgp-shop-prod", location: "singapore", region: "sgp-1", zones: [] },
        new Set(),
      ),
    ).toEqual({
      ok: false,
      reason:
        'cluster "sgp-shop-prod" is in Location "singapore"; shop/cart is exported in Location "frankfurt" only',
    });
  });
});
