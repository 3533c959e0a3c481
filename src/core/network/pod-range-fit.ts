/**
 * Whether a cluster's pod range holds a number of nodes (issue 15, item 6): what the consolidation planner asks
 * of a merge's target, whose pod range cannot grow in place (docs/network-plan.md, Sizing). A dual-stack range
 * holds as many nodes as its smaller family does. Pure.
 */
import { type Cidr, formatCidr, type IpFamily, parseCidr } from "./cidr.ts";
import { defaultNodeMask, nodeCapacity, podPrefix } from "./sizing.ts";

/** A cluster's pod range: its blocks and the pod range each node gets, per family. */
export interface PodRange {
  pods: readonly string[];
  nodeMask?: { ipv4?: number; ipv6?: number };
}

/** Why a pod range does not hold `nodes` nodes: how many it holds, and the range it would need. */
export interface PodRangeShortfall {
  family: IpFamily;
  /** The range's blocks of that family, as written. */
  range: string[];
  nodeMask: number;
  /** The nodes it holds. */
  holds: number;
  /** The prefix length a range for `nodes` nodes needs at that mask (a /15 for 500 nodes at /24). */
  needsPrefix: number;
}

/** The first family whose pod range cannot hold `nodes` nodes, or undefined when every family holds them. */
export function podRangeShortfall(range: PodRange, nodes: number): PodRangeShortfall | undefined {
  const blocks: Cidr[] = range.pods.flatMap((text) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [parsed.cidr] : [];
  });
  for (const family of ["IPv4", "IPv6"] as const) {
    const ofFamily = blocks.filter((b) => b.family === family);
    if (ofFamily.length === 0) continue;
    const nodeMask =
      (family === "IPv4" ? range.nodeMask?.ipv4 : range.nodeMask?.ipv6) ?? defaultNodeMask[family];
    const holds = nodeCapacity(ofFamily, nodeMask);
    if (holds < nodes)
      return {
        family,
        range: ofFamily.map(formatCidr),
        nodeMask,
        holds,
        needsPrefix: podPrefix(nodes, nodeMask),
      };
  }
  return undefined;
}
