/**
 * The clusters a file plans, for `unitfleet network plan -f FILE` (issue 15): a lab topology (`kind:
 * LabTopology`: each cluster plans the larger of `--max-nodes` and its node pools' nodes; one the hub holds keeps
 * the hub's request), or a YAML list of
 * `{name, location, region, maxNodes, nodeMask, plannedServices, clusterId}` (bare, or under `clusters:`). Every
 * problem of the file is reported with its path, none with a stack trace.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { clusterNetworkRequest } from "../../core/network/cluster-request.ts";
import { validateTopology } from "../../core/topology/topology.ts";
import { problemsFromZod } from "../../core/validation/zod-problems.ts";
import { UserError } from "../../errors/user-error.ts";
import { readYaml } from "../../yaml/bounded-yaml.ts";

/** One cluster the file plans, as a request of the allocation, with where it was written. */
export interface PlannedCluster {
  /** `FILE: clusters[2]`, for messages. */
  source: string;
  /**
   * Whether the file states the cluster's maxNodes (a list does; a lab topology does not): a cluster the hub
   * holds keeps its own request unless the file states one.
   */
  sized: boolean;
  request: {
    cluster: string;
    location: string;
    region?: string;
    maxNodes: number;
    nodeMask?: { ipv4?: number; ipv6?: number };
    plannedServices?: number;
    clusterId?: number;
  };
}

const { cluster: _, ...requestFields } = clusterNetworkRequest.shape;
const plannedCluster = z.strictObject({ name: clusterNetworkRequest.shape.cluster, ...requestFields });

/** Reads the clusters `file` plans; `fallbackMaxNodes` sizes a lab topology's clusters that have fewer nodes. */
export async function readPlannedClusters(file: string, fallbackMaxNodes: number): Promise<PlannedCluster[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UserError("NotFound", `cannot read ${file}: ${(error as NodeJS.ErrnoException).message}`);
  }
  const content = readYaml(text, file) as { kind?: unknown; clusters?: unknown } | unknown[] | null;
  if (content && !Array.isArray(content) && content.kind === "LabTopology") {
    const topology = validateTopology(content);
    if (!topology.ok)
      throw new UserError("InvalidInput", `${file}: the topology is invalid`, {
        problems: topology.problems,
      });
    return topology.value.spec.clusters.map((cluster, i) => ({
      source: `${file}: spec.clusters[${i}]`,
      sized: false,
      request: {
        cluster: cluster.name,
        location: cluster.location,
        ...(cluster.region !== undefined ? { region: cluster.region } : {}),
        maxNodes: Math.max(
          fallbackMaxNodes,
          cluster.nodePools.reduce((sum, pool) => sum + pool.count, 0),
        ),
      },
    }));
  }
  const [list, at] = Array.isArray(content)
    ? [content, ""]
    : [(content as { clusters?: unknown } | null)?.clusters, "clusters"];
  if (!Array.isArray(list))
    throw new UserError(
      "InvalidInput",
      `${file} plans no clusters: write a lab topology, or a list of {name, location, region, maxNodes}`,
    );
  const parsed = z.array(plannedCluster).safeParse(list);
  if (!parsed.success)
    throw new UserError("InvalidInput", `${file}: the planned clusters are invalid`, {
      problems: problemsFromZod(parsed.error, at ? [at] : []),
    });
  return parsed.data.map(({ name, ...rest }, i) => ({
    source: `${file}: ${at}[${i}]`,
    sized: true,
    request: { cluster: name, ...rest },
  }));
}
