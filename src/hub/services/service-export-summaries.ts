/**
 * What the hub sees of multi-cluster services (issue 15, docs/multi-cluster-services.md "What the hub sees"). Each
 * Location's relay sends a summary of its exports (`services.summary`, relay/location-services-summary.ts) in pages;
 * once every page of one summary is here, the Location's rows in the store are replaced in one transaction, so any
 * replica answers the same and a reader never sees half a summary. An export that newly turns `Valid=False` with
 * reason `ExportScopeBeyondLocation` (its `unitfleet.io/export-scope` asks for more than its Location) is audited
 * in the same transaction: once per export each time it turns so, not on every summary.
 *
 * Bounds: pages wait in memory for one summary per Location at most (a newer summary drops an unfinished older
 * one), at most `maxSummaryPages` pages of under 1 MiB each.
 */
import type { MessageBody } from "../../protocol/messages.ts";
import type { Sql } from "../../store/sql.ts";
import { recordAudit } from "../audit/audit-log.ts";

type SummaryBody = MessageBody<"services.summary">;
export type ExportSummary = SummaryBody["exports"][number];

/** The reason whose refusal is audited. */
export const auditedRefusal = "ExportScopeBeyondLocation";

/** One export as the hub lists it: the relay's summary of it, its Location, and when the summary arrived. */
export type ServiceExportRow = ExportSummary & { location: string; summarisedAt: string };

export interface ServiceExportFilter {
  location?: string;
  cluster?: string;
  namespace?: string;
}

export interface ServiceExportSummariesOptions {
  sql: Sql;
  /** The registered clusters of a Location: exports of any other cluster are not kept. */
  clustersOf: (location: string) => Promise<ReadonlySet<string>>;
  log: (entry: Record<string, unknown>) => void;
  now?: () => Date;
}

interface PendingSummary {
  summary: string;
  pages: number;
  received: Map<number, ExportSummary[]>;
  exportsOmitted: number;
}

/** Takes the pages of relays' summaries and stores each whole summary once it is complete. */
export class ServiceExportSummaries {
  readonly #options: ServiceExportSummariesOptions;
  readonly #pending = new Map<string, PendingSummary>();

  constructor(options: ServiceExportSummariesOptions) {
    this.#options = options;
  }

  /**
   * One page from the relay of `body.location` (the caller checked that the relay speaks for it). Resolves once it
   * is kept, or, if it completes its summary, once the summary is stored.
   */
  async receive(body: SummaryBody): Promise<void> {
    let pending = this.#pending.get(body.location);
    if (!pending || pending.summary !== body.summary) {
      pending = {
        summary: body.summary,
        pages: body.pages,
        received: new Map(),
        exportsOmitted: body.exportsOmitted,
      };
      this.#pending.set(body.location, pending);
    }
    if (body.pages !== pending.pages) return;
    pending.received.set(body.page, body.exports);
    if (pending.received.size < pending.pages) return;
    this.#pending.delete(body.location);
    const members = await this.#options.clustersOf(body.location);
    const all = [...pending.received.entries()].sort(([a], [b]) => a - b).flatMap(([, page]) => page);
    const exports = all.filter((e) => members.has(e.cluster));
    if (exports.length < all.length)
      this.#options.log({
        level: "warn",
        msg: "dropped exports of clusters not registered in the relay's Location",
        location: body.location,
        clusters: [...new Set(all.filter((e) => !members.has(e.cluster)).map((e) => e.cluster))],
      });
    const { audited } = await storeLocationExports(this.#options.sql, {
      location: body.location,
      summary: body.summary,
      exports,
      exportsOmitted: pending.exportsOmitted,
      at: (this.#options.now ?? (() => new Date()))(),
    });
    if (audited > 0)
      this.#options.log({
        level: "info",
        msg: "audited exports refused for asking more than their Location",
        location: body.location,
        audited,
      });
  }
}

const refusedForScope = (e: { valid_status: string; valid_reason: string }) =>
  e.valid_status === "False" && e.valid_reason === auditedRefusal;
const exportKey = (e: { cluster: string; namespace: string; name: string }) =>
  `${e.cluster}/${e.namespace}/${e.name}`;

/**
 * Replaces a Location's exports with a summary's, in one transaction, and audits each export that is refused for
 * its scope now and was not in the rows replaced. Concurrent calls for one Location take turns (the row of
 * `service_export_summaries` is locked first).
 */
export async function storeLocationExports(
  sql: Sql,
  input: {
    location: string;
    summary: string;
    exports: readonly ExportSummary[];
    exportsOmitted: number;
    at: Date;
  },
): Promise<{ audited: number }> {
  return sql.transaction(async (tx) => {
    await tx.query(
      `insert into service_export_summaries (location, summary, received_at, exports_omitted) values ($1, $2, $3, $4)
       on conflict (location) do update set summary = excluded.summary, received_at = excluded.received_at,
         exports_omitted = excluded.exports_omitted`,
      [input.location, input.summary, input.at.toISOString(), input.exportsOmitted],
    );
    const before = await tx.query<{
      cluster: string;
      namespace: string;
      name: string;
      valid_status: string;
      valid_reason: string;
    }>(
      "select cluster, namespace, name, valid_status, valid_reason from service_exports where location = $1",
      [input.location],
    );
    const refusedBefore = new Set(before.filter(refusedForScope).map(exportKey));
    await tx.query("delete from service_exports where location = $1", [input.location]);
    if (input.exports.length > 0)
      await tx.query(
        `insert into service_exports (location, cluster, namespace, name, summary, valid_status, valid_reason)
         select $1, e->>'cluster', e->>'namespace', e->>'name', e, e->'valid'->>'status', e->'valid'->>'reason'
         from jsonb_array_elements($2::jsonb) as e`,
        [input.location, JSON.stringify(input.exports)],
      );
    let audited = 0;
    for (const e of input.exports) {
      if (!refusedForScope({ valid_status: e.valid.status, valid_reason: e.valid.reason })) continue;
      if (refusedBefore.has(exportKey(e))) continue;
      await recordAudit(tx, {
        actor: `relay:${input.location}`,
        verb: "export",
        kind: "ServiceExport",
        name: exportKey(e),
        result: "refused",
        reason: `${e.valid.reason}: ${e.valid.message}`,
      });
      audited += 1;
    }
    return { audited };
  });
}

/** The exports the hub holds, by Location, namespace, name and cluster; filtered by each field given. */
export async function listServiceExports(sql: Sql, filter: ServiceExportFilter): Promise<ServiceExportRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const key of ["location", "cluster", "namespace"] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    params.push(value);
    where.push(`e.${key} = $${params.length}`);
  }
  const rows = await sql.query<{ location: string; summary: ExportSummary | string; received_at: string }>(
    `select e.location, e.summary,
            to_char(s.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as received_at
     from service_exports e join service_export_summaries s on s.location = e.location
     ${where.length > 0 ? `where ${where.join(" and ")}` : ""}
     order by e.location, e.namespace, e.name, e.cluster`,
    params,
  );
  return rows.map((r) => ({
    location: r.location,
    ...(typeof r.summary === "string" ? (JSON.parse(r.summary) as ExportSummary) : r.summary),
    summarisedAt: r.received_at,
  }));
}
