/**
 * The baseline a supply packing is measured against: classic first-fit decreasing on the same supply, allowed to
 * mix pods of every kind on a node as the packer is. Pods are taken largest first (by their largest share of the
 * largest node in any resource); each goes on the first open node, in opening order, that admits and holds it.
 * When none does, it opens a node of the first kind that admits and holds it, in this order: owned before new,
 * kinds without extended resources (GPUs) before those with, so that GPU nodes are left to GPU pods; the largest
 * first (the sum over resources of its usable capacity as a share of the largest node's), then in supply
 * order (owned nodes as listed, then catalog shapes as listed); a pod that shares no node opens one alone (the
 * headroom rule of `supply-problem.ts`). Zone-bound items' pods are dealt round-robin over their zones and go only on nodes there.
 */

import { supplyBoundOf } from "./supply-bound.ts";
import {
  acceptsZone,
  addPods,
  copiesThatFit,
  newNode,
  plannedNodes,
  type SupplyUnit,
  type SupplyWorkingNode,
} from "./supply-node.ts";
import { exhaustedItems, ownedOrderOf } from "./supply-packing.ts";
import {
  alone,
  describeSupplyProblem,
  openZone,
  type Supply,
  type SupplyProblem,
  sharing,
} from "./supply-problem.ts";
import type { SupplyItem, SupplyOptions, SupplyOutcome } from "./supply-types.ts";
import { dealEvenly } from "./zone-spread.ts";

export function firstFitDecreasingOnSupply(
  items: readonly SupplyItem[],
  supply: Supply,
  options: SupplyOptions,
): SupplyOutcome {
  const { problem, unfit } = describeSupplyProblem(items, supply, options);
  if (unfit.length > 0) return { ok: false, unfit };
  const left = Float64Array.from(problem.kinds, (k) => k.count);
  const capacity = problem.kinds.map((kind) =>
    kind.usable.reduce((sum, u, r) => sum + (problem.reference[r]! > 0 ? u / problem.reference[r]! : 0), 0),
  );
  const kindOrder = problem.kinds
    .map((_, k) => k)
    .sort((a, b) => {
      const ka = problem.kinds[a]!;
      const kb = problem.kinds[b]!;
      return (
        Number(kb.owned) - Number(ka.owned) ||
        Number(ka.extended) - Number(kb.extended) ||
        capacity[b]! - capacity[a]! ||
        a - b
      );
    });
  const nodes: SupplyWorkingNode[] = [];
  const exhausted = new Map<number, number>();
  for (const unit of roundRobinUnits(problem)) {
    let pods = unit.count;
    for (const node of nodes) {
      if (pods === 0) break;
      if (!acceptsZone(problem, node, unit.zone)) continue;
      const copies = Math.min(pods, copiesThatFit(problem, node, unit.item));
      if (copies > 0) {
        addPods(problem, node, unit.item, unit.zone, copies);
        pods -= copies;
      }
    }
    pods = openFirstFitting(problem, nodes, { ...unit, count: pods }, kindOrder, left);
    if (pods > 0) exhausted.set(unit.item, (exhausted.get(unit.item) ?? 0) + pods);
  }
  if (exhausted.size > 0) return { ok: false, unfit: exhaustedItems(problem, exhausted) };
  return {
    ok: true,
    nodes: plannedNodes(problem, nodes, ownedOrderOf(supply)),
    bound: supplyBoundOf(problem),
  };
}

/** Opens nodes of the first kinds in `kindOrder` that take the unit's pods; returns the pods left. */
function openFirstFitting(
  problem: SupplyProblem,
  nodes: SupplyWorkingNode[],
  unit: SupplyUnit,
  kindOrder: readonly number[],
  left: Float64Array,
): number {
  let pods = unit.count;
  const kinds = problem.kinds.length;
  for (const passMode of [sharing, alone]) {
    for (const k of kindOrder) {
      if (pods === 0) return 0;
      if (problem.mode[unit.item * kinds + k] !== passMode) continue;
      const kind = problem.kinds[k]!;
      if (
        unit.zone !== openZone &&
        (kind.owned ? kind.zone !== unit.zone : unit.zone >= problem.newNodeZones)
      )
        continue;
      while (pods > 0 && left[k]! > 0) {
        const node = newNode(problem, k, unit.zone);
        const copies = passMode === sharing ? Math.min(pods, copiesThatFit(problem, node, unit.item)) : 1;
        if (copies <= 0) break;
        addPods(problem, node, unit.item, unit.zone, copies);
        nodes.push(node);
        left[k]! -= 1;
        pods -= copies;
      }
    }
  }
  return pods;
}

/** Units largest pods first (by dominant share, then index); a zone-bound item dealt round-robin over its zones. */
function roundRobinUnits(problem: SupplyProblem): SupplyUnit[] {
  const order = problem.items
    .map((_, i) => i)
    .filter((i) => problem.items[i]!.count > 0)
    .sort((a, b) => problem.dominant[b]! - problem.dominant[a]! || a - b);
  return order.flatMap((item) => {
    const count = problem.items[item]!.count;
    if (!problem.zoneBound[item]) return [{ item, zone: openZone, count }];
    const zones = problem.itemZones[item]!;
    const perZone = dealEvenly(
      count,
      zones.map((_, p) => p),
    );
    return [...perZone].flatMap((pods, p) => (pods > 0 ? [{ item, zone: zones[p]!, count: pods }] : []));
  });
}
