/**
 * `unitfleet network plan|allocate|check` (issue 15, docs/network-plan.md): the CLI lists the hub's NetworkPools
 * and Clusters and computes with the pure core (core/network) — it never imports the hub (ADR 0002).
 *
 * - plan: the allocation the pools give every selected Cluster that has none yet (and the clusters a file
 *   plans); existing allocations are passed in and never move. Writes nothing.
 * - allocate: writes the plan into the Clusters' `spec.network` in ONE multi-document apply, each Cluster pinned
 *   to the resourceVersion it was read at and changed in `spec.network` only: all or nothing. Running it again
 *   changes nothing.
 * - check: the overlaps inside each Location between the Clusters' allocated ranges, and — when a Cluster's status
 *   carries what its agent observed (`status.observedNetwork`) — the observed ones and
 *   their drift from the plan. An overlap is an error (exit 1).
 */
import {
  allocateNetworks,
  type ClusterNetwork,
  type NetworkAllocation,
} from "../../core/network/allocation.ts";
import { type NetworkPoolWithStatus, retiredIdsOf } from "../../core/network/cluster-id-retirement.ts";
import {
  allocationOf,
  allocationOverlaps,
  type ClusterNetworkSpec,
  type ClusterWithNetwork,
  networkRequestOf,
} from "../../core/network/cluster-network.ts";
import {
  detectNetworkProblems,
  type NetworkOverlap,
  type ObservedNetwork,
} from "../../core/network/detection.ts";
import { canonicalJson } from "../../core/resources/canonical-json.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { printStructured } from "../output/format.ts";
import { renderTable } from "../output/table.ts";
import type { PlannedCluster } from "./planned-clusters-file.ts";

/** A Cluster as the hub lists it, as far as the network plan reads it. */
interface ListedCluster extends ClusterWithNetwork {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: ClusterWithNetwork["spec"] & Record<string, unknown>;
  status?: { nodes?: { total?: number }; observedNetwork?: Omit<ObservedNetwork, "cluster" | "location"> };
}

/** What the plan reads of the hub. */
export interface FleetNetwork {
  pools: NetworkPoolWithStatus[];
  /** Every Cluster the caller sees: all are existing allocations, whatever the selection. */
  clusters: ListedCluster[];
  /** The names of the Clusters the selector (`-l`) selects. */
  selected: Set<string>;
}

export interface PlanOptions {
  /** maxNodes of a Cluster whose `spec.network` states none (the larger of this and the nodes it has). */
  maxNodes: number;
  selector?: string;
  /** Only these Clusters (allocate --cluster). */
  clusters?: string[];
  /** Clusters a file plans (plan -f). */
  planned?: PlannedCluster[];
}

/** One row of the plan: a cluster's allocation, and whether this plan gives it something. */
export interface PlanRow {
  allocation: ClusterNetwork;
  maxNodes: number;
  /** allocated: holds its allocation, unchanged; planned: given ranges or an ID by this plan; file: the same, for a cluster of the file. */
  state: "allocated" | "planned" | "file";
}

export interface NetworkPlan {
  rows: PlanRow[];
  explanations: Array<{ cluster: string; lines: string[] }>;
  /** Selected Clusters left out: their Location has no NetworkPool. */
  withoutPool: string[];
}

const base = `/apis/${apiVersion}`;
const out = (text: string) => process.stdout.write(text);
const note = (text: string) => process.stderr.write(`note: ${text}\n`);

/** Lists the pools and clusters; `selector` narrows the clusters planned, never those that count as taken. */
export async function readFleetNetwork(hub: HubClient, selector?: string): Promise<FleetNetwork> {
  const [pools, clusters, selected] = await Promise.all([
    hub.send<{ items: NetworkPoolWithStatus[] }>("GET", `${base}/networkpools`),
    hub.send<{ items: ListedCluster[] }>("GET", `${base}/clusters`),
    selector
      ? hub.send<{ items: ListedCluster[] }>(
          "GET",
          `${base}/clusters?labelSelector=${encodeURIComponent(selector)}`,
        )
      : undefined,
  ]);
  return {
    pools: pools.items,
    clusters: clusters.items,
    selected: new Set((selected ?? clusters).items.map((c) => c.metadata.name)),
  };
}

/** The plan of the selected Clusters (and those of a file), or a UserError listing every problem. */
export function planNetwork(fleet: FleetNetwork, options: PlanOptions): NetworkPlan {
  const known = new Set(fleet.clusters.map((c) => c.metadata.name));
  const missing = (options.clusters ?? []).filter((name) => !known.has(name));
  if (missing.length)
    throw new UserError("NotFound", `no such cluster: ${missing.join(", ")}`, {
      hint: "unitfleet get clusters lists them",
    });
  const pooled = new Set(fleet.pools.filter((p) => p.spec.region === undefined).map((p) => p.spec.location));
  const planned = (options.planned ?? []).filter((p) => p.sized || !known.has(p.request.cluster));
  const fromFile = new Map(planned.map((p) => [p.request.cluster, p]));
  const chosen = fleet.clusters.filter(
    (c) =>
      fleet.selected.has(c.metadata.name) &&
      (!options.clusters || options.clusters.includes(c.metadata.name)) &&
      !fromFile.has(c.metadata.name),
  );
  const withoutPool = chosen.filter((c) => !pooled.has(c.spec.location)).map((c) => c.metadata.name);
  const requested = chosen.filter((c) => pooled.has(c.spec.location));
  const maxNodesOf = (c: ListedCluster) => Math.max(options.maxNodes, c.status?.nodes?.total ?? 0);

  const existing = fleet.clusters.flatMap((c) => allocationOf(c) ?? []);
  const requests = [
    ...requested.map((c) => ({
      at: (field: string) => `cluster "${c.metadata.name}"${field ? `: spec.network.${field}` : ""}`,
      request: networkRequestOf(c, maxNodesOf(c)),
    })),
    ...planned.map((p) => ({
      at: (field: string) => (field ? `${p.source}.${field}` : p.source),
      request: p.request as Record<string, unknown>,
    })),
  ];
  const result: NetworkAllocation = allocateNetworks(
    fleet.pools,
    existing,
    requests.map((r) => r.request),
    retiredIdsOf(fleet.pools),
    Date.now(),
  );
  if (!result.ok) {
    const clusterAt = (name: string) => `cluster "${name}"`;
    const problems = result.problems.map((problem): Problem => {
      const match = /^(requests|pools|existingAllocations|retiredIds)\[(\d+)\]\.?(.*)$/.exec(problem.path);
      if (!match) return problem;
      const [, list, index, rest] = match;
      const i = Number(index);
      if (list === "requests") return { path: requests[i]!.at(rest ?? ""), message: problem.message };
      if (list === "pools")
        return { path: `NetworkPool "${fleet.pools[i]?.metadata.name}": ${rest}`, message: problem.message };
      if (list === "existingAllocations")
        return { path: `${clusterAt(existing[i]!.cluster)}: spec.network.${rest}`, message: problem.message };
      return { path: `NetworkPool status: retiredClusterIds[${i}].${rest}`, message: problem.message };
    });
    throw new UserError("InvalidInput", "the network plan cannot be made; nothing was planned", {
      problems,
      hint: "a pool that is exhausted needs another block (or fewer or smaller clusters); see docs/network-plan.md",
    });
  }

  const before = new Map(existing.map((a) => [a.cluster, canonicalJson(a)]));
  const maxNodes = new Map(requests.map((r) => [r.request.cluster as string, r.request.maxNodes as number]));
  const shown = new Set(requests.map((r) => r.request.cluster as string));
  const rows = result.allocations
    .filter((a) => shown.has(a.cluster))
    .map(
      (allocation): PlanRow => ({
        allocation,
        maxNodes: maxNodes.get(allocation.cluster)!,
        state:
          before.get(allocation.cluster) === canonicalJson(allocation)
            ? "allocated"
            : fromFile.has(allocation.cluster)
              ? "file"
              : "planned",
      }),
    );
  return { rows, explanations: result.explanations, withoutPool };
}

const cell = (values: readonly string[] | undefined) => (values?.length ? values.join(",") : "-");
const maskText = (mask: ClusterNetwork["nodeMask"]) =>
  [mask?.ipv4 !== undefined ? `/${mask.ipv4}` : "", mask?.ipv6 !== undefined ? `/${mask.ipv6}` : ""]
    .filter(Boolean)
    .join(",") || "-";

/** The plan as a table (cluster, location, region, id, pods, services, nodes; wide: max nodes, node mask, state). */
export function planTable(rows: readonly PlanRow[], wide: boolean): string {
  return renderTable(
    [
      "cluster",
      "location",
      "region",
      "id",
      "pods",
      "services",
      "nodes",
      ...(wide ? ["max nodes", "node mask", "state"] : []),
    ],
    rows.map(({ allocation: a, maxNodes, state }) => [
      a.cluster,
      a.location,
      a.region ?? "-",
      a.clusterId === undefined ? "-" : String(a.clusterId),
      cell(a.pods),
      cell(a.services),
      cell(a.nodes),
      ...(wide ? [String(maxNodes), maskText(a.nodeMask), state] : []),
    ]),
  );
}

function planSummary(plan: NetworkPlan): void {
  if (plan.withoutPool.length)
    note(
      `not planned, their Location has no NetworkPool: ${plan.withoutPool.join(", ")} (unitfleet apply -f examples/network-pool.yaml shows one)`,
    );
}

/** `unitfleet network plan`: prints the plan, writes nothing. */
export async function printPlan(hub: HubClient, options: PlanOptions & { output: string }): Promise<void> {
  const plan = planNetwork(await readFleetNetwork(hub, options.selector), options);
  planSummary(plan);
  if (await printStructured(options.output, { items: plan.rows, explanations: plan.explanations }, out))
    return;
  if (!plan.rows.length) {
    out("No clusters to plan.\n");
    return;
  }
  out(`${planTable(plan.rows, options.output === "wide")}\n`);
  const planned = plan.rows.filter((r) => r.state !== "allocated").length;
  process.stderr.write(
    `${planned} planned, ${plan.rows.length - planned} already allocated (unchanged); nothing was written: unitfleet network allocate writes the plan\n`,
  );
}

/** The Cluster's `spec.network` holding its allocation and what it plans. */
function networkSpecOf(cluster: ListedCluster, row: PlanRow): ClusterNetworkSpec {
  const a = row.allocation;
  return {
    ...cluster.spec.network,
    maxNodes: cluster.spec.network?.maxNodes ?? row.maxNodes,
    ...(a.nodeMask ? { nodeMask: a.nodeMask } : {}),
    ...(a.clusterId !== undefined ? { clusterId: a.clusterId } : {}),
    pods: a.pods,
    services: a.services,
    ...(a.nodes.length ? { nodes: a.nodes } : {}),
  };
}

/** `unitfleet network allocate`: writes the plan into the Clusters' `spec.network`, all or nothing. */
export async function allocate(
  hub: HubClient,
  options: PlanOptions & { output: string; dryRun: boolean },
): Promise<void> {
  const fleet = await readFleetNetwork(hub, options.selector);
  const plan = planNetwork(fleet, options);
  planSummary(plan);
  const changed = plan.rows.filter((r) => r.state === "planned");
  const byName = new Map(fleet.clusters.map((c) => [c.metadata.name, c]));
  const documents = changed.map((row) => {
    const cluster = byName.get(row.allocation.cluster)!;
    const { status: _, ...object } = cluster as ListedCluster & { status?: unknown };
    return {
      source: `cluster "${cluster.metadata.name}"`,
      // The Cluster as read, pinned to its resourceVersion: only spec.network differs.
      object: {
        ...object,
        apiVersion,
        kind: "Cluster",
        spec: { ...cluster.spec, network: networkSpecOf(cluster, row) },
      },
    };
  });
  if (documents.length)
    await hub.send("POST", "/unitfleet/v1alpha1/apply", { documents, dryRun: options.dryRun });
  if (await printStructured(options.output, { items: changed }, out)) return;
  if (!changed.length) {
    process.stderr.write("nothing to allocate: every selected cluster has its allocation\n");
    return;
  }
  out(`${planTable(changed, options.output === "wide")}\n`);
  process.stderr.write(
    options.dryRun
      ? `${changed.length} clusters would be allocated (dry run: nothing was written)\n`
      : `${changed.length} clusters allocated: their spec.network holds their ranges and ID\n`,
  );
}

/** One overlap as the check reports it: where its ranges come from (the plan, or what the agent saw). */
interface ReportedOverlap extends NetworkOverlap {
  source: "allocated" | "observed";
}

/** `unitfleet network check`: overlaps inside each Location, allocated (and observed); exit 1 on any. */
export async function check(hub: HubClient, options: { selector?: string; output: string }): Promise<void> {
  const fleet = await readFleetNetwork(hub, options.selector);
  const clusters = fleet.clusters.filter((c) => fleet.selected.has(c.metadata.name));
  const allocations = clusters.flatMap((c) => allocationOf(c) ?? []);
  // Agents' reports (issue 15, item 6): a Cluster's status.observedNetwork, when its agent has sent one.
  const observed: ObservedNetwork[] = clusters.flatMap((c) =>
    c.status?.observedNetwork
      ? [{ ...c.status.observedNetwork, cluster: c.metadata.name, location: c.spec.location }]
      : [],
  );
  const detection = detectNetworkProblems(observed, allocations);
  const overlaps: ReportedOverlap[] = [
    ...allocationOverlaps(allocations).map((o) => ({ ...o, source: "allocated" as const })),
    ...detection.overlaps.map((o) => ({ ...o, source: "observed" as const })),
  ];
  const report = {
    clusters: clusters.length,
    allocated: allocations.length,
    observed: observed.length,
    overlaps,
    drift: detection.drift,
  };
  if (!(await printStructured(options.output, report, out))) {
    if (overlaps.length)
      out(
        `${renderTable(
          ["location", "cluster", "kind", "range", "other cluster", "other kind", "other range", "source"],
          overlaps.map((o) => [
            o.location,
            o.a.cluster,
            o.a.kind,
            o.a.range,
            o.b.cluster,
            o.b.kind,
            o.b.range,
            o.source,
          ]),
        )}\n`,
      );
    for (const d of detection.drift)
      note(
        `${d.cluster} (${d.location}) uses ${d.kind} ${d.observed.join(",")} outside its plan ${d.planned.join(",")}`,
      );
    const unallocated = clusters.length - allocations.length;
    process.stderr.write(
      `${allocations.length} clusters allocated${unallocated ? `, ${unallocated} without an allocation` : ""}; ${observed.length} with observed ranges\n`,
    );
  }
  if (overlaps.length) {
    const pairs = overlaps.map(
      (o) =>
        `${o.a.cluster} ${o.a.kind} ${o.a.range} and ${o.b.cluster} ${o.b.kind} ${o.b.range} (${o.location}, ${o.source})`,
    );
    throw new UserError(
      "Conflict",
      `${overlaps.length} overlapping ranges inside a Location: ${pairs.join("; ")}`,
      {
        hint: "ranges of one Location never share an address: give one of each pair new ranges",
      },
    );
  }
  if (options.output !== "json" && options.output !== "yaml") out("No overlaps.\n");
}
