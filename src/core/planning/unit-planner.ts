/**
 * Unitization: a Location split into Regions of equivalent units. Each business/environment group gets one unit
 * per Region, all of the same shape, each sized so that the units left when `toleratedRegionFailures` Regions fail
 * still carry the group's whole load. Pure and deterministic, like the consolidation planner.
 */

import type { Problem, Validated } from "../validation/problems.ts";
import {
  daemonOverhead,
  type PlannedPool,
  packWorkloads,
  priceBook,
  shapesOf,
} from "./consolidation-planner.ts";
import type { ResolvedPolicy } from "./consolidation-policy.ts";
import { type BusinessLoad, type ClusterLoad, clusterLoad, type Figures, figuresOf } from "./figures.ts";
import type { Fleet, FleetWorkload } from "./fleet-snapshot.ts";

export interface PlannedRegion {
  name: string;
  zones: string[];
  /** False for a Region the plan proposes (its zones are to be chosen when empty). */
  existing: boolean;
}

export interface PlannedUnit {
  /** `BUSINESS-ENVIRONMENT-REGION`. */
  name: string;
  region: string;
  business: string;
  environment: string;
  pools: PlannedPool[];
  nodes: number;
  lowerBound: number;
  ratio: number;
  /** Pods it runs in normal operation (its share of the group). */
  pods: number;
  /** Pods it can run when Regions fail (what it is sized for). */
  podsAtFailure: number;
  monthlyCost?: number;
}

export interface UnitsPlan {
  location: string;
  regions: PlannedRegion[];
  toleratedRegionFailures: number;
  units: PlannedUnit[];
  before: Figures;
  after: Figures;
  /** Groups whose units cannot be packed, with the reason. */
  unplanned: { group: string; reason: string }[];
}

/** Proposes Regions of equivalent units for one Location. */
export function planUnits(fleet: Fleet, policy: ResolvedPolicy, location: string): Validated<UnitsPlan> {
  const place = fleet.locations.find((l) => l.name === location);
  if (!place) {
    const problem: Problem = {
      path: "location",
      message: `Location ${location} is not in the fleet (it has: ${fleet.locations.map((l) => l.name).join(", ") || "none"})`,
    };
    return { ok: false, problems: [problem] };
  }
  const regions = regionsFor(place, policy.units.regions);
  const tolerated = Math.min(policy.units.toleratedRegionFailures, regions.length - 1);
  const carrying = regions.length - tolerated;
  const clusters = fleet.clusters.filter((c) => c.location === location);
  const shapes = shapesOf(fleet, policy, location);
  const price = priceBook(shapes);

  const groups = new Map<
    string,
    { business: string; environment: string; workloads: FleetWorkload[]; clusters: string[] }
  >();
  for (const c of clusters)
    for (const w of c.workloads) {
      const key = `${w.business}-${c.environment}`;
      const group = groups.get(key) ?? {
        business: w.business,
        environment: c.environment,
        workloads: [],
        clusters: [],
      };
      group.workloads.push(w);
      if (!group.clusters.includes(c.name)) group.clusters.push(c.name);
      groups.set(key, group);
    }

  const zoneCount = Math.max(1, Math.min(...regions.map((r) => r.zones.length || 1)));
  const unitZones = Array.from({ length: zoneCount }, (_, i) => `zone-${i + 1}`);
  const units: PlannedUnit[] = [];
  const loads: ClusterLoad[] = [];
  const unplanned: UnitsPlan["unplanned"] = [];
  for (const key of [...groups.keys()].sort()) {
    const group = groups.get(key) as NonNullable<ReturnType<typeof groups.get>>;
    const scaled = group.workloads
      .filter((w) => w.kind !== "DaemonSet" && w.replicas > 0)
      .map((w) => ({ cluster: key, w: { ...w, replicas: Math.ceil(w.replicas / carrying) } }));
    const { perNode } = daemonOverhead(clusters.filter((c) => group.clusters.includes(c.name)));
    const packed = packWorkloads(scaled, shapes, perNode, unitZones, policy.headroomPercent, location);
    if (!packed.ok) {
      unplanned.push({ group: key, reason: packed.reason });
      continue;
    }
    const nodes = packed.pools.reduce((n, p) => n + p.nodes, 0);
    const lowerBound = packed.pools.reduce((n, p) => n + p.lowerBound, 0);
    const groupPods = group.workloads
      .filter((w) => w.kind !== "DaemonSet")
      .reduce((n, w) => n + w.replicas, 0);
    const normal = new Map<string, BusinessLoad>();
    for (const w of group.workloads) {
      if (w.kind === "DaemonSet") continue;
      const share = w.replicas / regions.length;
      const load = normal.get(w.business) ?? { pods: 0, placedPods: 0, cpu: 0, memory: 0 };
      load.pods += share;
      load.placedPods += share;
      load.cpu += share * (w.podRequests.cpu ?? 0);
      load.memory += share * (w.podRequests.memory ?? 0);
      normal.set(w.business, load);
    }
    for (const region of regions) {
      const name = `${key}-${region.name}`;
      units.push({
        name,
        region: region.name,
        business: group.business,
        environment: group.environment,
        pools: packed.pools,
        nodes,
        lowerBound,
        ratio: lowerBound === 0 ? 1 : nodes / lowerBound,
        pods: groupPods / regions.length,
        podsAtFailure: scaled.reduce((n, s) => n + s.w.replicas, 0),
        ...(packed.monthlyCost !== undefined ? { monthlyCost: packed.monthlyCost } : {}),
      });
      loads.push({
        name,
        location,
        nodes,
        allocatable: packed.allocatable,
        ...(packed.monthlyCost !== undefined ? { monthlyCost: packed.monthlyCost } : {}),
        businesses: normal,
      });
    }
  }
  return {
    ok: true,
    value: {
      location,
      regions,
      toleratedRegionFailures: tolerated,
      units,
      before: figuresOf(clusters.map((c) => clusterLoad(c, (_, type) => price(type)))),
      after: figuresOf(loads),
      unplanned,
    },
  };
}

/** The Location's Regions, completed with proposed ones up to `wanted` (at least 2). */
function regionsFor(place: Fleet["locations"][number], wanted: number | undefined): PlannedRegion[] {
  const existing = [...place.regions]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => ({ name: r.name, zones: [...r.zones], existing: true }));
  const count = wanted ?? Math.max(2, existing.length);
  const regions = existing.slice(0, count);
  const used = new Set(existing.flatMap((r) => r.zones));
  const free = place.zones.filter((z) => !used.has(z));
  const proposed = count - regions.length;
  for (let i = 0; i < proposed; i += 1)
    regions.push({
      name: `${place.name}-region-${regions.length + 1}`,
      zones: free.filter((_, z) => z % proposed === i),
      existing: false,
    });
  return regions;
}
