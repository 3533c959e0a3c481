/**
 * Filter plugins: each takes one input object about one cluster and returns a verdict. `fit`: the cluster
 * may receive replicas; `hold`: it keeps the replicas it runs but receives no new ones; `unfit`: it gets
 * nothing. Every reason starts with the plugin's name and says why, with numbers.
 */
import { formatBytes, formatCores } from "../quantity/quantity.ts";
import { matchesSelector, type Requirement } from "../resources/label-selector.ts";
import type { ClusterFacts, TaintEffect } from "./fleet-index.ts";
import type { PlacementSpec, Toleration } from "./placement.ts";

/** What one replica asks of a cluster, and the API kinds the application's manifests need served. */
export interface Demand {
  perReplica: { cpuMilli: number; memoryBytes: number; pods: number };
  /** `group/version/Kind`, e.g. `apps/v1/Deployment`, `v1/ConfigMap`. */
  kinds: string[];
}

/** A placement read once per scheduling run into the shapes the filters test against. */
export interface Rules {
  placement: PlacementSpec;
  requirements: Requirement[];
  names: ReadonlySet<string> | undefined;
  locations: ReadonlySet<string> | undefined;
  regions: ReadonlySet<string> | undefined;
  environments: ReadonlySet<string> | undefined;
  businesses: ReadonlySet<string> | undefined;
  demand: Demand;
  /** Replicas that must fit in one cluster: the count when Duplicated, one when Divided. */
  need: number;
  toleranceMs: number;
  stableMs: number;
  now: number;
}

export interface FilterInput {
  cluster: ClusterFacts;
  /** The cluster's served API resources (undefined: unknown, taken as served). */
  apiResources: ReadonlySet<string> | undefined;
  rules: Rules;
  /** Replicas of the application the cluster runs now. */
  running: number;
  /** `replicasThatFit(cluster.free, demand.perReplica)`, worked out once per cluster. */
  room: number;
}

export type Verdict =
  | { verdict: "fit" }
  | { verdict: "hold"; reasons: string[] }
  | { verdict: "unfit"; reasons: string[] };

const fit: Verdict = { verdict: "fit" };

/** Selection: names, Locations, Regions, environments, businesses and the label selector, all of which must hold. */
export function selection({ cluster: c, rules: r }: FilterInput): Verdict {
  const reasons: string[] = [];
  const p = r.placement;
  if (r.names && !r.names.has(c.name))
    reasons.push(`Selection: not one of clusterNames ${list(p.clusterNames!)}`);
  if (r.locations && !r.locations.has(c.location))
    reasons.push(`Selection: Location ${c.location} is not one of ${list(p.locations!)}`);
  if (r.regions && !(c.region !== undefined && r.regions.has(c.region)))
    reasons.push(
      c.region === undefined
        ? `Selection: has no Region, regions ${list(p.regions!)} asked`
        : `Selection: Region ${c.region} is not one of ${list(p.regions!)}`,
    );
  for (const [key, set, values] of [
    ["environment", r.environments, p.environments],
    ["business", r.businesses, p.businesses],
  ] as const) {
    const value = c.labels[key];
    if (set && !(value !== undefined && set.has(value)))
      reasons.push(
        value === undefined
          ? `Selection: has no ${key} label, ${list(values!)} asked`
          : `Selection: ${key} ${value} is not one of ${list(values!)}`,
      );
  }
  for (const req of r.requirements)
    if (!matchesSelector([req], c.labels)) {
      const value = c.labels[req.key];
      reasons.push(
        `Selection: ${describeRequirement(req)} does not hold (${value === undefined ? `no label ${req.key}` : `${req.key}=${value}`})`,
      );
    }
  return reasons.length > 0 ? { verdict: "unfit", reasons } : fit;
}

/** True when Selection would pass; the same test without building reasons, for the many clusters it skips. */
export function isSelected(c: ClusterFacts, r: Rules): boolean {
  if (r.names && !r.names.has(c.name)) return false;
  if (r.locations && !r.locations.has(c.location)) return false;
  if (r.regions && !(c.region !== undefined && r.regions.has(c.region))) return false;
  const env = c.labels.environment;
  if (r.environments && !(env !== undefined && r.environments.has(env))) return false;
  const business = c.labels.business;
  if (r.businesses && !(business !== undefined && r.businesses.has(business))) return false;
  return r.requirements.length === 0 || matchesSelector(r.requirements, c.labels);
}

/**
 * Taints: a NoExecute taint the placement does not tolerate rejects the cluster; an untolerated NoSchedule
 * taint lets it keep the replicas it runs (as Kubernetes keeps running pods) but gives it no new ones.
 * PreferNoSchedule only lowers the TaintPreference score.
 */
export function taints({ cluster: c, rules: r, running }: FilterInput): Verdict {
  if (c.taints.length === 0) return fit;
  const tolerations = r.placement.tolerations ?? [];
  const noExecute: string[] = [];
  const noSchedule: string[] = [];
  for (const t of c.taints) {
    if (t.effect === "PreferNoSchedule" || tolerates(tolerations, t)) continue;
    (t.effect === "NoExecute" ? noExecute : noSchedule).push(describeTaint(t));
  }
  if (noExecute.length > 0 || (noSchedule.length > 0 && running === 0))
    return {
      verdict: "unfit",
      reasons: [`Taints: does not tolerate ${[...noExecute, ...noSchedule].join(", ")}`],
    };
  if (noSchedule.length > 0)
    return {
      verdict: "hold",
      reasons: [
        `Taints: does not tolerate ${noSchedule.join(", ")}; keeps its ${plural(running, "replica")}, gets no new ones`,
      ],
    };
  return fit;
}

/** ApiResources: every kind the application's manifests use must be served (unknown counts as served). */
export function apiResources({ apiResources: served, rules: r }: FilterInput): Verdict {
  if (!served) return fit;
  for (const k of r.demand.kinds)
    if (!served.has(k)) {
      const missing = r.demand.kinds.filter((kind) => !served.has(kind));
      return { verdict: "unfit", reasons: [`ApiResources: does not serve ${missing.join(", ")}`] };
    }
  return fit;
}

/**
 * Health: not ready beyond the tolerance rejects; not ready within it, or ready for less than the stable
 * period, keeps what the cluster runs and gives it nothing new (a cluster running nothing gets nothing).
 */
export function health({ cluster: c, rules: r, running }: FilterInput): Verdict {
  const age = r.now - c.health.since;
  const secs = Math.round(age / 1000);
  const tol = r.toleranceMs / 1000;
  const stable = r.stableMs / 1000;
  if (!c.health.ready) {
    if (age > r.toleranceMs)
      return {
        verdict: "unfit",
        reasons: [`Health: not ready for ${secs} s, beyond the ${tol} s tolerance`],
      };
    return running > 0
      ? {
          verdict: "hold",
          reasons: [
            `Health: not ready for ${secs} s, within the ${tol} s tolerance: keeps its ${plural(running, "replica")}, gets no new ones`,
          ],
        }
      : {
          verdict: "unfit",
          reasons: [`Health: not ready for ${secs} s; gets replicas once ready for ${stable} s`],
        };
  }
  if (age < r.stableMs)
    return running > 0
      ? {
          verdict: "hold",
          reasons: [
            `Health: ready for ${secs} s, less than the ${stable} s stable period: keeps its ${plural(running, "replica")}, gets no new ones`,
          ],
        }
      : {
          verdict: "unfit",
          reasons: [`Health: ready for ${secs} s only; gets replicas once ready for ${stable} s`],
        };
  return fit;
}

/** Upper bound on replicas per cluster when a replica asks for nothing (keeps the division exact). */
export const unboundedFit = 1_000_000;

/**
 * How many more replicas fit in the free cpu (millicores), memory (bytes) and pods: the scarcest resource
 * decides. Negative when the cluster is overcommitted (nodes lost): that many of its replicas no longer fit.
 */
export function replicasThatFit(
  cpuMilli: number,
  memoryBytes: number,
  pods: number,
  per: Demand["perReplica"],
): number {
  let n = unboundedFit;
  if (per.cpuMilli > 0) n = Math.min(n, Math.floor(cpuMilli / per.cpuMilli));
  if (per.memoryBytes > 0) n = Math.min(n, Math.floor(memoryBytes / per.memoryBytes));
  if (per.pods > 0) n = Math.min(n, Math.floor(pods / per.pods));
  return n;
}

/**
 * Resources: the replicas a cluster must hold (one when Divided, the count when Duplicated) fit in its free
 * capacity plus what the replicas it already runs use.
 */
export function resources({ cluster: c, rules: r, running, room }: FilterInput): Verdict {
  const per = r.demand.perReplica;
  if (running + room >= r.need) return fit;
  const reasons: string[] = [];
  const dims = [
    ["cpu", per.cpuMilli, c.free.cpuMilli, (m: number) => signed(m / 1000, formatCores)],
    ["memory", per.memoryBytes, c.free.memoryBytes, (b: number) => signed(b, formatBytes)],
    ["pods", per.pods, c.free.pods, (n: number) => String(n)],
  ] as const;
  for (const [dim, each, free, fmt] of dims) {
    if (each <= 0) continue;
    const available = free + running * each;
    if (available >= r.need * each) continue;
    const ask =
      r.need === 1
        ? `needs ${fmt(each)} ${dim} per replica`
        : `needs ${fmt(r.need * each)} ${dim} for ${r.need} replicas`;
    const own = running > 0 ? ` counting the ${plural(running, "replica")} it runs` : "";
    reasons.push(`Resources: ${ask}, ${fmt(available)} free${own}`);
  }
  return { verdict: "unfit", reasons };
}

/** The filters in the order they run; Selection first, and a cluster it rejects is not looked at further. */
export const filters = [
  ["Selection", selection],
  ["Taints", taints],
  ["ApiResources", apiResources],
  ["Health", health],
  ["Resources", resources],
] as const;

/** True when a toleration matches the taint, as Kubernetes matches them. */
export function tolerates(
  tolerations: readonly Toleration[],
  taint: { key: string; value?: string; effect: TaintEffect },
): boolean {
  return tolerations.some(
    (t) =>
      t.key === taint.key &&
      (t.effect === undefined || t.effect === taint.effect) &&
      (t.operator === "Exists" || (t.value ?? "") === (taint.value ?? "")),
  );
}

function describeTaint(t: { key: string; value?: string; effect: string }): string {
  return `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`;
}

function describeRequirement(r: Requirement): string {
  if (r.op === "in") return `${r.key} In (${r.values.join(", ")})`;
  if (r.op === "notin") return `${r.key} NotIn (${r.values.join(", ")})`;
  if (r.op === "exists") return `${r.key} Exists`;
  return `${r.key} DoesNotExist`;
}

function list(values: readonly string[]): string {
  const shown = values.slice(0, 5).join(", ");
  return values.length > 5 ? `[${shown}, … ${values.length - 5} more]` : `[${shown}]`;
}

function signed(n: number, fmt: (n: number) => string): string {
  return n < 0 ? `-${fmt(-n)}` : fmt(n);
}

/** "1 replica", "3 replicas". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
