-- Each cluster's inventory items (nodes, workloads with their constraints, version) as its agent last reported
-- them, keyed as in the inventory (`cluster`, `node/NAME`, `workload/NS/KIND/NAME`). Written by the replica
-- holding the cluster's tunnel session when they change, beside the summary in the Cluster's status; read by
-- any replica for the fleet snapshot. Kept apart from resources: rewritten often, it must not produce events.
create table cluster_inventories (
  cluster text primary key,
  version bigint not null,
  items jsonb not null,
  updated_at timestamptz not null default now()
);
