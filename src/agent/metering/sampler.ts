/**
 * One minute of a cluster for metering: every running pod's requests and usage, resolved to its workload
 * (ReplicaSet → Deployment, Job → CronJob), the nodes' allocatable and readiness, the claims and LoadBalancer
 * Services — reduced at once to per-workload minutes (core/metering/hourly.ts), never a pod's content.
 *
 * Usage, as metrics-server gets it: the kubelet's resource metrics of every node (cpu is a counter, so its rate
 * between this minute's reading and the last one; memory is the working set); when a node does not answer, the
 * metrics API for the whole minute; when neither answers, the requests (source "requests"). A pod the kubelet
 * has no rate for yet (its first reading, a restarted counter) uses its requests for that minute.
 *
 * Attribution: a claim goes to the workload of the pods that mount it, a LoadBalancer Service to the workload
 * with most pods behind its selector (ties: by name); one that nothing uses is a workload of its own
 * (`PersistentVolumeClaim/NAME`, `Service/NAME`). Only Bound claims are metered, at their requested size.
 */
import {
  type ClaimMinute,
  type LoadBalancerMinute,
  type MinuteSample,
  type NodeMinute,
  type PodMinute,
  workloadMinutes,
} from "../../core/metering/hourly.ts";
import type { UsageSource } from "../../core/metering/usage.ts";
import { parseQuantity } from "../../core/quantity/quantity.ts";
import type { Log } from "../../runtime/runnable.ts";
import type {
  ClusterReader,
  ContainerShape,
  NodeShape,
  OwnedShape,
  PodShape,
  Quantities,
} from "./cluster-reader.ts";
import { type PodResourceReading, parseResourceMetrics } from "./resource-metrics.ts";

/** Labels kept on a workload's records (who pays) unless the agent is told otherwise. */
export const defaultKeptLabels = ["team", "business", "environment", "cost-center"] as const;

export const gpuResource = "nvidia.com/gpu";

export interface SamplerOptions {
  reader: ClusterReader;
  /** Pod labels kept on the workload's records. */
  keepLabels?: readonly string[];
  log: Log;
}

interface CpuCounter {
  seconds: number;
  at: number;
}

interface PodUsage {
  /** Millicores, when known for this minute. */
  cpu?: number;
  /** Bytes. */
  memory?: number;
}

export class UsageSampler {
  readonly #reader: ClusterReader;
  readonly #keepLabels: readonly string[];
  readonly #log: Log;
  /** The last cpu counter read per pod (`namespace/name`). */
  #counters = new Map<string, CpuCounter>();
  #lastSource: UsageSource | undefined;

  constructor(options: SamplerOptions) {
    this.#reader = options.reader;
    this.#keepLabels = options.keepLabels ?? defaultKeptLabels;
    this.#log = options.log;
  }

  /** Reads the kubelets' cpu counters once, so that the first minute already has rates. Never throws. */
  async prime(): Promise<void> {
    try {
      const nodes = await this.#reader.nodes();
      await this.#kubeletUsage(nodes);
    } catch {
      // The first sample falls back as it must.
    }
  }

  /** One minute of the cluster. Throws only when the API server does not answer the lists. */
  async sample(): Promise<MinuteSample> {
    const [pods, nodes, replicaSets, jobs, claims, services] = await Promise.all([
      this.#reader.pods(),
      this.#reader.nodes(),
      this.#reader.replicaSets(),
      this.#reader.jobs(),
      this.#reader.claims(),
      this.#reader.services(),
    ]);
    const running = pods.filter(
      (p) => p.spec?.nodeName && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed",
    );
    const { source, usage } = await this.#usage(nodes);
    if (source !== this.#lastSource) {
      this.#log({ level: source === "kubelet" ? "info" : "warn", msg: "metering usage source", source });
      this.#lastSource = source;
    }
    const owners = ownerIndex(replicaSets, jobs);
    const workloadOf = new Map<string, string>();
    const podMinutes: PodMinute[] = running.map((pod) => {
      const namespace = pod.metadata?.namespace ?? "";
      const name = pod.metadata?.name ?? "";
      const workload = workloadName(pod, owners);
      workloadOf.set(`${namespace}/${name}`, workload);
      const requests = podRequests(pod);
      const used = usage.get(`${namespace}/${name}`);
      return {
        namespace,
        workload,
        labels: kept(pod.metadata?.labels, this.#keepLabels),
        cpu: { request: requests.cpu, usage: used?.cpu ?? requests.cpu },
        memory: { request: requests.memory, usage: used?.memory ?? requests.memory },
        // No resource metrics for devices: a device is used whole by the pod that holds it.
        gpu: { request: requests.gpu, usage: requests.gpu },
      };
    });
    return {
      source,
      workloads: workloadMinutes(
        podMinutes,
        claimMinutes(claims, running, workloadOf),
        loadBalancerMinutes(services, running, workloadOf),
      ),
      nodes: nodes.map(nodeMinute),
    };
  }

  async #usage(nodes: NodeShape[]): Promise<{ source: UsageSource; usage: Map<string, PodUsage> }> {
    const kubelet = await this.#kubeletUsage(nodes);
    if (kubelet) return { source: "kubelet", usage: kubelet };
    try {
      const metrics = await this.#reader.podMetrics();
      const usage = new Map<string, PodUsage>();
      for (const m of metrics) {
        let cpu = 0;
        let memory = 0;
        for (const c of m.containers) {
          cpu += quantity(c.usage.cpu) * 1000;
          memory += quantity(c.usage.memory);
        }
        usage.set(`${m.metadata?.namespace}/${m.metadata?.name}`, { cpu, memory });
      }
      return { source: "metrics-api", usage };
    } catch {
      return { source: "requests", usage: new Map() };
    }
  }

  /** Usage from every Ready node's kubelet, or undefined when one of them does not answer. */
  async #kubeletUsage(nodes: NodeShape[]): Promise<Map<string, PodUsage> | undefined> {
    const ready = nodes.filter(isReady);
    let readings: Array<{ pods: Map<string, PodResourceReading>; readAt: number }>;
    try {
      readings = await Promise.all(
        ready.map(async (node) => {
          const { text, readAt } = await this.#reader.nodeResourceMetrics(node);
          return { pods: parseResourceMetrics(text), readAt };
        }),
      );
    } catch {
      return undefined;
    }
    const usage = new Map<string, PodUsage>();
    const counters = new Map<string, CpuCounter>();
    for (const { pods, readAt } of readings) {
      for (const [key, reading] of pods) {
        const entry: PodUsage = {};
        if (reading.memoryBytes !== undefined) entry.memory = reading.memoryBytes;
        if (reading.cpuSeconds) {
          const now = { seconds: reading.cpuSeconds.value, at: reading.cpuSeconds.at ?? readAt };
          const before = this.#counters.get(key);
          const elapsedSeconds = before ? (now.at - before.at) / 1000 : 0;
          if (before && elapsedSeconds > 0 && now.seconds >= before.seconds)
            entry.cpu = ((now.seconds - before.seconds) / elapsedSeconds) * 1000;
          counters.set(key, now);
        }
        usage.set(key, entry);
      }
    }
    // Pods gone from every node drop out; a counter read afresh replaces the old one.
    this.#counters = counters;
    return usage;
  }
}

function quantity(value: string | undefined): number {
  if (value === undefined) return 0;
  const parsed = parseQuantity(value);
  return parsed.ok ? parsed.value : 0;
}

function isReady(node: NodeShape): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

function nodeMinute(node: NodeShape): NodeMinute {
  const allocatable = node.status?.allocatable ?? {};
  const labels = node.metadata?.labels ?? {};
  const instanceType =
    labels["node.kubernetes.io/instance-type"] ?? labels["beta.kubernetes.io/instance-type"];
  return {
    node: node.metadata?.name ?? "",
    ...(instanceType !== undefined ? { instanceType } : {}),
    ready: isReady(node),
    allocatable: {
      cpu: quantity(allocatable.cpu) * 1000,
      memory: quantity(allocatable.memory),
      gpu: quantity(allocatable[gpuResource]),
    },
  };
}

/** A pod's effective requests: the containers' sum, or the largest init container's when larger (as the scheduler). */
function podRequests(pod: PodShape): { cpu: number; memory: number; gpu: number } {
  const request = (c: ContainerShape, resource: string): number =>
    // Extended resources may be given as limits only: the request is then the limit.
    quantity(
      c.resources?.requests?.[resource] ??
        (resource === gpuResource ? c.resources?.limits?.[resource] : undefined),
    );
  const of = (resource: string, scale: number) => {
    const sum = (pod.spec?.containers ?? []).reduce((total, c) => total + request(c, resource), 0);
    const init = Math.max(0, ...(pod.spec?.initContainers ?? []).map((c) => request(c, resource)));
    return Math.max(sum, init) * scale;
  };
  return { cpu: of("cpu", 1000), memory: of("memory", 1), gpu: of(gpuResource, 1) };
}

function kept(labels: Record<string, string> | undefined, keep: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keep) if (labels?.[key] !== undefined) out[key] = labels[key];
  return out;
}

type OwnerIndex = Map<string, { kind: string; name: string }>;

/** `Kind/namespace/name` of a ReplicaSet or Job → its controller (Deployment, CronJob), when it has one. */
function ownerIndex(replicaSets: OwnedShape[], jobs: OwnedShape[]): OwnerIndex {
  const index: OwnerIndex = new Map();
  const add = (kind: string, objects: OwnedShape[]) => {
    for (const o of objects) {
      const owner = o.metadata?.ownerReferences?.find((r) => r.controller);
      if (owner) index.set(`${kind}/${o.metadata?.namespace}/${o.metadata?.name}`, owner);
    }
  };
  add("ReplicaSet", replicaSets);
  add("Job", jobs);
  return index;
}

/** The workload that owns a pod: `Deployment/web`, `StatefulSet/db`, `CronJob/report`…, or `Pod/NAME`. */
export function workloadName(pod: PodShape, owners: OwnerIndex = new Map()): string {
  const controller = pod.metadata?.ownerReferences?.find((r) => r.controller);
  if (!controller) return `Pod/${pod.metadata?.name}`;
  const above = owners.get(`${controller.kind}/${pod.metadata?.namespace}/${controller.name}`);
  return above ? `${above.kind}/${above.name}` : `${controller.kind}/${controller.name}`;
}

function claimMinutes(
  claims: Awaited<ReturnType<ClusterReader["claims"]>>,
  running: PodShape[],
  workloadOf: Map<string, string>,
): ClaimMinute[] {
  const mountedBy = new Map<string, string>();
  for (const pod of [...running].sort((a, b) => (podKey(a) < podKey(b) ? -1 : 1))) {
    for (const v of pod.spec?.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName;
      const key = `${pod.metadata?.namespace}/${claim}`;
      if (claim && !mountedBy.has(key))
        mountedBy.set(key, workloadOf.get(podKey(pod)) ?? `Pod/${pod.metadata?.name}`);
    }
  }
  return claims
    .filter((c) => c.status?.phase === "Bound")
    .map((c) => {
      const namespace = c.metadata?.namespace ?? "";
      const name = c.metadata?.name ?? "";
      return {
        namespace,
        workload: mountedBy.get(`${namespace}/${name}`) ?? `PersistentVolumeClaim/${name}`,
        storageClass: c.spec?.storageClassName ?? "",
        bytes: quantity((c.spec?.resources?.requests as Quantities | undefined)?.storage),
      };
    });
}

function loadBalancerMinutes(
  services: Awaited<ReturnType<ClusterReader["services"]>>,
  running: PodShape[],
  workloadOf: Map<string, string>,
): LoadBalancerMinute[] {
  return services
    .filter((s) => s.spec?.type === "LoadBalancer")
    .map((s) => {
      const namespace = s.metadata?.namespace ?? "";
      const selector = Object.entries(s.spec?.selector ?? {});
      const podsPerWorkload = new Map<string, number>();
      if (selector.length > 0)
        for (const pod of running) {
          if (pod.metadata?.namespace !== namespace) continue;
          if (!selector.every(([k, v]) => pod.metadata?.labels?.[k] === v)) continue;
          const workload = workloadOf.get(podKey(pod)) ?? `Pod/${pod.metadata?.name}`;
          podsPerWorkload.set(workload, (podsPerWorkload.get(workload) ?? 0) + 1);
        }
      const [chosen] = [...podsPerWorkload].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      return { namespace, workload: chosen?.[0] ?? `Service/${s.metadata?.name}` };
    });
}

function podKey(pod: PodShape): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}
