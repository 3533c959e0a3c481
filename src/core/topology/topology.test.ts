import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { clusterZones, validateTopology } from "./topology.ts";

const defaultTopology = parse(
  readFileSync(new URL("../../lab/topologies/default.yaml", import.meta.url), "utf8"),
);

type Loose = Record<string, unknown>;
interface Editable {
  [field: string]: unknown;
  spec: { locations: Loose[]; clusters: Array<Loose & { nodePools: Loose[] }> };
}

function minimal(): Editable {
  return {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "LabTopology",
    metadata: { name: "t" },
    spec: {
      locations: [{ name: "home", zones: ["home-1", "home-2"] }],
      clusters: [
        {
          name: "c1",
          location: "home",
          environment: "prod",
          business: "shop",
          nodePools: [{ name: "p", count: 1, cpu: "4", memory: "8Gi", pods: 110 }],
        },
      ],
    },
  };
}

describe("validateTopology", () => {
  it("accepts the shipped default topology: 2 Locations, one with 2 Regions, at least 5 clusters", () => {
    const result = validateTopology(defaultTopology);
    expect(result.ok ? [] : result.problems).toEqual([]);
    if (!result.ok) return;
    const { locations, clusters } = result.value.spec;
    expect(locations).toHaveLength(2);
    expect(locations.some((l) => (l.regions?.length ?? 0) >= 2)).toBe(true);
    expect(clusters.length).toBeGreaterThanOrEqual(5);
    expect(new Set(clusters.map((c) => c.environment)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(clusters.map((c) => c.business)).size).toBeGreaterThanOrEqual(3);
  });

  it("gives a cluster its Region's zones unless it names some", () => {
    const result = validateTopology(defaultTopology);
    if (!result.ok) throw new Error("default topology invalid");
    const byName = new Map(result.value.spec.clusters.map((c) => [c.name, c]));
    expect(clusterZones(result.value, byName.get("fra-shop-prod")!)).toEqual([
      "fra-north-1",
      "fra-north-2",
      "fra-north-3",
    ]);
    expect(clusterZones(result.value, byName.get("fra-shop-dev")!)).toEqual(["fra-north-1"]);
    expect(clusterZones(result.value, byName.get("sgp-shop-prod")!)).toEqual(["sgp-1", "sgp-2"]);
  });

  it("reports every structural problem and every broken reference at once, with paths", () => {
    const t = minimal();
    t.spec.clusters[0]!.nodePools[0]!.memory = "lots";
    t.spec.clusters[0]!.nodePools[0]!.count = 0;
    t.spec.clusters[0]!.location = "mars";
    t.spec.clusters[0]!.colour = "blue";
    const { colour: _colour, environment: _environment, ...second } = t.spec.clusters[0]!;
    t.spec.clusters.push({ ...second, name: "C_2", location: "home", nodePools: second.nodePools });
    const result = validateTopology(t);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path)).toEqual([
      "spec.clusters[0].colour",
      "spec.clusters[0].location",
      "spec.clusters[0].nodePools[0].count",
      "spec.clusters[0].nodePools[0].memory",
      "spec.clusters[1].environment",
      "spec.clusters[1].name",
      "spec.clusters[1].nodePools[0].count",
      "spec.clusters[1].nodePools[0].memory",
    ]);
    const byPath = Object.fromEntries(result.problems.map((p) => [p.path, p.message]));
    expect(byPath["spec.clusters[0].location"]).toContain('Location "mars" is not declared');
    expect(byPath["spec.clusters[0].colour"]).toBe("unknown field");
    expect(byPath["spec.clusters[1].environment"]).toBe("required field is missing");
  });

  it("refuses duplicate names, a Region of another Location and zones outside the Region", () => {
    const t = minimal();
    t.spec.locations.push({ name: "away", regions: [{ name: "away-r", zones: ["away-1"] }] });
    t.spec.clusters[0]!.region = "away-r";
    t.spec.clusters.push({ ...t.spec.clusters[0]!, region: undefined, zones: ["away-1"] });
    const result = validateTopology(JSON.parse(JSON.stringify(t)));
    if (result.ok) throw new Error("expected problems");
    expect(result.problems).toEqual([
      { path: "spec.clusters[0].region", message: 'Region "away-r" belongs to Location "away", not "home"' },
      { path: "spec.clusters[1].name", message: '"c1" is declared more than once' },
      { path: "spec.clusters[1].zones[0]", message: 'zone "away-1" is not one of [home-1, home-2]' },
    ]);
  });

  it("reads the shipped three-mistakes fixture as exactly three problems", () => {
    const text = readFileSync(
      new URL("../../../test/fixtures/topologies/three-mistakes.yaml", import.meta.url),
      "utf8",
    );
    const result = validateTopology(parse(text));
    if (result.ok) throw new Error("expected problems");
    expect(result.problems.map((p) => p.path)).toEqual([
      "spec.clusters[0].nodePools[0].memory",
      "spec.clusters[1].nodePools[0].instanceTyp",
      "spec.clusters[1].region",
    ]);
  });

  it("keeps the lab's ports below the ephemeral range, where outgoing connections could take them", () => {
    const t = minimal();
    (t.spec as Loose).ports = { etcd: 33790, apiServers: 32767 };
    const result = validateTopology(t);
    if (result.ok) throw new Error("expected problems");
    expect(result.problems.map((p) => p.path)).toEqual(["spec.ports.apiServers", "spec.ports.etcd"]);
  });

  it("keeps the kwok servers after etcd in range and away from the API servers' ports", () => {
    const t = minimal();
    (t.spec as Loose).ports = { etcd: 32766, apiServers: 16440 };
    const high = validateTopology(t);
    expect(high.ok ? [] : high.problems).toEqual([
      {
        path: "spec.ports.etcd",
        message: "etcd, its peer and 1 kwok servers need ports up to 32768, above 32767",
      },
    ]);
    (t.spec as Loose).ports = { etcd: 16439, apiServers: 16440 };
    const overlapping = validateTopology(t);
    expect(overlapping.ok ? [] : overlapping.problems).toEqual([
      {
        path: "spec.ports",
        message: "etcd and the kwok servers (16439–16441) overlap the API servers (16441)",
      },
    ]);
    (t.spec as Loose).ports = { etcd: 16438, apiServers: 16440 };
    expect(validateTopology(t).ok).toBe(true);
  });
});
