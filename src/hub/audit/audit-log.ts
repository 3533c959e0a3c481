/**
 * The audit log: every change made through the API and every command sent to a cluster, allowed or refused.
 * Resource changes are recorded by the store in their own transaction; commands through `recordAudit`.
 */
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";

/** The most entries one read of the audit log returns. */
export const maxAuditPage = 500;

export interface AuditQuery {
  /** How many entries, newest first (default 100, at most `maxAuditPage`). */
  limit?: number;
  /** Only entries older than this id: the `continue` of the previous page. */
  before?: string;
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

/** One page of the audit log, newest first; `continue` names where the next (older) page starts. */
export interface AuditPage {
  items: AuditRecord[];
  continue?: string;
}

/** Reads one page of the audit log, newest first by id (numerically), filtered by actor, kind and name. */
export async function listAudit(sql: Sql, query: AuditQuery): Promise<AuditPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const key of ["actor", "kind", "name"] as const) {
    const value = query[key];
    if (value) {
      params.push(value);
      where.push(`${key} = $${params.length}`);
    }
  }
  if (query.before !== undefined) {
    if (!/^[0-9]{1,18}$/.test(query.before))
      throw new UserError("BadRequest", `invalid continue token "${query.before.slice(0, 40)}"`);
    params.push(query.before);
    where.push(`audit_log.id < $${params.length}::bigint`);
  }
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100) || 100, 1), maxAuditPage);
  params.push(limit + 1);
  // The id is ordered as a number: `order by id` would name the text column of the select list.
  const rows = await sql.query<AuditRecord>(
    `select id::text as id, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at, actor, verb, kind, name,
            result, reason, before, after
     from audit_log ${where.length > 0 ? `where ${where.join(" and ")}` : ""} order by audit_log.id desc limit $${params.length}`,
    params,
  );
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, continue: items[items.length - 1]!.id };
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
