/**
 * NetworkPool (`unitfleet.io/v1alpha1`, issue 15): the address space of one Location, from which clusters get
 * their pod, service and node ranges and their cluster IDs (docs/network-plan.md).
 *
 * A Location has **one** pool without `region` (its root) and at most one child per Region (`region` set). The
 * root holds the pod and service supernets (node ranges are optional: some Locations take node addresses from
 * their cloud's subnets), the cluster-ID range (1..255 by default, up to 511) and how long a retired cluster's ID
 * stays out of use. A child narrows one or more kinds for its Region's clusters; its blocks lie inside the root's
 * blocks of the same kind, and siblings never overlap. Each kind may hold IPv4 blocks, IPv6 blocks or both, but
 * the kinds of one pool offer the same families: a cluster is single-stack or dual-stack throughout.
 *
 * Inside a Location every pod, service and node range is disjoint from every other, so the blocks of one pool
 * may not overlap each other, whatever their kind. Across Locations they may: only the control tunnel joins
 * Locations. `networkPoolSpec` checks one spec; `networkPoolConflicts` checks a pool against the other pools
 * (one root per Location, one child per Region, children inside the root, siblings apart), each problem at the
 * pool's own field path.
 */
import { z } from "zod";
import { fieldPath, type Problem } from "../validation/problems.ts";
import { checkedString, dnsName } from "../validation/zod-fields.ts";
import { type Cidr, cidr, cidrContains, cidrsOverlap, formatCidr, type IpFamily, parseCidr } from "./cidr.ts";

/** The kinds of range a cluster gets, in the order they are listed and allocated. */
export const rangeKinds = ["pods", "services", "nodes"] as const;
export type RangeKind = (typeof rangeKinds)[number];

/** Cluster IDs of a Location when the pool does not say: Cilium ClusterMesh's 1..255. */
export const defaultClusterIds = { first: 1, last: 255 } as const;
/** The largest cluster ID (ClusterMesh's 511-cluster mode, which halves the identities per cluster). */
export const maxClusterId = 511;
/** How long a retired cluster's ID stays out of use when the pool does not say: 30 days. */
export const defaultRetiredIdQuarantine = "720h";

/** Blocks no pool may use: unspecified, loopback, link-local, multicast and reserved addresses. */
const specialUse: Array<{ block: Cidr; what: string }> = [
  ["0.0.0.0/8", "'this network'"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved (and broadcast)"],
  ["::/8", "unspecified, loopback and IPv4-mapped"],
  ["fe80::/10", "link-local"],
  ["ff00::/8", "multicast"],
].map(([text, what]) => ({ block: cidr(text!), what: what! }));

function blockProblem(text: string): string | undefined {
  const parsed = parseCidr(text);
  if (!parsed.ok) return parsed.reason;
  const clash = specialUse.find((s) => cidrsOverlap(s.block, parsed.cidr));
  if (clash)
    return `${text} overlaps ${formatCidr(clash.block)}, which is ${clash.what}: no cluster may use it`;
  return undefined;
}

const block = checkedString(blockProblem);
const blockList = (what: string) =>
  z
    .array(block)
    .min(1)
    .max(64)
    .describe(`${what}: CIDR blocks, IPv4 and/or IPv6 (e.g. 10.0.0.0/12, fd00:10::/48), tried in order.`);

const durationPattern = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A duration as Kubernetes writes them (`720h`, `1h30m`, `0s`) in milliseconds, or why the text is not one. */
export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; reason: string } {
  const match = durationPattern.exec(text);
  if (!text || !match)
    return { ok: false, reason: `"${text}" must be a duration in hours, minutes, seconds: 720h, 1h30m, 0s` };
  const [h, m, s] = [match[1], match[2], match[3]].map((part) => Number(part ?? 0));
  const ms = ((h! * 60 + m!) * 60 + s!) * 1000;
  if (ms > 100 * 365 * 24 * 3_600_000) return { ok: false, reason: `"${text}" is longer than 100 years` };
  return { ok: true, ms };
}

const clusterIdBound = z.number().superRefine((v, ctx) => {
  if (!Number.isInteger(v) || v < 1 || v > maxClusterId)
    ctx.addIssue({
      code: "custom",
      message: `${v} is not a cluster ID: IDs are whole numbers from 1 to ${maxClusterId} (255 by default; 511 in ClusterMesh's 511-cluster mode)`,
    });
});

export const networkPoolSpec = z
  .strictObject({
    location: dnsName.describe("The Location whose clusters take their ranges from this pool."),
    region: dnsName
      .optional()
      .describe(
        "Set for a Region's child pool: its clusters take ranges from here; unset for the Location's root.",
      ),
    pods: blockList("Supernets of pod ranges").optional(),
    services: blockList("Supernets of Service (ClusterIP) ranges").optional(),
    nodes: blockList(
      "Supernets of node ranges (optional: leave unset when the cloud assigns them)",
    ).optional(),
    clusterIds: z
      .strictObject({
        first: clusterIdBound.describe("The lowest cluster ID handed out (at least 1)."),
        last: clusterIdBound.describe(`The highest cluster ID handed out (at most ${maxClusterId}).`),
      })
      .optional()
      .describe("Cluster IDs of the Location (root only): 1..255 unless said, at most 511."),
    retiredIdQuarantine: checkedString((v) => {
      const parsed = parseDuration(v);
      return parsed.ok ? undefined : parsed.reason;
    })
      .optional()
      .describe(
        `How long a retired cluster's ID stays out of use (root only; ${defaultRetiredIdQuarantine} unless said).`,
      ),
  })
  .superRefine((spec, ctx) => {
    const problem = (path: Array<string | number>, message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    if (spec.region === undefined) {
      if (!spec.pods)
        problem(["pods"], "required field is missing: a Location's pool holds its pod supernets");
      if (!spec.services)
        problem(["services"], "required field is missing: a Location's pool holds its service supernets");
    } else {
      if (!spec.pods && !spec.services && !spec.nodes)
        problem(["region"], "a Region's pool narrows at least one of pods, services and nodes");
      if (spec.clusterIds)
        problem(["clusterIds"], "cluster IDs are set on the Location's pool (without region): they span it");
      if (spec.retiredIdQuarantine !== undefined)
        problem(["retiredIdQuarantine"], "the quarantine is set on the Location's pool (without region)");
    }
    if (spec.clusterIds && spec.clusterIds.first > spec.clusterIds.last)
      problem(
        ["clusterIds", "last"],
        `${spec.clusterIds.last} is below first (${spec.clusterIds.first}): the range would be empty`,
      );
    // Every block of the pool apart from every other, whatever the kind.
    const seen: Array<{ block: Cidr; at: string }> = [];
    for (const kind of rangeKinds)
      for (const [i, text] of (spec[kind] ?? []).entries()) {
        const parsed = parseCidr(text);
        if (!parsed.ok) continue;
        const clash = seen.find((s) => cidrsOverlap(s.block, parsed.cidr));
        if (clash)
          problem(
            [kind, i],
            `${text} overlaps ${clash.at} (${formatCidr(clash.block)}): pod, service and node ranges of a Location never share an address`,
          );
        seen.push({ block: parsed.cidr, at: fieldPath(["spec", kind, i]) });
      }
    const allParse = rangeKinds.every((kind) => (spec[kind] ?? []).every((text) => parseCidr(text).ok));
    if (spec.region === undefined && allParse) {
      const offered = rangeKinds
        .filter((kind) => spec[kind])
        .map((kind) => ({ kind, families: familiesOf(spec[kind]!) }));
      const reference = offered[0];
      for (const other of offered.slice(1))
        if (reference && familyText(other.families) !== familyText(reference.families))
          problem(
            [other.kind],
            `offers ${familyText(other.families)} while ${reference.kind} offers ${familyText(reference.families)}: a cluster is single-stack or dual-stack in all its ranges`,
          );
    }
  })
  .describe("The address space of a Location (or of one of its Regions) for clusters' ranges and IDs.");

export type NetworkPoolSpec = z.infer<typeof networkPoolSpec>;

/** A NetworkPool as the registry holds it: its name and valid spec. */
export interface NetworkPoolLike {
  metadata: { name: string };
  spec: NetworkPoolSpec;
}

/** The families of the valid blocks in a list, IPv4 first. */
export function familiesOf(blocks: readonly string[]): IpFamily[] {
  const families = new Set(blocks.map(parseCidr).flatMap((p) => (p.ok ? [p.cidr.family] : [])));
  return (["IPv4", "IPv6"] as const).filter((f) => families.has(f));
}

function familyText(families: readonly IpFamily[]): string {
  return families.length ? families.join(" and ") : "no family";
}

/** The blocks of one kind of a valid pool, parsed, with their index in the spec. */
export function poolBlocks(pool: NetworkPoolLike, kind: RangeKind): Array<{ block: Cidr; index: number }> {
  return (pool.spec[kind] ?? []).flatMap((text, index) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [{ block: parsed.cidr, index }] : [];
  });
}

/** The cluster IDs and quarantine a Location's root pool gives, defaults filled. */
export function poolIdRules(root: NetworkPoolLike): { first: number; last: number; quarantineMs: number } {
  const quarantine = parseDuration(root.spec.retiredIdQuarantine ?? defaultRetiredIdQuarantine);
  return {
    first: root.spec.clusterIds?.first ?? defaultClusterIds.first,
    last: root.spec.clusterIds?.last ?? defaultClusterIds.last,
    quarantineMs: quarantine.ok ? quarantine.ms : 0,
  };
}

const describePool = (p: NetworkPoolLike) =>
  p.spec.region === undefined
    ? `NetworkPool "${p.metadata.name}"`
    : `NetworkPool "${p.metadata.name}" (Region ${p.spec.region})`;

/**
 * How `pool` conflicts with the other pools (see the module comment), each problem at `pool`'s field path and
 * naming the other pool. `others` may include `pool` itself (same name): it is skipped. Pools of other
 * Locations never conflict.
 */
export function networkPoolConflicts(pool: NetworkPoolLike, others: readonly NetworkPoolLike[]): Problem[] {
  const problems: Problem[] = [];
  const add = (segments: Array<string | number>, message: string) =>
    problems.push({ path: fieldPath(["spec", ...segments]), message });
  const location = pool.spec.location;
  const peers = others
    .filter((o) => o.metadata.name !== pool.metadata.name && o.spec.location === location)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const roots = peers.filter((o) => o.spec.region === undefined);
  const children = peers.filter((o) => o.spec.region !== undefined);

  if (pool.spec.region === undefined) {
    if (roots[0])
      add(
        ["location"],
        `Location "${location}" already has ${describePool(roots[0])}: one pool per Location; a Region narrows it with a pool that sets region`,
      );
    // Children must stay inside this root: say so here too, so that shrinking the root is refused.
    for (const child of children)
      for (const kind of rangeKinds)
        for (const { block } of poolBlocks(child, kind)) {
          if (poolBlocks(pool, kind).some((mine) => cidrContains(mine.block, block))) continue;
          add(
            [kind],
            `${describePool(child)} has ${formatCidr(block)} in its ${kind}, outside this pool's ${kind}: a Region's ranges stay inside its Location's`,
          );
        }
    return problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  const root = roots[0];
  if (!root)
    add(
      ["location"],
      `Location "${location}" has no NetworkPool without region: create the Location's pool before a Region's`,
    );
  const sibling = children.find((c) => c.spec.region === pool.spec.region);
  if (sibling)
    add(["region"], `Region "${pool.spec.region}" already has ${describePool(sibling)}: one pool per Region`);
  for (const kind of rangeKinds) {
    const mine = poolBlocks(pool, kind);
    if (root && mine.length) {
      const parentBlocks = poolBlocks(root, kind);
      if (!parentBlocks.length)
        add(
          [kind],
          `${describePool(root)} has no ${kind}: a Region's pool narrows only what its Location's pool holds`,
        );
      else {
        for (const { block, index } of mine)
          if (!parentBlocks.some((p) => cidrContains(p.block, block)))
            add(
              [kind, index],
              `${formatCidr(block)} is not inside any ${kind} block of ${describePool(root)} (${parentBlocks.map((p) => formatCidr(p.block)).join(", ")})`,
            );
        const wanted = familiesOf(root.spec[kind] ?? []);
        const have = familiesOf(pool.spec[kind] ?? []);
        if (familyText(wanted) !== familyText(have))
          add(
            [kind],
            `offers ${familyText(have)} while ${describePool(root)} offers ${familyText(wanted)} for ${kind}: a Region's pool narrows every family it sets a kind for`,
          );
      }
    }
    for (const { block, index } of mine)
      for (const other of children.filter((c) => c !== sibling))
        for (const otherKind of rangeKinds)
          for (const theirs of poolBlocks(other, otherKind))
            if (cidrsOverlap(block, theirs.block))
              add(
                [kind, index],
                `${formatCidr(block)} overlaps ${formatCidr(theirs.block)} of ${describePool(other)} (its ${otherKind}): Regions of one Location never share an address`,
              );
  }
  return problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
