/**
 * Clusters' inventory items in the store (table `cluster_inventories`): the replica holding a cluster's tunnel
 * session writes them when they change; any replica reads them (the fleet snapshot).
 */
import type { InventoryItem } from "../../core/inventory/inventory.ts";
import type { Sql } from "../../store/sql.ts";

/** Items by key (`cluster`, `node/NAME`, `workload/NS/KIND/NAME`). */
export type InventoryItems = ReadonlyMap<string, InventoryItem>;

/** The JSON the items are stored as (and compared by, to write only changes). */
export function inventoryText(items: InventoryItems): string {
  return JSON.stringify(Object.fromEntries(items));
}

/** Stores a cluster's items as of `version` (the version of the last delta applied). */
export async function saveInventory(sql: Sql, cluster: string, version: number, text: string): Promise<void> {
  await sql.query(
    `insert into cluster_inventories (cluster, version, items, updated_at) values ($1, $2, $3::jsonb, now())
     on conflict (cluster) do update
       set version = excluded.version, items = excluded.items, updated_at = excluded.updated_at`,
    [cluster, version, text],
  );
}

/** The stored items of the clusters named (those that have reported), by cluster. */
export async function loadInventories(
  sql: Sql,
  clusters: readonly string[],
): Promise<Map<string, InventoryItems>> {
  if (clusters.length === 0) return new Map();
  const rows = await sql.query<{ cluster: string; items: Record<string, InventoryItem> }>(
    "select cluster, items from cluster_inventories where cluster = any($1::text[])",
    [clusters],
  );
  return new Map(rows.map((r) => [r.cluster, new Map(Object.entries(r.items))]));
}
