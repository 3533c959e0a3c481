/**
 * A snapshot of the fleet as the scheduler sees it, and an index over it built once and reused for every
 * placement scheduled against the same snapshot: clusters in name order, and the positions of the clusters
 * of each Location, Region and label value, so that a placement that selects a few clusters out of
 * thousands only looks at those few.
 */
import type { PlacementSpec } from "./placement.ts";

export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";

/** What the scheduler knows of one cluster. */
export interface ClusterFacts {
  /** Unique in the fleet. */
  name: string;
  location: string;
  region?: string;
  zones: string[];
  /** The cluster's labels, including the derived `location`, `region`, `environment` and `business`. */
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: TaintEffect }>;
  /**
   * Allocatable minus requested, summed over nodes. It includes the requests of the replicas the cluster
   * already runs for the application being scheduled, and may be negative when nodes were lost.
   */
  free: { cpuMilli: number; memoryBytes: number; pods: number };
  /** Served API resources as `group/version/Kind` (`v1/ConfigMap` for the core group); undefined: unknown. */
  apiResources?: string[];
  /** `ready` is the Ready condition; `since` (ms) is when it last changed. */
  health: { ready: boolean; since: number };
}

/** The fleet in name order, with lookups by Location, Region and label. Read-only once built. */
export interface FleetIndex {
  readonly clusters: readonly ClusterFacts[];
  readonly position: ReadonlyMap<string, number>;
  readonly byLocation: ReadonlyMap<string, readonly number[]>;
  readonly byRegion: ReadonlyMap<string, readonly number[]>;
  /** label key → label value → positions, ascending. */
  readonly byLabel: ReadonlyMap<string, ReadonlyMap<string, readonly number[]>>;
  /** label key → positions of the clusters carrying it, ascending. */
  readonly withLabel: ReadonlyMap<string, readonly number[]>;
  /** Served API resources per position, as sets; undefined where unknown. */
  readonly apiResources: ReadonlyArray<ReadonlySet<string> | undefined>;
}

/** Builds the index. Cluster names must be unique; a duplicate is a bug upstream and throws. */
export function indexFleet(fleet: readonly ClusterFacts[]): FleetIndex {
  const clusters = [...fleet].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const position = new Map<string, number>();
  const byLocation = new Map<string, number[]>();
  const byRegion = new Map<string, number[]>();
  const byLabel = new Map<string, Map<string, number[]>>();
  const withLabel = new Map<string, number[]>();
  const push = <K>(map: Map<K, number[]>, key: K, i: number) => {
    const list = map.get(key);
    if (list) list.push(i);
    else map.set(key, [i]);
  };
  clusters.forEach((c, i) => {
    if (position.has(c.name)) throw new Error(`fleet snapshot lists cluster "${c.name}" twice`);
    position.set(c.name, i);
    push(byLocation, c.location, i);
    if (c.region !== undefined) push(byRegion, c.region, i);
    for (const [key, value] of Object.entries(c.labels)) {
      push(withLabel, key, i);
      let values = byLabel.get(key);
      if (!values) {
        values = new Map();
        byLabel.set(key, values);
      }
      push(values, value, i);
    }
  });
  return {
    clusters,
    position,
    byLocation,
    byRegion,
    byLabel,
    withLabel,
    apiResources: clusters.map((c) => (c.apiResources ? new Set(c.apiResources) : undefined)),
  };
}

const none: readonly number[] = [];

/**
 * Positions of a superset of the clusters the placement selects, ascending: the smallest of the lists
 * that one of its criteria alone allows (names, Locations, Regions, environments, businesses, a
 * `matchLabels` pair, an `In` or `Exists` expression). Every candidate is still checked in full.
 */
export function candidatePositions(index: FleetIndex, placement: PlacementSpec): readonly number[] {
  const options: Array<readonly (readonly number[])[]> = [];
  if (placement.clusterNames)
    options.push(
      placement.clusterNames.map((n) => {
        const p = index.position.get(n);
        return p === undefined ? none : [p];
      }),
    );
  const from = (map: ReadonlyMap<string, readonly number[]> | undefined, values: readonly string[]) =>
    values.map((v) => map?.get(v) ?? none);
  if (placement.locations) options.push(from(index.byLocation, placement.locations));
  if (placement.regions) options.push(from(index.byRegion, placement.regions));
  if (placement.environments) options.push(from(index.byLabel.get("environment"), placement.environments));
  if (placement.businesses) options.push(from(index.byLabel.get("business"), placement.businesses));
  for (const [key, value] of Object.entries(placement.clusterSelector?.matchLabels ?? {}))
    options.push(from(index.byLabel.get(key), [value]));
  for (const e of placement.clusterSelector?.matchExpressions ?? []) {
    if (e.operator === "In") options.push(from(index.byLabel.get(e.key), e.values ?? []));
    if (e.operator === "Exists") options.push([index.withLabel.get(e.key) ?? none]);
  }
  if (options.length === 0) return index.clusters.map((_, i) => i);
  let best = options[0]!;
  let bestSize = Number.POSITIVE_INFINITY;
  for (const lists of options) {
    const size = lists.reduce((n, l) => n + l.length, 0);
    if (size < bestSize) {
      best = lists;
      bestSize = size;
    }
  }
  return best.length === 1 ? best[0]! : [...new Set(best.flat())].sort((a, b) => a - b);
}
