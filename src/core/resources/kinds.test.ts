import { describe, expect, it } from "vitest";
import { kindByName, type Location, type Region, referenceProblems, validateInput } from "./kinds.ts";

const meta = (name: string) => ({
  name,
  uid: "u",
  resourceVersion: "1",
  generation: 1,
  creationTimestamp: "2026-11-25T00:00:00Z",
});
const frankfurt: Location = {
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Location",
  metadata: meta("frankfurt"),
  spec: {},
};
const fraNorth: Region = {
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Region",
  metadata: meta("fra-north"),
  spec: { location: "frankfurt", zones: ["fra-north-1", "fra-north-2"] },
};
const lookup = {
  location: (n: string) => (n === "frankfurt" || n === "singapore" ? frankfurt : undefined),
  region: (n: string) => (n === "fra-north" ? fraNorth : undefined),
  priceBooks: () => [],
  networkPools: () => [],
  clusters: () => [],
  now: new Date("2026-12-03T00:00:00Z"),
};

function cluster(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "Cluster",
    metadata: { name: "fra-shop-prod", ...metadata },
    spec,
  };
}

describe("validateInput", () => {
  it("accepts a Cluster and derives its selectable labels from the spec", () => {
    const result = validateInput(
      cluster(
        { location: "frankfurt", region: "fra-north", environment: "prod", business: "shop" },
        { labels: { team: "a" } },
      ),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.value.labels).toEqual({
      team: "a",
      location: "frankfurt",
      region: "fra-north",
      environment: "prod",
      business: "shop",
    });
  });

  it("lists every problem with its path: unknown field, bad name, missing field, bad taint", () => {
    const result = validateInput(
      cluster(
        {
          location: "frankfurt",
          environmnt: "prod",
          business: "shop",
          taints: [{ key: "gpu", effect: "Sometimes" }],
        },
        { name: "Fra_Shop" },
      ),
    );
    if (result.ok) throw new Error("expected problems");
    expect(result.problems.map((p) => p.path)).toEqual([
      "metadata.name",
      "spec.environment",
      "spec.environmnt",
      "spec.taints[0].effect",
    ]);
  });

  it("names unknown kinds and wrong apiVersions", () => {
    const result = validateInput({ apiVersion: "v1", kind: "Clustre", metadata: { name: "x" }, spec: {} });
    if (result.ok) throw new Error("expected problems");
    expect(result.problems).toEqual([
      { path: "apiVersion", message: "must be unitfleet.io/v1alpha1" },
      {
        path: "kind",
        message:
          'unknown kind "Clustre" (known: Location, Region, Cluster, Application, Placement, Override, ConsolidationPolicy, PriceBook, NetworkPool)',
      },
    ]);
  });

  it("sets labels derived from the spec over any the user wrote", () => {
    const result = validateInput(
      cluster(
        { location: "frankfurt", environment: "prod", business: "shop" },
        { labels: { environment: "dev" } },
      ),
    );
    expect(result.ok && result.value.labels.environment).toBe("prod");
  });
});

describe("referenceProblems", () => {
  const check = (spec: Record<string, unknown>) => {
    const result = validateInput(cluster({ environment: "prod", business: "shop", ...spec }));
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    return referenceProblems(result.value, lookup);
  };

  it("refuses a Cluster whose Region is in another Location", () => {
    expect(check({ location: "singapore", region: "fra-north" })).toEqual([
      { path: "spec.region", message: 'Region "fra-north" belongs to Location "frankfurt", not "singapore"' },
    ]);
  });

  it("refuses unknown Locations and Regions, and zones outside the Region", () => {
    expect(check({ location: "mars" }).map((p) => p.path)).toEqual(["spec.location"]);
    expect(check({ location: "frankfurt", region: "fra-west" }).map((p) => p.path)).toEqual(["spec.region"]);
    expect(
      check({ location: "frankfurt", region: "fra-north", zones: ["fra-north-1", "fra-south-1"] }),
    ).toEqual([
      {
        path: "spec.zones[1]",
        message: `zone "fra-south-1" is not one of Region "fra-north"'s zones [fra-north-1, fra-north-2]`,
      },
    ]);
    expect(check({ location: "frankfurt", region: "fra-north", zones: ["fra-north-2"] })).toEqual([]);
  });
});

describe("kindByName", () => {
  it("finds kinds by kind, plural, singular and short name", () => {
    for (const name of ["Cluster", "clusters", "cluster", "cl"])
      expect(kindByName(name)?.kind).toBe("Cluster");
    expect(kindByName("nodes")).toBeUndefined();
  });
});
