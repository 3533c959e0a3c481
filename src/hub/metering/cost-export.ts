/**
 * The fleet's cost for one billing month as a file finance tools read (issue 14): the FinOps FOCUS 1.3 CSV of
 * every priced cluster-hour of the month, one row per workload and idle resource (core/metering/focus.ts,
 * docs/metering.md "FOCUS export"). The cluster-hours are those the cost query sums (cost-query.ts
 * `pricedAllocations`), so the export's BilledCost adds up to `unitfleet cost` over the same window to the
 * micro-unit. Cluster-hours no PriceBook prices are left out, as they are from the cost query.
 */

import { defaultAllocationRules } from "../../core/metering/allocation.ts";
import { billingMonth, type FocusIssuer, focusCsv, focusRows } from "../../core/metering/focus.ts";
import type { PriceBookLike } from "../../core/metering/price-book.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";
import { pricedAllocations } from "./cost-pricing.ts";

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
  /** Cluster-hours of the month left out for want of a price. */
  unpriced: number;
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

/** Exports one month of the fleet's cost; bad input throws one `UserError` listing every problem with its field. */
export async function exportCost(
  sql: Sql,
  books: readonly PriceBookLike[],
  query: CostExportQuery,
  issuer: FocusIssuer = defaultFocusIssuer,
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
  const rules = { ...defaultAllocationRules, idle: idle as "separate" | "share" };
  const priced = await pricedAllocations(sql, books, month.value, rules.idle);
  const rows = focusRows(priced.hours, month.value, issuer, rules);
  if (!rows.ok)
    // The ledger was read for this very month: an hour outside it is a defect here, not a user's mistake.
    throw new Error(`cost export of ${query.month}: ${rows.problems[0]!.message}`);
  return {
    contentType: "text/csv; charset=utf-8",
    body: focusCsv(rows.value),
    rows: rows.value.length,
    unpriced: priced.unpriced.length,
  };
}
