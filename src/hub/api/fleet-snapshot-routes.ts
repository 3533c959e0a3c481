/** The live fleet as a fleet snapshot (docs/fleet-snapshot.md): what `unitfleet snapshot` and the planner read. */
import type { FleetSnapshot } from "../../core/planning/fleet-snapshot.ts";
import { snapshotFromInventory } from "../../core/planning/snapshot-from-inventory.ts";
import {
  type Cluster,
  type KindInfo,
  kinds,
  type Location,
  type Region,
} from "../../core/resources/kinds.ts";
import type { Caller } from "../registry/caller.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { type AnyRoute, json, route } from "./router.ts";

export const fleetSnapshotPath = "/unitfleet/v1alpha1/fleet-snapshot";

export function fleetSnapshotRoutes(deps: ApiDependencies): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: fleetSnapshotPath,
      access: "authenticated",
      handle: async ({ caller }) => json(200, await fleetSnapshot(deps, caller)),
    }),
  ];
}

/**
 * The fleet the caller may see (a token scoped to businesses sees their clusters only) with the inventory items
 * each cluster last reported, from the store: any replica answers. Clusters that have not reported an inventory
 * yet are left out (the CLI names them, comparing with the list of clusters).
 */
async function fleetSnapshot(deps: ApiDependencies, caller: Caller): Promise<FleetSnapshot> {
  const list = async <T>(kind: KindInfo) =>
    (await deps.registry.list(kind, {}, caller)).items as unknown as T[];
  const [locations, regions, clusters] = await Promise.all([
    list<Location>(kinds.Location),
    list<Region>(kinds.Region),
    list<Cluster>(kinds.Cluster),
  ]);
  const inventories = await deps.inventories(clusters.map((c) => c.metadata.name));
  return snapshotFromInventory({
    locations,
    regions,
    clusters,
    inventories,
    takenAt: new Date().toISOString(),
  }).snapshot;
}
