/**
 * For the supply packer's tests: what every packing onto a supply must satisfy, checked from the inputs alone
 * (a list of violations, empty when the packing is valid), and random mixed CPU/GPU estates to pack.
 */

import type { Resources, Taint } from "../fleet-snapshot.ts";
import { admits } from "../node-admission.ts";
import { SeededRandom } from "../seeded-random.ts";
import type { CatalogShape, OwnedNode, SupplyItem, SupplyNodePlan, SupplyOptions } from "./supply-types.ts";

const tolerance = 1e-9;

interface AnyNode {
  allocatable: Resources;
  labels: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
}

function withHeadroom(resource: string, amount: number, headroomPercent: number): number {
  return resource.includes("/") ? amount : amount * (1 - headroomPercent / 100);
}

/** Whether a pod of the item may run on the node at all: admission, reservation, and alone within allocatable. */
function takes(node: AnyNode, item: SupplyItem, options: SupplyOptions): boolean {
  if (!admits(node, item)) return false;
  for (const reserved of options.reserve)
    if ((node.allocatable[reserved] ?? 0) > 0 && !((item.demand[reserved] ?? 0) > 0)) return false;
  return Object.entries(item.demand).every(
    ([r, amount]) => amount <= 0 || amount <= (node.allocatable[r] ?? 0) * (1 + tolerance),
  );
}

/** The zones where some node of the supply takes the item's pods. */
export function zonesTaking(
  item: SupplyItem,
  supply: { owned: readonly OwnedNode[]; catalog: readonly CatalogShape[] },
  options: SupplyOptions,
): string[] {
  const zones = new Set<string>();
  for (const node of supply.owned) if (takes(node, item, options)) zones.add(node.zone);
  if (supply.catalog.some((shape) => takes(shape, item, options)))
    for (const z of options.zones) zones.add(z);
  return [...zones];
}

export function supplyViolations(
  items: readonly SupplyItem[],
  supply: { owned: readonly OwnedNode[]; catalog: readonly CatalogShape[] },
  options: SupplyOptions,
  nodes: readonly SupplyNodePlan[],
): string[] {
  const problems: string[] = [];
  const ownedByName = new Map(supply.owned.map((n) => [n.name, n]));
  const usedOwned = new Set<string>();
  const placed = items.map(() => 0);
  const perZone = items.map(() => new Map<string, number>());
  nodes.forEach((plan, n) => {
    let node: AnyNode | undefined;
    if (plan.owned !== undefined) {
      const owned = ownedByName.get(plan.owned);
      if (!owned) problems.push(`node ${n}: unknown owned node ${plan.owned}`);
      else {
        node = owned;
        if (usedOwned.has(plan.owned)) problems.push(`node ${n}: owned node ${plan.owned} used twice`);
        usedOwned.add(plan.owned);
        if (owned.zone !== plan.zone)
          problems.push(`node ${n}: ${plan.owned} moved from ${owned.zone} to ${plan.zone}`);
        if (owned.shape !== plan.shape) problems.push(`node ${n}: ${plan.owned} reported as ${plan.shape}`);
      }
    } else {
      node = supply.catalog.find((s) => s.name === plan.shape);
      if (!node) problems.push(`node ${n}: unknown shape ${plan.shape}`);
      if (!options.zones.includes(plan.zone)) problems.push(`node ${n}: new node in zone ${plan.zone}`);
    }
    if (!node) return;
    if (plan.pods.length === 0) problems.push(`node ${n} is empty`);
    if (new Set(plan.pods.map((p) => p.item)).size !== plan.pods.length)
      problems.push(`node ${n}: item twice`);
    const used: Record<string, number> = {};
    let pods = 0;
    for (const { item, count } of plan.pods) {
      const it = items[item];
      if (!it || !Number.isInteger(count) || count <= 0) {
        problems.push(`node ${n}: bad entry ${item} × ${count}`);
        continue;
      }
      pods += count;
      placed[item]! += count;
      perZone[item]!.set(plan.zone, (perZone[item]!.get(plan.zone) ?? 0) + count);
      if (!takes(node, it, options)) problems.push(`node ${n}: does not admit ${it.id}`);
      if (it.maxPerNode !== undefined && count > it.maxPerNode)
        problems.push(`node ${n}: ${count} pods of ${it.id}, more than ${it.maxPerNode}`);
      for (const [r, amount] of Object.entries(it.demand)) used[r] = (used[r] ?? 0) + amount * count;
    }
    for (const [r, amount] of Object.entries(used)) {
      if (r.includes("/") && !Number.isInteger(amount)) problems.push(`node ${n}: ${amount} ${r}, not whole`);
      const allocatable = node.allocatable[r] ?? 0;
      const room = pods === 1 ? allocatable : withHeadroom(r, allocatable, options.headroomPercent);
      if (amount > room * (1 + tolerance) * (1 + 1e-12))
        problems.push(`node ${n}: ${r} ${amount} over ${room} (${pods} pods)`);
      if (Math.abs((plan.used[r] ?? 0) - amount) > 1e-9 * Math.max(1, amount))
        problems.push(`node ${n}: used ${r} reported ${plan.used[r]}, pods request ${amount}`);
    }
  });
  items.forEach((item, i) => {
    if (placed[i] !== item.count) problems.push(`${item.id}: ${placed[i]} pods placed of ${item.count}`);
    const zones = zonesTaking(item, supply, options);
    for (const zone of perZone[i]!.keys())
      if (!zones.includes(zone)) problems.push(`${item.id}: pods in zone ${zone}, which admits none`);
    const counts = zones.map((zone) => perZone[i]!.get(zone) ?? 0);
    if (counts.length === 0) return;
    if (item.maxPerZone !== undefined && Math.max(...counts) > item.maxPerZone)
      problems.push(`${item.id}: ${Math.max(...counts)} pods in one zone, more than ${item.maxPerZone}`);
    if (item.zoneMaxSkew !== undefined && Math.max(...counts) - Math.min(...counts) > item.zoneMaxSkew)
      problems.push(`${item.id}: zone counts ${counts.join("/")} skew more than ${item.zoneMaxSkew}`);
  });
  return problems;
}

const Gi = 2 ** 30;
const gpu = "nvidia.com/gpu";
const product = "nvidia.com/gpu.product";

/** Node models of a mixed estate: general and memory CPU nodes, and GPU nodes of three models. */
const models = [
  { shape: "cpu-16", allocatable: { cpu: 15.5, memory: 60 * Gi, pods: 110 }, labels: {}, price: 560 },
  { shape: "cpu-32", allocatable: { cpu: 31.5, memory: 124 * Gi, pods: 110 }, labels: {}, price: 1100 },
  { shape: "mem-16", allocatable: { cpu: 15.5, memory: 124 * Gi, pods: 110 }, labels: {}, price: 800 },
  {
    shape: "gpu-a100x8",
    allocatable: { cpu: 94, memory: 1100 * Gi, pods: 110, [gpu]: 8 },
    labels: { [product]: "A100" },
    price: 20000,
  },
  {
    shape: "gpu-l4x4",
    allocatable: { cpu: 46, memory: 180 * Gi, pods: 110, [gpu]: 4 },
    labels: { [product]: "L4" },
    price: 4000,
  },
  {
    shape: "gpu-t4x4-shared",
    // 4 devices × 8 time-slicing replicas.
    allocatable: { cpu: 46, memory: 180 * Gi, pods: 110, [gpu]: 32 },
    labels: { [product]: "T4-SHARED" },
    price: 3000,
  },
] as const;

export interface Estate {
  items: SupplyItem[];
  owned: OwnedNode[];
  catalog: CatalogShape[];
  zones: string[];
}

/**
 * A random mixed estate: CPU pods of many sizes, GPU pods pinned to a model, to a set of models or to the
 * time-sliced model, some tainted GPU nodes. Owned nodes are about what the pods need at today's utilisation
 * (50–70%), so that the packing must fit onto them; `tainted`: GPU nodes carry a NoSchedule taint that GPU pods
 * tolerate.
 */
export function mixedEstate(seed: number, pods: number, tainted = false): Estate {
  const random = new SeededRandom(seed);
  const zones = ["z1", "z2", "z3"];
  const taint: Taint = { key: gpu, value: "present", effect: "NoSchedule" };
  const toleration = { key: gpu, operator: "Exists" as const, effect: "NoSchedule" as const };
  const items: SupplyItem[] = [];
  let placed = 0;
  while (placed < pods) {
    const roll = random.next();
    const count = Math.min(pods - placed, random.int(1, 40));
    const base = { id: `w${items.length}`, count };
    if (roll < 0.7) {
      const cpu = Math.round(random.logUniform(0.05, 8) * 100) / 100;
      const memory = Math.round(random.logUniform(0.1, 32) * 10) / 10;
      items.push({
        ...base,
        demand: { cpu, memory: memory * Gi, pods: 1 },
        ...(random.chance(0.1) ? { maxPerNode: 1 } : {}),
        ...(random.chance(0.1) ? { zoneMaxSkew: 1 } : {}),
      });
    } else {
      const kind = random.pick(["a100", "l4", "any", "shared"] as const);
      const gpus =
        kind === "a100"
          ? random.pick([1, 2, 4, 8])
          : kind === "shared"
            ? random.int(1, 2)
            : random.pick([1, 1, 2]);
      const affinity =
        kind === "any"
          ? [{ matchExpressions: [{ key: product, operator: "In" as const, values: ["A100", "L4"] }] }]
          : undefined;
      const selector =
        kind === "a100"
          ? { [product]: "A100" }
          : kind === "l4"
            ? { [product]: "L4" }
            : kind === "shared"
              ? { [product]: "T4-SHARED" }
              : undefined;
      items.push({
        ...base,
        count: Math.max(1, Math.round(count / 4)),
        demand: {
          cpu: Math.round(random.between(1, 8) * gpus * 10) / 10 / (kind === "shared" ? 4 : 1),
          memory: (Math.round(random.between(4, 40) * gpus) * Gi) / (kind === "shared" ? 4 : 1),
          pods: 1,
          [gpu]: gpus,
        },
        ...(selector ? { nodeSelector: selector } : {}),
        ...(affinity ? { nodeAffinity: affinity } : {}),
        ...(tainted ? { tolerations: [toleration] } : {}),
      });
    }
    placed += items.at(-1)!.count;
  }
  // Owned nodes: per model, what FFD-like packing at 60% would need, so the supply is enough but not lavish.
  const demandOf = (filter: (item: SupplyItem) => boolean, resource: string) =>
    items.filter(filter).reduce((n, item) => n + item.count * (item.demand[resource] ?? 0), 0);
  const gpuOf = (value: string) =>
    demandOf((i) => i.nodeSelector?.[product] === value, gpu) +
    (value === "A100" || value === "L4" ? demandOf((i) => i.nodeAffinity !== undefined, gpu) / 2 : 0);
  const counts: Record<string, number> = {
    "gpu-a100x8": Math.ceil(gpuOf("A100") / 8 / random.between(0.55, 0.75)) + 1,
    "gpu-l4x4": Math.ceil(gpuOf("L4") / 4 / random.between(0.55, 0.75)) + 1,
    "gpu-t4x4-shared": Math.ceil(gpuOf("T4-SHARED") / 32 / random.between(0.55, 0.75)) + 1,
  };
  const cpuPods = (i: SupplyItem) => (i.demand[gpu] ?? 0) === 0;
  const cpu = demandOf(cpuPods, "cpu");
  const memory = demandOf(cpuPods, "memory");
  const general = Math.ceil(cpu / 15.5 / random.between(0.5, 0.7) / (tainted ? 1.5 : 2)) + 1;
  counts["cpu-16"] = general;
  counts["cpu-32"] = Math.ceil(general / 3);
  counts["mem-16"] = Math.ceil(memory / (124 * Gi) / random.between(0.5, 0.7) / 3) + 1;
  const owned: OwnedNode[] = [];
  for (const model of models)
    for (let n = 0; n < (counts[model.shape] ?? 0); n++) {
      const isGpu = gpu in model.allocatable;
      owned.push({
        name: `${model.shape}-${n}`,
        cluster: `c${n % 5}`,
        shape: model.shape,
        zone: zones[n % zones.length]!,
        allocatable: model.allocatable,
        labels: model.labels,
        ...(tainted && isGpu ? { taints: [taint] } : {}),
        monthlyPrice: model.price,
      });
    }
  const catalog: CatalogShape[] = models.map((model) => ({
    name: model.shape,
    allocatable: model.allocatable,
    labels: model.labels,
    ...(tainted && gpu in model.allocatable ? { taints: [taint] } : {}),
    monthlyPrice: model.price,
  }));
  return { items, owned, catalog, zones };
}

/**
 * The fewest nodes of any valid packing on the supply, by exhaustive search: each pod in turn joins a node already
 * opened or opens one (an owned node not yet used, or a catalog shape in one of the zones); complete packings are
 * checked with `supplyViolations`. Infinity when none is valid. Only for a handful of pods and nodes.
 */
export function optimalSupplyNodeCount(
  items: readonly SupplyItem[],
  supply: { owned: readonly OwnedNode[]; catalog: readonly CatalogShape[] },
  options: SupplyOptions,
): number {
  const pods = items.flatMap((item, i) => Array.from({ length: item.count }, () => i));
  const choices: { owned?: string; shape: string; zone: string; allocatable: Resources }[] = [
    ...supply.owned.map((n) => ({ owned: n.name, shape: n.shape, zone: n.zone, allocatable: n.allocatable })),
    ...supply.catalog.flatMap((s) =>
      options.zones.map((zone) => ({ shape: s.name, zone, allocatable: s.allocatable })),
    ),
  ];
  let best = Number.POSITIVE_INFINITY;
  const open: { choice: (typeof choices)[number]; pods: number[] }[] = [];
  const plan = (): SupplyNodePlan[] =>
    open.map(({ choice, pods: members }) => {
      const counts = new Map<number, number>();
      for (const m of members) counts.set(m, (counts.get(m) ?? 0) + 1);
      const used: Record<string, number> = {};
      for (const m of members)
        for (const [r, a] of Object.entries(items[m]!.demand)) used[r] = (used[r] ?? 0) + a;
      return {
        ...(choice.owned ? { owned: choice.owned } : {}),
        shape: choice.shape,
        zone: choice.zone,
        pods: [...counts.entries()].sort(([a], [b]) => a - b).map(([item, count]) => ({ item, count })),
        used,
      };
    });
  const fitsAlone = (node: (typeof open)[number]) => {
    const used: Record<string, number> = {};
    for (const m of node.pods)
      for (const [r, a] of Object.entries(items[m]!.demand)) used[r] = (used[r] ?? 0) + a;
    const room = (r: string) =>
      node.pods.length === 1
        ? (node.choice.allocatable[r] ?? 0)
        : withHeadroom(r, node.choice.allocatable[r] ?? 0, options.headroomPercent);
    return Object.entries(used).every(([r, a]) => a <= 0 || a <= room(r) * (1 + tolerance));
  };
  const search = (next: number) => {
    if (open.length >= best) return;
    if (next === pods.length) {
      if (supplyViolations(items, supply, options, plan()).length === 0) best = open.length;
      return;
    }
    const pod = pods[next]!;
    for (const node of open) {
      node.pods.push(pod);
      if (fitsAlone(node)) search(next + 1);
      node.pods.pop();
    }
    for (const choice of choices) {
      if (choice.owned && open.some((n) => n.choice.owned === choice.owned)) continue;
      open.push({ choice, pods: [pod] });
      if (fitsAlone(open.at(-1)!)) search(next + 1);
      open.pop();
    }
  };
  search(0);
  return pods.length === 0 ? 0 : best;
}
