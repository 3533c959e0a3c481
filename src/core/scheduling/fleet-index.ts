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
  /** Served API resources per position, as sets shared by clusters that serve the same; undefined: unknown. */
  readonly apiResources: ReadonlyArray<ReadonlySet<string> | undefined>;
  /** The distinct sets of `apiResources`, and which one each position has (-1: unknown). */
  readonly apiSets: ReadonlyArray<ReadonlySet<string>>;
  readonly apiSet: Int32Array;
  /** The distinct sets of taints, and which one each position has (-1: none). */
  readonly taintSets: ReadonlyArray<ClusterFacts["taints"]>;
  readonly taintSet: Int32Array;
  /**
   * The facts every placement reads, per position, in flat arrays: a scheduling run walks them in order
   * instead of chasing each cluster's objects around the heap.
   */
  readonly hot: {
    cpuMilli: Float64Array;
    memoryBytes: Float64Array;
    pods: Float64Array;
    ready: Uint8Array;
    since: Float64Array;
    taints: Uint32Array;
  };
  /** Every position, ascending. */
  readonly all: readonly number[];
  /** Each position's Location (the same strings as the clusters'), read without touching the cluster. */
  readonly locationOf: readonly string[];
  /** Bitsets (bit i: position i) of the longer lists above, to intersect criteria quickly. */
  readonly bitsets: ReadonlyMap<readonly number[], Uint32Array>;
}

/** Lists at least this long get a bitset; shorter ones are cheap to check cluster by cluster. */
const bitsetFrom = 64;

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
  const bitsets = new Map<readonly number[], Uint32Array>();
  const words = Math.ceil(clusters.length / 32);
  const addBitset = (list: readonly number[]) => {
    if (list.length < bitsetFrom) return;
    const bits = new Uint32Array(words);
    for (const i of list) bits[i >>> 5]! |= 1 << (i & 31);
    bitsets.set(list, bits);
  };
  for (const list of byLocation.values()) addBitset(list);
  for (const list of byRegion.values()) addBitset(list);
  for (const list of withLabel.values()) addBitset(list);
  for (const values of byLabel.values()) for (const list of values.values()) addBitset(list);
  const apiSets: Array<ReadonlySet<string>> = [];
  const apiSetByKey = new Map<string, number>();
  const apiSet = new Int32Array(clusters.length).fill(-1);
  const taintSets: Array<ClusterFacts["taints"]> = [];
  const taintSetByKey = new Map<string, number>();
  const taintSet = new Int32Array(clusters.length).fill(-1);
  const n = clusters.length;
  const hot = {
    cpuMilli: new Float64Array(n),
    memoryBytes: new Float64Array(n),
    pods: new Float64Array(n),
    ready: new Uint8Array(n),
    since: new Float64Array(n),
    taints: new Uint32Array(n),
  };
  clusters.forEach((c, i) => {
    if (c.apiResources) {
      const key = [...c.apiResources].sort().join("\n");
      let id = apiSetByKey.get(key);
      if (id === undefined) {
        id = apiSets.length;
        apiSets.push(new Set(c.apiResources));
        apiSetByKey.set(key, id);
      }
      apiSet[i] = id;
    }
    hot.cpuMilli[i] = c.free.cpuMilli;
    hot.memoryBytes[i] = c.free.memoryBytes;
    hot.pods[i] = c.free.pods;
    hot.ready[i] = c.health.ready ? 1 : 0;
    hot.since[i] = c.health.since;
    hot.taints[i] = c.taints.length;
    if (c.taints.length > 0) {
      // In order: the Taints reason lists them as the cluster does.
      const key = c.taints.map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`).join("\n");
      let id = taintSetByKey.get(key);
      if (id === undefined) {
        id = taintSets.length;
        taintSets.push(c.taints);
        taintSetByKey.set(key, id);
      }
      taintSet[i] = id;
    }
  });
  return {
    clusters,
    position,
    byLocation,
    byRegion,
    byLabel,
    withLabel,
    apiResources: clusters.map((_, i) => (apiSet[i]! >= 0 ? apiSets[apiSet[i]!] : undefined)),
    apiSets,
    apiSet,
    taintSets,
    taintSet,
    hot,
    all: clusters.map((_, i) => i),
    locationOf: clusters.map((c) => c.location),
    bitsets,
  };
}

const none: readonly number[] = [];

/** The clusters a placement may select, and whether the index answered every criterion. */
export interface Candidates {
  /** Ascending; a superset of the selected clusters, or exactly them when `exact`. */
  positions: readonly number[];
  exact: boolean;
}

/**
 * The clusters a placement may select. Each criterion the index can answer (names, Locations, Regions,
 * environments, businesses, a `matchLabels` pair, an `In` or `Exists` expression) allows a list of
 * positions: when all have bitsets they are intersected word by word; otherwise the smallest list is
 * walked and the criteria with bitsets filter it. Unless the result is exact — every criterion answered,
 * no NotIn or DoesNotExist — each candidate must still be checked.
 */
export function candidatePositions(index: FleetIndex, placement: PlacementSpec): Candidates {
  const criteria: Array<ReadonlyArray<readonly number[]>> = [];
  if (placement.clusterNames)
    criteria.push(
      placement.clusterNames.map((n) => {
        const p = index.position.get(n);
        return p === undefined ? none : [p];
      }),
    );
  const from = (map: ReadonlyMap<string, readonly number[]> | undefined, values: readonly string[]) =>
    values.map((v) => map?.get(v) ?? none);
  if (placement.locations) criteria.push(from(index.byLocation, placement.locations));
  if (placement.regions) criteria.push(from(index.byRegion, placement.regions));
  if (placement.environments) criteria.push(from(index.byLabel.get("environment"), placement.environments));
  if (placement.businesses) criteria.push(from(index.byLabel.get("business"), placement.businesses));
  for (const [key, value] of Object.entries(placement.clusterSelector?.matchLabels ?? {}))
    criteria.push(from(index.byLabel.get(key), [value]));
  for (const e of placement.clusterSelector?.matchExpressions ?? []) {
    if (e.operator === "In") criteria.push(from(index.byLabel.get(e.key), e.values ?? []));
    if (e.operator === "Exists") criteria.push([index.withLabel.get(e.key) ?? none]);
  }
  const unanswered = (placement.clusterSelector?.matchExpressions ?? []).some(
    (e) => e.operator === "NotIn" || e.operator === "DoesNotExist",
  );
  if (criteria.length === 0) return { positions: index.all, exact: !unanswered };
  let best = 0;
  let bestSize = Number.POSITIVE_INFINITY;
  criteria.forEach((lists, i) => {
    const size = lists.reduce((n, l) => n + l.length, 0);
    if (size < bestSize) {
      best = i;
      bestSize = size;
    }
  });
  const bitsOf = (lists: ReadonlyArray<readonly number[]>) => {
    const bits = lists.filter((l) => l.length > 0).map((l) => index.bitsets.get(l));
    return bits.every((b) => b !== undefined) ? (bits as Uint32Array[]) : undefined;
  };
  const allBits = criteria.map(bitsOf);
  if (bestSize >= bitsetFrom && allBits.every((b) => b !== undefined))
    return { positions: intersect(allBits as Uint32Array[][], index.clusters.length), exact: !unanswered };
  const base = criteria[best]!;
  const walked = base.length === 1 ? base[0]! : [...new Set(base.flat())].sort((a, b) => a - b);
  // The other criteria whose every non-empty list has a bitset filter the walked list.
  const filters: Uint32Array[][] = [];
  allBits.forEach((bits, i) => {
    if (i !== best && bits) filters.push(bits);
  });
  const exact = !unanswered && filters.length === criteria.length - 1;
  if (filters.length === 0) return { positions: walked, exact };
  const out: number[] = [];
  for (const p of walked) {
    const word = p >>> 5;
    const bit = 1 << (p & 31);
    let keep = true;
    for (const anyOf of filters) {
      let hit = false;
      for (const b of anyOf)
        if ((b[word]! & bit) !== 0) {
          hit = true;
          break;
        }
      if (!hit) {
        keep = false;
        break;
      }
    }
    if (keep) out.push(p);
  }
  return { positions: out, exact };
}

/** Positions set in every criterion, a criterion being set where any of its bitsets is. */
function intersect(criteria: readonly (readonly Uint32Array[])[], size: number): number[] {
  const words = Math.ceil(size / 32);
  const out: number[] = [];
  for (let w = 0; w < words; w++) {
    let word = 0xffffffff;
    for (const anyOf of criteria) {
      let union = 0;
      for (const b of anyOf) union |= b[w]!;
      word &= union;
      if (word === 0) break;
    }
    while (word !== 0) {
      const low = word & -word;
      out.push(w * 32 + 31 - Math.clz32(low));
      word ^= low;
    }
  }
  return out;
}
