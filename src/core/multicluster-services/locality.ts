/**
 * The locality chain (issue 15, docs/multi-cluster-services.md): for one consumer cluster, the sources of an
 * import ordered into tiers — the consumer itself (tier 0), the other clusters of its Region (tier 1), the
 * clusters of the Location's other Regions (tier 2) — and never a cluster of another Location. Only the ready
 * endpoints of healthy source clusters count; a source the hub holds unhealthy (its agent's lease lapsed, or the
 * cluster is Unreachable) leaves the chain whole, and nothing else about the import changes.
 *
 * The serving tier is the lowest tier with a ready endpoint: consumer-objects.ts publishes it in EndpointSlice
 * hints (so kube-proxy sends traffic there only), in each slice's `unitfleet.io/locality-tier` label and in the
 * ServiceImport's status.
 */
import type { EndpointGroup } from "./export-record.ts";
import type { MergedImport } from "./merge.ts";

/** 0: the consumer itself; 1: its Region; 2: the other Regions of its Location. */
export type LocalityTier = 0 | 1 | 2;
export const localityTierNames = ["cluster", "region", "location"] as const;

/** The consumer cluster an import is computed for. */
export interface ConsumerCluster {
  cluster: string;
  location: string;
  region: string;
  /** The zones of the consumer's nodes (`topology.kubernetes.io/zone`): where the serving tier's hints point. */
  zones: readonly string[];
}

/** One source cluster as this consumer sees it: its tier and its ready endpoints only. */
export interface TieredSource {
  cluster: string;
  region: string;
  tier: LocalityTier;
  readyEndpoints: number;
  /** The source's endpoint groups with only their ready endpoints (groups left empty are dropped). */
  endpointGroups: EndpointGroup[];
}

export interface TierSummary {
  tier: LocalityTier;
  clusters: string[];
  readyEndpoints: number;
}

export type LocalityChain =
  | {
      ok: true;
      /** Healthy sources by tier, then cluster name. */
      sources: TieredSource[];
      /** Every tier that has a healthy source, lowest first. */
      tiers: TierSummary[];
      /** The lowest tier with a ready endpoint; absent when no tier has one. */
      servingTier?: LocalityTier;
    }
  | { ok: false; reason: string };

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Orders the sources of `merged` for `consumer`. A consumer of another Location gets no chain at all (an
 * import never leaves its Location). `unhealthyClusters` are left out whole.
 */
export function localityChain(
  merged: MergedImport,
  consumer: ConsumerCluster,
  unhealthyClusters: ReadonlySet<string>,
): LocalityChain {
  if (consumer.location !== merged.location)
    return {
      ok: false,
      reason: `cluster "${consumer.cluster}" is in Location "${consumer.location}"; ${merged.namespace}/${merged.name} is exported in Location "${merged.location}" only`,
    };
  const sources: TieredSource[] = merged.sources
    .filter((s) => !unhealthyClusters.has(s.cluster))
    .map((s) => {
      const endpointGroups = s.endpointGroups
        .map((g) => ({ ...g, endpoints: g.endpoints.filter((e) => e.ready) }))
        .filter((g) => g.endpoints.length > 0);
      return {
        cluster: s.cluster,
        region: s.region,
        tier: s.cluster === consumer.cluster ? 0 : s.region === consumer.region ? 1 : 2,
        readyEndpoints: endpointGroups.reduce((n, g) => n + g.endpoints.length, 0),
        endpointGroups,
      } satisfies TieredSource;
    })
    .sort((a, b) => a.tier - b.tier || compareText(a.cluster, b.cluster));
  const tiers: TierSummary[] = [];
  for (const s of sources) {
    const last = tiers.at(-1);
    if (last?.tier === s.tier) {
      last.clusters.push(s.cluster);
      last.readyEndpoints += s.readyEndpoints;
    } else tiers.push({ tier: s.tier, clusters: [s.cluster], readyEndpoints: s.readyEndpoints });
  }
  const serving = tiers.find((t) => t.readyEndpoints > 0);
  return { ok: true, sources, tiers, ...(serving ? { servingTier: serving.tier } : {}) };
}
