/**
 * The fleet's cost for one billing month as a file finance tools read (issue 14): the FinOps FOCUS 1.3 CSV of the
 * cost ledger's rows (cost-ledger.ts), one per workload and idle resource of each cluster-hour
 * (core/metering/focus.ts, docs/metering.md "FOCUS export").
 *
 * A month is billed as the ledger held it at its **close**, `closeAfterDays` (2) days after its end: what was
 * written for its hours before then. What is written for a past hour later — a price corrected in a PriceBook,
 * usage that arrived after the close — goes into the export of the month during whose invoicing it was written
 * (from the previous month's close to this one's), as `Correction` rows holding the differences. So a month's
 * file is the same whenever it is asked for after its close, and the original rows plus every later correction add
 * up to the cost as priced now. A month asked for before its close is provisional (`provisional: true`).
 */
import {
  type AllocationRow,
  defaultAllocationRules,
  idleNamespace,
  payerFromName,
} from "../../core/metering/allocation.ts";
import {
  billingMonth,
  defaultCloseAfterDays,
  type FocusClusterHour,
  type FocusIssuer,
  focusCsv,
  focusRows,
  periodClose,
} from "../../core/metering/focus.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";
import { costColumns, detailColumns } from "./cost-ledger.ts";

export interface CostExportQuery {
  /** Only `focus` for now. */
  format: string;
  /** The billing month, `2026-11`. */
  month: string;
  /** `separate` (the default) or `share`, as for the cost query. */
  idle?: string;
}

/** The export as the API answers it. */
export interface CostExport {
  contentType: string;
  body: string;
  /** Rows written (without the header). */
  rows: number;
  /** Of `rows`: Correction rows, for hours of earlier months corrected during this month's invoicing. */
  corrections: number;
  /** Cluster-hours of the month left out for want of a price. */
  unpriced: number;
  /** True when asked for before the month's close: rows written until then may still join the month. */
  provisional: boolean;
  /** When the month closes (or closed). */
  closesAt: string;
}

/** Who bills when the hub is not told otherwise: the platform team running unitfleet. */
export const defaultFocusIssuer: FocusIssuer = Object.freeze({
  provider: "unitfleet",
  host: "unitfleet",
  invoiceIssuer: "platform team",
  billingAccountId: "unitfleet",
  billingAccountName: "unitfleet fleet",
});

const formats = ["focus"];

const dayMs = 86_400_000;

interface LedgerRow extends Record<string, unknown> {
  cluster: string;
  hour: Date | string;
  location: string;
  region: string;
  business: string;
  environment: string;
  currency: string;
  kind: "workload" | "shared" | "idle";
  payer: string;
  namespace: string;
  workload: string;
  labels: Record<string, string> | string;
}

/**
 * The ledger's cluster-hours in `hours`, as written in `written`, rebuilt for the export: each row the sum of what
 * was written for it then (rows that add up to nothing are left out), in the allocation's order.
 */
async function ledgerHours(
  sql: Sql,
  hours: { from?: Date; to: Date },
  written: { from?: Date; to: Date },
  mode: "sep" | "shr",
  correction: boolean,
): Promise<FocusClusterHour[]> {
  const params: unknown[] = [hours.to.toISOString(), written.to.toISOString()];
  let where = "hour < $1 and written_at < $2";
  if (hours.from) {
    params.push(hours.from.toISOString());
    where += ` and hour >= $${params.length}`;
  }
  if (written.from) {
    params.push(written.from.toISOString());
    where += ` and written_at >= $${params.length}`;
  }
  const columns = [...costColumns, ...detailColumns];
  const identity =
    "cluster, hour, location, region, business, environment, currency, kind, payer, namespace, workload, labels";
  const rows = await sql.query<LedgerRow>(
    `select ${identity}, ${columns.map((c) => `sum(${c}) as ${c}`).join(", ")}
     from cost_rows where ${where} group by ${identity}`,
    params,
  );
  const n = (v: unknown) => Number(v ?? 0);
  const byHour = new Map<string, FocusClusterHour>();
  for (const r of rows) {
    const total = n(r[`${mode}_total`]);
    const parts = [
      `${mode}_cpu`,
      `${mode}_memory`,
      `${mode}_gpu`,
      `${mode}_storage`,
      `${mode}_load_balancer`,
    ];
    if (r.kind === "idle" ? total === 0 : columns.every((c) => n(r[c]) === 0)) continue;
    if (correction && parts.every((c) => n(r[c]) === 0) && total === 0) continue;
    const hour = `${new Date(r.hour).toISOString().slice(0, 19)}Z`;
    const key = `${r.cluster}\u0000${hour}\u0000${r.currency}`;
    let entry = byHour.get(key);
    if (!entry) {
      entry = {
        place: {
          cluster: r.cluster,
          location: r.location,
          region: r.region === "" ? null : r.region,
          business: r.business,
          environment: r.environment,
        },
        currency: r.currency,
        allocation: { hour: hour as AllocationRow["hour"], rows: [], totalCost: 0 },
        ...(correction ? { correction: true } : {}),
      };
      byHour.set(key, entry);
    }
    const row: AllocationRow = {
      kind: r.kind,
      cluster: r.cluster,
      hour: hour as AllocationRow["hour"],
      namespace: r.namespace,
      workload: r.workload,
      payer:
        r.kind === "idle"
          ? { from: "cluster", business: r.business, environment: r.environment }
          : payerFromName(r.payer),
      labels: typeof r.labels === "string" ? JSON.parse(r.labels) : r.labels,
      cpuCost: n(r[`${mode}_cpu`]),
      memoryCost: n(r[`${mode}_memory`]),
      gpuCost: n(r[`${mode}_gpu`]),
      storageCost: n(r[`${mode}_storage`]),
      loadBalancerCost: n(r[`${mode}_load_balancer`]),
      totalCost: total,
      idleIncluded: mode === "shr" ? n(r.shr_idle) : 0,
      sharedIncluded: n(r[`${mode}_shared_included`]),
      sharedSpread: n(r[`${mode}_shared_spread`]),
      cpu: { request: n(r.cpu_request), usage: n(r.cpu_usage), allocated: n(r.cpu_allocated) },
      memory: { request: n(r.memory_request), usage: n(r.memory_usage), allocated: n(r.memory_allocated) },
      gpu: { request: n(r.gpu_request), usage: n(r.gpu_usage), allocated: n(r.gpu_allocated) },
      storage: n(r.storage_amount),
      loadBalancers: n(r.load_balancers),
      ...(r.kind === "idle"
        ? { resource: r.workload as AllocationRow["resource"] & string, unallocated: n(r.unallocated) }
        : {}),
    };
    entry.allocation.rows.push(row);
    entry.allocation.totalCost += total;
  }
  // The allocation's order: workloads by namespace/workload, then idle cpu, memory, gpu.
  const idleOrder = ["cpu", "memory", "gpu"];
  const order = (row: AllocationRow) =>
    row.namespace === idleNamespace
      ? `\uffff${idleOrder.indexOf(row.workload)}`
      : `${row.namespace}/${row.workload}`;
  for (const h of byHour.values())
    h.allocation.rows.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return [...byHour.values()];
}

/** Exports one month of the fleet's cost; bad input throws one `UserError` listing every problem with its field. */
export async function exportCost(
  sql: Sql,
  query: CostExportQuery,
  now: Date,
  options: { issuer?: FocusIssuer; closeAfterDays?: number } = {},
): Promise<CostExport> {
  const problems: Problem[] = [];
  if (!formats.includes(query.format))
    problems.push({
      path: "format",
      message: `must be one of ${formats.join(", ")}, got ${JSON.stringify(query.format)}`,
    });
  const month = billingMonth(query.month);
  if (!month.ok) problems.push(...month.problems);
  const idle = query.idle ?? "separate";
  if (idle !== "separate" && idle !== "share")
    problems.push({ path: "idle", message: `must be separate or share, got ${JSON.stringify(idle)}` });
  if (problems.length > 0 || !month.ok)
    throw new UserError("BadRequest", "the cost export is not valid", {
      problems,
      hint: "format is focus; month is YYYY-MM (2026-11); idle is separate or share",
    });
  const closeAfterDays = options.closeAfterDays ?? defaultCloseAfterDays;
  const period = month.value;
  const closes = periodClose(period, closeAfterDays);
  const opened = new Date(period.start.getTime() + closeAfterDays * dayMs);
  const mode = idle === "share" ? "shr" : "sep";
  const [regular, corrections, unpriced] = await Promise.all([
    ledgerHours(sql, { from: period.start, to: period.end }, { to: closes }, mode, false),
    ledgerHours(sql, { to: period.start }, { from: opened, to: closes }, mode, true),
    sql.query<{ n: number }>(
      "select count(*)::int as n from cost_cluster_hours where unpriced is not null and hour >= $1 and hour < $2",
      [period.start.toISOString(), period.end.toISOString()],
    ),
  ]);
  const rules = { ...defaultAllocationRules, idle: idle as "separate" | "share" };
  const rows = focusRows([...regular, ...corrections], period, options.issuer ?? defaultFocusIssuer, rules);
  if (!rows.ok)
    // The ledger was read for this very month: an hour outside it is a defect here, not a user's mistake.
    throw new Error(`cost export of ${query.month}: ${rows.problems[0]!.message}`);
  return {
    contentType: "text/csv; charset=utf-8",
    body: focusCsv(rows.value),
    rows: rows.value.length,
    corrections: rows.value.filter((r) => r.ChargeClass === "Correction").length,
    unpriced: unpriced[0]?.n ?? 0,
    provisional: now < closes,
    closesAt: closes.toISOString(),
  };
}
