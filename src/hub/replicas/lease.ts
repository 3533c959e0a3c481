/**
 * Work that must run on exactly one hub replica (event compaction, cluster health, delivery) runs
 * under a lease in the database: a replica holds it while it renews it; when that replica dies, the lease
 * expires and another takes it over.
 */
import type { Sql } from "../../store/sql.ts";

export interface LeaseOptions {
  name: string;
  holder: string;
  ttlMs: number;
  now: () => Date;
}

/** Takes or renews the lease; true when this holder has it now. */
export async function acquireLease(sql: Sql, options: LeaseOptions): Promise<boolean> {
  const now = options.now();
  const expires = new Date(now.getTime() + options.ttlMs);
  const rows = await sql.query<{ holder: string }>(
    `insert into leases (name, holder, expires_at) values ($1, $2, $3)
     on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
       where leases.holder = excluded.holder or leases.expires_at < $4
     returning holder`,
    [options.name, options.holder, expires.toISOString(), now.toISOString()],
  );
  return rows[0]?.holder === options.holder;
}

/** Releases the lease if this holder has it (on graceful shutdown, so that another replica takes over at once). */
export async function releaseLease(sql: Sql, name: string, holder: string): Promise<void> {
  await sql.query("delete from leases where name = $1 and holder = $2", [name, holder]);
}

export async function leaseHolder(sql: Sql, name: string, now: Date): Promise<string | undefined> {
  const rows = await sql.query<{ holder: string }>(
    "select holder from leases where name = $1 and expires_at > $2",
    [name, now.toISOString()],
  );
  return rows[0]?.holder;
}
