/** What every packing must satisfy, as a list of violations (empty when the packing is valid), for the tests. */
import type { NodeShape, PackItem, Packing, PackOptions } from "./bin-packing.ts";
import { capacityTolerance, usableCapacity } from "./packing-problem.ts";

/** Rounding a recomputed sum may add on top of the packer's own tolerance. */
const summingSlack = 1e-12;

export function packingViolations(
  items: readonly PackItem[],
  shape: NodeShape,
  options: PackOptions,
  packing: Packing,
): string[] {
  const problems: string[] = [];
  const usable = usableCapacity(shape, options.headroomPercent);
  const placed = items.map(() => 0);
  const perZone = items.map(() => new Map<string, number>());
  if (packing.shape !== shape.name) problems.push(`shape ${packing.shape}, expected ${shape.name}`);
  if (packing.nodes.length < packing.lowerBound.nodes)
    problems.push(`${packing.nodes.length} nodes, under the lower bound ${packing.lowerBound.nodes}`);
  packing.nodes.forEach((node, n) => {
    if (!options.zones.includes(node.zone)) problems.push(`node ${n} in unknown zone ${node.zone}`);
    if (node.pods.length === 0) problems.push(`node ${n} is empty`);
    const used: Record<string, number> = {};
    for (const { item, count } of node.pods) {
      const it = items[item];
      if (!it || !Number.isInteger(count) || count <= 0) {
        problems.push(`node ${n}: bad entry item ${item} × ${count}`);
        continue;
      }
      placed[item]! += count;
      perZone[item]!.set(node.zone, (perZone[item]!.get(node.zone) ?? 0) + count);
      if (it.maxPerNode !== undefined && count > it.maxPerNode)
        problems.push(`node ${n}: ${count} pods of ${it.id}, more than ${it.maxPerNode} per node`);
      for (const [resource, amount] of Object.entries(it.demand))
        used[resource] = (used[resource] ?? 0) + amount * count;
    }
    if (new Set(node.pods.map((p) => p.item)).size !== node.pods.length)
      problems.push(`node ${n}: an item listed twice`);
    for (const [resource, amount] of Object.entries(used)) {
      const room = (usable[resource] ?? 0) * (1 + capacityTolerance) * (1 + summingSlack);
      if (amount > room)
        problems.push(`node ${n}: ${resource} ${amount} over usable ${usable[resource] ?? 0}`);
      const reported = node.used[resource] ?? 0;
      if (Math.abs(reported - amount) > 1e-9 * Math.max(1, amount))
        problems.push(`node ${n}: used ${resource} reported ${reported}, pods request ${amount}`);
    }
  });
  items.forEach((item, i) => {
    if (placed[i] !== item.count) problems.push(`${item.id}: ${placed[i]} pods placed of ${item.count}`);
    const counts = options.zones.map((zone) => perZone[i]!.get(zone) ?? 0);
    if (item.maxPerZone !== undefined && Math.max(...counts) > item.maxPerZone)
      problems.push(`${item.id}: ${Math.max(...counts)} pods in one zone, more than ${item.maxPerZone}`);
    if (item.zoneMaxSkew !== undefined && Math.max(...counts) - Math.min(...counts) > item.zoneMaxSkew)
      problems.push(`${item.id}: zone counts ${counts.join("/")} skew more than ${item.zoneMaxSkew}`);
  });
  return problems;
}

/**
 * The fewest nodes any valid packing needs, by exhaustive search: every partition of the pods into nodes, every
 * choice of zone per node. Only for a handful of pods (it is exponential).
 */
export function optimalNodeCount(items: readonly PackItem[], shape: NodeShape, options: PackOptions): number {
  const usable = usableCapacity(shape, options.headroomPercent);
  const pods = items.flatMap((item, i) => Array.from({ length: item.count }, () => i));
  const resources = [...new Set(items.flatMap((item) => Object.keys(item.demand)))];
  const fitsNode = (members: readonly number[]) =>
    resources.every(
      (r) =>
        members.reduce((sum, i) => sum + (items[i]!.demand[r] ?? 0), 0) <=
        (usable[r] ?? 0) * (1 + capacityTolerance),
    ) &&
    items.every(
      (item, i) => item.maxPerNode === undefined || members.filter((m) => m === i).length <= item.maxPerNode,
    );
  const zonesFit = (nodes: readonly number[][]) => {
    const z = options.zones.length;
    const choice = nodes.map(() => 0);
    for (;;) {
      const ok = items.every((item, i) => {
        const counts = options.zones.map((_, zone) =>
          nodes.reduce(
            (sum, members, n) => sum + (choice[n] === zone ? members.filter((m) => m === i).length : 0),
            0,
          ),
        );
        return (
          (item.maxPerZone === undefined || Math.max(...counts) <= item.maxPerZone) &&
          (item.zoneMaxSkew === undefined || Math.max(...counts) - Math.min(...counts) <= item.zoneMaxSkew)
        );
      });
      if (ok) return true;
      let k = 0;
      while (k < choice.length && choice[k] === z - 1) choice[k++] = 0;
      if (k === choice.length) return false;
      choice[k]! += 1;
    }
  };
  let best = Number.POSITIVE_INFINITY;
  const search = (next: number, nodes: number[][]) => {
    if (nodes.length >= best) return;
    if (next === pods.length) {
      if (zonesFit(nodes)) best = nodes.length;
      return;
    }
    const pod = pods[next]!;
    for (const members of nodes) {
      members.push(pod);
      if (fitsNode(members)) search(next + 1, nodes);
      members.pop();
    }
    nodes.push([pod]);
    if (fitsNode([pod])) search(next + 1, nodes);
    nodes.pop();
  };
  search(0, []);
  return pods.length === 0 ? 0 : best;
}
