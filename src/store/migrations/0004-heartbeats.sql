-- The last heartbeat of each cluster, kept apart from resources: written every few seconds per cluster, it
-- must not produce resource events. The health loop turns it into the Reachable and Ready conditions.
create table cluster_heartbeats (
  cluster text primary key,
  at timestamptz not null,
  replica text not null
);
