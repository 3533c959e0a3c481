import { describe, expect, it } from "vitest";
import { foundExport, readyEndpoints } from "../../core/multicluster-services/sample-exports.ts";
import { LocationExports } from "./location-exports.ts";

const cart = (cluster: string, endpoints = 1) =>
  foundExport(cluster, "2026-12-03T09:00:00Z", readyEndpoints(1, endpoints));
const named = (cluster: string, name: string) => ({ ...cart(cluster), name });

describe("LocationExports", () => {
  it("upserts, removes, and with present drops what the cluster no longer has", () => {
    const location = new LocationExports("frankfurt");
    expect(
      location.apply({
        cluster: "fra-a",
        region: "north",
        records: [cart("fra-a"), named("fra-a", "pay")],
        removed: [],
      }).changed,
    ).toBe(true);
    expect(
      location.apply({ cluster: "fra-a", region: "north", records: [cart("fra-a")], removed: [] }).changed,
    ).toBe(false);
    location.apply({ cluster: "fra-b", region: "south", records: [cart("fra-b")], removed: [] });
    expect(location.members()).toEqual({
      location: "frankfurt",
      clusters: [
        { name: "fra-a", region: "north" },
        { name: "fra-b", region: "south" },
      ],
    });
    location.apply({
      cluster: "fra-a",
      region: "north",
      records: [],
      removed: [{ namespace: "shop", name: "pay" }],
    });
    expect(location.records().map((r) => `${r.cluster}/${r.name}`)).toEqual(["fra-a/cart", "fra-b/cart"]);
    // The relay's "gone": present [] and nothing else.
    expect(
      location.apply({ cluster: "fra-b", region: "south", records: [], removed: [], present: [] }).changed,
    ).toBe(true);
    expect(location.clusters()).toEqual(["fra-a"]);
    // A whole set replaces what was held.
    location.apply({
      cluster: "fra-a",
      region: "north",
      records: [named("fra-a", "pay")],
      removed: [],
      present: [{ namespace: "shop", name: "pay" }],
    });
    expect(location.records().map((r) => r.name)).toEqual(["pay"]);
  });

  it("refuses a record of another cluster than the message's", () => {
    const location = new LocationExports("frankfurt");
    const { refused } = location.apply({
      cluster: "fra-a",
      region: "",
      records: [cart("fra-b")],
      removed: [],
    });
    expect(refused).toEqual(['records[0]: of cluster "fra-b"']);
    expect(location.records()).toEqual([]);
  });

  it("notices a change of Region alone", () => {
    const location = new LocationExports("frankfurt");
    location.apply({ cluster: "fra-a", region: "north", records: [cart("fra-a")], removed: [] });
    expect(location.apply({ cluster: "fra-a", region: "south", records: [], removed: [] }).changed).toBe(
      true,
    );
    expect(location.members().clusters).toEqual([{ name: "fra-a", region: "south" }]);
  });
});
