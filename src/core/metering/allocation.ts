/**
 * The allocation engine (issue 14, docs/metering.md): who pays what of one cluster's hour. Nodes are priced and
 * their cost split into cpu, memory and gpu; each workload pays for what it allocated (max(request, usage),
 * minute by minute) at the cluster's price per unit of each resource; what nothing allocated is idle, kept as
 * rows of its own or shared out; shared namespaces (kube-system, monitoring…) are spread over the other
 * workloads; persistent volumes and LoadBalancers are added on top, to the workload that holds them. Money is
 * integer micro-units and is conserved exactly: the rows of a cluster-hour add up to its node, storage and
 * LoadBalancer costs to the micro-unit, and no row is negative.
 *
 * Pure: the caller brings the records, the resolved prices and the rules; nothing here reads a clock or a store.
 */

import { fieldPath, type Problem, type Validated } from "../validation/problems.ts";
import {
  type Claim,
  compareKeys,
  divideByLargestRemainder,
  divideRoundHalfUp,
  toSafeNumber,
} from "./money.ts";
import { bytesPerGiB, minutesPerHour, type NodeCost, type NodePrice, nodeCost } from "./node-cost.ts";
import type { HourStart, NodeHour, ResourceMinutes, WorkloadHour } from "./usage.ts";

export type { NodePrice } from "./node-cost.ts";

/** The resources a node's cost is split into. */
export type NodeResource = "cpu" | "memory" | "gpu";
export const nodeResources: readonly NodeResource[] = ["cpu", "memory", "gpu"];

/** Hours in a billing month, to turn a per-GiB-month storage price into an hourly one (365 × 24 ÷ 12). */
export const hoursPerMonth = 730;

/** The namespaces whose cost is spread over the others unless the rules name others. */
export const defaultSharedNamespaces: readonly string[] = Object.freeze([
  "kube-system",
  "kube-public",
  "kube-node-lease",
  "monitoring",
  "unitfleet-system",
]);

/** The storage class key that prices every class the price list does not name. */
export const anyStorageClass = "*";

/** The namespace idle rows carry (no Kubernetes namespace can have this name: underscores are not allowed). */
export const idleNamespace = "__idle__";

/** How one cluster-hour is divided. */
export interface AllocationRules {
  /** `separate`: idle stays as rows of its own; `share`: spread over the workloads by their cost of each resource. */
  idle: "separate" | "share";
  /** Namespaces that serve everyone; their cost is spread over the other workloads (`sharedSplit`). */
  sharedNamespaces: readonly string[];
  /**
   * How shared namespaces' cost is spread: `weighted` in proportion to each other workload's cost of the same
   * resource (OpenCost's `__weighted__`), `even` in equal parts, `none` not at all (they stay rows of their own).
   */
  sharedSplit: "weighted" | "even" | "none";
  /** Workload label keys that name who pays, first present (non-empty) wins; else the Cluster's business/environment. */
  payerLabels: readonly string[];
}

export const defaultAllocationRules: AllocationRules = Object.freeze({
  idle: "separate",
  sharedNamespaces: defaultSharedNamespaces,
  sharedSplit: "weighted",
  payerLabels: Object.freeze(["business", "team"]),
});

/** The cluster being allocated and its default payer. */
export interface ClusterOwner {
  name: string;
  business: string;
  environment: string;
}

/** Prices that held during the hour, in micro-units of one currency, every figure a non-negative safe integer. */
export interface HourPrices {
  /** Each node's price, by node name: every node of the hour must have one. */
  nodes: Readonly<Record<string, NodePrice>>;
  /** Per GiB-month (730 hours) of requested claim size, by storage class; `*` prices any class not named. */
  storagePerGiBMonth: Readonly<Record<string, number>>;
  /** Per LoadBalancer Service and hour. */
  loadBalancerPerHour: number;
}

/** One cluster's hour: its records (as `usage.ts` defines them), the prices that held, and the rules. */
export interface ClusterHourInput {
  cluster: ClusterOwner;
  hour: HourStart;
  nodes: readonly NodeHour[];
  workloads: readonly WorkloadHour[];
  prices: HourPrices;
  rules: AllocationRules;
}

/** Who pays for a row: the first payer label the workload has, or the Cluster's business and environment. */
export type Payer =
  | { from: "label"; key: string; value: string }
  | { from: "cluster"; business: string; environment: string };

/**
 * One row of a cluster-hour's bill, in micro-units. `workload` rows are the workloads of ordinary namespaces;
 * `shared` rows are workloads of shared namespaces (zero cost once spread, their figures kept for efficiency);
 * `idle` rows hold one resource's idle cost (namespace `__idle__`, workload = the resource).
 */
export interface AllocationRow {
  kind: "workload" | "shared" | "idle";
  cluster: string;
  hour: HourStart;
  namespace: string;
  workload: string;
  payer: Payer;
  labels: Record<string, string>;
  cpuCost: number;
  memoryCost: number;
  gpuCost: number;
  storageCost: number;
  loadBalancerCost: number;
  /** The sum of the five costs above. */
  totalCost: number;
  /** How much of `totalCost` is idle shared onto this row (`idle: share`). */
  idleIncluded: number;
  /** How much of `totalCost` came from shared namespaces. */
  sharedIncluded: number;
  /** On `shared` rows: the cost this workload had before it was spread over the others. */
  sharedSpread: number;
  /** Request, usage and allocated, as the record had them (zero on idle rows), for efficiency. */
  cpu: ResourceMinutes;
  memory: ResourceMinutes;
  gpu: ResourceMinutes;
  /** Requested claim size over all storage classes, in byte-minutes. */
  storage: number;
  /** LoadBalancer service-minutes. */
  loadBalancers: number;
  /** Idle rows: the resource, and the amount of it nothing allocated (millicore-, byte- or device-minutes). */
  resource?: NodeResource;
  unallocated?: number;
}

/** A cluster-hour divided: the totals it must add up to, idle as measured, and the rows. */
export interface Allocation {
  cluster: string;
  hour: HourStart;
  /** The nodes' cost and its split; `cpu + memory + gpu = total`. */
  nodeCost: { cpu: number; memory: number; gpu: number; total: number };
  storageCost: number;
  loadBalancerCost: number;
  /** nodeCost.total + storageCost + loadBalancerCost = the sum of the rows' totalCost, exactly. */
  totalCost: number;
  /** Summed over nodes and workloads: what the nodes offered and what the workloads allocated. */
  allocatable: Record<NodeResource, number>;
  allocated: Record<NodeResource, number>;
  /** The cost of allocatable nothing was allocated to, before any sharing (the same in both idle modes). */
  idleCost: Record<NodeResource, number>;
  /** Resources whose allocated exceeded allocatable: their workloads' shares were scaled to the node cost. */
  overAllocated: NodeResource[];
  /** Workload and shared rows by `namespace/workload`, then idle rows (cpu, memory, gpu) with a cost above 0. */
  rows: AllocationRow[];
}

type CostColumn = NodeResource | "storage" | "loadBalancer";
const costColumns: readonly CostColumn[] = ["cpu", "memory", "gpu", "storage", "loadBalancer"];

interface Entry {
  key: string;
  record: WorkloadHour;
  shared: boolean;
  cost: Record<CostColumn, bigint>;
  idleIncluded: bigint;
  sharedIncluded: bigint;
  sharedSpread: bigint;
}

/**
 * Divides one cluster-hour (docs/metering.md has the rules with worked examples). Refuses, with every problem and
 * its field path, records of another cluster or hour, duplicate records, amounts that are not non-negative safe
 * integers, a node without a price, a storage class without a price, and an hour whose cost would not fit a
 * safe integer (2⁵³ − 1 micro-units, about 9 billion currency units per cluster-hour).
 */
export function allocate(input: ClusterHourInput): Validated<Allocation> {
  const problems = checkInput(input);
  if (problems.length > 0) return { ok: false, problems };

  const { cluster, hour, prices, rules } = input;
  const shared = new Set(rules.sharedNamespaces);
  const entries: Entry[] = input.workloads
    .map((record) => ({
      key: `${record.namespace}/${record.workload}`,
      record,
      shared: shared.has(record.namespace),
      cost: { cpu: 0n, memory: 0n, gpu: 0n, storage: 0n, loadBalancer: 0n },
      idleIncluded: 0n,
      sharedIncluded: 0n,
      sharedSpread: 0n,
    }))
    .sort((a, b) => compareKeys(a.key, b.key));

  // 1. Nodes: each node's cost and split, pooled per resource over the cluster.
  const pool: NodeCost = { cpu: 0n, memory: 0n, gpu: 0n, total: 0n };
  const allocatable: Record<NodeResource, bigint> = { cpu: 0n, memory: 0n, gpu: 0n };
  for (const node of input.nodes) {
    const cost = nodeCost(node, prices.nodes[node.node]!);
    for (const r of nodeResources) {
      pool[r] += cost[r];
      allocatable[r] += BigInt(node.allocatable[r]);
    }
    pool.total += cost.total;
  }

  // 2. Each resource's pool cost divided over the workloads' allocated and the unallocated rest (idle). When
  //    allocated exceeds allocatable, idle's weight is 0: the workloads' shares are scaled to the pool exactly.
  const allocated: Record<NodeResource, bigint> = { cpu: 0n, memory: 0n, gpu: 0n };
  const idle: Record<NodeResource, bigint> = { cpu: 0n, memory: 0n, gpu: 0n };
  const overAllocated: NodeResource[] = [];
  for (const r of nodeResources) {
    for (const e of entries) allocated[r] += BigInt(e.record[r].allocated);
    const unallocated = allocatable[r] > allocated[r] ? allocatable[r] - allocated[r] : 0n;
    if (allocated[r] > allocatable[r]) overAllocated.push(r);
    const claims: Claim[] = entries.map((e) => ({ key: e.key, weight: BigInt(e.record[r].allocated) }));
    claims.push({ key: `${idleNamespace}/${r}`, weight: unallocated });
    // Nothing allocated and nothing allocatable (a node that offered nothing): the cost is idle.
    const parts = divideByLargestRemainder(pool[r], claims) ?? [...entries.map(() => 0n), pool[r]];
    entries.forEach((e, i) => {
      e.cost[r] = parts[i]!;
    });
    idle[r] = parts[entries.length]!;
  }

  // 3. Storage and LoadBalancers, on top of the nodes: each class's hour priced once, divided by claim size.
  let storageCost = 0n;
  const classes = [...new Set(entries.flatMap((e) => Object.keys(e.record.storage)))].sort(compareKeys);
  for (const storageClass of classes) {
    const claims = entries.map((e) => ({ key: e.key, weight: BigInt(e.record.storage[storageClass] ?? 0) }));
    const byteMinutes = claims.reduce((sum, c) => sum + c.weight, 0n);
    const price = BigInt(
      prices.storagePerGiBMonth[storageClass] ?? prices.storagePerGiBMonth[anyStorageClass]!,
    );
    const cost = divideRoundHalfUp(
      byteMinutes * price,
      BigInt(bytesPerGiB) * BigInt(minutesPerHour) * BigInt(hoursPerMonth),
    );
    storageCost += cost;
    const parts = divideByLargestRemainder(cost, claims)!;
    entries.forEach((e, i) => {
      e.cost.storage += parts[i]!;
    });
  }
  const lbClaims = entries.map((e) => ({ key: e.key, weight: BigInt(e.record.loadBalancers) }));
  const lbMinutes = lbClaims.reduce((sum, c) => sum + c.weight, 0n);
  const loadBalancerCost = divideRoundHalfUp(
    lbMinutes * BigInt(prices.loadBalancerPerHour),
    BigInt(minutesPerHour),
  );
  const lbParts = divideByLargestRemainder(loadBalancerCost, lbClaims)!;
  entries.forEach((e, i) => {
    e.cost.loadBalancer = lbParts[i]!;
  });

  const totalCost = pool.total + storageCost + loadBalancerCost;
  if (totalCost > BigInt(Number.MAX_SAFE_INTEGER)) {
    return {
      ok: false,
      problems: [
        {
          path: "prices",
          message: `the hour costs ${totalCost} micro-units, more than ${Number.MAX_SAFE_INTEGER} (2^53 − 1) that one cluster-hour may hold`,
        },
      ],
    };
  }

  // 4. Idle shared out: each resource's idle over all workloads (shared namespaces too, so that their part of it
  //    is spread with them next), in proportion to their cost of that resource. With nobody to carry it, it stays.
  const idleLeft = { ...idle };
  if (rules.idle === "share") {
    for (const r of nodeResources) {
      const parts = divideByLargestRemainder(
        idle[r],
        entries.map((e) => ({ key: e.key, weight: e.cost[r] })),
      );
      if (!parts) continue;
      entries.forEach((e, i) => {
        e.cost[r] += parts[i]!;
        e.idleIncluded += parts[i]!;
      });
      idleLeft[r] = 0n;
    }
  }

  // 5. Shared namespaces spread over the other workloads, column by column.
  if (rules.sharedSplit !== "none") spreadShared(entries, rules.sharedSplit);

  const rows: AllocationRow[] = entries.map((e) => workloadRow(e, input));
  for (const r of nodeResources) {
    if (idleLeft[r] === 0n) continue;
    rows.push(
      idleRow(
        input,
        r,
        toSafeNumber(idleLeft[r]),
        toSafeNumber(allocatable[r] > allocated[r] ? allocatable[r] - allocated[r] : 0n),
      ),
    );
  }

  return {
    ok: true,
    value: {
      cluster: cluster.name,
      hour,
      nodeCost: {
        cpu: toSafeNumber(pool.cpu),
        memory: toSafeNumber(pool.memory),
        gpu: toSafeNumber(pool.gpu),
        total: toSafeNumber(pool.total),
      },
      storageCost: toSafeNumber(storageCost),
      loadBalancerCost: toSafeNumber(loadBalancerCost),
      totalCost: toSafeNumber(totalCost),
      allocatable: mapResources((r) => toSafeNumber(allocatable[r])),
      allocated: mapResources((r) => toSafeNumber(allocated[r])),
      idleCost: mapResources((r) => toSafeNumber(idle[r])),
      overAllocated,
      rows,
    },
  };
}

/**
 * Spreads each cost column of the shared-namespace workloads over the others: `weighted` by their cost in that
 * column (falling back to their total cost when none has any in that column), `even` in equal parts. When no
 * other workload can carry it (there is none, or none has any cost under `weighted`), the column stays where it
 * is.
 */
function spreadShared(entries: Entry[], split: "weighted" | "even"): void {
  const givers = entries.filter((e) => e.shared);
  const takers = entries.filter((e) => !e.shared);
  if (givers.length === 0 || takers.length === 0) return;
  const before = takers.map((e) => ({ ...e.cost }));
  const totalBefore = before.map((cost) => costColumns.reduce((sum, c) => sum + cost[c], 0n));
  for (const c of costColumns) {
    const amount = givers.reduce((sum, e) => sum + e.cost[c], 0n);
    if (amount === 0n) continue;
    let parts: bigint[] | undefined;
    if (split === "even") {
      parts = divideByLargestRemainder(
        amount,
        takers.map((e) => ({ key: e.key, weight: 1n })),
      );
    } else {
      parts =
        divideByLargestRemainder(
          amount,
          takers.map((e, i) => ({ key: e.key, weight: before[i]![c] })),
        ) ??
        divideByLargestRemainder(
          amount,
          takers.map((e, i) => ({ key: e.key, weight: totalBefore[i]! })),
        );
    }
    if (!parts) continue;
    takers.forEach((e, i) => {
      e.cost[c] += parts[i]!;
      e.sharedIncluded += parts[i]!;
    });
    for (const e of givers) {
      e.sharedSpread += e.cost[c];
      e.cost[c] = 0n;
    }
  }
}

function workloadRow(e: Entry, input: ClusterHourInput): AllocationRow {
  const w = e.record;
  const total = costColumns.reduce((sum, c) => sum + e.cost[c], 0n);
  return {
    kind: e.shared ? "shared" : "workload",
    cluster: input.cluster.name,
    hour: input.hour,
    namespace: w.namespace,
    workload: w.workload,
    payer: payerOf(w.labels, input.rules.payerLabels, input.cluster),
    labels: { ...w.labels },
    cpuCost: toSafeNumber(e.cost.cpu),
    memoryCost: toSafeNumber(e.cost.memory),
    gpuCost: toSafeNumber(e.cost.gpu),
    storageCost: toSafeNumber(e.cost.storage),
    loadBalancerCost: toSafeNumber(e.cost.loadBalancer),
    totalCost: toSafeNumber(total),
    idleIncluded: toSafeNumber(e.idleIncluded),
    sharedIncluded: toSafeNumber(e.sharedIncluded),
    sharedSpread: toSafeNumber(e.sharedSpread),
    cpu: { ...w.cpu },
    memory: { ...w.memory },
    gpu: { ...w.gpu },
    storage: Object.values(w.storage).reduce((sum, v) => sum + v, 0),
    loadBalancers: w.loadBalancers,
  };
}

function idleRow(input: ClusterHourInput, r: NodeResource, cost: number, unallocated: number): AllocationRow {
  const none = { request: 0, usage: 0, allocated: 0 };
  return {
    kind: "idle",
    cluster: input.cluster.name,
    hour: input.hour,
    namespace: idleNamespace,
    workload: r,
    payer: { from: "cluster", business: input.cluster.business, environment: input.cluster.environment },
    labels: {},
    cpuCost: r === "cpu" ? cost : 0,
    memoryCost: r === "memory" ? cost : 0,
    gpuCost: r === "gpu" ? cost : 0,
    storageCost: 0,
    loadBalancerCost: 0,
    totalCost: cost,
    idleIncluded: 0,
    sharedIncluded: 0,
    sharedSpread: 0,
    cpu: { ...none },
    memory: { ...none },
    gpu: { ...none },
    storage: 0,
    loadBalancers: 0,
    resource: r,
    unallocated,
  };
}

/** Who pays for a workload: the first of `keys` it has a non-empty label for, else the cluster's owner. */
export function payerOf(
  labels: Record<string, string>,
  keys: readonly string[],
  cluster: ClusterOwner,
): Payer {
  for (const key of keys) {
    const value = labels[key];
    if (value) return { from: "label", key, value };
  }
  return { from: "cluster", business: cluster.business, environment: cluster.environment };
}

/** A payer as one word for tables and aggregation: `team=checkout`, or `payments/prod` for a cluster's owner. */
export function payerName(payer: Payer): string {
  return payer.from === "label" ? `${payer.key}=${payer.value}` : `${payer.business}/${payer.environment}`;
}

/**
 * A payer back from its name (`payerName`): `key=value` is a label (a label key has no `=`), `business/environment`
 * the cluster's owner (names have no `/`).
 */
export function payerFromName(name: string): Payer {
  const eq = name.indexOf("=");
  if (eq > 0) return { from: "label", key: name.slice(0, eq), value: name.slice(eq + 1) };
  const slash = name.lastIndexOf("/");
  return { from: "cluster", business: name.slice(0, slash), environment: name.slice(slash + 1) };
}

function mapResources<T>(f: (r: NodeResource) => T): Record<NodeResource, T> {
  return { cpu: f("cpu"), memory: f("memory"), gpu: f("gpu") };
}

/** Every problem of one cluster-hour's input, with field paths relative to it. */
function checkInput(input: ClusterHourInput): Problem[] {
  const problems: Problem[] = [];
  const amount = (value: unknown, path: (string | number)[], ...rest: (string | number)[]) => {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      problems.push({
        path: fieldPath([...path, ...rest]),
        message: `must be a whole number ≥ 0 (got ${String(value)})`,
      });
    }
  };
  const sameHour = (record: { cluster: string; hour: string }, path: (string | number)[]) => {
    if (record.cluster !== input.cluster.name) {
      problems.push({
        path: fieldPath([...path, "cluster"]),
        message: `belongs to cluster ${record.cluster}, not ${input.cluster.name}`,
      });
    }
    if (record.hour !== input.hour) {
      problems.push({ path: fieldPath([...path, "hour"]), message: `is ${record.hour}, not ${input.hour}` });
    }
  };

  if (input.rules.idle !== "separate" && input.rules.idle !== "share") {
    problems.push({
      path: "rules.idle",
      message: `must be separate or share (got ${String(input.rules.idle)})`,
    });
  }
  if (!["weighted", "even", "none"].includes(input.rules.sharedSplit)) {
    problems.push({
      path: "rules.sharedSplit",
      message: `must be weighted, even or none (got ${String(input.rules.sharedSplit)})`,
    });
  }
  amount(input.prices.loadBalancerPerHour, ["prices", "loadBalancerPerHour"]);
  for (const [storageClass, price] of Object.entries(input.prices.storagePerGiBMonth)) {
    amount(price, ["prices", "storagePerGiBMonth", storageClass]);
  }

  const nodeNames = new Set<string>();
  input.nodes.forEach((node, i) => {
    const path = ["nodes", i];
    sameHour(node, path);
    if (nodeNames.has(node.node)) {
      problems.push({
        path: fieldPath([...path, "node"]),
        message: `node ${node.node} appears twice in the hour`,
      });
    }
    nodeNames.add(node.node);
    amount(node.samples, path, "samples");
    if (node.samples > minutesPerHour) {
      problems.push({
        path: fieldPath([...path, "samples"]),
        message: `an hour has at most ${minutesPerHour} minute samples (got ${node.samples})`,
      });
    }
    for (const r of nodeResources) amount(node.allocatable[r], path, "allocatable", r);
    const price = input.prices.nodes[node.node];
    const pricePath = ["prices", "nodes", node.node];
    if (!price) {
      problems.push({
        path: fieldPath(pricePath),
        message: `node ${node.node} has no price for ${input.hour}`,
      });
    } else if ("total" in price) {
      amount(price.total, pricePath, "total");
    } else {
      amount(price.cpuPerCoreHour, pricePath, "cpuPerCoreHour");
      amount(price.memoryPerGiBHour, pricePath, "memoryPerGiBHour");
      amount(price.gpuPerDeviceHour, pricePath, "gpuPerDeviceHour");
    }
  });

  const workloadKeys = new Set<string>();
  input.workloads.forEach((w, i) => {
    const path = ["workloads", i];
    sameHour(w, path);
    const key = `${w.namespace}/${w.workload}`;
    if (workloadKeys.has(key)) {
      problems.push({ path: fieldPath([...path, "workload"]), message: `${key} appears twice in the hour` });
    }
    workloadKeys.add(key);
    amount(w.samples, path, "samples");
    for (const r of nodeResources) {
      const m = w[r];
      amount(m.request, path, r, "request");
      amount(m.usage, path, r, "usage");
      amount(m.allocated, path, r, "allocated");
      if (m.allocated < m.request || m.allocated < m.usage) {
        problems.push({
          path: fieldPath([...path, r, "allocated"]),
          message: `max(request, usage) minute by minute cannot be below request (${m.request}) or usage (${m.usage}); got ${m.allocated}`,
        });
      }
    }
    for (const [storageClass, byteMinutes] of Object.entries(w.storage)) {
      amount(byteMinutes, path, "storage", storageClass);
      if (
        input.prices.storagePerGiBMonth[storageClass] === undefined &&
        input.prices.storagePerGiBMonth[anyStorageClass] === undefined
      ) {
        problems.push({
          path: fieldPath([...path, "storage", storageClass]),
          message: `storage class ${storageClass} has no price (and there is no "${anyStorageClass}" price)`,
        });
      }
    }
    amount(w.loadBalancers, path, "loadBalancers");
  });
  return problems;
}

/** One cluster-hour's records, as `groupClusterHours` gathers them from a flat batch. */
export interface ClusterHourRecords {
  cluster: string;
  hour: HourStart;
  nodes: NodeHour[];
  workloads: WorkloadHour[];
}

/** Gathers a batch of records (a `usage.hours` message, a ledger query) per cluster and hour, in that order. */
export function groupClusterHours(
  nodes: readonly NodeHour[],
  workloads: readonly WorkloadHour[],
): ClusterHourRecords[] {
  const groups = new Map<string, ClusterHourRecords>();
  const groupOf = (cluster: string, hour: HourStart) => {
    const key = `${cluster}\u0000${hour}`;
    let group = groups.get(key);
    if (!group) {
      group = { cluster, hour, nodes: [], workloads: [] };
      groups.set(key, group);
    }
    return group;
  };
  for (const n of nodes) groupOf(n.cluster, n.hour).nodes.push(n);
  for (const w of workloads) groupOf(w.cluster, w.hour).workloads.push(w);
  return [...groups.values()].sort(
    (a, b) => compareKeys(a.cluster, b.cluster) || compareKeys(a.hour, b.hour),
  );
}

/** Divides many cluster-hours; refuses them all when one is refused, problem paths prefixed `[i]`. */
export function allocateAll(inputs: readonly ClusterHourInput[]): Validated<Allocation[]> {
  const allocations: Allocation[] = [];
  const problems: Problem[] = [];
  inputs.forEach((input, i) => {
    const result = allocate(input);
    if (result.ok) allocations.push(result.value);
    else {
      for (const p of result.problems) {
        problems.push({ path: p.path === "(root)" ? `[${i}]` : `[${i}].${p.path}`, message: p.message });
      }
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: allocations };
}
