/**
 * The shape of a fleet on paper: Locations, their Regions and zones, and clusters with their environment,
 * business, node pools and baseline workloads, and its network plan (topology-network.ts: each Location's
 * NetworkPool, each cluster's ranges). The lab starts real clusters from it; later the hub and the planner read
 * the same shape.
 */
import { z } from "zod";
import { parseQuantity } from "../quantity/quantity.ts";
import { dnsLabelProblem, labelKeyProblem, labelValueProblem } from "../validation/names.ts";
import type { Problem, Validated } from "../validation/problems.ts";
import { fieldPath } from "../validation/problems.ts";
import { problemsFromZod } from "../validation/zod-problems.ts";
import {
  planTopologyNetwork,
  topologyClusterNetwork,
  topologyLocationNetwork,
  topologyRegionNetwork,
} from "./topology-network.ts";

export const topologyApiVersion = "unitfleet.io/v1alpha1";
export const topologyKind = "LabTopology";

/** Cluster names become etcd prefixes, node names and kubeconfig contexts: keep them short. */
export const maxClusterNameLength = 40;

const name = (max = 63) =>
  z.string().superRefine((value, ctx) => {
    const problem = dnsLabelProblem(value, max);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const labelValue = z.string().superRefine((value, ctx) => {
  const problem = labelValueProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const labels = z.record(z.string(), z.string()).superRefine((map, ctx) => {
  for (const [key, value] of Object.entries(map)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) ctx.addIssue({ code: "custom", path: [key], message: keyProblem });
    const valueProblem = labelValueProblem(value);
    if (valueProblem) ctx.addIssue({ code: "custom", path: [key], message: valueProblem });
  }
});

const quantity = z.union([z.string(), z.number()]).superRefine((value, ctx) => {
  const parsed = parseQuantity(value);
  if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
});

/**
 * Ports stay below Linux's default ephemeral range (32768–60999): the kernel hands those to outgoing
 * connections, so a listener there can find its port taken at random.
 */
export const highestLabPort = 32767;
const port = z
  .number()
  .int()
  .min(1024)
  .max(
    highestLabPort,
    `must be at most ${highestLabPort}: ports from 32768 up are handed to outgoing connections`,
  );

/** The base ports of a lab: see {@link labPortLayout}. */
export interface LabBasePorts {
  etcd: number;
  apiServers: number;
}

/** Where a lab's loopback ports lie, as inclusive ranges. */
export interface LabPortLayout {
  /** etcd's client port, then its peer port, then one kwok server per cluster. */
  etcdAndKwok: { first: number; last: number };
  apiServers: { first: number; last: number };
}

/**
 * The ports a lab with `clusters` clusters listens on: etcd on `etcd` (client) and `etcd + 1` (peer); cluster i
 * (from 0, in topology order) serves its API on `apiServers + 1 + i` and its kwok server, the kubelet endpoint
 * of its fake nodes, on `etcd + 2 + i`. Two labs with the same API server ports but different etcd ports
 * therefore share no port.
 */
export function labPortLayout(ports: LabBasePorts, clusters: number): LabPortLayout {
  return {
    etcdAndKwok: { first: ports.etcd, last: ports.etcd + 1 + clusters },
    apiServers: { first: ports.apiServers + 1, last: ports.apiServers + clusters },
  };
}

/** The port of cluster `index`'s API server (index from 0). */
export function apiServerPort(ports: LabBasePorts, index: number): number {
  return ports.apiServers + 1 + index;
}

/** The port of cluster `index`'s kwok server, the kubelet endpoint of its fake nodes (index from 0). */
export function kwokServerPort(ports: LabBasePorts, index: number): number {
  return ports.etcd + 2 + index;
}

const taint = z.strictObject({
  key: z.string().superRefine((value, ctx) => {
    const problem = labelKeyProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  value: labelValue.optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
});

const nodePool = z.strictObject({
  name: name(),
  count: z.number().int().min(1).max(500),
  cpu: quantity,
  memory: quantity,
  pods: z.number().int().min(1).max(1000),
  /** Extended resources per node, such as `nvidia.com/gpu: 4`. */
  extendedResources: z.record(z.string(), quantity).optional(),
  /** Zones the pool's nodes are spread over, round-robin; by default the cluster's zones. */
  zones: z.array(z.string()).min(1).optional(),
  /** The node shape's name, set as `node.kubernetes.io/instance-type`. */
  instanceType: labelValue.optional(),
  labels: labels.optional(),
  taints: z.array(taint).optional(),
});

const workload = z.strictObject({
  namespace: name(),
  name: name(),
  replicas: z.number().int().min(0).max(1000),
  /** Requests of each pod. */
  cpu: quantity,
  memory: quantity,
  /** What each pod uses, as kwok reports it (its usage annotations); by default a share of the requests. */
  usage: z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() }).optional(),
});

const region = z.strictObject({
  name: name(),
  zones: z.array(name()).min(1),
  /** The Region's NetworkPool: narrows its Location's for the Region's clusters (topology-network.ts). */
  network: topologyRegionNetwork.optional(),
});

const location = z.strictObject({
  name: name(),
  displayName: z.string().optional(),
  /** Zones of a Location that is not split into Regions. */
  zones: z.array(name()).min(1).optional(),
  regions: z.array(region).optional(),
  /** The Location's NetworkPool; a default one when absent (topology-network.ts). */
  network: topologyLocationNetwork.optional(),
});

const cluster = z.strictObject({
  name: name(maxClusterNameLength),
  location: z.string(),
  region: z.string().optional(),
  /** Zones the cluster spans; by default every zone of its Region (or Location). */
  zones: z.array(z.string()).min(1).optional(),
  environment: labelValue,
  business: labelValue,
  labels: labels.optional(),
  nodePools: z.array(nodePool).min(1),
  workloads: z.array(workload).optional(),
  /** What the cluster plans of its Location's network, and ranges or an ID it is pinned to (topology-network.ts). */
  network: topologyClusterNetwork.optional(),
});

const topologySchema = z.strictObject({
  apiVersion: z.literal(topologyApiVersion),
  kind: z.literal(topologyKind),
  metadata: z.strictObject({
    name: name(),
    labels: labels.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    /**
     * Loopback ports: etcd uses `etcd` and `etcd + 1`, cluster i's kwok server (its fake kubelets) `etcd + 1 + i`,
     * cluster i's API server `apiServers + i` (i from 1). See {@link labPortLayout}.
     */
    ports: z.strictObject({ etcd: port, apiServers: port }).optional(),
    locations: z.array(location).min(1),
    clusters: z.array(cluster).min(1),
  }),
});

export type Topology = z.infer<typeof topologySchema>;
export type TopologyLocation = z.infer<typeof location>;
export type TopologyRegion = z.infer<typeof region>;
export type TopologyCluster = z.infer<typeof cluster>;
export type TopologyNodePool = z.infer<typeof nodePool>;
export type TopologyWorkload = z.infer<typeof workload>;
export type TopologyTaint = z.infer<typeof taint>;

/**
 * Validates a topology document (already parsed from YAML or JSON). Returns every structural problem and
 * every broken reference (a cluster in an unknown Location, a Region of another Location, a zone the Region
 * does not have, duplicate names), each with its field path; once those are right, every problem of its network
 * plan (pools, pinned ranges, a pool too small for its clusters: `planTopologyNetwork`).
 */
export function validateTopology(input: unknown): Validated<Topology> {
  const parsed = topologySchema.safeParse(input);
  const problems = parsed.success ? [] : problemsFromZod(parsed.error);
  problems.push(...referenceProblems(input));
  if (parsed.success && problems.length === 0) {
    const network = planTopologyNetwork(parsed.data);
    if (!network.ok) problems.push(...network.problems);
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, problems: sortProblems(dedupe(problems)) };
  return { ok: true, value: parsed.data };
}

/** The zones a cluster may use: its Region's, or its Location's when it has no Region. */
export function availableZones(topology: Topology, c: TopologyCluster): string[] {
  const loc = topology.spec.locations.find((l) => l.name === c.location);
  if (!loc) return [];
  if (c.region) return loc.regions?.find((r) => r.name === c.region)?.zones ?? [];
  return loc.zones ?? loc.regions?.flatMap((r) => r.zones) ?? [];
}

/** The zones a cluster spans: the ones it names, or all available to it. */
export function clusterZones(topology: Topology, c: TopologyCluster): string[] {
  return c.zones ?? availableZones(topology, c);
}

// The reference pass reads the raw input defensively: a part with the wrong shape was already reported by
// the schema pass and is skipped here, so that both passes together report everything exactly once.
function referenceProblems(input: unknown): Problem[] {
  const problems: Problem[] = [];
  const spec = record(record(input)?.spec);
  if (!spec) return problems;
  const locations = list(spec.locations);
  const clusters = list(spec.clusters);

  const locationZones = new Map<string, Set<string>>();
  const regionsByLocation = new Map<string, Map<string, Set<string>>>();
  const seenRegions = new Map<string, string>();
  duplicates(locations, ["spec", "locations"], problems);
  locations.forEach((raw, li) => {
    const loc = record(raw);
    const locName = text(loc?.name);
    if (!loc || locName === undefined) return;
    const regions = new Map<string, Set<string>>();
    regionsByLocation.set(locName, regions);
    const regionList = list(loc.regions);
    regionList.forEach((rawRegion, ri) => {
      const reg = record(rawRegion);
      const regName = text(reg?.name);
      if (!reg || regName === undefined) return;
      const path = fieldPath(["spec", "locations", li, "regions", ri, "name"]);
      const owner = seenRegions.get(regName);
      if (owner !== undefined)
        problems.push({ path, message: `Region "${regName}" is already declared in Location "${owner}"` });
      else seenRegions.set(regName, locName);
      regions.set(regName, new Set(list(reg.zones).filter(isString)));
    });
    const ownZones = list(loc.zones).filter(isString);
    if (ownZones.length === 0 && regionList.length === 0 && loc.zones === undefined)
      problems.push({
        path: fieldPath(["spec", "locations", li]),
        message: "a Location needs zones, or Regions that have zones",
      });
    locationZones.set(locName, new Set([...ownZones, ...[...regions.values()].flatMap((z) => [...z])]));
  });

  problems.push(...portProblems(record(spec.ports), clusters.length));
  duplicates(clusters, ["spec", "clusters"], problems);
  clusters.forEach((raw, ci) => {
    const c = record(raw);
    if (!c) return;
    const base = ["spec", "clusters", ci] as const;
    const locName = text(c.location);
    const regName = text(c.region);
    let zones: Set<string> | undefined;
    if (locName !== undefined) {
      const regions = regionsByLocation.get(locName);
      if (!regions) {
        problems.push({
          path: fieldPath([...base, "location"]),
          message: `Location "${locName}" is not declared in spec.locations`,
        });
      } else if (regName !== undefined) {
        zones = regions.get(regName);
        if (!zones) {
          const elsewhere = seenRegions.get(regName);
          problems.push({
            path: fieldPath([...base, "region"]),
            message: elsewhere
              ? `Region "${regName}" belongs to Location "${elsewhere}", not "${locName}"`
              : `Region "${regName}" is not declared in Location "${locName}"`,
          });
        }
      } else {
        zones = locationZones.get(locName);
      }
    }
    const clusterZoneList = list(c.zones).filter(isString);
    if (zones) {
      clusterZoneList.forEach((zone, zi) => {
        if (!zones.has(zone))
          problems.push({
            path: fieldPath([...base, "zones", zi]),
            message: `zone "${zone}" is not one of ${describeSet(zones)}`,
          });
      });
    }
    const poolZones = clusterZoneList.length > 0 ? new Set(clusterZoneList) : zones;
    const pools = list(c.nodePools);
    duplicates(pools, [...base, "nodePools"], problems);
    pools.forEach((rawPool, pi) => {
      const pool = record(rawPool);
      if (!pool || !poolZones) return;
      list(pool.zones).forEach((zone, zi) => {
        if (isString(zone) && !poolZones.has(zone))
          problems.push({
            path: fieldPath([...base, "nodePools", pi, "zones", zi]),
            message: `zone "${zone}" is not one of the cluster's zones ${describeSet(poolZones)}`,
          });
      });
    });
    const seenWorkloads = new Set<string>();
    list(c.workloads).forEach((rawWorkload, wi) => {
      const w = record(rawWorkload);
      const key = `${text(w?.namespace)}/${text(w?.name)}`;
      if (seenWorkloads.has(key))
        problems.push({
          path: fieldPath([...base, "workloads", wi, "name"]),
          message: `workload ${key} is declared twice`,
        });
      seenWorkloads.add(key);
    });
  });
  return problems;
}

// Ports out of range on their own were reported by the schema pass; here only what the cluster count adds.
function portProblems(ports: Record<string, unknown> | undefined, clusters: number): Problem[] {
  const problems: Problem[] = [];
  const etcd = validPort(ports?.etcd);
  const apiServers = validPort(ports?.apiServers);
  const layout = labPortLayout({ etcd: etcd ?? 0, apiServers: apiServers ?? 0 }, clusters);
  if (apiServers !== undefined && layout.apiServers.last > highestLabPort)
    problems.push({
      path: "spec.ports.apiServers",
      message: `${clusters} clusters need ports up to ${layout.apiServers.last}, above ${highestLabPort}`,
    });
  if (etcd !== undefined && layout.etcdAndKwok.last > highestLabPort)
    problems.push({
      path: "spec.ports.etcd",
      message: `etcd, its peer and ${clusters} kwok servers need ports up to ${layout.etcdAndKwok.last}, above ${highestLabPort}`,
    });
  if (
    etcd !== undefined &&
    apiServers !== undefined &&
    layout.etcdAndKwok.first <= layout.apiServers.last &&
    layout.apiServers.first <= layout.etcdAndKwok.last
  )
    problems.push({
      path: "spec.ports",
      message: `etcd and the kwok servers (${describeRange(layout.etcdAndKwok)}) overlap the API servers (${describeRange(layout.apiServers)})`,
    });
  return problems;
}

function validPort(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 1024 && value <= highestLabPort
    ? value
    : undefined;
}

function describeRange(range: { first: number; last: number }): string {
  return range.first === range.last ? String(range.first) : `${range.first}–${range.last}`;
}

function duplicates(items: unknown[], path: ReadonlyArray<string | number>, problems: Problem[]): void {
  const seen = new Set<string>();
  items.forEach((raw, index) => {
    const n = text(record(raw)?.name);
    if (n === undefined) return;
    if (seen.has(n))
      problems.push({
        path: fieldPath([...path, index, "name"]),
        message: `"${n}" is declared more than once`,
      });
    seen.add(n);
  });
}

function describeSet(values: Set<string>): string {
  return values.size === 0 ? "(none declared)" : `[${[...values].join(", ")}]`;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true }));
}
