/**
 * The network pass (issue 15, item 6): on the leader, every so often, every Cluster's observed addresses
 * (`status.observedNetwork`, from its agent) and planned ranges (`spec.network`) are checked per Location with
 * `detectNetworkProblems`, and each Cluster's `NetworkOverlap` and `NetworkDrift` conditions are set from the
 * result (core/network/network-conditions.ts). Only Clusters whose conditions change are written, each read again
 * just before, so that conditions others wrote in the meantime (Reachable, Ready, UsageMetered) are kept.
 *
 * Periodic rather than on each status change: a change of one cluster's ranges changes its neighbours'
 * conditions, and a change of a plan (spec.network) matters as much as a report. A pass lists the Clusters once
 * and sweeps each Location's ranges in address order, so 10,000 clusters cost one list and a few milliseconds.
 */
import { allocationOf } from "../../core/network/cluster-network.ts";
import { networkConditionChanges, withNetworkConditions } from "../../core/network/network-conditions.ts";
import { readObservedNetwork } from "../../core/network/observed-network.ts";
import { type ClusterSpec, type ClusterStatus, kinds } from "../../core/resources/kinds.ts";
import type { Condition } from "../../core/resources/meta.ts";
import { periodic } from "../../runtime/periodic.ts";
import type { Log, Runnable } from "../../runtime/runnable.ts";
import type { ResourceStore } from "../../store/resource-store.ts";
import { systemCaller } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";

/** How often the pass runs by default. */
export const defaultNetworkPassMs = 15_000;

/** One pass at `now`; answers how many Clusters it wrote. */
export async function updateNetworkConditions(
  store: ResourceStore,
  registry: Registry,
  now: Date,
): Promise<number> {
  const clusters = (await store.list("Cluster")).items;
  const changes = networkConditionChanges(
    clusters.map((c) => {
      const spec = c.spec as ClusterSpec;
      const status = (c.status ?? {}) as ClusterStatus;
      const observed = readObservedNetwork(status.observedNetwork);
      const allocation = allocationOf({ metadata: c.metadata, spec });
      return {
        name: c.metadata.name,
        location: spec.location,
        ...(observed ? { observed } : {}),
        ...(allocation ? { allocation } : {}),
        conditions: status.conditions ?? [],
      };
    }),
    now,
  );
  let written = 0;
  for (const [name, wanted] of changes) {
    // Read again: keep what others wrote since the list, replacing only this pass's two conditions.
    const fresh = await store.get("Cluster", name);
    const conditions = fresh
      ? withNetworkConditions(
          ((fresh.status as ClusterStatus | undefined)?.conditions ?? []) as Condition[],
          wanted,
        )
      : undefined;
    if (!conditions) continue;
    await registry.mergeStatus(kinds.Cluster, name, { conditions }, systemCaller);
    written += 1;
  }
  return written;
}

/** The pass as a leader-only runnable of the hub's Manager. */
export function networkConditionsPass(options: {
  store: ResourceStore;
  registry: Registry;
  log: Log;
  everyMs?: number;
}): Runnable {
  return periodic({
    name: "network-conditions",
    leaderOnly: true,
    everyMs: options.everyMs ?? defaultNetworkPassMs,
    log: options.log,
    work: async () => {
      await updateNetworkConditions(options.store, options.registry, new Date());
    },
  });
}
