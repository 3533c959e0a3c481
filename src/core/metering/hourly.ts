/**
 * From minute samples to the hour's records (issue 14): the agent samples its cluster every minute, turns each
 * sample's pods into per-workload minutes (`workloadMinutes`), adds every minute into the hour
 * (`addMinute`) and, when the hour ends, reads off the WorkloadHour and NodeHour records of the contract
 * (`finishHour`, usage.ts). Pure: no clock, no I/O; the hour and the samples come in as arguments.
 *
 * Units: cpu in millicores, memory and storage in bytes, gpu in whole devices, each rounded to an integer per
 * pod and minute, so that the hour's sums ("millicore-minutes", "byte-minutes") are integers. What a workload
 * pays for, `allocated`, is max(request, usage) per pod and minute: one pod using more than it asked for is not
 * offset by another using less.
 */
import {
  type HourStart,
  type NodeHour,
  nodeHourKey,
  type ResourceMinutes,
  type UsageSource,
  type WorkloadHour,
  workloadHourKey,
} from "./usage.ts";

/** One resource of one pod (or a workload's pods together) in one minute. */
export interface ResourceMinute {
  request: number;
  usage: number;
}

/** One running pod in one minute, already resolved to its workload (`Deployment/web`, `Pod/x`…). */
export interface PodMinute {
  namespace: string;
  workload: string;
  /** The workload's labels that say who pays, as kept by the agent. */
  labels: Record<string, string>;
  cpu: ResourceMinute; // millicores
  memory: ResourceMinute; // bytes
  gpu: ResourceMinute; // devices
}

/** A persistent volume claim in one minute, attributed to the workload whose pods mount it. */
export interface ClaimMinute {
  namespace: string;
  workload: string;
  storageClass: string;
  bytes: number;
}

/** A Service of type LoadBalancer in one minute, attributed to one workload. */
export interface LoadBalancerMinute {
  namespace: string;
  workload: string;
}

/** A workload in one minute: its pods summed. */
export interface WorkloadMinute {
  namespace: string;
  workload: string;
  labels: Record<string, string>;
  /** Its pods in this minute; 0 for a claim or Service that no pod uses (the workload is the object itself). */
  pods: number;
  cpu: ResourceMinutes;
  memory: ResourceMinutes;
  gpu: ResourceMinutes;
  /** Requested bytes per storage class. */
  storage: Record<string, number>;
  loadBalancers: number;
}

/** A node in one minute. */
export interface NodeMinute {
  node: string;
  instanceType?: string;
  ready: boolean;
  /** Millicores, bytes, devices. */
  allocatable: { cpu: number; memory: number; gpu: number };
}

/** What the agent saw in one minute, and where its usage figures came from. */
export interface MinuteSample {
  source: UsageSource;
  workloads: WorkloadMinute[];
  nodes: NodeMinute[];
}

/** An hour being summed: plain data, so that the agent can keep it on disk across a restart. */
export interface HourInProgress {
  hour: HourStart;
  /** Minute samples added. */
  samples: number;
  /** Minutes per usage source. */
  sources: Partial<Record<UsageSource, number>>;
  workloads: Record<string, Omit<WorkloadHour, "cluster" | "hour">>;
  nodes: Record<string, Omit<NodeHour, "cluster" | "hour">>;
}

/** The hour's records, ready to send. */
export interface FinishedHour {
  hour: HourStart;
  /** The least precise source any minute of the hour used: requests < metrics-api < kubelet. */
  source: UsageSource;
  workloads: WorkloadHour[];
  nodes: NodeHour[];
}

const zero = (): ResourceMinutes => ({ request: 0, usage: 0, allocated: 0 });

/**
 * The start of the period holding `ms` (epoch milliseconds), periods being `periodMs` long from the epoch: an
 * hour by default (`2026-12-03T14:00:00Z`). Tests compress the hour with a shorter period.
 */
export function hourStart(ms: number, periodMs = 3_600_000): HourStart {
  const start = Math.floor(ms / periodMs) * periodMs;
  return `${new Date(start).toISOString().slice(0, 19)}Z`;
}

/**
 * A minute's pods, claims and LoadBalancer Services as one record per workload: requests and usage summed,
 * `allocated` summed from each pod's max(request, usage). Figures are rounded to integers per pod.
 */
export function workloadMinutes(
  pods: readonly PodMinute[],
  claims: readonly ClaimMinute[] = [],
  loadBalancers: readonly LoadBalancerMinute[] = [],
): WorkloadMinute[] {
  const byKey = new Map<string, WorkloadMinute>();
  const entry = (namespace: string, workload: string, labels: Record<string, string>) => {
    const key = `${namespace}/${workload}`;
    let w = byKey.get(key);
    if (!w) {
      w = {
        namespace,
        workload,
        labels,
        pods: 0,
        cpu: zero(),
        memory: zero(),
        gpu: zero(),
        storage: {},
        loadBalancers: 0,
      };
      byKey.set(key, w);
    }
    return w;
  };
  for (const pod of pods) {
    const w = entry(pod.namespace, pod.workload, pod.labels);
    w.pods += 1;
    addResource(w.cpu, pod.cpu);
    addResource(w.memory, pod.memory);
    addResource(w.gpu, pod.gpu);
  }
  for (const claim of claims) {
    const w = entry(claim.namespace, claim.workload, {});
    w.storage[claim.storageClass] = (w.storage[claim.storageClass] ?? 0) + Math.round(claim.bytes);
  }
  for (const lb of loadBalancers) entry(lb.namespace, lb.workload, {}).loadBalancers += 1;
  return [...byKey.values()].sort((a, b) => compareKeys(a, b));
}

function addResource(into: ResourceMinutes, pod: ResourceMinute): void {
  const request = Math.round(pod.request);
  const usage = Math.round(pod.usage);
  into.request += request;
  into.usage += usage;
  into.allocated += Math.max(request, usage);
}

/** An hour with nothing in it yet. */
export function emptyHour(hour: HourStart): HourInProgress {
  return { hour, samples: 0, sources: {}, workloads: {}, nodes: {} };
}

/**
 * Adds one minute into the hour (in place, and returns it). A workload counts the minute as a sample when it
 * had a pod then (or, for a claim or Service no pod uses, when the object existed); a node, when it was Ready,
 * and only then is its allocatable added.
 */
export function addMinute(hour: HourInProgress, minute: MinuteSample): HourInProgress {
  hour.samples += 1;
  hour.sources[minute.source] = (hour.sources[minute.source] ?? 0) + 1;
  for (const m of minute.workloads) {
    const key = `${m.namespace}/${m.workload}`;
    let w = hour.workloads[key];
    if (!w) {
      w = {
        namespace: m.namespace,
        workload: m.workload,
        labels: {},
        samples: 0,
        cpu: zero(),
        memory: zero(),
        gpu: zero(),
        storage: {},
        loadBalancers: 0,
      };
      hour.workloads[key] = w;
    }
    // The latest labels win: a relabelled workload pays under its new labels for the whole hour.
    if (m.pods > 0 || Object.keys(w.labels).length === 0) w.labels = { ...m.labels };
    w.samples += 1;
    sumInto(w.cpu, m.cpu);
    sumInto(w.memory, m.memory);
    sumInto(w.gpu, m.gpu);
    for (const [storageClass, bytes] of Object.entries(m.storage))
      w.storage[storageClass] = (w.storage[storageClass] ?? 0) + bytes;
    w.loadBalancers += m.loadBalancers;
  }
  for (const n of minute.nodes) {
    let node = hour.nodes[n.node];
    if (!node) {
      node = { node: n.node, samples: 0, allocatable: { cpu: 0, memory: 0, gpu: 0 } };
      hour.nodes[n.node] = node;
    }
    if (n.instanceType !== undefined) node.instanceType = n.instanceType;
    if (!n.ready) continue;
    node.samples += 1;
    node.allocatable.cpu += Math.round(n.allocatable.cpu);
    node.allocatable.memory += Math.round(n.allocatable.memory);
    node.allocatable.gpu += Math.round(n.allocatable.gpu);
  }
  return hour;
}

function sumInto(into: ResourceMinutes, minute: ResourceMinutes): void {
  into.request += minute.request;
  into.usage += minute.usage;
  into.allocated += minute.allocated;
}

const sourceRank: Record<UsageSource, number> = { requests: 0, "metrics-api": 1, kubelet: 2 };

/**
 * The hour's records for `cluster`, sorted by namespace and workload, and by node. Nodes that were never Ready
 * in the hour have no record. An hour without samples has no records and the source "requests".
 */
export function finishHour(hour: HourInProgress, cluster: string): FinishedHour {
  const used = (Object.keys(hour.sources) as UsageSource[]).filter((s) => (hour.sources[s] ?? 0) > 0);
  const source = used.sort((a, b) => sourceRank[a] - sourceRank[b])[0] ?? "requests";
  const workloads = Object.values(hour.workloads)
    .map((w): WorkloadHour => ({ cluster, hour: hour.hour, ...structuredClone(w) }))
    .sort(compareKeys);
  const nodes = Object.values(hour.nodes)
    .filter((n) => n.samples > 0)
    .map((n): NodeHour => ({ cluster, hour: hour.hour, ...structuredClone(n) }))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return { hour: hour.hour, source, workloads, nodes };
}

/** The body of one `usage.hours` message: at most `maxRecords` workload and node records together. */
export interface UsageHoursBody {
  cluster: string;
  source: UsageSource;
  workloads: WorkloadHour[];
  nodes: NodeHour[];
}

/** Splits a finished hour into message bodies of at most `maxRecords` records each (workloads first). */
export function usageHoursMessages(
  cluster: string,
  finished: FinishedHour,
  maxRecords = 500,
): UsageHoursBody[] {
  if (maxRecords < 1) throw new RangeError("maxRecords must be at least 1");
  const records: Array<{ workload: WorkloadHour } | { node: NodeHour }> = [
    ...finished.workloads.map((workload) => ({ workload })),
    ...finished.nodes.map((node) => ({ node })),
  ];
  const bodies: UsageHoursBody[] = [];
  for (let i = 0; i < records.length; i += maxRecords) {
    const chunk = records.slice(i, i + maxRecords);
    bodies.push({
      cluster,
      source: finished.source,
      workloads: chunk.flatMap((r) => ("workload" in r ? [r.workload] : [])),
      nodes: chunk.flatMap((r) => ("node" in r ? [r.node] : [])),
    });
  }
  return bodies;
}

/**
 * What identifies one `usage.hours` message of an hour: its hour, the idempotency key of its first record
 * (workloads come before nodes), and how many records it holds — what the ledger's `usage.ack` names.
 */
export function usageMessageIdentity(
  body: UsageHoursBody,
): { hour: string; first: string; records: number } | undefined {
  const workload = body.workloads[0];
  const node = body.nodes[0];
  const first = workload ? workloadHourKey(workload) : node ? nodeHourKey(node) : undefined;
  const hour = workload?.hour ?? node?.hour;
  if (first === undefined || hour === undefined) return undefined;
  return { hour, first, records: body.workloads.length + body.nodes.length };
}

function compareKeys(
  a: { namespace: string; workload: string },
  b: { namespace: string; workload: string },
): number {
  const x = `${a.namespace}/${a.workload}`;
  const y = `${b.namespace}/${b.workload}`;
  return x < y ? -1 : x > y ? 1 : 0;
}
