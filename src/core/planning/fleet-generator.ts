/**
 * A synthetic fleet for the consolidation planner's tests and benchmarks: what a platform team's early-stage
 * estate looks like, at any size, from a seed.
 *
 * Locations `loc-01`, `loc-02`… each split into 2–3 Regions of 2–3 zones (the first always, others mostly) or
 * holding zones only. In each Location, one cluster per business × environment (`loc-01-shop-prod`); once the
 * business list runs out, businesses get more clusters (`loc-01-shop-prod-2`). Prod clusters are bigger, on
 * older Kubernetes versions (v1.34.x–v1.36.x), spread over all their Region's zones; dev clusters are small and
 * often in one zone. Cluster sizes have a long tail: many small clusters, a few large ones.
 *
 * Nodes come in pools of one instance type (general, memory-optimised, compute, and a few gpu pools labelled
 * `unitfleet.io/accelerator: gpu` with 4 `nvidia.com/gpu`), with allocatable a little below capacity (the
 * reservations a managed Kubernetes makes). Workloads are Deployments and StatefulSets with replicas and
 * per-pod requests in namespaces named after the business (`shop`, `shop-api`; `shop-dev` in a dev cluster), up
 * to three DaemonSets on every node, and a few gpu workloads (with the node selector and `nvidia.com/gpu`
 * requests) in clusters that have gpu nodes. Some workloads have required hostname anti-affinity, some a zone
 * topology spread of maxSkew 1.
 *
 * Each cluster is given a utilisation of requests (prod 40–70%, staging 20–45%, dev 20–40% of its nodes'
 * allocatable, by its dominant resource) and its node type and pod sizes are chosen to meet it: every cluster's
 * requests fit its nodes. A pod never asks for more than 60% of the largest node it may run on, except the
 * huge pods of `huge-pods` (up to 60% of a 16-core, 64 GiB general node).
 *
 * The gpu shapes draw a mixed CPU/GPU estate instead (`gpu-node-models.ts`). GPU nodes are A100 80GB ×8, H100
 * ×8, L4 ×4 and T4 ×1 machines labelled as the NVIDIA GPU operator labels them (`nvidia.com/gpu.product`,
 * `.count`, `.memory`…), in pools of one node model: whole GPUs, time-sliced (devices × replicas
 * `nvidia.com/gpu`, a `-SHARED` product, `nvidia.com/gpu.replicas`) or split into MIG profiles advertised as
 * their own resources (`nvidia.com/mig-1g.10gb`…). 85% of the GPU pools are tainted
 * `nvidia.com/gpu=present:NoSchedule`, the rest not. Each cluster keeps at least one CPU-only node (general,
 * sometimes beside a memory-optimised pool). Pods: CPU-only ones (the majority, sized as in `mixed`), and GPU
 * pods tolerating the taint, each asking for 25–60% of its node's cpu and memory per GPU unit: whole-GPU pods of
 * 1, 2, 4 or 8 GPUs, with required node affinity `In` a set of GPU products, `NotIn` the shared and smaller ones,
 * `Exists` on a node that is not time-sliced, or none; time-sliced pods of one shared GPU pinned to a `-SHARED`
 * product or the replicas label; MIG pods of one profile instance. Node affinity names only products the
 * Location has. Every pod is seated on its own cluster's nodes as it is drawn (resources, DaemonSets, labels,
 * taints, anti-affinity, zone spread): `generateSeatedFleet` returns that seating with the snapshot.
 * - `gpu-mixed`: most prod clusters of gpu businesses and some others have GPU nodes (10–30% of their nodes, in
 *   one to three models); CPU nodes as busy as in the other shapes, GPU pools 30–85%.
 * - `gpu-mixed-owned`: the estate of a team that plans on the nodes it owns. "Limited" means: each Location has
 *   a stock of each GPU machine of 1–2% of its nodes (at least 2), which its clusters share out; no cluster holds
 *   more than 4 nodes of one GPU node model. Every cluster is 50–75% busy, on its CPU nodes (dominant resource)
 *   and in its GPU pools, so that repacking onto the owned nodes is a real test.
 *
 * Pure: no I/O, no clock, no `Math.random` (a seeded mulberry32). The same options give the same snapshot, to
 * the byte once serialised.
 */

import { fieldPath, type Problem, type Validated } from "../validation/problems.ts";
import {
  type FleetSnapshot,
  fleetSnapshotApiVersion,
  fleetSnapshotKind,
  hostnameTopologyKey,
  type SnapshotCluster,
  type SnapshotNode,
  type SnapshotWorkload,
  zoneTopologyKey,
} from "./fleet-snapshot.ts";
import {
  type GpuNodeModel,
  type GpuNodeModelId,
  gpuLabels,
  gpuLabelsOf,
  gpuMachines,
  gpuNodeModels,
  gpuTaint,
  gpuToleration,
  gpuUnitsOf,
  productOf,
} from "./gpu-node-models.ts";
import { SeededRandom as Random } from "./seeded-random.ts";

/**
 * How the pods of the general workloads (Deployments and StatefulSets without a node selector; DaemonSets and
 * gpu workloads are alike in every shape) are sized:
 * - `mixed`: 50m–4 cores (most 100m–1), 0.5–8 GiB per core.
 * - `memory-heavy`: 8–16 GiB per core, mostly on memory-optimised nodes.
 * - `tiny-pods`: 50–250m cpu and 64–512 MiB each.
 * - `huge-pods`: most of the requested volume in pods of 35–60% of a general node (16 cores, 64 GiB) in cpu or
 *   memory; the rest small pods.
 * - `gpu-mixed`, `gpu-mixed-owned`: a mixed CPU/GPU estate (see the module comment); CPU-only pods as in `mixed`.
 */
export const fleetShapes = [
  "mixed",
  "memory-heavy",
  "tiny-pods",
  "huge-pods",
  "gpu-mixed",
  "gpu-mixed-owned",
] as const;
export type FleetShape = (typeof fleetShapes)[number];

/** The shapes of a mixed CPU/GPU estate (see the module comment); their pods are seated as they are drawn. */
export const gpuShapes = ["gpu-mixed", "gpu-mixed-owned"] as const satisfies readonly FleetShape[];
export type GpuShape = (typeof gpuShapes)[number];
export const isGpuShape = (shape: FleetShape): shape is GpuShape =>
  (gpuShapes as readonly FleetShape[]).includes(shape);

export interface GeneratorOptions {
  /** Clusters in the fleet: exactly this many. */
  clusters: number;
  /** Nodes over all clusters: exactly this many, at least one per cluster. */
  nodes: number;
  /** Pods over all clusters (Σ replicas of every workload, DaemonSets included): exactly this many. */
  pods: number;
  /** Locations `loc-01`…; at most one per cluster. */
  locations: number;
  shape: FleetShape;
  /** Any whole number from 0 to 2^32 − 1. */
  seed: number;
}

/** The bounds `validateGeneratorOptions` enforces. */
export const generatorLimits = {
  maxClusters: 100_000,
  maxNodes: 1_000_000,
  /** Pods per node on average: nodes allocate 110, and DaemonSets need their slots. */
  maxPodsPerNode: 100,
  maxLocations: 999,
  maxSeed: 2 ** 32 - 1,
} as const;

/** The label of gpu nodes (value `gpu`), which gpu workloads select. */
export const acceleratorLabel = "unitfleet.io/accelerator";

/** The cpu and memory of the node `huge-pods` measures its huge pods against. */
export const generalNodeCapacity = { cpu: 16, memoryGi: 64 } as const;

/** Checks generator options; lists every problem with its field path (`clusters`, `nodes`, `shape`…). */
export function validateGeneratorOptions(
  input: {
    readonly [K in keyof GeneratorOptions]?: unknown;
  },
): Validated<GeneratorOptions> {
  const problems: Problem[] = [];
  const refuse = (field: keyof GeneratorOptions, message: string) =>
    problems.push({ path: fieldPath([field]), message });
  /** The field when it is a whole number from `min` to `max`; otherwise says why not. */
  const whole = (field: keyof GeneratorOptions, min: number, max: number, note?: string) => {
    const value = input[field];
    if (value === undefined) refuse(field, "required field is missing");
    else if (typeof value !== "number" || !Number.isInteger(value))
      refuse(field, `must be a whole number, got ${String(value)}`);
    else if (value < min || value > max) {
      const range = Number.isFinite(max) ? `from ${min} to ${max}` : `at least ${min}`;
      refuse(field, `must be ${range}${note ? ` (${note})` : ""}, got ${value}`);
    } else return value;
    return undefined;
  };
  const limits = generatorLimits;
  const clusters = whole("clusters", 1, limits.maxClusters);
  const nodes = whole("nodes", clusters ?? 1, limits.maxNodes, "at least one per cluster");
  const pods = whole(
    "pods",
    0,
    nodes === undefined ? Number.POSITIVE_INFINITY : nodes * limits.maxPodsPerNode,
    nodes === undefined ? undefined : `at most ${limits.maxPodsPerNode} per node on average`,
  );
  const locations = whole(
    "locations",
    1,
    Math.min(limits.maxLocations, clusters ?? limits.maxLocations),
    "at most one per cluster",
  );
  const shape = fleetShapes.find((s) => s === input.shape);
  if (input.shape === undefined) refuse("shape", "required field is missing");
  else if (!shape)
    refuse("shape", `must be one of ${fleetShapes.join(", ")}, got ${JSON.stringify(input.shape)}`);
  const seed = whole("seed", 0, limits.maxSeed);
  if (
    problems.length > 0 ||
    clusters === undefined ||
    nodes === undefined ||
    pods === undefined ||
    locations === undefined ||
    shape === undefined ||
    seed === undefined
  )
    return { ok: false, problems };
  return { ok: true, value: { clusters, nodes, pods, locations, shape, seed } };
}

/**
 * A synthetic fleet snapshot with exactly `clusters` clusters, `nodes` nodes and `pods` pods (Σ replicas,
 * DaemonSets included). Throws a RangeError listing the problems when `validateGeneratorOptions` refuses the
 * options.
 */
export function generateFleet(options: GeneratorOptions): FleetSnapshot {
  return generate(options).snapshot;
}

/**
 * Where the generator put each pod of a gpu shape while drawing it: by cluster, by node, the pods of each
 * workload (`NAMESPACE/KIND/NAME`) on that node. DaemonSets are left out: one pod of each runs on every node.
 * It is a witness that every cluster's pods fit its own nodes (resources, labels, taints, anti-affinity and
 * zone spread), not a plan.
 */
export type FleetSeating = Record<string, Record<string, Record<string, number>>>;

/**
 * The snapshot `generateFleet` gives for a gpu shape (`gpuShapes`), with the seating its pods were drawn on.
 * Throws a RangeError for other shapes, whose pods are sized against their cluster's totals instead.
 */
export function generateSeatedFleet(options: GeneratorOptions): {
  snapshot: FleetSnapshot;
  seating: FleetSeating;
} {
  if (!isGpuShape(options.shape))
    throw new RangeError(`shape ${options.shape} is not seated; seated shapes: ${gpuShapes.join(", ")}`);
  const { snapshot, seating } = generate(options);
  return { snapshot, seating: seating ?? {} };
}

function generate(options: GeneratorOptions): { snapshot: FleetSnapshot; seating?: FleetSeating } {
  const checked = validateGeneratorOptions(options);
  if (!checked.ok)
    throw new RangeError(
      `invalid fleet generator options: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`,
    );
  const o = checked.value;
  const random = new Random(mix(o.seed, 0x5eed));
  const locations = layOutLocations(o.locations, random);
  const sketches = sketchClusters(o, locations, random);
  const shape = o.shape;
  let seating: FleetSeating | undefined;
  let clusters: SnapshotCluster[];
  if (isGpuShape(shape)) {
    const estates = gpuEstatesOf(sketches);
    seating = {};
    const seats = seating;
    clusters = sketches.map((sketch, i) => {
      const seated = buildGpuCluster(
        sketch,
        shape,
        estates.get(sketch.location)!,
        new Random(mix(o.seed, i + 1)),
      );
      seats[sketch.name] = seated.seating;
      return seated.cluster;
    });
  } else clusters = sketches.map((sketch, i) => buildCluster(sketch, shape, new Random(mix(o.seed, i + 1))));
  clusters.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    snapshot: {
      apiVersion: fleetSnapshotApiVersion,
      kind: fleetSnapshotKind,
      locations: locations.map((l) =>
        l.regions.length > 0 ? { name: l.name, regions: l.regions } : { name: l.name, zones: l.zones ?? [] },
      ),
      clusters,
    },
    ...(seating ? { seating } : {}),
  };
}

/** Mixes whole numbers into one 32-bit seed (murmur3's finaliser over each). */
function mix(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const value of values) {
    h = Math.imul(h ^ (value >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * Splits `total` into whole parts proportional to `weights`, none above its cap (largest remainders, ties to
 * the lower index). The caps must leave room for the total.
 */
function apportion(total: number, weights: readonly number[], caps?: readonly number[]): number[] {
  const parts = weights.map(() => 0);
  const cap = (i: number) => caps?.[i] ?? Number.POSITIVE_INFINITY;
  let left = total;
  let open = weights.map((_, i) => i).filter((i) => cap(i) > 0);
  while (left > 0 && open.length > 0) {
    let sum = 0;
    for (const i of open) sum += Math.max(0, weights[i]!);
    const share = (i: number) => (sum > 0 ? (left * Math.max(0, weights[i]!)) / sum : left / open.length);
    const full = open.filter((i) => share(i) >= cap(i) - parts[i]!);
    if (full.length > 0) {
      for (const i of full) {
        left -= cap(i) - parts[i]!;
        parts[i] = cap(i);
      }
      open = open.filter((i) => parts[i]! < cap(i));
      continue;
    }
    const ideal = open.map((i) => ({ i, value: share(i) }));
    for (const { i, value } of ideal) parts[i]! += Math.floor(value);
    let rest = left - ideal.reduce((n, { value }) => n + Math.floor(value), 0);
    ideal.sort((a, b) => b.value - Math.floor(b.value) - (a.value - Math.floor(a.value)) || a.i - b.i);
    for (let k = 0, idle = 0; rest > 0; k = (k + 1) % ideal.length) {
      const i = ideal[k]!.i;
      if (parts[i]! < cap(i)) {
        parts[i]! += 1;
        rest -= 1;
        idle = 0;
      } else if (++idle > ideal.length) break;
    }
    left = rest;
    open = open.filter((i) => parts[i]! < cap(i));
  }
  if (left !== 0) throw new Error(`cannot apportion ${total} within the caps (${left} left)`);
  return parts;
}

// ---------------------------------------------------------------------------------------------------------
// Locations and clusters

interface LocationLayout {
  name: string;
  regions: { name: string; zones: string[] }[];
  zones?: string[];
}

const regionNames = ["north", "south", "east"];
const zoneLetters = ["a", "b", "c"];

function layOutLocations(count: number, random: Random): LocationLayout[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `loc-${String(i + 1).padStart(2, "0")}`;
    if (i === 0 || random.chance(0.7)) {
      const regions = regionNames.slice(0, random.int(2, 3)).map((region) => ({
        name: `${name}-${region}`,
        zones: zoneLetters.slice(0, random.int(2, 3)).map((z) => `${name}-${region}-${z}`),
      }));
      return { name, regions };
    }
    return { name, regions: [], zones: zoneLetters.slice(0, random.int(2, 3)).map((z) => `${name}-${z}`) };
  });
}

const businesses = [
  "shop",
  "payments",
  "search",
  "ads",
  "video",
  "maps",
  "mail",
  "chat",
  "identity",
  "billing",
  "catalog",
  "checkout",
  "analytics",
  "ml",
  "recommendations",
  "reviews",
  "logistics",
  "inventory",
  "pricing",
  "fraud",
  "support",
  "notifications",
  "media",
  "music",
  "news",
  "games",
  "travel",
  "insurance",
  "lending",
  "crm",
  "docs",
  "storage",
  "delivery",
  "loyalty",
  "marketing",
  "partners",
  "observability",
  "security",
  "messaging",
  "booking",
];
/** Businesses more likely than others to run gpu nodes. */
const gpuBusinesses = new Set(["ml", "recommendations", "video", "search", "ads", "media", "fraud"]);

type Environment = "prod" | "staging" | "dev";
const environments: readonly Environment[] = ["prod", "staging", "dev"];

const environmentTraits: Record<
  Environment,
  {
    size: number;
    minNodes: number;
    utilisation: [number, number];
    versions: readonly (readonly [number, number])[];
  }
> = {
  prod: {
    size: 1,
    minNodes: 3,
    utilisation: [0.4, 0.7],
    versions: [
      [34, 5],
      [35, 4],
      [36, 1],
    ],
  },
  staging: {
    size: 0.3,
    minNodes: 2,
    utilisation: [0.2, 0.45],
    versions: [
      [34, 2],
      [35, 5],
      [36, 3],
    ],
  },
  dev: {
    size: 0.2,
    minNodes: 1,
    utilisation: [0.2, 0.4],
    versions: [
      [34, 1],
      [35, 4],
      [36, 5],
    ],
  },
};
const latestPatch: Record<number, number> = { 34: 9, 35: 6, 36: 3 };

/** A cluster before its nodes and workloads are drawn: who it is, where, how big, how busy. */
interface ClusterSketch {
  name: string;
  location: string;
  region?: string;
  zones: string[];
  environment: Environment;
  business: string;
  /** What its namespaces start with: the business, then its team and environment but for the first and prod. */
  namespace: string;
  kubernetesVersion: string;
  nodes: number;
  gpuNodes: number;
  /** The gpu shapes' GPU node pools (their nodes are the `gpuNodes`); empty in the other shapes. */
  gpuPools: GpuPoolSketch[];
  pods: number;
  /** Share of the general nodes' allocatable its requests take, by the dominant resource. */
  utilisation: number;
}

/** A pool of GPU nodes of one model in a cluster of a gpu shape. */
interface GpuPoolSketch {
  model: GpuNodeModelId;
  count: number;
}

function sketchClusters(o: GeneratorOptions, locations: LocationLayout[], random: Random): ClusterSketch[] {
  const sketches: Omit<ClusterSketch, "nodes" | "gpuNodes" | "gpuPools" | "pods">[] = [];
  const weights: number[] = [];
  const teamSize = new Map<string, number>();
  const home = new Map<string, number>();
  for (let team = 1; sketches.length < o.clusters; team += 1)
    for (const business of businesses)
      for (const environment of environments)
        for (const location of locations) {
          if (sketches.length === o.clusters) break;
          const key = `${business}/${team}`;
          if (!teamSize.has(key)) teamSize.set(key, random.spread(0.8));
          const traits = environmentTraits[environment];
          const regionIndex = home.get(`${key}/${location.name}`) ?? random.int(0, 2);
          home.set(`${key}/${location.name}`, regionIndex);
          const region = location.regions[regionIndex % Math.max(1, location.regions.length)];
          const zones = region?.zones ?? location.zones ?? [];
          const zoneCount =
            environment === "prod"
              ? zones.length
              : environment === "staging"
                ? 2
                : random.chance(0.7)
                  ? 1
                  : 2;
          const minor = random.weighted(traits.versions);
          sketches.push({
            name: `${location.name}-${business}-${environment}${team > 1 ? `-${team}` : ""}`,
            location: location.name,
            ...(region ? { region: region.name } : {}),
            zones: zones.slice(0, Math.min(zones.length, zoneCount)),
            environment,
            business,
            namespace: [
              business,
              ...(team > 1 ? [team] : []),
              ...(environment === "prod" ? [] : [environment]),
            ].join("-"),
            kubernetesVersion: `v1.${minor}.${random.int(0, latestPatch[minor]!)}`,
            utilisation: random.between(
              ...(o.shape === "gpu-mixed-owned" ? ownedUtilisation : traits.utilisation),
            ),
          });
          weights.push(teamSize.get(key)! * traits.size * random.spread(0.5));
        }

  // Nodes: each its minimum when the total allows, the rest by size; no cluster above 1,000 unless it must.
  const minimums = sketches.map((s) => environmentTraits[s.environment].minNodes);
  const floor = minimums.reduce((n, m) => n + m, 0) <= o.nodes ? minimums : minimums.map(() => 1);
  const capacity = Math.max(1000, Math.ceil((3 * o.nodes) / o.clusters));
  const extra = apportion(
    o.nodes - floor.reduce((n, m) => n + m, 0),
    weights,
    floor.map((m) => capacity - m),
  );
  const nodes = floor.map((m, i) => m + extra[i]!);

  // Gpu nodes: a few prod and staging clusters, within what the pods leave of the node budget.
  let gpuBudget = Math.floor(
    (generatorLimits.maxPodsPerNode * o.nodes - o.pods) / generatorLimits.maxPodsPerNode,
  );
  const gpuPools = isGpuShape(o.shape)
    ? sketchGpuPools(o.shape === "gpu-mixed-owned", sketches, nodes, gpuBudget, random)
    : sketches.map((): GpuPoolSketch[] => []);
  const gpuNodes = sketches.map((s, i) => {
    if (isGpuShape(o.shape)) return gpuPools[i]!.reduce((n, p) => n + p.count, 0);
    const n = nodes[i]!;
    if (s.environment === "dev" || n < 4) return 0;
    const p = (gpuBusinesses.has(s.business) ? 0.5 : 0.04) * (s.environment === "prod" ? 1 : 0.5);
    if (!random.chance(p)) return 0;
    const g = Math.min(n - 3, 16, Math.max(1, Math.round(n * random.between(0.05, 0.15))));
    if (g < 1 || g > gpuBudget) return 0;
    gpuBudget -= g;
    return g;
  });

  // Pods: by the size and utilisation of the general nodes, at most maxPodsPerNode each.
  const pods = apportion(
    o.pods,
    sketches.map((s, i) => (nodes[i]! - gpuNodes[i]!) * s.utilisation * random.spread(0.3)),
    sketches.map((_, i) => (nodes[i]! - gpuNodes[i]!) * generatorLimits.maxPodsPerNode),
  );
  return sketches.map((s, i) => ({
    ...s,
    nodes: nodes[i]!,
    gpuNodes: gpuNodes[i]!,
    gpuPools: gpuPools[i]!,
    pods: pods[i]!,
  }));
}

// ---------------------------------------------------------------------------------------------------------
// Nodes

type Pool = "general" | "memory" | "compute" | "gpu";

interface InstanceType {
  name: string;
  pool: Pool;
  cpu: number;
  memoryGi: number;
  gpus?: number;
}

const instanceTypes = {
  "m6.xlarge": { name: "m6.xlarge", pool: "general", cpu: 4, memoryGi: 16 },
  "m6.2xlarge": { name: "m6.2xlarge", pool: "general", cpu: 8, memoryGi: 32 },
  "m6.4xlarge": { name: "m6.4xlarge", pool: "general", cpu: 16, memoryGi: 64 },
  "m6.8xlarge": { name: "m6.8xlarge", pool: "general", cpu: 32, memoryGi: 128 },
  "r6.4xlarge": { name: "r6.4xlarge", pool: "memory", cpu: 16, memoryGi: 128 },
  "x6.2xlarge": { name: "x6.2xlarge", pool: "memory", cpu: 8, memoryGi: 128 },
  "x6.4xlarge": { name: "x6.4xlarge", pool: "memory", cpu: 16, memoryGi: 256 },
  "c6.4xlarge": { name: "c6.4xlarge", pool: "compute", cpu: 16, memoryGi: 32 },
  "c6.8xlarge": { name: "c6.8xlarge", pool: "compute", cpu: 32, memoryGi: 64 },
  "g6.12xlarge": { name: "g6.12xlarge", pool: "gpu", cpu: 48, memoryGi: 192, gpus: 4 },
} as const satisfies Record<string, InstanceType>;
type InstanceTypeName = keyof typeof instanceTypes;

const maxPodsPerNode = 110;
const poolLabel = "unitfleet.io/pool";

/** What pods may request on a node: capacity less the reservations (millicores and MiB). */
function allocatableOf(type: Pick<InstanceType, "cpu" | "memoryGi">): { cpuM: number; memMi: number } {
  const cores = type.cpu;
  // cpu: 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% of the rest.
  const reservedM =
    60 + (cores > 1 ? 10 : 0) + Math.min(Math.max(cores - 2, 0), 2) * 5 + Math.max(cores - 4, 0) * 2.5;
  // memory: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above,
  // and 100 MiB for eviction.
  const gi = type.memoryGi;
  const bands: [number, number][] = [
    [4, 0.25],
    [4, 0.2],
    [8, 0.1],
    [112, 0.06],
    [Number.POSITIVE_INFINITY, 0.02],
  ];
  let rest = gi;
  let reservedGi = 0;
  for (const [size, rate] of bands) {
    const part = Math.min(rest, size);
    reservedGi += part * rate;
    rest -= part;
  }
  return { cpuM: cores * 1000 - Math.round(reservedM), memMi: Math.floor((gi - reservedGi) * 1024) - 100 };
}

/**
 * Node types each shape runs its general workloads on: candidates for the main pool (the second is the usual
 * one; another is taken when the pods would otherwise need scaling by more than about 1.6×; `huge-pods`, whose
 * huge pods keep their size, picks one at random), and the types of an occasional second pool.
 */
const shapePools: Record<FleetShape, { main: InstanceTypeName[]; second: InstanceTypeName[] }> = {
  mixed: {
    main: ["m6.2xlarge", "m6.4xlarge", "m6.8xlarge"],
    second: ["r6.4xlarge", "c6.8xlarge", "x6.2xlarge"],
  },
  "memory-heavy": { main: ["r6.4xlarge", "x6.2xlarge", "x6.4xlarge"], second: ["m6.4xlarge", "r6.4xlarge"] },
  "tiny-pods": { main: ["m6.xlarge", "m6.2xlarge", "m6.4xlarge"], second: ["c6.4xlarge", "m6.2xlarge"] },
  "huge-pods": { main: ["m6.4xlarge", "m6.4xlarge", "m6.8xlarge"], second: ["c6.8xlarge", "r6.4xlarge"] },
  "gpu-mixed": { main: ["m6.4xlarge", "m6.4xlarge", "m6.8xlarge"], second: ["r6.4xlarge", "x6.4xlarge"] },
  "gpu-mixed-owned": {
    main: ["m6.4xlarge", "m6.4xlarge", "m6.8xlarge"],
    second: ["r6.4xlarge", "x6.4xlarge"],
  },
};

// ---------------------------------------------------------------------------------------------------------
// Pods

/** Millicores and MiB of one pod. */
interface Size {
  cpuM: number;
  memMi: number;
}

interface Bounds {
  min: Size;
  max: Size;
}

const shapeBounds: Record<FleetShape, Bounds> = {
  mixed: { min: { cpuM: 50, memMi: 64 }, max: { cpuM: 8000, memMi: 32768 } },
  "memory-heavy": { min: { cpuM: 50, memMi: 400 }, max: { cpuM: 4000, memMi: 65536 } },
  "tiny-pods": { min: { cpuM: 50, memMi: 64 }, max: { cpuM: 250, memMi: 512 } },
  "huge-pods": { min: { cpuM: 50, memMi: 64 }, max: { cpuM: 2000, memMi: 4096 } },
  "gpu-mixed": { min: { cpuM: 50, memMi: 64 }, max: { cpuM: 8000, memMi: 32768 } },
  "gpu-mixed-owned": { min: { cpuM: 50, memMi: 64 }, max: { cpuM: 8000, memMi: 32768 } },
};

/** The requests of one general pod of a shape, before it is scaled to the cluster's utilisation. */
function samplePod(shape: FleetShape, random: Random): Size {
  switch (shape) {
    case "mixed":
    case "gpu-mixed":
    case "gpu-mixed-owned": {
      const cpuM =
        random.weighted<number>([
          [50, 2],
          [100, 4],
          [250, 5],
          [500, 4],
          [1000, 2],
          [2000, 0.6],
          [4000, 0.2],
        ]) * random.between(0.8, 1.25);
      const giPerCore = random.weighted<number>([
        [0.5, 1],
        [1, 2],
        [2, 4],
        [4, 3],
        [8, 1],
      ]);
      return { cpuM, memMi: (cpuM / 1000) * giPerCore * 1024 };
    }
    case "memory-heavy": {
      const cpuM = random.weighted<number>([
        [100, 5],
        [250, 4],
        [500, 2],
        [1000, 0.6],
        [2000, 0.2],
      ]);
      return { cpuM, memMi: (cpuM / 1000) * random.between(8.2, 15.8) * 1024 };
    }
    case "tiny-pods":
      return { cpuM: random.between(60, 240), memMi: random.between(80, 500) };
    case "huge-pods": {
      const cpuM = random.weighted<number>([
        [100, 3],
        [250, 4],
        [500, 3],
        [1000, 1],
      ]);
      return {
        cpuM,
        memMi:
          (cpuM / 1000) *
          random.weighted<number>([
            [1, 2],
            [2, 4],
            [4, 3],
          ]) *
          1024,
      };
    }
  }
}

/** A huge pod: 35–60% of a general node's cpu (with 1–3 GiB per core) or memory (with 8–12 GiB per core). */
function sampleHugePod(random: Random): Size {
  const share = random.between(0.36, 0.59);
  if (random.chance(0.5)) {
    const cpuM = roundTo(share * generalNodeCapacity.cpu * 1000, 10);
    return { cpuM, memMi: roundTo((cpuM / 1000) * random.between(1, 3) * 1024, 16) };
  }
  const memMi = roundTo(share * generalNodeCapacity.memoryGi * 1024, 16);
  return { cpuM: roundTo((memMi / 1024 / random.between(8, 12)) * 1000, 10), memMi };
}

const roundTo = (value: number, step: number) => Math.max(step, Math.round(value / step) * step);

const cpuText = (m: number) => (m % 1000 === 0 ? String(m / 1000) : `${m}m`);
const memoryText = (mi: number) => (mi % 1024 === 0 ? `${mi / 1024}Gi` : `${mi}Mi`);

/** A workload being drawn: its pods' size moves while the cluster is fitted to its utilisation. */
interface Draft {
  namespace: string;
  kind: "Deployment" | "StatefulSet";
  name: string;
  replicas: number;
  size: Size;
  /** Huge pods keep their size. */
  fixed: boolean;
  antiAffinity: boolean;
  zoneSpread: boolean;
}

const daemonSets = [
  { namespace: "kube-system", name: "kube-proxy", size: { cpuM: 100, memMi: 128 } },
  { namespace: "monitoring", name: "node-exporter", size: { cpuM: 50, memMi: 64 } },
  { namespace: "logging", name: "log-shipper", size: { cpuM: 100, memMi: 256 } },
];

const components = [
  "api",
  "web",
  "worker",
  "gateway",
  "frontend",
  "backend",
  "consumer",
  "scheduler",
  "indexer",
  "renderer",
  "auth",
  "notifier",
  "exporter",
  "proxy",
  "ingest",
  "sync",
  "admin",
  "reporting",
  "webhook",
  "batch",
];
const statefulComponents = [
  "postgres",
  "redis",
  "kafka",
  "elasticsearch",
  "zookeeper",
  "rabbitmq",
  "mongodb",
  "cassandra",
  "clickhouse",
  "etcd",
  "minio",
  "nats",
];
const areas = ["core", "api", "data", "web", "batch", "platform", "edge", "ops"];
const gpuComponents = ["model-serving", "training", "embeddings", "transcoder", "inference", "ranker"];

/** Hands out workload names unique in their namespace. */
class Names {
  private readonly used = new Map<string, number>();

  take(namespace: string, base: string): string {
    const key = `${namespace}/${base}`;
    const n = (this.used.get(key) ?? 0) + 1;
    this.used.set(key, n);
    return n === 1 ? base : `${base}-${n}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// One cluster

function buildCluster(sketch: ClusterSketch, shape: FleetShape, random: Random): SnapshotCluster {
  const generalNodes = sketch.nodes - sketch.gpuNodes;
  const names = new Names();

  // DaemonSets: up to three, while their pods stay within a quarter of the cluster's.
  let daemonCount = 0;
  while (daemonCount < daemonSets.length && (daemonCount + 1) * sketch.nodes <= 0.25 * sketch.pods)
    daemonCount += 1;
  const daemons = daemonSets.slice(0, daemonCount);
  const perNode: Size = {
    cpuM: daemons.reduce((n, d) => n + d.size.cpuM, 0),
    memMi: daemons.reduce((n, d) => n + d.size.memMi, 0),
  };

  // Gpu workloads: a share of the gpu nodes' gpus, in at most a tenth of the cluster's pods.
  const gpuWorkloads: SnapshotWorkload[] = [];
  let gpuPods = 0;
  if (sketch.gpuNodes > 0) {
    let gpusLeft = Math.max(1, Math.floor(4 * sketch.gpuNodes * random.between(0.4, 0.8)));
    let podsLeft = Math.floor(0.1 * (sketch.pods - daemonCount * sketch.nodes));
    const count = random.int(1, 3);
    const namespace = `${sketch.namespace}-ml`;
    const kinds = [...gpuComponents];
    for (let w = 0; w < count && gpusLeft > 0 && podsLeft > 0; w += 1) {
      let perPod = random.weighted<number>([
        [1, 3],
        [2, 1],
        [4, 1],
      ]);
      while (perPod > gpusLeft) perPod /= 2;
      const replicas = Math.min(
        podsLeft,
        Math.max(1, Math.floor(Math.ceil(gpusLeft / (count - w)) / perPod)),
      );
      gpusLeft -= replicas * perPod;
      podsLeft -= replicas;
      gpuPods += replicas;
      const component = kinds.splice(random.int(0, kinds.length - 1), 1)[0]!;
      gpuWorkloads.push({
        namespace,
        kind: "Deployment",
        name: names.take(namespace, component),
        replicas,
        podRequests: {
          cpu: cpuText(roundTo(perPod * random.between(4, 7) * 1000, 10)),
          memory: memoryText(roundTo(perPod * random.between(16, 26) * 1024, 16)),
          "nvidia.com/gpu": String(perPod),
        },
        nodeSelector: { [acceleratorLabel]: "gpu" },
      });
    }
  }
  const generalPods = sketch.pods - daemonCount * sketch.nodes - gpuPods;

  // Node pools for the general workloads: a main pool, sometimes a second one.
  const pools = shapePools[shape];
  let secondType: InstanceType | undefined;
  let secondCount = 0;
  if (generalNodes >= 6 && random.chance(sketch.environment === "prod" ? 0.4 : 0.2)) {
    secondType = instanceTypes[random.pick(pools.second)];
    secondCount = Math.max(1, Math.round(generalNodes * random.between(0.15, 0.35)));
  }
  const mainCount = generalNodes - secondCount;
  const capacityWith = (main: InstanceType) => {
    const a = allocatableOf(main);
    const b = secondType ? allocatableOf(secondType) : { cpuM: 0, memMi: 0 };
    return {
      /** The most one pod may ask for: the largest node's allocatable, less the DaemonSets. */
      largest: {
        cpuM: Math.max(a.cpuM, secondCount > 0 ? b.cpuM : 0) - perNode.cpuM,
        memMi: Math.max(a.memMi, secondCount > 0 ? b.memMi : 0) - perNode.memMi,
      },
      /** The general nodes' allocatable. */
      total: {
        cpuM: mainCount * a.cpuM + secondCount * b.cpuM,
        memMi: mainCount * a.memMi + secondCount * b.memMi,
      },
    };
  };
  /** What the general workloads may request in all: the utilisation of the general nodes, less DaemonSets. */
  const targetOf = (c: ReturnType<typeof capacityWith>, share: number): Size => ({
    cpuM: share * c.total.cpuM - generalNodes * perNode.cpuM,
    memMi: share * c.total.memMi - generalNodes * perNode.memMi,
  });

  const drafts: Draft[] = [];
  const namespaces = [
    sketch.namespace,
    ...areas
      .slice(0, Math.min(areas.length, Math.floor(generalPods / 40)))
      .map((a) => `${sketch.namespace}-${a}`),
  ];
  const antiAffinityChance =
    sketch.environment === "prod" ? 0.25 : sketch.environment === "staging" ? 0.15 : 0.05;
  const spreadChance = sketch.zones.length < 2 ? 0 : sketch.environment === "prod" ? 0.3 : 0.15;
  const draft = (replicas: number, size: Size, fixed: boolean, stateful: boolean): Draft => {
    const namespace = random.pick(namespaces);
    return {
      namespace,
      kind: stateful ? "StatefulSet" : "Deployment",
      name: names.take(namespace, random.pick(stateful ? statefulComponents : components)),
      replicas,
      size,
      fixed,
      antiAffinity:
        replicas >= 2 && replicas <= generalNodes && random.chance(fixed ? 0.5 : antiAffinityChance),
      zoneSpread: replicas >= 2 && random.chance(spreadChance),
    };
  };

  let mainType: InstanceType;
  let bounds: Bounds;
  const keepRatio = shape === "mixed" || shape === "memory-heavy";
  const base = shapeBounds[shape];
  const boundedBy = (largest: Size): Bounds => ({
    min: base.min,
    max: {
      cpuM: Math.max(base.min.cpuM, Math.min(base.max.cpuM, 0.6 * largest.cpuM)),
      memMi: Math.max(base.min.memMi, Math.min(base.max.memMi, 0.6 * largest.memMi)),
    },
  });

  if (shape === "huge-pods") {
    mainType = instanceTypes[random.pick(pools.main)];
    const capacity = capacityWith(mainType);
    bounds = boundedBy(capacity.largest);
    const target = targetOf(capacity, sketch.utilisation);
    const ceiling = targetOf(capacity, 0.7);
    // Huge pods take most of the target, leaving the small pods their minimum; the first may go up to 70%.
    const hugeShare = random.between(0.6, 0.85);
    const used: Size = { cpuM: 0, memMi: 0 };
    let hugePods = 0;
    for (let attempt = 0; attempt < 1000 && hugePods < generalPods; attempt += 1) {
      const size = sampleHugePod(random);
      const smallLeft = generalPods - hugePods;
      let replicas = Math.min(random.int(1, 3), smallLeft);
      const fits = (r: number) => {
        const smallest = smallLeft - r;
        const limit =
          hugePods === 0 ? ceiling : { cpuM: hugeShare * target.cpuM, memMi: hugeShare * target.memMi };
        return (
          size.cpuM <= capacity.largest.cpuM &&
          size.memMi <= capacity.largest.memMi &&
          used.cpuM + r * size.cpuM <= limit.cpuM &&
          used.memMi + r * size.memMi <= limit.memMi &&
          used.cpuM + r * size.cpuM + smallest * base.min.cpuM <= ceiling.cpuM &&
          used.memMi + r * size.memMi + smallest * base.min.memMi <= ceiling.memMi
        );
      };
      while (replicas > 0 && !fits(replicas)) replicas -= 1;
      if (replicas === 0) break;
      drafts.push(draft(replicas, size, true, random.chance(0.5)));
      used.cpuM += replicas * size.cpuM;
      used.memMi += replicas * size.memMi;
      hugePods += replicas;
    }
    drafts.push(...smallDrafts(generalPods - hugePods, shape, sketch.environment, random, draft));
    fitToTarget(drafts, target, bounds, keepRatio);
  } else {
    drafts.push(...smallDrafts(generalPods, shape, sketch.environment, random, draft));
    // The main node type that brings the pods to the cluster's utilisation with the least scaling.
    let best: { type: InstanceType; score: number } | undefined;
    for (const name of pools.main) {
      const type = instanceTypes[name];
      const capacity = capacityWith(type);
      const b = boundedBy(capacity.largest);
      const target = targetOf(capacity, sketch.utilisation);
      const ceiling = targetOf(capacity, 0.7);
      const least = volume(drafts, (d) => scaledWithin(d.size, 0, b, keepRatio));
      if (least.cpuM > ceiling.cpuM || least.memMi > ceiling.memMi) continue;
      const natural = volume(drafts, (d) => d.size);
      const factor = Math.min(target.cpuM / natural.cpuM, target.memMi / natural.memMi);
      const usual = name === pools.main[1];
      // The shape's usual node type unless the pods would have to be scaled by more than about 1.6×.
      const score =
        (Number.isFinite(factor) && factor > 0 ? Math.abs(Math.log(factor)) : 0) +
        (usual ? 0 : Math.log(1.6));
      if (!best || score < best.score) best = { type, score };
    }
    mainType = best?.type ?? instanceTypes[pools.main[pools.main.length - 1]!];
    const capacity = capacityWith(mainType);
    bounds = boundedBy(capacity.largest);
    fitToTarget(drafts, targetOf(capacity, sketch.utilisation), bounds, keepRatio);
  }

  // Nodes, each pool spread over the cluster's zones in turn.
  const nodes: SnapshotNode[] = [];
  const addPool = (type: InstanceType, count: number) => {
    const a = allocatableOf(type);
    const allocatable: Record<string, string> = {
      cpu: cpuText(a.cpuM),
      memory: `${a.memMi * 1024}Ki`,
      pods: String(maxPodsPerNode),
      ...(type.gpus ? { "nvidia.com/gpu": String(type.gpus) } : {}),
    };
    const labels: Record<string, string> = {
      [poolLabel]: type.pool,
      ...(type.gpus ? { [acceleratorLabel]: "gpu" } : {}),
    };
    for (let i = 0; i < count; i += 1)
      nodes.push({
        name: `${sketch.name}-${type.pool}-${nodes.length}`,
        ...(sketch.zones.length > 0 ? { zone: sketch.zones[nodes.length % sketch.zones.length]! } : {}),
        instanceType: type.name,
        allocatable: { ...allocatable },
        labels: { ...labels },
      });
  };
  addPool(mainType, mainCount);
  if (secondType) addPool(secondType, secondCount);
  addPool(instanceTypes["g6.12xlarge"], sketch.gpuNodes);

  const workloads: SnapshotWorkload[] = drafts.map((d) => ({
    namespace: d.namespace,
    kind: d.kind,
    name: d.name,
    replicas: d.replicas,
    podRequests: { cpu: cpuText(d.size.cpuM), memory: memoryText(d.size.memMi) },
    ...(d.antiAffinity ? { podAntiAffinity: { topologyKey: hostnameTopologyKey } } : {}),
    ...(d.zoneSpread ? { topologySpread: [{ topologyKey: zoneTopologyKey, maxSkew: 1 }] } : {}),
  }));
  workloads.push(...gpuWorkloads);
  for (const d of daemons)
    workloads.push({
      namespace: d.namespace,
      kind: "DaemonSet",
      name: d.name,
      replicas: sketch.nodes,
      podRequests: { cpu: cpuText(d.size.cpuM), memory: memoryText(d.size.memMi) },
    });

  return {
    name: sketch.name,
    location: sketch.location,
    ...(sketch.region ? { region: sketch.region } : {}),
    environment: sketch.environment,
    business: sketch.business,
    kubernetesVersion: sketch.kubernetesVersion,
    zones: sketch.zones,
    nodes,
    workloads,
  };
}

/** Ordinary workloads holding `pods` pods: few replicas in dev, more in prod and in big clusters. */
function smallDrafts(
  pods: number,
  shape: FleetShape,
  environment: Environment,
  random: Random,
  draft: (replicas: number, size: Size, fixed: boolean, stateful: boolean) => Draft,
): Draft[] {
  if (pods <= 0) return [];
  const root = Math.sqrt(pods);
  const mean =
    environment === "prod" ? 3 + root / 5 : environment === "staging" ? 1.5 + root / 10 : 1.2 + root / 12;
  const count = Math.min(pods, Math.max(1, Math.round(pods / mean)));
  const weights = Array.from({ length: count }, () => random.spread(1));
  const replicas = apportion(pods - count, weights).map((r) => r + 1);
  return replicas.map((r) => draft(r, samplePod(shape, random), false, random.chance(0.12)));
}

function volume(drafts: readonly Draft[], size: (d: Draft) => Size): Size {
  let cpuM = 0;
  let memMi = 0;
  for (const d of drafts) {
    const s = size(d);
    cpuM += d.replicas * s.cpuM;
    memMi += d.replicas * s.memMi;
  }
  return { cpuM, memMi };
}

/**
 * The size of `s` scaled by `factor` within `bounds`: keeping its memory per core (`mixed`, `memory-heavy`: the
 * factor is clamped so that both stay in bounds) or each resource clamped on its own (`tiny-pods`, `huge-pods`).
 */
function scaledWithin(s: Size, factor: number, bounds: Bounds, keepRatio: boolean): Size {
  const clamp = (value: number, low: number, high: number) =>
    Math.min(Math.max(value, low), Math.max(low, high));
  if (!keepRatio)
    return {
      cpuM: clamp(s.cpuM * factor, bounds.min.cpuM, bounds.max.cpuM),
      memMi: clamp(s.memMi * factor, bounds.min.memMi, bounds.max.memMi),
    };
  const low = Math.max(bounds.min.cpuM / s.cpuM, bounds.min.memMi / s.memMi);
  const high = Math.min(bounds.max.cpuM / s.cpuM, bounds.max.memMi / s.memMi);
  const f = clamp(factor, low, high);
  return { cpuM: s.cpuM * f, memMi: s.memMi * f };
}

/**
 * Scales the pods that may move until the dominant resource of the whole meets `target`, each pod within
 * `bounds`; then rounds cpu to 10m and memory to 16 MiB (keeping the memory per core where the shape does).
 */
function fitToTarget(drafts: Draft[], target: Size, bounds: Bounds, keepRatio: boolean): void {
  const free = new Set(drafts.filter((d) => !d.fixed));
  for (let pass = 0; pass < 6 && free.size > 0; pass += 1) {
    const all = volume(drafts, (d) => d.size);
    const moving = volume([...free], (d) => d.size);
    const factor = Math.max(
      0,
      Math.min(
        (target.cpuM - (all.cpuM - moving.cpuM)) / moving.cpuM,
        (target.memMi - (all.memMi - moving.memMi)) / moving.memMi,
      ),
    );
    let clamped = false;
    for (const d of free) {
      const next = scaledWithin(d.size, factor, bounds, keepRatio);
      if (next.cpuM !== d.size.cpuM * factor || next.memMi !== d.size.memMi * factor) {
        free.delete(d);
        clamped = true;
      }
      d.size = next;
    }
    if (!clamped) break;
  }
  const within = (value: number, step: number, low: number, high: number) =>
    Math.min(Math.max(roundTo(value, step), low), Math.floor(high / step) * step);
  for (const d of drafts) {
    if (d.fixed) continue;
    const cpuM = within(d.size.cpuM, 10, bounds.min.cpuM, bounds.max.cpuM);
    const memMi = keepRatio ? (d.size.memMi * cpuM) / d.size.cpuM : d.size.memMi;
    d.size = { cpuM, memMi: within(memMi, 16, bounds.min.memMi, bounds.max.memMi) };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Mixed CPU/GPU estates: the gpu shapes

/** The utilisation of `gpu-mixed-owned`: of each cluster's CPU nodes (dominant resource) and of its GPU pools. */
const ownedUtilisation: [number, number] = [0.5, 0.75];
/** The share of a GPU pool's units its pods take in `gpu-mixed`. */
const gpuUtilisation: [number, number] = [0.3, 0.85];
/** `gpu-mixed-owned`: each Location holds this share of its nodes of each GPU machine, at least `ownedStockMin`… */
const ownedStockShare: [number, number] = [0.01, 0.02];
const ownedStockMin = 2;
/** …and a cluster at most this many nodes of one GPU node model. */
const ownedPoolMax = 4;
/** The share of GPU pools whose nodes carry the GPU taint; the others are left untainted. */
const taintedPoolShare = 0.85;
/** The most of a cluster's pods (DaemonSets aside) its GPU workloads hold: CPU-only pods are the majority. */
const maxGpuPodShare = 0.4;
/** The most of a GPU node's cpu and memory (per GPU unit) a GPU pod asks for, and the least. */
const gpuPodShare: [number, number] = [0.25, 0.6];
/** The most of the smallest CPU node one CPU-only pod asks for, so that the pods can be seated densely. */
const cpuPodLargestShare = 0.3;

const gpuModelChoices: readonly (readonly [GpuNodeModelId, number])[] = [
  ["a100", 3],
  ["h100", 2],
  ["a100-mig", 1],
  ["h100-mig", 0.7],
  ["l4", 2],
  ["l4-shared", 1.5],
  ["t4", 1],
  ["t4-shared", 1],
];
const devGpuModelChoices: readonly (readonly [GpuNodeModelId, number])[] = [
  ["t4", 3],
  ["t4-shared", 2],
  ["l4", 1.5],
  ["l4-shared", 1],
];

/**
 * The GPU pools of each cluster of a gpu shape: most prod clusters of gpu businesses and some others, 10–30% of
 * a cluster's nodes (one CPU node at least stays), in one to three pools of different node models. In the
 * owned variant each Location has a stock of each GPU machine and no cluster takes more than `ownedPoolMax` of
 * one model.
 */
function sketchGpuPools(
  owned: boolean,
  sketches: readonly Pick<ClusterSketch, "location" | "business" | "environment">[],
  nodes: readonly number[],
  budget: number,
  random: Random,
): GpuPoolSketch[][] {
  const stock = new Map<string, number>();
  if (owned) {
    const perLocation = new Map<string, number>();
    sketches.forEach((s, i) => {
      perLocation.set(s.location, (perLocation.get(s.location) ?? 0) + nodes[i]!);
    });
    for (const [location, count] of perLocation)
      for (const machine of Object.keys(gpuMachines))
        stock.set(
          `${location}/${machine}`,
          Math.max(ownedStockMin, Math.round(count * random.between(...ownedStockShare))),
        );
  }
  let left = budget;
  return sketches.map((s, i) => {
    const n = nodes[i]!;
    if (n < 2 || left < 1) return [];
    const p =
      (gpuBusinesses.has(s.business) ? 0.8 : 0.25) *
      (s.environment === "prod" ? 1 : s.environment === "staging" ? 0.6 : 0.35);
    if (!random.chance(p)) return [];
    const g = Math.min(n - 1, left, Math.max(1, Math.round(n * random.between(0.1, 0.3))));
    const poolCount = g <= 2 ? 1 : random.int(1, Math.min(3, g));
    const sizes = apportion(
      g - poolCount,
      Array.from({ length: poolCount }, () => random.spread(0.5)),
    ).map((c) => c + 1);
    const choices = s.environment === "dev" ? devGpuModelChoices : gpuModelChoices;
    const pools: GpuPoolSketch[] = [];
    for (const size of sizes) {
      const stockKey = (m: GpuNodeModelId) => `${s.location}/${gpuNodeModels[m].machine}`;
      const open = choices.filter(
        ([m]) => !pools.some((pool) => pool.model === m) && (!owned || (stock.get(stockKey(m)) ?? 0) > 0),
      );
      if (open.length === 0) break;
      const model = random.weighted(open);
      let count = size;
      if (owned) {
        count = Math.min(count, ownedPoolMax, stock.get(stockKey(model))!);
        stock.set(stockKey(model), stock.get(stockKey(model))! - count);
      }
      pools.push({ model, count });
    }
    left -= pools.reduce((sum, pool) => sum + pool.count, 0);
    return pools;
  });
}

/** The GPU node models of a Location: what its pods' node affinity may name. */
interface GpuEstate {
  models: GpuNodeModelId[];
}

function gpuEstatesOf(sketches: readonly ClusterSketch[]): Map<string, GpuEstate> {
  const estates = new Map<string, GpuEstate>();
  for (const s of sketches) {
    const estate = estates.get(s.location) ?? { models: [] };
    estates.set(s.location, estate);
    for (const pool of s.gpuPools) if (!estate.models.includes(pool.model)) estate.models.push(pool.model);
  }
  for (const estate of estates.values()) estate.models.sort();
  return estates;
}

/** A node of a cluster being drawn, with what is left of it for pods (DaemonSets already taken off). */
interface OpenNode {
  name: string;
  /** Index into the cluster's zones; -1 when it has none. */
  zone: number;
  cpuM: number;
  memMi: number;
  pods: number;
  units: Record<string, number>;
  /** Pods seated on it, by workload (`NAMESPACE/KIND/NAME`). */
  seated: Record<string, number>;
}

/** What one pod asks for: millicores, MiB and extended resources. */
interface PodDemand {
  cpuM: number;
  memMi: number;
  units: Readonly<Record<string, number>>;
}

/** How many more pods of `demand` fit on the node. */
function roomFor(node: OpenNode, demand: PodDemand): number {
  let room = node.pods;
  if (demand.cpuM > 0) room = Math.min(room, Math.floor(node.cpuM / demand.cpuM));
  if (demand.memMi > 0) room = Math.min(room, Math.floor(node.memMi / demand.memMi));
  for (const [resource, count] of Object.entries(demand.units))
    room = Math.min(room, Math.floor((node.units[resource] ?? 0) / count));
  return Math.max(0, room);
}

/** Seats `count` pods of `demand` on the node (a negative count takes them off again). */
function seat(node: OpenNode, key: string, demand: PodDemand, count: number): void {
  node.cpuM -= count * demand.cpuM;
  node.memMi -= count * demand.memMi;
  node.pods -= count;
  for (const [resource, n] of Object.entries(demand.units)) node.units[resource]! -= count * n;
  const now = (node.seated[key] ?? 0) + count;
  if (now === 0) delete node.seated[key];
  else node.seated[key] = now;
}

const floorTo = (value: number, step: number) => Math.max(step, Math.floor(value / step) * step);
const workloadKey = (w: { namespace: string; kind: string; name: string }) =>
  `${w.namespace}/${w.kind}/${w.name}`;

/** One cluster of a gpu shape, with the seating its pods were drawn on. */
function buildGpuCluster(
  sketch: ClusterSketch,
  shape: GpuShape,
  estate: GpuEstate,
  random: Random,
): { cluster: SnapshotCluster; seating: Record<string, Record<string, number>> } {
  const owned = shape === "gpu-mixed-owned";
  const names = new Names();
  const cpuNodeCount = sketch.nodes - sketch.gpuNodes;

  // DaemonSets: as in the other shapes, but tolerating every taint (as kube-proxy and node agents do).
  let daemonCount = 0;
  while (daemonCount < daemonSets.length && (daemonCount + 1) * sketch.nodes <= 0.25 * sketch.pods)
    daemonCount += 1;
  const daemons = daemonSets.slice(0, daemonCount);
  const perNode: Size = {
    cpuM: daemons.reduce((n, d) => n + d.size.cpuM, 0),
    memMi: daemons.reduce((n, d) => n + d.size.memMi, 0),
  };

  // Nodes: the CPU pools first (a general pool, sometimes a memory-optimised one), then the GPU pools, each
  // spread over the cluster's zones in turn.
  const pools = shapePools[shape];
  const mainType = instanceTypes[random.pick(pools.main)];
  const secondType = instanceTypes[random.pick(pools.second)];
  const secondCount =
    cpuNodeCount >= 4 && random.chance(0.4)
      ? Math.max(1, Math.round(cpuNodeCount * random.between(0.15, 0.35)))
      : 0;
  const nodes: SnapshotNode[] = [];
  const open: OpenNode[] = [];
  const addNode = (
    pool: string,
    instanceType: string,
    machine: { cpu: number; memoryGi: number },
    units: Record<string, number>,
    labels: Record<string, string>,
    tainted: boolean,
  ) => {
    const a = allocatableOf(machine);
    const zone = sketch.zones.length > 0 ? nodes.length % sketch.zones.length : -1;
    const name = `${sketch.name}-${pool}-${nodes.length}`;
    nodes.push({
      name,
      ...(zone >= 0 ? { zone: sketch.zones[zone]! } : {}),
      instanceType,
      allocatable: {
        cpu: cpuText(a.cpuM),
        memory: `${a.memMi * 1024}Ki`,
        pods: String(maxPodsPerNode),
        ...Object.fromEntries(Object.entries(units).map(([r, n]) => [r, String(n)])),
      },
      labels: { [poolLabel]: pool, ...labels },
      ...(tainted ? { taints: [{ ...gpuTaint }] } : {}),
    });
    open.push({
      name,
      zone,
      cpuM: a.cpuM - perNode.cpuM,
      memMi: a.memMi - perNode.memMi,
      pods: maxPodsPerNode - daemonCount,
      units: { ...units },
      seated: {},
    });
  };
  for (const [type, count] of [
    [mainType, cpuNodeCount - secondCount],
    [secondType, secondCount],
  ] as const)
    for (let i = 0; i < count; i += 1) addNode(type.pool, type.name, type, {}, {}, false);
  const cpuNodes = open.slice();
  const gpuPools: { model: GpuNodeModel; nodes: OpenNode[]; capacity: Size }[] = [];
  for (const pool of sketch.gpuPools) {
    const model: GpuNodeModel = gpuNodeModels[pool.model];
    const machine = gpuMachines[model.machine];
    const units = Object.fromEntries(gpuUnitsOf(model).map((u) => [u.resource, u.count]));
    const tainted = random.chance(taintedPoolShare);
    const first = open.length;
    for (let i = 0; i < pool.count; i += 1)
      addNode(model.id, machine.instanceType, machine, units, gpuLabelsOf(model), tainted);
    const a = allocatableOf(machine);
    gpuPools.push({
      model,
      nodes: open.slice(first),
      capacity: { cpuM: a.cpuM - perNode.cpuM, memMi: a.memMi - perNode.memMi },
    });
  }

  // GPU workloads, pool by pool and resource by resource: drawn until they ask for the pool's utilisation of
  // its units, then seated largest first; each pod asks for cpu and memory in proportion to its units.
  const workloads: SnapshotWorkload[] = [];
  const nonDaemonPods = sketch.pods - daemonCount * sketch.nodes;
  let gpuPodsLeft = Math.floor(nonDaemonPods * maxGpuPodShare);
  let gpuPods = 0;
  const namespace = `${sketch.namespace}-ml`;
  for (const pool of gpuPools) {
    const share = random.between(...(owned ? ownedUtilisation : gpuUtilisation));
    const setup = pool.model.setup;
    const devices = gpuMachines[pool.model.machine].devices;
    for (const unit of gpuUnitsOf(pool.model)) {
      const target = Math.max(1, Math.round(share * unit.count * pool.nodes.length));
      const specs: { perPod: number; replicas: number }[] = [];
      for (let planned = 0; planned < target && specs.length < 40; ) {
        let perPod =
          setup.kind === "whole"
            ? random.weighted(
                (
                  [
                    [1, 4],
                    [2, 2],
                    [4, 1.5],
                    [8, 3],
                  ] as const
                ).filter(([n]) => n <= devices),
              )
            : 1;
        while (perPod > 1 && perPod > target - planned) perPod /= 2;
        const replicas = Math.min(
          Math.max(1, Math.floor((target - planned) / perPod)),
          random.int(1, perPod >= 4 ? 3 : 8),
        );
        specs.push({ perPod, replicas });
        planned += perPod * replicas;
      }
      specs.sort((a, b) => b.perPod - a.perPod);
      for (const spec of specs) {
        if (gpuPodsLeft <= 0) break;
        const demand: PodDemand = {
          cpuM: floorTo(spec.perPod * unit.share * pool.capacity.cpuM * random.between(...gpuPodShare), 10),
          memMi: floorTo(spec.perPod * unit.share * pool.capacity.memMi * random.between(...gpuPodShare), 16),
          units: { [unit.resource]: spec.perPod },
        };
        const places: [OpenNode, number][] = [];
        let left = Math.min(spec.replicas, gpuPodsLeft);
        for (const node of pool.nodes) {
          const k = Math.min(left, roomFor(node, demand));
          if (k > 0) places.push([node, k]);
          left -= k;
          if (left === 0) break;
        }
        const replicas = places.reduce((n, [, k]) => n + k, 0);
        if (replicas === 0) continue;
        const components =
          setup.kind === "time-sliced"
            ? sharedGpuComponents
            : setup.kind === "mig"
              ? migComponents
              : spec.perPod >= 4
                ? largeGpuComponents
                : gpuComponents;
        const workload: SnapshotWorkload = {
          namespace,
          kind: "Deployment",
          name: names.take(namespace, random.pick(components)),
          replicas,
          podRequests: {
            cpu: cpuText(demand.cpuM),
            memory: memoryText(demand.memMi),
            [unit.resource]: String(spec.perPod),
          },
          tolerations: [{ ...gpuToleration }],
        };
        const terms = gpuAffinity(pool.model, spec.perPod, estate, random);
        if (terms) workload.nodeAffinity = { nodeSelectorTerms: terms };
        for (const [node, k] of places) seat(node, workloadKey(workload), demand, k);
        workloads.push(workload);
        gpuPodsLeft -= replicas;
        gpuPods += replicas;
      }
    }
  }

  // CPU-only workloads: the majority, drawn as in `mixed`, brought to the utilisation of the CPU nodes, and
  // seated on them (constrained ones first, then the largest first), shrunk where they would not fit.
  const cpuPods = nonDaemonPods - gpuPods;
  const everyZoneHasCpu =
    sketch.zones.length >= 2 && new Set(cpuNodes.map((n) => n.zone)).size === sketch.zones.length;
  const namespaces = [
    sketch.namespace,
    ...areas
      .slice(0, Math.min(areas.length, Math.floor(cpuPods / 40)))
      .map((a) => `${sketch.namespace}-${a}`),
  ];
  const antiAffinityChance =
    sketch.environment === "prod" ? 0.25 : sketch.environment === "staging" ? 0.15 : 0.05;
  const spreadChance = !everyZoneHasCpu ? 0 : sketch.environment === "prod" ? 0.3 : 0.15;
  const draft = (replicas: number, size: Size, fixed: boolean, stateful: boolean): Draft => {
    const ns = random.pick(namespaces);
    return {
      namespace: ns,
      kind: stateful ? "StatefulSet" : "Deployment",
      name: names.take(ns, random.pick(stateful ? statefulComponents : components)),
      replicas,
      size,
      fixed,
      antiAffinity: replicas >= 2 && replicas <= cpuNodeCount && random.chance(antiAffinityChance),
      zoneSpread: replicas >= 2 && random.chance(spreadChance),
    };
  };
  const drafts = smallDrafts(cpuPods, shape, sketch.environment, random, draft);
  const main = allocatableOf(mainType);
  const second = allocatableOf(secondType);
  const smallest = {
    cpuM: Math.min(main.cpuM, secondCount > 0 ? second.cpuM : main.cpuM) - perNode.cpuM,
    memMi: Math.min(main.memMi, secondCount > 0 ? second.memMi : main.memMi) - perNode.memMi,
  };
  const base = shapeBounds[shape];
  const bounds: Bounds = {
    min: base.min,
    max: {
      cpuM: Math.max(base.min.cpuM, Math.min(base.max.cpuM, cpuPodLargestShare * smallest.cpuM)),
      memMi: Math.max(base.min.memMi, Math.min(base.max.memMi, cpuPodLargestShare * smallest.memMi)),
    },
  };
  const allocatable = {
    cpuM: (cpuNodeCount - secondCount) * main.cpuM + secondCount * second.cpuM,
    memMi: (cpuNodeCount - secondCount) * main.memMi + secondCount * second.memMi,
  };
  fitToTarget(
    drafts,
    {
      cpuM: sketch.utilisation * allocatable.cpuM - cpuNodeCount * perNode.cpuM,
      memMi: sketch.utilisation * allocatable.memMi - cpuNodeCount * perNode.memMi,
    },
    bounds,
    true,
  );
  seatCpuDrafts(sketch, drafts, cpuNodes, random);

  for (const d of drafts)
    workloads.push({
      namespace: d.namespace,
      kind: d.kind,
      name: d.name,
      replicas: d.replicas,
      podRequests: { cpu: cpuText(d.size.cpuM), memory: memoryText(d.size.memMi) },
      ...(d.antiAffinity ? { podAntiAffinity: { topologyKey: hostnameTopologyKey } } : {}),
      ...(d.zoneSpread ? { topologySpread: [{ topologyKey: zoneTopologyKey, maxSkew: 1 }] } : {}),
    });
  for (const d of daemons)
    workloads.push({
      namespace: d.namespace,
      kind: "DaemonSet",
      name: d.name,
      replicas: sketch.nodes,
      podRequests: { cpu: cpuText(d.size.cpuM), memory: memoryText(d.size.memMi) },
      tolerations: [{ operator: "Exists" }],
    });

  const seating: Record<string, Record<string, number>> = {};
  for (const node of open) if (Object.keys(node.seated).length > 0) seating[node.name] = node.seated;
  return {
    cluster: {
      name: sketch.name,
      location: sketch.location,
      ...(sketch.region ? { region: sketch.region } : {}),
      environment: sketch.environment,
      business: sketch.business,
      kubernetesVersion: sketch.kubernetesVersion,
      zones: sketch.zones,
      nodes,
      workloads,
    },
    seating,
  };
}

const largeGpuComponents = ["training", "fine-tuning", "llm-serving", "embeddings"];
const sharedGpuComponents = ["notebook", "inference", "transcoder", "ocr"];
const migComponents = ["inference", "embeddings", "notebook", "ranker"];

/**
 * The required node affinity of a GPU workload seated on a node of `model`, naming only products the Location
 * has: whole-GPU pods `In` a set of models (theirs and maybe another with as many devices), `NotIn` the shared
 * and smaller ones, or any product on a node that is not time-sliced (`Exists`/`DoesNotExist`), or none when
 * the Location has no time-sliced nodes; time-sliced pods a `-SHARED` product or the replicas label; MIG pods
 * their product, or nothing (their resource places them).
 */
function gpuAffinity(
  model: GpuNodeModel,
  perPod: number,
  estate: GpuEstate,
  random: Random,
): NodeSelectorTermText[] | undefined {
  const mine = productOf(model);
  const models = estate.models.map((id): GpuNodeModel => gpuNodeModels[id]);
  const sharedProducts = unique(models.filter((m) => m.setup.kind === "time-sliced").map(productOf));
  const term = (...matchExpressions: NodeSelectorTermText["matchExpressions"]): NodeSelectorTermText[] => [
    { matchExpressions },
  ];
  const notShared = term(
    { key: gpuLabels.product, operator: "Exists" },
    { key: gpuLabels.replicas, operator: "DoesNotExist" },
  );
  switch (model.setup.kind) {
    case "time-sliced":
      return random.chance(0.5)
        ? term({
            key: gpuLabels.product,
            operator: "In",
            values: unique([mine, ...(random.chance(0.4) ? sharedProducts : [])]),
          })
        : term({ key: gpuLabels.replicas, operator: "Exists" });
    case "mig":
      return random.chance(0.4)
        ? term({ key: gpuLabels.product, operator: "In", values: [mine] })
        : undefined;
    case "whole": {
      const whole = models.filter((m) => m.setup.kind === "whole");
      const choice = random.weighted<"in" | "notIn" | "exists" | "none">([
        ["in", 35],
        ["notIn", 20],
        ["exists", 15],
        ["none", 30],
      ]);
      if (choice === "in") {
        const others = whole.filter((m) => m.id !== model.id && gpuMachines[m.machine].devices >= perPod);
        const values = [
          mine,
          ...(others.length > 0 && random.chance(0.6) ? [productOf(random.pick(others))] : []),
        ];
        return term({ key: gpuLabels.product, operator: "In", values: unique(values) });
      }
      if (choice === "notIn") {
        const excluded = unique([
          ...sharedProducts,
          ...whole.filter((m) => gpuMachines[m.machine].devices < perPod).map(productOf),
        ]).filter((p) => p !== mine);
        if (excluded.length > 0) return term({ key: gpuLabels.product, operator: "NotIn", values: excluded });
      }
      return choice === "none" && sharedProducts.length === 0 ? undefined : notShared;
    }
  }
}

/** A node selector term as a snapshot writes it. */
type NodeSelectorTermText = NonNullable<SnapshotWorkload["nodeAffinity"]>["nodeSelectorTerms"][number];

const unique = (values: readonly string[]) => [...new Set(values)].sort();

/**
 * Seats the CPU-only drafts on the CPU nodes: those with anti-affinity or zone spread first (one pod per node;
 * zones in turn), then the rest largest first, as many per node as fit. A draft that does not fit is shrunk by
 * 30% and tried again; at its smallest it loses its constraints. Throws if even that fails (a generator bug).
 */
function seatCpuDrafts(sketch: ClusterSketch, drafts: Draft[], nodes: OpenNode[], random: Random): void {
  if (drafts.length === 0) return;
  const largest = nodes.reduce(
    (m, n) => ({ cpuM: Math.max(m.cpuM, n.cpuM), memMi: Math.max(m.memMi, n.memMi) }),
    { cpuM: 1, memMi: 1 },
  );
  const weight = (d: Draft) => Math.max(d.size.cpuM / largest.cpuM, d.size.memMi / largest.memMi);
  const order = drafts
    .map((d, i) => ({ d, i, constrained: d.antiAffinity || d.zoneSpread, w: weight(d) }))
    .sort((a, b) => Number(b.constrained) - Number(a.constrained) || b.w - a.w || a.i - b.i);
  const zoneCount = sketch.zones.length;
  const min = shapeBounds["gpu-mixed"].min;
  const demandOf = (d: Draft): PodDemand => ({ cpuM: d.size.cpuM, memMi: d.size.memMi, units: {} });

  // Each pod goes on the node with the largest free share of its scarcest resource (cpu, memory, pod slots):
  // nodes fill evenly, so that no node runs out of cpu while its slots are still wanted, or the reverse.
  const capacity = nodes.map((n) => ({ cpuM: n.cpuM, memMi: n.memMi, pods: Math.max(1, n.pods) }));
  const freeShare = (i: number) => {
    const n = nodes[i]!;
    const c = capacity[i]!;
    return Math.min(n.cpuM / c.cpuM, n.memMi / c.memMi, n.pods / c.pods);
  };
  const tryPlace = (d: Draft): boolean => {
    const demand = demandOf(d);
    const key = workloadKey(d);
    const used: OpenNode[] = [];
    const offset = random.int(0, Math.max(0, zoneCount - 1));
    for (let k = 0; k < d.replicas; k += 1) {
      const zone = d.zoneSpread ? (k + offset) % zoneCount : -2;
      let best = -1;
      let bestShare = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < nodes.length; i += 1) {
        const n = nodes[i]!;
        if ((zone !== -2 && n.zone !== zone) || (d.antiAffinity && n.seated[key] !== undefined)) continue;
        if (roomFor(n, demand) === 0) continue;
        const share = freeShare(i);
        if (share > bestShare) {
          best = i;
          bestShare = share;
        }
      }
      if (best < 0) {
        for (const n of used) seat(n, key, demand, -1);
        return false;
      }
      seat(nodes[best]!, key, demand, 1);
      used.push(nodes[best]!);
    }
    return true;
  };

  for (const { d } of order)
    for (;;) {
      if (tryPlace(d)) break;
      if (d.size.cpuM > min.cpuM || d.size.memMi > min.memMi)
        d.size = {
          cpuM: Math.max(min.cpuM, floorTo(d.size.cpuM * 0.7, 10)),
          memMi: Math.max(min.memMi, floorTo(d.size.memMi * 0.7, 16)),
        };
      else if (d.antiAffinity || d.zoneSpread) {
        d.antiAffinity = false;
        d.zoneSpread = false;
      } else throw new Error(`fleet generator: cannot seat ${workloadKey(d)} in ${sketch.name}`);
    }
}
