/**
 * A Cluster's `NetworkOverlap` and `NetworkDrift` conditions (issue 15, item 6; docs/network-plan.md, On the
 * hub): what `detectNetworkProblems` finds when it runs over a Location's clusters — each with what its agent
 * observed (`status.observedNetwork`) and what the plan gave it (`spec.network`).
 *
 * - `NetworkOverlap` True names, for each overlap, the other cluster and both ranges (a cluster's pods or nodes
 *   inside its own service range too); False when there is none.
 * - `NetworkDrift` True names the pod or service addresses outside the planned ranges; False when all lie
 *   inside; Unknown when the cluster has no planned ranges to drift from.
 *
 * A cluster whose agent has reported nothing of its network gets neither (and loses them). Nothing is compared
 * across Locations. A condition's transition time moves only when its status does. Pure.
 */
import type { Condition } from "../resources/meta.ts";
import type { ClusterNetwork } from "./allocation.ts";
import { detectNetworkProblems, type NetworkDetection, type NetworkOverlap } from "./detection.ts";
import type { ObservedClusterNetwork } from "./observed-network.ts";

export const networkOverlapConditionType = "NetworkOverlap";
export const networkDriftConditionType = "NetworkDrift";
const ownedTypes: readonly string[] = [networkOverlapConditionType, networkDriftConditionType];

/** The overlaps a condition's message names before it says how many more there are. */
const namedInMessage = 5;

/** A Cluster as the pass reads it. */
export interface ClusterNetworkState {
  name: string;
  location: string;
  /** What its agent observed, if it reported. */
  observed?: Partial<ObservedClusterNetwork>;
  /** Its planned ranges (`spec.network`), if it has them. */
  allocation?: ClusterNetwork;
  conditions: readonly Condition[];
}

/**
 * The network conditions of each cluster whose conditions the pass at `now` changes: both of them, or none (a
 * cluster that reports no network loses them). `withNetworkConditions` puts them in a cluster's list.
 */
export function networkConditionChanges(
  clusters: readonly ClusterNetworkState[],
  now: Date,
): Map<string, Condition[]> {
  const byLocation = new Map<string, ClusterNetworkState[]>();
  for (const c of clusters) {
    const members = byLocation.get(c.location);
    if (members) members.push(c);
    else byLocation.set(c.location, [c]);
  }
  const changes = new Map<string, Condition[]>();
  for (const [location, members] of byLocation) {
    const observed = members.flatMap((c) =>
      c.observed
        ? [
            {
              cluster: c.name,
              location,
              podCIDRs: c.observed.podCIDRs ?? [],
              ...(c.observed.serviceCIDRs ? { serviceCIDRs: c.observed.serviceCIDRs } : {}),
              podIPs: c.observed.podIPs ?? [],
            },
          ]
        : [],
    );
    const detection = detectNetworkProblems(
      observed,
      members.flatMap((c) => (c.allocation ? [c.allocation] : [])),
    );
    for (const c of members) {
      const wanted = c.observed ? conditionsFor(c, detection, now) : [];
      if (withNetworkConditions(c.conditions, wanted)) changes.set(c.name, wanted);
    }
  }
  return changes;
}

function conditionsFor(c: ClusterNetworkState, detection: NetworkDetection, now: Date): Condition[] {
  const overlaps = detection.overlaps.filter((o) => o.a.cluster === c.name || o.b.cluster === c.name);
  const overlap: Omit<Condition, "lastTransitionTime"> = overlaps.length
    ? {
        type: networkOverlapConditionType,
        status: "True",
        reason: "RangesOverlap",
        message: listed(overlaps.map((o) => overlapText(o, c.name))),
      }
    : {
        type: networkOverlapConditionType,
        status: "False",
        reason: "NoOverlap",
        message: `no range shares an address with another reported cluster of ${c.location}, nor with its own service range`,
      };
  const drifts = detection.drift.filter((d) => d.cluster === c.name);
  const notListed = c.observed?.podIPBlocksNotListed
    ? ` (${c.observed.podIPBlocksNotListed} more blocks of pod addresses outside its podCIDRs were not reported)`
    : "";
  const drift: Omit<Condition, "lastTransitionTime"> = !c.allocation
    ? {
        type: networkDriftConditionType,
        status: "Unknown",
        reason: "NotPlanned",
        message: "the cluster has no planned ranges (spec.network) to compare with",
      }
    : drifts.length
      ? {
          type: networkDriftConditionType,
          status: "True",
          reason: "OutsidePlan",
          message: `${drifts
            .map((d) => `${d.kind} ${d.observed.join(",")} outside the planned ${d.planned.join(",")}`)
            .join("; ")}${notListed}`,
        }
      : {
          type: networkDriftConditionType,
          status: "False",
          reason: "WithinPlan",
          message: `pods and ServiceCIDRs lie inside the planned ranges${notListed}`,
        };
  return [since(overlap, c.conditions, now), since(drift, c.conditions, now)];
}

/** An overlap as the cluster `self` reads it: its range first, then the other cluster's. */
function overlapText(o: NetworkOverlap, self: string): string {
  if (o.a.cluster === o.b.cluster) return `${o.a.kind} ${o.a.range} lies in its own ${o.b.kind} ${o.b.range}`;
  const [mine, theirs] = o.a.cluster === self ? [o.a, o.b] : [o.b, o.a];
  return `${mine.kind} ${mine.range} overlaps cluster "${theirs.cluster}"'s ${theirs.kind} ${theirs.range}`;
}

function listed(items: readonly string[]): string {
  const shown = items.slice(0, namedInMessage).join("; ");
  return items.length > namedInMessage ? `${shown}; and ${items.length - namedInMessage} more` : shown;
}

function since(
  next: Omit<Condition, "lastTransitionTime">,
  current: readonly Condition[],
  now: Date,
): Condition {
  const before = current.find((c) => c.type === next.type);
  const lastTransitionTime =
    before && before.status === next.status
      ? before.lastTransitionTime
      : now.toISOString().replace(/\.\d+Z$/, "Z");
  return { ...next, lastTransitionTime };
}

/**
 * `current` with the network conditions `wanted` in the places theirs held (new ones at the end, unwanted ones
 * gone): others' conditions, and the order other writers keep, are left alone. Undefined when nothing changes.
 */
export function withNetworkConditions(
  current: readonly Condition[],
  wanted: readonly Condition[],
): Condition[] | undefined {
  // Field by field: a stored condition's keys may come back in another order.
  const same = (a: Condition | undefined, b: Condition | undefined) =>
    a === b ||
    (a !== undefined &&
      b !== undefined &&
      a.status === b.status &&
      a.reason === b.reason &&
      a.message === b.message &&
      a.lastTransitionTime === b.lastTransitionTime);
  const byType = new Map(wanted.map((c) => [c.type, c]));
  const unchanged = ownedTypes.every((t) =>
    same(
      current.find((c) => c.type === t),
      byType.get(t),
    ),
  );
  if (unchanged) return undefined;
  const next = current.flatMap((c) =>
    ownedTypes.includes(c.type) ? (byType.has(c.type) ? [byType.get(c.type)!] : []) : [c],
  );
  for (const c of wanted) if (!current.some((x) => x.type === c.type)) next.push(c);
  return next;
}
