/**
 * The multi-cluster scheduler: a pure function from a fleet snapshot, a placement, the application's
 * demand, where it runs now and the time, to the replicas each cluster should run, with a trace that says
 * for every cluster why it was chosen or not and how it scored. Same input, same output: clusters are
 * handled in name order whatever the order of the fleet array, and every tie is broken by name.
 *
 * The rules, in the order they apply:
 *
 * 1. Filters (./filters.ts) give each cluster a verdict: Selection, Taints, ApiResources, Health and
 *    Resources. `fit` clusters may receive replicas; `hold` clusters keep the replicas they run and get no
 *    new ones (not ready within `failover.toleranceSeconds`, ready again for less than
 *    `failover.stableSeconds` — a cluster that just joined counts as just recovered —, or newly tainted
 *    NoSchedule); `unfit` clusters get nothing (not ready
 *    beyond the tolerance, an untolerated NoExecute taint, a missing API kind, no room for one replica —
 *    for Duplicated, for the full count). Room counts the replicas a cluster already runs as its own:
 *    `fit = running + floor(free / perReplica)` on the scarcest of cpu, memory and pods, where `free` is
 *    what the cluster has left with those replicas' requests counted (../delivery/schedule-application.ts
 *    counts the ones its agent has not counted yet).
 * 2. Scores (./scores.ts), 0–100 each, summed: FreeCapacity, AlreadyRunning, TaintPreference, and Spread
 *    when the placement has spread constraints. Each is relative to the cluster's own Location, so that a
 *    Location's scores never depend on the others.
 * 3. Residency. Unless `locations` lists two or more Locations, every decision lies in one Location: the
 *    Location where the application runs now (the one with most replicas), as long as the placement still
 *    selects a cluster there that passes Taints and ApiResources — failing health or capacity never moves
 *    an application to another Location, it makes it (partly) unschedulable instead. A new application
 *    goes to the Location that can hold all replicas and meet the spread minimums, then the one with the
 *    highest sum of its eligible clusters' totals, then the first by name.
 * 4. Spread. Eligible clusters are taken in order — those running the application first, then by total
 *    score, then by name — skipping any that would exceed a `maxGroups`. Fewer groups than `minGroups`
 *    makes the application unschedulable with no decisions; Divided replicas are moved one at a time — from
 *    the cluster with most (same Location first, lowest ranked on ties), never uncovering a group — until
 *    they cover `minGroups` groups.
 * 5. Replicas. Duplicated: each chosen cluster runs `count` (a `hold` cluster keeps at most what it runs).
 *    Divided: `hold` clusters keep what they run; the rest is split over `fit` clusters in proportion to
 *    how many replicas fit in each (AvailableCapacity) or to their static weight (Static, the largest of
 *    the weights whose clusters include it), never above what fits, by the largest remainder method
 *    (remainder ties go to the larger weight, then to the first name). Replicas that fit nowhere make the
 *    application unschedulable for that many; the others are still placed.
 * 6. Stability and failover (./division.ts), for splits that capacity shapes: every AvailableCapacity split,
 *    and a Static one where a cluster's room caps its share. Starting from the previous split, replicas on
 *    clusters no longer eligible (beyond the health tolerance, rejected, or outside the chosen Location) are
 *    given to the clusters of the same Location most below their ideal share, and a lower count is taken
 *    from those most above theirs. That split stands if every cluster is within max(1, 10% of its ideal
 *    share) of it; otherwise — capacity changed beyond the tolerance, or a recovered cluster's stable
 *    period ended — the ideal split replaces it. Static weights whose shares fit are the split the user
 *    asked for and are always placed exactly: on first placement, after a change of weights or count, on
 *    failover (over the clusters left) and on failback. A cluster back from failure gets nothing before
 *    `stableSeconds` and its share once it has passed; a cluster that flaps inside the tolerance keeps its
 *    replicas throughout (both are health verdicts, whatever the weighting).
 * 7. Several Locations listed: clusters of all of them are eligible (spread by location limits how many).
 *    Divided replicas are first shared between Locations in proportion to the capacity (or weights) of
 *    their selected clusters whatever their health — by capacity kept from the previous split within the
 *    same tolerance, by weights exactly —, then divided inside each Location as above: failover never
 *    crosses a Location.
 *
 * Speed: `indexFleet` is built once per snapshot and reused for every placement; it narrows each placement
 * to its candidates with per-label bitsets and keeps the facts every filter reads in flat arrays. With
 * `trace: "placed"`, an application that stays in its Location is checked against that Location only.
 */

import { matchesSelector } from "../resources/label-selector.ts";
import { divide, stabilize, tolerance } from "./division.ts";
import {
  apiResources,
  type Demand,
  type FilterInput,
  type filters,
  health,
  isSelected,
  plural,
  type Rules,
  replicasThatFit,
  resources,
  selection,
  taints,
  unboundedFit,
  type Verdict,
} from "./filters.ts";
import {
  type Candidates,
  type ClusterFacts,
  candidatePositions,
  type FleetIndex,
  indexFleet,
} from "./fleet-index.ts";
import {
  defaultFailover,
  type PlacementSpec,
  type SpreadConstraint,
  selectorRequirements,
} from "./placement.ts";
import { alreadyRunning, freeCapacity, groupOf, groupsOf, spread, taintPreference } from "./scores.ts";

export type { Demand } from "./filters.ts";
export type { ClusterFacts, FleetIndex } from "./fleet-index.ts";
export { indexFleet } from "./fleet-index.ts";

/** Replicas of the application on one cluster. */
export interface Assignment {
  cluster: string;
  replicas: number;
}

export interface ScheduleInput {
  placement: PlacementSpec;
  fleet: readonly ClusterFacts[];
  demand: Demand;
  /** Where the application runs now. */
  previous?: readonly Assignment[];
  /** The time of the snapshot, in ms. */
  now: number;
}

/** Why one cluster was chosen or not, and how it scored. */
export interface TraceEntry {
  cluster: string;
  location: string;
  /** The filters' verdict. */
  verdict: "fit" | "hold" | "unfit";
  chosen: boolean;
  replicas: number;
  /** Each starts with the plugin or rule that wrote it. */
  reasons: readonly string[];
  scores: Readonly<Record<string, number>>;
  total: number;
}

export interface Outcome {
  /** Clusters that run the application, in name order. */
  decisions: Assignment[];
  /** In name order: one entry per cluster of the fleet, or fewer with `trace: "placed"`. */
  trace: TraceEntry[];
  /** Set when not every replica could be placed; the decisions hold what could be. */
  unschedulable?: { reason: string };
  /**
   * Set when replicas stay on clusters failed beyond the tolerance because no eligible cluster has room for
   * them (rule 6): NoEligibleCluster when no cluster of the Location could take any, else InsufficientCapacity.
   * The message names the clusters that keep them and why each other cluster is out.
   */
  failoverBlocked?: { reason: "NoEligibleCluster" | "InsufficientCapacity"; message: string };
}

export interface ScheduleOptions {
  /**
   * all (default): every cluster of the fleet is in the trace, as `unitfleet explain` shows it. placed: only
   * the clusters the placement selects in the Location(s) the application is placed in, and those that run
   * it — for controllers; then an application that stays in its Location is not checked against the
   * clusters of other Locations at all. The decisions are the same either way.
   */
  trace?: "all" | "placed";
}

interface View {
  pos: number;
  c: ClusterFacts;
  location: string;
  running: number;
  verdict: "fit" | "hold" | "unfit";
  selected: boolean;
  /** Passes Selection, Taints and ApiResources: the placement still wants this cluster. */
  wanted: boolean;
  reasons: readonly string[];
  /** Replicas that fit, counting those it runs. */
  fit: number;
  /** Most replicas it may hold: fit; for a hold cluster, what it runs. */
  cap: number;
  weight: number;
  usable: boolean;
  /** Runs replicas but is not ready beyond the tolerance: they stay here only if no eligible cluster has room. */
  failed: boolean;
  scores: Readonly<Record<string, number>>;
  total: number;
  taken: boolean;
  replicas: number;
}

/**
 * Schedules one application. `index` must be built from `input.fleet` by `indexFleet`; pass it to reuse
 * one index across many placements over the same snapshot.
 */
export function schedule(
  input: ScheduleInput,
  index: FleetIndex = indexFleet(input.fleet),
  options: ScheduleOptions = {},
): Outcome {
  const { placement } = input;
  const rules = rulesOf(input);
  const running = runningOf(input.previous);
  const candidates = candidatePositions(index, placement);
  const multi = (placement.locations?.length ?? 0) >= 2;
  const traceAll = (options.trace ?? "all") === "all";
  const home = multi ? undefined : homeLocation(index, candidates, rules, running);
  const run: Run = {
    index,
    rules,
    running,
    served: new Int8Array(index.apiSets.length),
    taints: new Array(index.taintSets.length),
  };
  // Where the application stays in its Location, the other Locations need no look unless traced.
  const views = evaluateAll(run, candidates, traceAll ? undefined : home);
  const usable = weigh(views, placement);
  const constraints = placement.spread ?? [];
  scoreAll(index.hot, usable, placement, constraints, multi);

  const result = place(views, usable, placement, constraints, home, traceAll);
  const decisions: Assignment[] = [];
  for (const v of views) if (v.replicas > 0) decisions.push({ cluster: v.c.name, replicas: v.replicas });
  const trace = traceAll
    ? traceOf(run, views)
    : views.filter((v) => v.running > 0 || (v.selected && result.chosen.has(v.location))).map(entry);
  const blocked = failoverBlocked(views);
  return {
    decisions,
    trace,
    ...(result.problem ? { unschedulable: { reason: result.problem } } : {}),
    ...(blocked ? { failoverBlocked: blocked } : {}),
  };
}

/**
 * Whether the placement's selection (cluster names, Locations, Regions, environments, businesses, labels) admits
 * the cluster: a cluster it does not admit can change without changing the placement's decision.
 */
export function placementSelects(placement: PlacementSpec, cluster: ClusterFacts): boolean {
  const noDemand: Demand = { perReplica: { cpuMilli: 0, memoryBytes: 0, pods: 0 }, kinds: [] };
  return isSelected(cluster, rulesOf({ placement, fleet: [], demand: noDemand, now: 0 }));
}

function rulesOf({ placement, demand, now }: ScheduleInput): Rules {
  const failover = placement.failover ?? defaultFailover;
  return {
    placement,
    requirements: selectorRequirements(placement.clusterSelector),
    names: setOf(placement.clusterNames),
    locations: setOf(placement.locations),
    regions: setOf(placement.regions),
    environments: setOf(placement.environments),
    businesses: setOf(placement.businesses),
    demand,
    need: placement.replicas.mode === "Duplicated" ? placement.replicas.count : 1,
    toleranceMs: failover.toleranceSeconds * 1000,
    stableMs: failover.stableSeconds * 1000,
    now,
  };
}

function runningOf(previous: readonly Assignment[] | undefined): Map<string, number> {
  const running = new Map<string, number>();
  for (const a of previous ?? [])
    if (a.replicas > 0) running.set(a.cluster, (running.get(a.cluster) ?? 0) + a.replicas);
  return running;
}

/**
 * Views of the selected candidates (only those in `onlyIn` when given) and of every cluster that runs
 * the application, in name order.
 */
function evaluateAll(run: Run, candidates: Candidates, onlyIn: string | undefined): View[] {
  const { index, rules, running } = run;
  const { positions, exact } = candidates;
  const views: View[] = [];
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    const c = index.clusters[p]!;
    const runs = running.size > 0 && running.has(c.name);
    if (!runs && onlyIn !== undefined && index.locationOf[p] !== onlyIn) continue;
    if (exact || isSelected(c, rules)) views.push(evaluate(run, p, true));
    else if (runs) views.push(evaluate(run, p, false));
  }
  // Clusters it runs on that are not candidates: not selected, but traced, and their replicas accounted.
  let added = false;
  for (const name of running.keys()) {
    const p = index.position.get(name);
    if (p === undefined || contains(positions, p)) continue;
    views.push(evaluate(run, p, false));
    added = true;
  }
  if (added) views.sort((a, b) => a.pos - b.pos);
  return views;
}

function contains(sorted: readonly number[], value: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const x = sorted[mid]!;
    if (x === value) return true;
    if (x < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Sets each selected view's weight (replicas that fit, or its static weight) and returns the usable ones. */
function weigh(views: View[], placement: PlacementSpec): View[] {
  const replicas = placement.replicas;
  const staticWeights =
    replicas.mode === "Divided" && replicas.weighting === "Static"
      ? (replicas.weights ?? []).map((w) => ({
          names: setOf(w.clusterNames),
          requirements: w.clusterSelector ? selectorRequirements(w.clusterSelector) : undefined,
          weight: w.weight,
        }))
      : undefined;
  const usable: View[] = [];
  for (const v of views) {
    if (!v.selected) continue;
    if (staticWeights) {
      v.weight = 0;
      for (const w of staticWeights)
        if (
          (w.names?.has(v.c.name) ?? true) &&
          (w.requirements ? matchesSelector(w.requirements, v.c.labels) : true) &&
          w.weight > v.weight
        )
          v.weight = w.weight;
    } else v.weight = v.fit;
    v.usable = v.verdict !== "unfit" && (replicas.mode === "Duplicated" || v.weight > 0 || v.running > 0);
    if (v.usable) usable.push(v);
    else if (v.verdict !== "unfit") note(v, "Divided: no static weight names this cluster");
  }
  return usable;
}

/**
 * The Location a single-Location application stays in: of the Locations where it runs, the one with most
 * replicas (then the first by name) that the placement still wants — a cluster there passes Selection,
 * Taints and ApiResources. Health and capacity do not count: they never move an application away.
 */
function homeLocation(
  index: FleetIndex,
  candidates: Candidates,
  rules: Rules,
  running: ReadonlyMap<string, number>,
): string | undefined {
  if (running.size === 0) return undefined;
  const runningIn = new Map<string, number>();
  for (const [name, n] of running) {
    const p = index.position.get(name);
    if (p !== undefined) {
      const l = index.clusters[p]!.location;
      runningIn.set(l, (runningIn.get(l) ?? 0) + n);
    }
  }
  const order = [...runningIn].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [location] of order)
    for (const p of candidates.positions) {
      const c = index.clusters[p]!;
      if (index.locationOf[p] !== location || !(candidates.exact || isSelected(c, rules))) continue;
      const input = {
        cluster: c,
        apiResources: index.apiResources[p],
        rules,
        running: running.get(c.name) ?? 0,
        room: 0,
      };
      if (taints(input).verdict !== "unfit" && apiResources(input).verdict === "fit") return location;
    }
  return undefined;
}

/** What one scheduling run shares between the clusters it evaluates. */
interface Run {
  index: FleetIndex;
  rules: Rules;
  running: ReadonlyMap<string, number>;
  /** Per distinct API resource set: 0 not yet known, 1 serves every kind, 2 misses one. */
  served: Int8Array;
  /** Per distinct set of taints, the Taints verdict for a cluster that runs nothing. */
  taints: Array<Verdict | undefined>;
}

/**
 * Runs the filters on one cluster. The common case — no taint, every kind served, ready for long, room
 * enough — is recognised from the index's flat arrays, and a plugin is called only where it may say
 * something other than `fit`, so that its reason is written.
 */
function evaluate(run: Run, pos: number, selected: boolean): View {
  const { index, rules, running } = run;
  const c = index.clusters[pos]!;
  const mine = running.size > 0 ? (running.get(c.name) ?? 0) : 0;
  const hot = index.hot;
  const room = replicasThatFit(
    hot.cpuMilli[pos]!,
    hot.memoryBytes[pos]!,
    hot.pods[pos]!,
    rules.demand.perReplica,
  );
  const view: View = {
    pos,
    c,
    location: index.locationOf[pos]!,
    running: mine,
    verdict: "fit",
    selected: true,
    wanted: true,
    reasons: noReasons,
    fit: Math.max(0, Math.min(unboundedFit, mine + room)),
    cap: 0,
    weight: 0,
    usable: false,
    failed: false,
    scores: noScores,
    total: 0,
    taken: false,
    replicas: 0,
  };
  let input: FilterInput | undefined;
  const check = (name: (typeof filters)[number][0], filter: (input: FilterInput) => Verdict) => {
    input ??= { cluster: c, apiResources: index.apiResources[pos], rules, running: mine, room };
    apply(name, filter(input));
  };
  const apply = (name: (typeof filters)[number][0], v: Verdict) => {
    if (v.verdict === "fit") return;
    for (const r of v.reasons) note(view, r);
    if (v.verdict === "hold") {
      if (view.verdict === "fit") view.verdict = "hold";
      return;
    }
    view.verdict = "unfit";
    if (name === "Health" && mine > 0) view.failed = true;
    if (name === "Selection") view.selected = false;
    if (name === "Selection" || name === "Taints" || name === "ApiResources") view.wanted = false;
  };
  if (!selected) {
    check("Selection", selection);
    if (!view.selected) return view;
  }
  if (hot.taints[pos]! > 0) {
    // Where it runs nothing, the verdict depends on the taints alone: once per distinct set of taints.
    const id = index.taintSet[pos]!;
    if (mine === 0) {
      input ??= { cluster: c, apiResources: index.apiResources[pos], rules, running: mine, room };
      run.taints[id] ??= taints(input);
      apply("Taints", run.taints[id]!);
    } else check("Taints", taints);
  }
  const set = index.apiSet[pos]!;
  if (set >= 0) {
    let served = run.served[set]!;
    if (served === 0) {
      const kinds = index.apiSets[set]!;
      served = rules.demand.kinds.every((k) => kinds.has(k)) ? 1 : 2;
      run.served[set] = served;
    }
    if (served === 2) check("ApiResources", apiResources);
  }
  if (hot.ready[pos] !== 1 || rules.now - hot.since[pos]! < rules.stableMs) check("Health", health);
  if (mine + room < rules.need) check("Resources", resources);
  view.cap = view.verdict === "hold" ? Math.min(mine, view.fit) : view.fit;
  return view;
}

// Most clusters end with no reason and rejected ones with no score: they share these (never mutated).
const noReasons: readonly string[] = Object.freeze([]);
const noScores: Readonly<Record<string, number>> = Object.freeze({});

function note(view: View, reason: string): void {
  if (view.reasons === noReasons) view.reasons = [reason];
  else (view.reasons as string[]).push(reason);
}

/** Scores every usable cluster with the score plugins of ./scores.ts and sums them into its total. */
function scoreAll(
  hot: FleetIndex["hot"],
  usable: View[],
  placement: PlacementSpec,
  constraints: readonly SpreadConstraint[],
  multi: boolean,
): void {
  // Everything is relative to the cluster's own Location (for spread by location, to the roomiest
  // Location), so that a Location's scores do not depend on whether the others were looked at.
  const byLocation = new Map<string, View[]>();
  for (const v of usable) {
    const list = byLocation.get(v.location);
    if (list) list.push(v);
    else byLocation.set(v.location, [v]);
  }
  const locationFit = new Map<string, number>();
  let bestLocationFit = 0;
  if (multi && constraints.some((s) => s.by === "location")) {
    for (const [location, vs] of byLocation) {
      const fit = vs.reduce((n, v) => n + v.fit, 0);
      locationFit.set(location, fit);
      bestLocationFit = Math.max(bestLocationFit, fit);
    }
  }
  const byRegion = constraints.some((s) => s.by === "region");
  const byZone = constraints.some((s) => s.by === "zone");
  const tolerations = placement.tolerations ?? [];
  const mine = constraints.map(() => 0);
  const best = constraints.map(() => 0);
  for (const [location, vs] of byLocation) {
    let maxFit = 0;
    let maxZones = 0;
    const regionFit = new Map<string, number>();
    let bestRegionFit = 0;
    for (const v of vs) {
      maxFit = Math.max(maxFit, v.fit);
      if (byZone) maxZones = Math.max(maxZones, v.c.zones.length);
      if (byRegion) {
        const r = groupOf(v.c, "region");
        regionFit.set(r, (regionFit.get(r) ?? 0) + v.fit);
      }
    }
    for (const f of regionFit.values()) bestRegionFit = Math.max(bestRegionFit, f);
    for (const v of vs) {
      const free = freeCapacity({ fit: v.fit, maxFit });
      const runs = alreadyRunning({ running: v.running });
      const taint = hot.taints[v.pos] === 0 ? 100 : taintPreference({ cluster: v.c, tolerations });
      if (constraints.length === 0) {
        v.scores = { FreeCapacity: free, AlreadyRunning: runs, TaintPreference: taint };
        v.total = free + runs + taint;
        continue;
      }
      constraints.forEach((s, k) => {
        if (s.by === "zone") {
          mine[k] = v.c.zones.length;
          best[k] = maxZones;
        } else if (s.by === "region") {
          mine[k] = regionFit.get(groupOf(v.c, "region"))!;
          best[k] = bestRegionFit;
        } else {
          mine[k] = multi ? locationFit.get(location)! : 1;
          best[k] = multi ? bestLocationFit : 1;
        }
      });
      const spreads = spread({ mine, best });
      v.scores = { FreeCapacity: free, AlreadyRunning: runs, TaintPreference: taint, Spread: spreads };
      v.total = free + runs + taint + spreads;
    }
  }
}

/** Picks Locations and clusters and sets each view's replicas; returns why it is unschedulable, if it is. */
function place(
  views: View[],
  usable: View[],
  placement: PlacementSpec,
  constraints: readonly SpreadConstraint[],
  home: string | undefined,
  traceAll: boolean,
): { problem?: string; chosen: ReadonlySet<string> } {
  const chosen = new Set<string>();
  const problem = placeIn(chosen, views, usable, placement, constraints, home, traceAll);
  return problem ? { problem, chosen } : { chosen };
}

function placeIn(
  chosen: Set<string>,
  views: View[],
  usable: View[],
  placement: PlacementSpec,
  constraints: readonly SpreadConstraint[],
  known: string | undefined,
  traceAll: boolean,
): string | undefined {
  const replicas = placement.replicas;
  if (!views.some((v) => v.selected)) return "Selection: no cluster matches the placement";

  const multi = (placement.locations?.length ?? 0) >= 2;
  const wantedLocations = new Set(views.filter((v) => v.wanted).map((v) => v.location));
  const runningIn = new Map<string, number>();
  for (const v of views)
    if (v.running > 0 && wantedLocations.has(v.location))
      runningIn.set(v.location, (runningIn.get(v.location) ?? 0) + v.running);

  if (multi) for (const l of wantedLocations) chosen.add(l);
  else {
    const home = known
      ? { location: known, why: "where the application runs" }
      : residency(usable, placement, constraints);
    if (!home) return unplaceable(views);
    chosen.add(home.location);
    const elsewhere = `Residency: one Location only, ${home.location}: ${home.why}`;
    for (const v of usable)
      if (v.location !== home.location && (traceAll || v.running > 0)) note(v, elsewhere);
  }
  const where = multi ? "" : ` in Location ${[...chosen][0]}`;

  const { taken, groups } = takeWithinMaxGroups(
    usable.filter((v) => chosen.has(v.location)),
    constraints,
  );
  // (A multi-Location Divided application whose clusters all failed keeps its Locations' shares, below.)
  const failedIn = (location: string) => views.some((v) => v.failed && v.wanted && v.location === location);
  if (
    taken.length === 0 &&
    !(multi && replicas.mode === "Divided" && runningIn.size > 0) &&
    ![...chosen].some(failedIn)
  )
    return unplaceable(views, multi ? undefined : [...chosen][0]);
  for (const [k, s] of constraints.entries())
    if (s.minGroups !== undefined && groups[k]!.size < s.minGroups)
      return `Spread: needs at least ${s.minGroups} ${s.by}s${where}, the eligible clusters cover ${groups[k]!.size}${groups[k]!.size > 0 ? ` (${[...groups[k]!].sort().join(", ")})` : ""}`;

  if (replicas.mode === "Duplicated") {
    const runs = `Duplicated: runs ${plural(replicas.count, "replica")}`;
    for (const v of taken) {
      v.replicas = v.verdict === "hold" ? Math.min(v.running, replicas.count) : replicas.count;
      note(v, v.replicas === replicas.count ? runs : `Duplicated: runs ${plural(v.replicas, "replica")}`);
    }
    // With no eligible cluster left, the copies on failed clusters stay: nothing could replace them.
    if (taken.length === 0)
      for (const l of chosen) keepOnFailed(views, l, Number.MAX_SAFE_INTEGER, replicas.count);
    return undefined;
  }

  const problems: string[] = [];
  const budgets = multi
    ? locationBudgets(
        views,
        new Set([...taken.map((v) => v.location), ...runningIn.keys()]),
        runningIn,
        replicas.count,
        replicas.weighting === "Static",
      )
    : new Map([[[...chosen][0]!, replicas.count]]);
  const shared = [...budgets.values()].reduce((a, b) => a + b, 0);
  if (shared < replicas.count)
    problems.push(
      `Resources: ${plural(replicas.count - shared, "replica")} fit in none of the listed Locations`,
    );
  for (const [location, budget] of [...budgets].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const members = taken.filter((v) => v.location === location);
    let placed = divideInLocation(members, budget, replicas.weighting);
    if (placed < budget) placed += keepOnFailed(views, location, budget - placed);
    if (placed < budget)
      problems.push(
        members.length === 0
          ? `Location ${location}: no eligible cluster for its ${plural(budget, "replica")} (they never move to another Location)`
          : `Resources: only ${placed} of ${budget} replicas fit in Location ${location}`,
      );
  }
  const spreadProblem = coverSpreadMinimums(taken, constraints);
  if (spreadProblem) {
    for (const v of taken) v.replicas = 0;
    return spreadProblem;
  }
  return problems.length > 0 ? problems.join("; ") : undefined;
}

/**
 * Spread's maxGroups: takes clusters in order — those running the application first, then by total score,
 * then by name — skipping any that would bring a constraint above its maxGroups. Returns them in name
 * order with the groups they cover.
 */
function takeWithinMaxGroups(
  candidates: View[],
  constraints: readonly SpreadConstraint[],
): { taken: View[]; groups: Array<Set<string>> } {
  const groups = constraints.map(() => new Set<string>());
  if (constraints.every((s) => s.maxGroups === undefined)) {
    // Nothing limits the groups: every candidate is taken, in name order already.
    for (const v of candidates) {
      v.taken = true;
      constraints.forEach((s, k) => {
        for (const g of groupsOf(v.c, s.by)) groups[k]!.add(g);
      });
    }
    return { taken: candidates, groups };
  }
  const pool = candidates.sort(
    (a, b) => Number(b.running > 0) - Number(a.running > 0) || b.total - a.total || a.pos - b.pos,
  );
  const taken: View[] = [];
  const uses = constraints.map(() => ({ size: -1, text: "" }));
  for (const v of pool) {
    let blocked: string | undefined;
    for (let k = 0; k < constraints.length && !blocked; k++) {
      const s = constraints[k]!;
      if (s.maxGroups === undefined) continue;
      const have = groups[k]!;
      let after = have.size;
      for (const g of groupsOf(v.c, s.by)) if (!have.has(g)) after += 1;
      if (after <= s.maxGroups) continue;
      const used = uses[k]!;
      if (used.size !== have.size) {
        used.size = have.size;
        used.text = [...have].sort().join(", ");
      }
      blocked = `Spread: would bring the application to ${after} ${s.by}s, above maxGroups ${s.maxGroups} (it uses ${used.text})`;
    }
    if (blocked) {
      note(v, blocked);
      continue;
    }
    constraints.forEach((s, k) => {
      for (const g of groupsOf(v.c, s.by)) groups[k]!.add(g);
    });
    v.taken = true;
    taken.push(v);
  }
  taken.sort((a, b) => a.pos - b.pos);
  return { taken, groups };
}

/** The Location of a new single-Location application, and why; undefined when no Location can take it. */
function residency(
  usable: View[],
  placement: PlacementSpec,
  constraints: readonly SpreadConstraint[],
): { location: string; why: string } | undefined {
  const byLocation = new Map<string, View[]>();
  for (const v of usable) {
    const list = byLocation.get(v.location);
    if (list) list.push(v);
    else byLocation.set(v.location, [v]);
  }
  let best: { location: string; feasible: boolean; score: number } | undefined;
  for (const [location, vs] of byLocation) {
    let score = 0;
    let room = 0;
    for (const v of vs) {
      score += v.total;
      room += v.cap;
    }
    const fitsAll = placement.replicas.mode === "Duplicated" || room >= placement.replicas.count;
    const spreads = constraints.every((s) => {
      if (s.minGroups === undefined || s.by === "location") return true;
      const groups = new Set(vs.flatMap((v) => groupsOf(v.c, s.by)));
      return groups.size >= s.minGroups;
    });
    const candidate = { location, feasible: fitsAll && spreads, score };
    if (
      !best ||
      Number(candidate.feasible) > Number(best.feasible) ||
      (candidate.feasible === best.feasible &&
        (candidate.score > best.score || (candidate.score === best.score && location < best.location)))
    )
      best = candidate;
  }
  if (!best) return undefined;
  return {
    location: best.location,
    why: best.feasible
      ? `of the Locations that can hold every replica and meet the spread, it scores highest (${best.score})`
      : `no Location can hold every replica and meet the spread; it has the highest score (${best.score})`,
  };
}

/**
 * Shares a Divided count between the Locations of a multi-Location placement, in proportion to the
 * capacity (or weights) of their wanted clusters whatever their health, so that a failing cluster never
 * moves replicas to another Location; keeps the previous shares within the tolerance.
 */
function locationBudgets(
  views: View[],
  chosen: ReadonlySet<string>,
  runningIn: ReadonlyMap<string, number>,
  count: number,
  byWeight: boolean,
): Map<string, number> {
  const locations = [...chosen].sort();
  const weights = locations.map((l) => {
    let w = 0;
    for (const v of views) if (v.wanted && v.location === l) w += byWeight ? v.weight : v.fit;
    return w;
  });
  const ideal = divide(
    count,
    weights,
    locations.map(() => count),
  ).shares;
  const previous = locations.map((l) => runningIn.get(l) ?? 0);
  // Static weights share the count exactly; capacity-derived shares are kept within the tolerance.
  const kept =
    !byWeight && previous.some((n) => n > 0)
      ? stabilize(
          previous,
          ideal,
          locations.map(() => count),
          locations.map(() => true),
        ).shares
      : ideal;
  return new Map(locations.map((l, i) => [l, kept[i]!]));
}

/** Divides a Location's budget over its chosen clusters; returns how many replicas were placed. */
function divideInLocation(
  members: View[],
  budget: number,
  weighting: "AvailableCapacity" | "Static",
): number {
  if (members.length === 0) return 0;
  let held = members.map((v) => (v.verdict === "hold" ? v.cap : 0));
  if (held.reduce((a, b) => a + b, 0) > budget) held = divide(budget, held, held).shares;
  const rest = budget - held.reduce((a, b) => a + b, 0);
  const growing = divide(
    rest,
    members.map((v) => (v.verdict === "fit" ? v.weight : 0)),
    members.map((v) => (v.verdict === "fit" ? v.cap : 0)),
  );
  const ideal = members.map((_, i) => held[i]! + growing.shares[i]!);
  const previous = members.map((v) => v.running);
  const hadAny = previous.some((n) => n > 0);
  // Static weights are the split the user asked for: exact, unless a cluster's room caps its share — then,
  // as for a split derived from capacity, the previous one stands within the tolerance.
  const exact = weighting === "Static" && !capsBind(rest, members, growing.shares);
  const result =
    hadAny && !exact
      ? stabilize(
          previous,
          ideal,
          members.map((v) => v.cap),
          members.map((v) => v.verdict === "fit"),
        )
      : { shares: ideal, outcome: "rebalanced" as const };
  members.forEach((v, i) => {
    v.replicas = result.shares[i]!;
    const quota = held[i]! + growing.quotas[i]!;
    const basis = weighting === "Static" ? `weight ${v.weight}` : `fits ${v.fit}`;
    note(v, `Divided: ${v.replicas} of ${budget} replicas (ideal ${round1(quota)}, ${basis})`);
    if (!hadAny) return;
    if (exact) {
      if (v.running !== v.replicas)
        note(v, `Static: ${v.running} → ${v.replicas}, the split the weights ask for`);
    } else if (result.outcome === "rebalanced") {
      if (v.running !== v.replicas)
        note(v, `Rebalance: ${v.running} → ${v.replicas}; the previous split strayed beyond the tolerance`);
    } else if (v.running !== v.replicas)
      note(
        v,
        `Stability: ${v.running} → ${v.replicas}, the fewest moves; within ±${tolerance(ideal[i]!)} of its ideal ${ideal[i]}`,
      );
    else if (v.running > 0)
      note(v, `Stability: keeps ${v.running}, within ±${tolerance(ideal[i]!)} of its ideal ${ideal[i]}`);
  });
  return result.shares.reduce((a, b) => a + b, 0);
}

/**
 * Failover moves only what fits: of `shortfall` replicas no eligible cluster of `location` could take, the
 * clusters failed beyond the tolerance keep up to what they run (each at most `most`). Returns how many.
 */
function keepOnFailed(views: View[], location: string, shortfall: number, most = Infinity): number {
  const failed = views.filter((v) => v.failed && v.wanted && v.location === location);
  if (failed.length === 0) return 0;
  const running = failed.map((v) => Math.min(v.running, most));
  const total = running.reduce((a, b) => a + b, 0);
  const shares = most === Infinity ? divide(Math.min(shortfall, total), running, running).shares : running;
  let kept = 0;
  failed.forEach((v, i) => {
    v.replicas = shares[i]!;
    kept += v.replicas;
    if (v.replicas > 0)
      note(
        v,
        `Failover: keeps ${plural(v.replicas, "replica")}: no eligible cluster in Location ${location} has room for them`,
      );
  });
  return kept;
}

/** Why replicas stay on failed clusters: those clusters with their replicas, and why each other one is out. */
function failoverBlocked(views: readonly View[]): Outcome["failoverBlocked"] {
  const kept = views.filter((v) => v.failed && v.replicas > 0);
  if (kept.length === 0) return undefined;
  const locations = new Set(kept.map((v) => v.location));
  const local = views.filter((v) => v.selected && locations.has(v.location));
  const eligible = local.some((v) => v.taken);
  const out = local
    .filter((v) => v.failed || !v.taken || v.replicas >= v.cap)
    .map((v) => {
      const why = v.failed ? v.reasons.find((r) => r.startsWith("Health:")) : v.reasons[0];
      return `${v.c.name}: ${v.taken ? `full, fits ${v.fit}` : (why ?? "not eligible")}`;
    });
  const holders = kept.map((v) => `${v.c.name} (${v.replicas})`).join(", ");
  return {
    reason: eligible ? "InsufficientCapacity" : "NoEligibleCluster",
    message: `replicas stay on ${holders}: no eligible cluster has room for them. ${out.join("; ")}`,
  };
}

/** True when what fits in some `fit` member changed its share of `rest` from what its weight alone gives. */
function capsBind(rest: number, members: readonly View[], shares: readonly number[]): boolean {
  const weights = members.map((v) => (v.verdict === "fit" ? v.weight : 0));
  const unbounded = divide(
    rest,
    weights,
    weights.map(() => rest),
  ).shares;
  return unbounded.some((n, i) => n !== shares[i]);
}

/** Moves Divided replicas one at a time until they cover every minGroups; returns why not, if it cannot. */
function coverSpreadMinimums(taken: View[], constraints: readonly SpreadConstraint[]): string | undefined {
  if (constraints.every((s) => s.minGroups === undefined)) return undefined;
  const order = [...taken].sort(
    (a, b) => Number(b.running > 0) - Number(a.running > 0) || b.total - a.total || a.pos - b.pos,
  );
  for (const s of constraints) {
    if (s.minGroups === undefined) continue;
    for (;;) {
      const covered = new Set(taken.filter((v) => v.replicas > 0).flatMap((v) => groupsOf(v.c, s.by)));
      if (covered.size >= s.minGroups) break;
      const receiver = order.find(
        (v) =>
          v.verdict === "fit" &&
          v.replicas === 0 &&
          v.cap > 0 &&
          groupsOf(v.c, s.by).some((g) => !covered.has(g)),
      );
      // A donor gives one replica without uncovering a group of any spread minimum.
      const keepsCover = (d: View) =>
        d.replicas >= 2 ||
        constraints.every(
          (k) =>
            k.minGroups === undefined ||
            groupsOf(d.c, k.by).every((g) =>
              taken.some((o) => o !== d && o.replicas > 0 && groupsOf(o.c, k.by).includes(g)),
            ),
        );
      const donor = taken
        .filter((v) => v !== receiver && v.replicas > 0 && keepsCover(v))
        .sort(
          (a, b) =>
            Number(b.location === receiver?.location) - Number(a.location === receiver?.location) ||
            b.replicas - a.replicas ||
            order.indexOf(b) - order.indexOf(a),
        )[0];
      if (!receiver || !donor)
        return `Spread: the replicas cover ${covered.size} ${s.by}s, fewer than minGroups ${s.minGroups}${covered.size > 0 ? ` (${[...covered].sort().join(", ")})` : ""}`;
      donor.replicas -= 1;
      receiver.replicas += 1;
      note(receiver, `Spread: given a replica from ${donor.c.name} to cover minGroups ${s.minGroups}`);
    }
  }
  return undefined;
}

/** Why nothing can be placed: no selected cluster passes every filter. */
function unplaceable(views: View[], location?: string): string {
  const rejections = new Map<string, number>();
  let selected = 0;
  for (const v of views) {
    if (!v.selected || (location !== undefined && v.location !== location)) continue;
    selected += 1;
    const plugins = new Set(v.reasons.map((r) => r.slice(0, r.indexOf(":"))));
    for (const p of plugins) rejections.set(p, (rejections.get(p) ?? 0) + 1);
  }
  const counts = [...rejections]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([p, n]) => `${p} ${n}`)
    .join(", ");
  const where = location === undefined ? "" : ` in Location ${location}`;
  return `no eligible cluster${where}: ${plural(selected, "cluster")} selected, rejected by ${counts || "none"}`;
}

const none: ReadonlyMap<string, number> = new Map();

function entry(v: View): TraceEntry {
  return {
    cluster: v.c.name,
    location: v.location,
    verdict: v.verdict,
    chosen: v.replicas > 0,
    replicas: v.replicas,
    reasons: v.reasons,
    scores: v.scores,
    total: v.total,
  };
}

function traceOf(run: Run, views: View[]): TraceEntry[] {
  const byPos = new Map(views.map((v) => [v.pos, v]));
  const alone: Run = { ...run, running: none };
  return run.index.clusters.map((_, pos) => entry(byPos.get(pos) ?? evaluate(alone, pos, false)));
}

function setOf(values: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return values ? new Set(values) : undefined;
}

function round1(n: number): string {
  // Quotas are never negative; integers print faster than fractions: 7.46 → 75 tenths → "7.5".
  const tenths = Math.round(n * 10);
  const tenth = tenths % 10;
  return tenth === 0 ? String(tenths / 10) : `${(tenths - tenth) / 10}.${tenth}`;
}
