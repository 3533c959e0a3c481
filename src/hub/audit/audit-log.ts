/**
 * The audit log: every change made through the API and every command sent to a cluster, allowed or refused.
 * Resource changes are recorded by the store in their own transaction; commands through `recordAudit`.
 */
import type { Sql } from "../../store/sql.ts";

export interface AuditQuery {
  limit?: number;
  actor?: string;
  kind?: string;
  name?: string;
}

export interface AuditRecord {
  id: string;
  at: string;
  actor: string;
  verb: string;
  kind: string;
  name: string;
  result: "allowed" | "refused";
  reason: string | null;
  before: unknown;
  after: unknown;
}

export async function listAudit(sql: Sql, query: AuditQuery): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const key of ["actor", "kind", "name"] as const) {
    const value = query[key];
    if (value) {
      params.push(value);
      where.push(`${key} = $${params.length}`);
    }
  }
  params.push(Math.min(Math.max(query.limit ?? 100, 1), 1000));
  return sql.query<AuditRecord>(
    `select id::text as id, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at, actor, verb, kind, name,
            result, reason, before, after
     from audit_log ${where.length > 0 ? `where ${where.join(" and ")}` : ""} order by id desc limit $${params.length}`,
    params,
  );
}

/** Records one audit entry that belongs to no resource change (a command sent to a cluster). */
export async function recordAudit(
  sql: Sql,
  entry: {
    actor: string;
    verb: string;
    kind: string;
    name: string;
    result: "allowed" | "refused";
    reason?: string;
  },
): Promise<void> {
  await sql.query(
    "insert into audit_log (actor, verb, kind, name, result, reason) values ($1, $2, $3, $4, $5, $6)",
    [entry.actor, entry.verb, entry.kind, entry.name, entry.result, entry.reason ?? null],
  );
}
