/**
 * What the fleet cost over a window, grouped as asked (issue 14), read from the cost ledger (cost-ledger.ts): each
 * cluster-hour was priced once at the PriceBooks of its Location as they held at that hour and divided by the
 * allocation rules (docs/metering.md); a query sums those rows per group. Whole days are read from daily sums, the
 * partial days at either end from hourly rows; a query by location, region, cluster, business, environment or
 * payer alone reads the per-payer sums, without namespaces and workloads — the 30-day query of a thousand clusters
 * reads some 100,000 rows (bench/cost-query-bench.ts). Money stays in integer micro-units of the books' currency;
 * a group never mixes currencies. A cluster-hour with a node no book prices is not billed: it is listed in
 * `unpriced` with the reason. Hours reported but not yet priced by the leader's pass are counted in `pending`.
 *
 * Hourly detail is kept as long as the usage ledger's (35 days by default): a window that starts or ends inside
 * an older day counts that day's whole-day sums only from its whole days.
 */
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";
import { dimension, impliedAggregation, type UsageDimension } from "./usage-query.ts";
import { parseUsageWindow, type UsageWindow } from "./usage-window.ts";

export interface CostQuery {
  window: string;
  /** Usage dimensions (usage-query.ts) and `payer`: who pays, by the allocation rules. */
  aggregate: readonly string[];
  /** `separate` (idle as rows of its own, namespace `__idle__`) or `share` (spread over the workloads). */
  idle?: string;
  /** Only these clusters (all when absent or empty). */
  clusters?: readonly string[];
}

export type CostDimension = UsageDimension | "payer";

export interface CostGroup {
  keys: Record<string, string | null>;
  currency: string;
  /** Micro-units of `currency`. */
  cost: { cpu: number; memory: number; gpu: number; storage: number; loadBalancer: number; total: number };
  /** Of `cost.total`: idle shared onto the group (idle `share`), and idle rows' own cost (idle `separate`). */
  idle: number;
  /** usage ÷ request of the group's workloads; null when nothing was requested. */
  efficiency: { cpu: number | null; memory: number | null };
}

export interface CostReport {
  window: { start: string; end: string };
  aggregate: CostDimension[];
  idle: "separate" | "share";
  /** Cluster-hours of the window priced and divided (within the hourly retention). */
  hours: number;
  /** Cluster-hours of the window reported but not yet priced by the leader's pass (or priced again). */
  pending: number;
  groups: CostGroup[];
  /** Cluster-hours left out for want of a price, with why. */
  unpriced: Array<{ cluster: string; hour: string; node: string; reason: string }>;
}

interface Checked {
  window: UsageWindow;
  aggregate: CostDimension[];
  idle: "separate" | "share";
}

const allowedText = "location, region, cluster, business, environment, namespace, workload, payer, label:KEY";

/** Checks a cost query whole; one `UserError` lists every problem with its field. */
export function checkCostQuery(query: CostQuery, now: Date): Checked {
  const problems: Problem[] = [];
  let window: UsageWindow | undefined;
  try {
    window = parseUsageWindow(query.window, now);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    problems.push(...error.problems);
  }
  const asked: CostDimension[] = [];
  for (const [i, text] of query.aggregate.entries()) {
    if (text === "payer") {
      if (asked.includes("payer"))
        problems.push({ path: `aggregate[${i}]`, message: "payer is listed twice" });
      else asked.push("payer");
      continue;
    }
    const read = dimension(text);
    if (!read.ok)
      problems.push({
        path: `aggregate[${i}]`,
        message: read.message.replace(/allowed: .*$/, `allowed: ${allowedText}`),
      });
    else if (asked.includes(read.value))
      problems.push({ path: `aggregate[${i}]`, message: `${text} is listed twice` });
    else asked.push(read.value);
  }
  const idle = query.idle ?? "separate";
  if (idle !== "separate" && idle !== "share")
    problems.push({ path: "idle", message: `must be separate or share, got ${JSON.stringify(idle)}` });
  if (problems.length > 0 || !window)
    throw new UserError("BadRequest", "the cost query is not valid", {
      problems,
      hint: `aggregate by ${allowedText}; a window is 7d, 24h or 2026-11-01/2026-12-01; idle is separate or share`,
    });
  const payerAt = asked.indexOf("payer");
  const applied: CostDimension[] = impliedAggregation(
    asked.filter((d): d is UsageDimension => d !== "payer"),
  );
  if (payerAt >= 0) applied.splice(Math.min(payerAt, applied.length), 0, "payer");
  return { window, aggregate: applied, idle: idle as "separate" | "share" };
}

const dayMs = 86_400_000;

/** Dimensions the per-payer sums have: a query by these alone needs no namespace or workload detail. */
const payerLevel = new Set<string>(["location", "region", "cluster", "business", "environment", "payer"]);

/** The SQL expression of a dimension over the cost tables (`label:KEY` reads the workload's labels). */
function dimensionSql(d: CostDimension, params: unknown[]): string {
  if (d === "region") return "nullif(region, '')";
  if (d.startsWith("label:")) {
    params.push(d.slice("label:".length));
    return `labels ->> $${params.length}`;
  }
  return d;
}

/** Runs a cost query over the cost ledger; bad input throws a `UserError`. */
export async function queryCost(sql: Sql, query: CostQuery, now: Date): Promise<CostReport> {
  const checked = checkCostQuery(query, now);
  const { start, end } = checked.window;
  const clusters = query.clusters ?? [];
  const mode = checked.idle === "share" ? "shr" : "sep";
  const coarse = checked.aggregate.every((d) => payerLevel.has(d));
  const [dayTable, hourTable] = coarse ? ["cost_payer_days", "cost_payer_hours"] : ["cost_days", "cost_rows"];

  const params: unknown[] = [];
  const dims = checked.aggregate.map((d) => dimensionSql(d, params));
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const onlyClusters = clusters.length > 0 ? ` and cluster in (${clusters.map(param).join(", ")})` : "";
  // Whole UTC days inside the window from the daily sums, the rest from the hourly rows.
  const firstDay = Math.ceil(start.getTime() / dayMs) * dayMs;
  const lastDay = Math.floor(end.getTime() / dayMs) * dayMs;
  const parts: string[] = [];
  const columns = `${[...new Set(["location", "region", "cluster", "business", "environment", "payer", ...(coarse ? [] : ["namespace", "workload", "labels"])])].join(", ")}, currency, kind,
    ${mode}_cpu as cpu, ${mode}_memory as memory, ${mode}_gpu as gpu, ${mode}_storage as storage,
    ${mode}_load_balancer as load_balancer, ${mode}_total as total,
    ${mode === "shr" ? "shr_idle" : "0"} as idle_in, cpu_request, cpu_usage, memory_request, memory_usage`;
  if (firstDay < lastDay) {
    parts.push(
      `select ${columns} from ${dayTable} where day >= ${param(new Date(firstDay).toISOString().slice(0, 10))}::date
         and day < ${param(new Date(lastDay).toISOString().slice(0, 10))}::date${onlyClusters}`,
    );
    if (start.getTime() < firstDay)
      parts.push(
        `select ${columns} from ${hourTable} where hour >= ${param(start.toISOString())}::timestamptz
           and hour < ${param(new Date(firstDay).toISOString())}::timestamptz${onlyClusters}`,
      );
    if (lastDay < end.getTime())
      parts.push(
        `select ${columns} from ${hourTable} where hour >= ${param(new Date(lastDay).toISOString())}::timestamptz
           and hour < ${param(end.toISOString())}::timestamptz${onlyClusters}`,
      );
  } else
    parts.push(
      `select ${columns} from ${hourTable} where hour >= ${param(start.toISOString())}::timestamptz
         and hour < ${param(end.toISOString())}::timestamptz${onlyClusters}`,
    );
  const keyColumns = dims.map((expr, i) => `${expr} as k${i}`);
  const rows = await sql.query<Record<string, string | number | null>>(
    `select ${[...keyColumns, "currency"].join(", ")},
       sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(storage) as storage,
       sum(load_balancer) as load_balancer, sum(total) as total,
       sum(case when kind = 'idle' then total else idle_in end) as idle,
       sum(cpu_request) as cpu_request, sum(cpu_usage) as cpu_usage,
       sum(memory_request) as memory_request, sum(memory_usage) as memory_usage
     from (${parts.join(" union all ")}) as rows
     where not (kind = 'idle' and total = 0)
     group by ${[...dims.map((_, i) => `k${i}`), "currency"].join(", ")}`,
    params,
  );

  const window = [start.toISOString(), end.toISOString(), ...clusters];
  const only =
    clusters.length > 0 ? ` and cluster in (${clusters.map((_, i) => `$${i + 3}`).join(", ")})` : "";
  const [counts, unpriced] = await Promise.all([
    sql.query<{ hours: number; pending: number }>(
      `select count(*) filter (where priced_version > 0 and unpriced is null)::int as hours,
         count(*) filter (where version <> priced_version)::int as pending
       from cost_cluster_hours where hour >= $1 and hour < $2${only}`,
      window,
    ),
    sql.query<{ cluster: string; hour: Date | string; node: string; reason: string }>(
      `select cluster, hour, u.node, u.reason from cost_cluster_hours,
         jsonb_to_recordset(unpriced) as u(node text, reason text)
       where unpriced is not null and hour >= $1 and hour < $2${only} order by cluster, hour limit 1000`,
      window,
    ),
  ]);
  const n = (v: string | number | null | undefined) => Number(v ?? 0);
  const groups: CostGroup[] = rows.map((r) => ({
    keys: Object.fromEntries(checked.aggregate.map((d, i) => [d, (r[`k${i}`] as string | null) ?? null])),
    currency: String(r.currency),
    cost: {
      cpu: n(r.cpu),
      memory: n(r.memory),
      gpu: n(r.gpu),
      storage: n(r.storage),
      loadBalancer: n(r.load_balancer),
      total: n(r.total),
    },
    idle: n(r.idle),
    efficiency: {
      cpu: n(r.cpu_request) > 0 ? n(r.cpu_usage) / n(r.cpu_request) : null,
      memory: n(r.memory_request) > 0 ? n(r.memory_usage) / n(r.memory_request) : null,
    },
  }));
  groups.sort(
    (a, b) => b.cost.total - a.cost.total || JSON.stringify(a.keys).localeCompare(JSON.stringify(b.keys)),
  );
  return {
    window: { start: start.toISOString(), end: end.toISOString() },
    aggregate: checked.aggregate,
    idle: checked.idle,
    hours: counts[0]?.hours ?? 0,
    pending: counts[0]?.pending ?? 0,
    groups,
    unpriced: unpriced.map((u) => ({
      cluster: u.cluster,
      hour: `${new Date(u.hour).toISOString().slice(0, 19)}Z`,
      node: u.node,
      reason: u.reason,
    })),
  };
}
