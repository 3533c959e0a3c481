/**
 * The cost ledger (issue 14; tables in store/migrations/0010-cost-ledger.sql): each cluster-hour of the usage
 * ledger priced once, by the leader, and kept as rows of money that queries sum (cost-query.ts), so that a month
 * of a thousand clusters is read from a few hundred thousand sums, not priced again from twenty million rows.
 *
 * A pass (`priceCostLedger`):
 * 1. compares each Location's PriceBooks with those its hours were priced with (a digest in `cost_books`); when
 *    they changed, every retained hour of the Location is marked to price again;
 * 2. prices, batch by batch, every cluster-hour whose usage changed since it was last priced (new rows: a first
 *    report, a late one after a relay outage) or whose books changed, in both idle modes, and appends to
 *    `cost_rows` only the difference between the new figures and those already there — so the rows are never
 *    edited, and each correction is a row of its own with the time it was written. The daily and per-payer sums
 *    are added in the same transaction;
 * 3. removes per-payer hours and cluster-hours older than the retention, and cost rows older than theirs (both
 *    their hour and their writing: the FOCUS export of a closed month reads them); daily sums stay.
 *
 * A cluster-hour whose records arrive after the hourly retention has passed cannot be priced whole (its other
 * records are gone): it is left out and counted (`tooLate`). Runs on the leader only (`costPricing`).
 */
import { createHash } from "node:crypto";
import type { AllocationRow } from "../../core/metering/allocation.ts";
import { payerName } from "../../core/metering/allocation.ts";
import type { PriceBookLike } from "../../core/metering/price-book.ts";
import { canonicalJson } from "../../core/resources/canonical-json.ts";
import { type Clock, systemClock } from "../../runtime/clock.ts";
import { periodic } from "../../runtime/periodic.ts";
import type { Log, Runnable } from "../../runtime/runnable.ts";
import type { Sql } from "../../store/sql.ts";
import { type ClusterPlace, type NodeRow, priceUsageRows, type WorkloadRow } from "./cost-pricing.ts";

const dayMs = 86_400_000;
/** Cluster-hours priced per transaction. */
const defaultBatch = 100;

/** The money and amounts a cost row holds, in the order of the tables' columns. */
export const costColumns = [
  "sep_cpu",
  "sep_memory",
  "sep_gpu",
  "sep_storage",
  "sep_load_balancer",
  "sep_total",
  "shr_cpu",
  "shr_memory",
  "shr_gpu",
  "shr_storage",
  "shr_load_balancer",
  "shr_total",
  "shr_idle",
  "cpu_request",
  "cpu_usage",
  "memory_request",
  "memory_usage",
] as const;
/** Columns of cost rows only (not summed into the daily and per-payer tables): what the FOCUS export writes. */
export const detailColumns = [
  "cpu_allocated",
  "memory_allocated",
  "gpu_request",
  "gpu_usage",
  "gpu_allocated",
  "storage_amount",
  "load_balancers",
  "unallocated",
  "sep_shared_included",
  "sep_shared_spread",
  "shr_shared_included",
  "shr_shared_spread",
] as const;
const rowColumns = [...costColumns, ...detailColumns] as const;
type CostColumn = (typeof rowColumns)[number];

/** What identifies a cost row within its cluster-hour, besides the cluster and hour. */
const identityColumns = [
  "location",
  "region",
  "business",
  "environment",
  "currency",
  "kind",
  "payer",
  "namespace",
  "workload",
  "labels",
] as const;

interface CostRow {
  cluster: string;
  hour: string;
  location: string;
  region: string;
  business: string;
  environment: string;
  currency: string;
  kind: string;
  payer: string;
  namespace: string;
  workload: string;
  labels: Record<string, string>;
  values: Record<CostColumn, number>;
}

export interface PricingOptions {
  /** The pass's time: rows are written as of it (the FOCUS export bills a month by when its rows were written). */
  now: Date;
  /** Hourly rows are kept this many whole days (UTC) before today (the usage ledger's retention). */
  retentionDays: number;
  /**
   * Cost rows are kept this many whole days after both their hour and their writing (default 70): long enough
   * to export a month, with the corrections made during it, after the month has closed (cost-export.ts).
   */
  rowRetentionDays?: number;
  /** Cluster-hours per transaction (default 100). */
  batch?: number;
  signal?: AbortSignal;
}

export interface PricingOutcome {
  /** Locations whose PriceBooks changed since their hours were priced. */
  locationsRepriced: string[];
  hoursPriced: number;
  /** Cost rows appended (first pricings and corrections). */
  rowsWritten: number;
  /** Cluster-hours whose records came after the hourly retention: left out. */
  tooLate: number;
  rowsRemoved: number;
}

/** A digest of the books of one Location, in name order: what its hours were priced with. */
function booksDigest(books: readonly PriceBookLike[]): string {
  const specs = [...books]
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
    .map((b) => ({ name: b.metadata.name, spec: b.spec }));
  return createHash("sha256").update(canonicalJson(specs)).digest("hex");
}

const iso = (value: Date | string) => new Date(value).toISOString();

/** The cost rows of priced cluster-hours: both idle modes' figures side by side, one row per allocation row. */
function costRowsOf(
  separate: ReturnType<typeof priceUsageRows>,
  share: ReturnType<typeof priceUsageRows>,
): CostRow[] {
  const rows = new Map<string, CostRow>();
  const add = (
    place: ClusterPlace,
    currency: string,
    row: AllocationRow,
    mode: "sep" | "shr",
    hour: string,
  ) => {
    const payer = row.kind === "idle" ? "__idle__" : payerName(row.payer);
    const base = {
      cluster: place.cluster,
      hour: iso(hour),
      location: place.location,
      region: place.region ?? "",
      business: place.business,
      environment: place.environment,
      currency,
      kind: row.kind,
      payer,
      namespace: row.namespace,
      workload: row.workload,
      labels: row.labels,
    };
    const key = identityKey(base);
    let entry = rows.get(key);
    if (!entry) {
      entry = {
        ...base,
        values: Object.fromEntries(rowColumns.map((c) => [c, 0])) as Record<CostColumn, number>,
      };
      rows.set(key, entry);
      const v = entry.values;
      v.cpu_request = row.cpu.request;
      v.cpu_usage = row.cpu.usage;
      v.cpu_allocated = row.cpu.allocated;
      v.memory_request = row.memory.request;
      v.memory_usage = row.memory.usage;
      v.memory_allocated = row.memory.allocated;
      v.gpu_request = row.gpu.request;
      v.gpu_usage = row.gpu.usage;
      v.gpu_allocated = row.gpu.allocated;
      v.storage_amount = row.storage;
      v.load_balancers = row.loadBalancers;
      v.unallocated = row.unallocated ?? 0;
    }
    const v = entry.values;
    v[`${mode}_cpu`] = row.cpuCost;
    v[`${mode}_memory`] = row.memoryCost;
    v[`${mode}_gpu`] = row.gpuCost;
    v[`${mode}_storage`] = row.storageCost;
    v[`${mode}_load_balancer`] = row.loadBalancerCost;
    v[`${mode}_total`] = row.totalCost;
    v[`${mode}_shared_included`] = row.sharedIncluded;
    v[`${mode}_shared_spread`] = row.sharedSpread;
    if (mode === "shr") v.shr_idle = row.idleIncluded;
  };
  for (const h of separate.hours)
    for (const row of h.allocation.rows) add(h.place, h.currency, row, "sep", h.allocation.hour);
  for (const h of share.hours)
    for (const row of h.allocation.rows) add(h.place, h.currency, row, "shr", h.allocation.hour);
  return [...rows.values()];
}

function identityKey(row: Omit<CostRow, "values">): string {
  return canonicalJson([row.cluster, row.hour, ...identityColumns.map((c) => row[c])]);
}

/** The SQL that adds rows of `source` (a jsonb_to_recordset) into a sum table, grouped by its identity. */
function addInto(table: string, time: string, groupBy: readonly string[]): string {
  const identity = [time, "cluster", ...groupBy];
  return `insert into ${table} (${identity.join(", ")}, ${costColumns.join(", ")})
     select ${identity.join(", ")}, ${costColumns.map((c) => `sum(${c})`).join(", ")}
     from (select ${time === "day" ? "(r.hour at time zone 'UTC')::date as day, " : ""}r.* from jsonb_to_recordset($1::jsonb)
       as r(cluster text, hour timestamptz, location text, region text, business text, environment text,
         currency text, kind text, payer text, namespace text, workload text, labels jsonb,
         ${costColumns.map((c) => `${c} bigint`).join(", ")})) as delta
     group by ${identity.join(", ")}
     on conflict (${identity.join(", ")}) do update set
       ${costColumns.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(", ")}`;
}

const payerGroup = ["location", "region", "business", "environment", "currency", "kind", "payer"];
const fullGroup = [...payerGroup, "namespace", "workload", "labels"];

interface Pending {
  cluster: string;
  hour: Date | string;
  location: string;
  version: string | number;
}

/** Prices one batch of cluster-hours that are behind; returns how many it took (0: none left). */
async function priceBatch(
  sql: Sql,
  books: readonly PriceBookLike[],
  now: Date,
  cutoff: Date,
  batch: number,
  outcome: PricingOutcome,
): Promise<number> {
  return sql.transaction(async (tx) => {
    const pending = await tx.query<Pending>(
      `select cluster, hour, location, version from cost_cluster_hours
       where version <> priced_version order by hour, cluster limit $1 for update skip locked`,
      [batch],
    );
    if (pending.length === 0) return 0;
    const tooLate = pending.filter((p) => new Date(p.hour) < cutoff);
    const due = pending.filter((p) => new Date(p.hour) >= cutoff);
    outcome.tooLate += tooLate.length;
    const pairs = JSON.stringify(due.map((p) => ({ cluster: p.cluster, hour: iso(p.hour) })));
    const inPairs = `(cluster, hour) in (select cluster, hour from jsonb_to_recordset($1::jsonb) as p(cluster text, hour timestamptz))`;
    // One after the other: a transaction is one connection, which runs one statement at a time.
    const workloadRows = await tx.query<WorkloadRow>(`select * from usage_workload_hours where ${inPairs}`, [
      pairs,
    ]);
    const nodeRows = await tx.query<NodeRow>(`select * from usage_node_hours where ${inPairs}`, [pairs]);
    const existing = await tx.query<Omit<CostRow, "values"> & Record<CostColumn, string | number>>(
      `select cluster, hour, ${identityColumns.join(", ")}, ${rowColumns.map((c) => `sum(${c}) as ${c}`).join(", ")}
         from cost_rows where ${inPairs} group by cluster, hour, ${identityColumns.join(", ")}`,
      [pairs],
    );
    const separate = priceUsageRows(workloadRows, nodeRows, books, "separate");
    const share = priceUsageRows(workloadRows, nodeRows, books, "share");
    const next = new Map(costRowsOf(separate, share).map((r) => [identityKey(r), r]));
    const deltas: CostRow[] = [];
    const seen = new Set<string>();
    for (const old of existing) {
      const base = { ...old, hour: iso(old.hour) } as Omit<CostRow, "values">;
      const key = identityKey(base);
      seen.add(key);
      const now = next.get(key);
      const values = Object.fromEntries(
        rowColumns.map((c) => [c, (now?.values[c] ?? 0) - Number(old[c])]),
      ) as Record<CostColumn, number>;
      if (rowColumns.some((c) => values[c] !== 0)) deltas.push({ ...pick(base), values });
    }
    for (const [key, row] of next) if (!seen.has(key)) deltas.push(row);

    if (deltas.length > 0) {
      const records = JSON.stringify(deltas.map((d) => ({ ...pick(d), ...d.values })));
      await tx.query(
        `insert into cost_rows (written_at, cluster, hour, ${identityColumns.join(", ")}, ${rowColumns.join(", ")})
         select $2::timestamptz, cluster, hour, ${identityColumns.join(", ")}, ${rowColumns.join(", ")}
         from jsonb_to_recordset($1::jsonb) as r(cluster text, hour timestamptz, location text, region text,
           business text, environment text, currency text, kind text, payer text, namespace text, workload text,
           labels jsonb, ${rowColumns.map((c) => `${c} bigint`).join(", ")})`,
        [records, now.toISOString()],
      );
      await tx.query(addInto("cost_days", "day", fullGroup), [records]);
      await tx.query(addInto("cost_payer_hours", "hour", payerGroup), [records]);
      await tx.query(addInto("cost_payer_days", "day", payerGroup), [records]);
      outcome.rowsWritten += deltas.length;
    }

    const unpriced = new Map<string, Array<{ node: string; reason: string }>>();
    for (const u of separate.unpriced) {
      const key = `${u.cluster}\u0000${iso(u.hour)}`;
      const list = unpriced.get(key) ?? [];
      list.push({ node: u.node, reason: u.reason });
      unpriced.set(key, list);
    }
    const marks = pending.map((p) => {
      const late = new Date(p.hour) < cutoff;
      const why = late
        ? [{ node: "*", reason: "its records arrived after the hourly retention: left out" }]
        : (unpriced.get(`${p.cluster}\u0000${iso(p.hour)}`) ?? null);
      return { cluster: p.cluster, hour: iso(p.hour), version: String(p.version), unpriced: why };
    });
    await tx.query(
      `update cost_cluster_hours c set priced_version = m.version, priced_at = $2::timestamptz, unpriced = m.unpriced
       from jsonb_to_recordset($1::jsonb) as m(cluster text, hour timestamptz, version bigint, unpriced jsonb)
       where c.cluster = m.cluster and c.hour = m.hour`,
      [JSON.stringify(marks), now.toISOString()],
    );
    outcome.hoursPriced += due.length;
    return pending.length;
  });
}

function pick(row: Omit<CostRow, "values"> | CostRow): Omit<CostRow, "values"> {
  return {
    cluster: row.cluster,
    hour: row.hour,
    location: row.location,
    region: row.region,
    business: row.business,
    environment: row.environment,
    currency: row.currency,
    kind: row.kind,
    payer: row.payer,
    namespace: row.namespace,
    workload: row.workload,
    labels: typeof row.labels === "string" ? JSON.parse(row.labels) : row.labels,
  };
}

/** Marks every retained hour of each Location whose books changed; returns those Locations. */
async function markChangedBooks(sql: Sql, books: readonly PriceBookLike[], cutoff: Date): Promise<string[]> {
  const byLocation = new Map<string, PriceBookLike[]>();
  for (const book of books) {
    const list = byLocation.get(book.spec.location) ?? [];
    list.push(book);
    byLocation.set(book.spec.location, list);
  }
  const known = await sql.query<{ location: string; digest: string }>(
    "select location, digest from cost_books",
  );
  const before = new Map(known.map((k) => [k.location, k.digest]));
  const none = booksDigest([]);
  const changed: string[] = [];
  for (const location of new Set([...byLocation.keys(), ...before.keys()])) {
    const digest = booksDigest(byLocation.get(location) ?? []);
    if ((before.get(location) ?? none) === digest) {
      if (!before.has(location))
        await sql.query("insert into cost_books (location, digest) values ($1, $2) on conflict do nothing", [
          location,
          digest,
        ]);
      continue;
    }
    await sql.transaction(async (tx) => {
      await tx.query(
        "update cost_cluster_hours set version = version + 1 where location = $1 and hour >= $2",
        [location, cutoff.toISOString()],
      );
      await tx.query(
        `insert into cost_books (location, digest) values ($1, $2)
         on conflict (location) do update set digest = excluded.digest`,
        [location, digest],
      );
    });
    changed.push(location);
  }
  return changed.sort();
}

/** Removes one batch of hourly rows older than `cutoff` from `table`; returns how many. */
async function removeBatch(
  sql: Sql,
  table: string,
  cutoff: Date,
  batch: number,
  extra = "",
): Promise<number> {
  const rows = await sql.query<{ removed: number }>(
    `with gone as (
       delete from ${table} where ctid in (
         select ctid from ${table} where hour < $1::timestamptz${extra} limit $2 for update skip locked)
       returning 1
     ) select count(*)::int as removed from gone`,
    [cutoff.toISOString(), batch],
  );
  return rows[0]?.removed ?? 0;
}

/** One pass: reprice Locations whose books changed, price every cluster-hour behind, drop expired hourly rows. */
export async function priceCostLedger(
  sql: Sql,
  books: readonly PriceBookLike[],
  options: PricingOptions,
): Promise<PricingOutcome> {
  const batch = options.batch ?? defaultBatch;
  const today = Math.floor(options.now.getTime() / dayMs) * dayMs;
  const cutoff = new Date(today - options.retentionDays * dayMs);
  const outcome: PricingOutcome = {
    locationsRepriced: await markChangedBooks(sql, books, cutoff),
    hoursPriced: 0,
    rowsWritten: 0,
    tooLate: 0,
    rowsRemoved: 0,
  };
  while (!options.signal?.aborted) {
    if ((await priceBatch(sql, books, options.now, cutoff, batch, outcome)) < batch) break;
  }
  const removeAll = async (table: string, extra = "") => {
    for (;;) {
      const removed = await removeBatch(sql, table, cutoff, 20_000, extra);
      outcome.rowsRemoved += removed;
      if (removed < 20_000 || options.signal?.aborted) return;
    }
  };
  const rowCutoff = new Date(today - (options.rowRetentionDays ?? 70) * dayMs);
  for (;;) {
    const removed = await removeBatch(
      sql,
      "cost_rows",
      rowCutoff,
      20_000,
      " and written_at < $1::timestamptz",
    );
    outcome.rowsRemoved += removed;
    if (removed < 20_000 || options.signal?.aborted) break;
  }
  await removeAll("cost_payer_hours");
  await removeAll("cost_cluster_hours", " and version = priced_version");
  return outcome;
}

export interface CostPricingOptions {
  sql: Sql;
  books: () => Promise<PriceBookLike[]>;
  log: Log;
  /** Days of hourly rows kept (default 35, as the usage ledger's). */
  retentionDays?: number;
  /** How often a pass runs (default every 10 s: a reported hour is in `unitfleet cost` within seconds). */
  everyMs?: number;
  clock?: Clock;
}

/** The pricing pass as a leader-only runnable, for the hub's Manager. */
export function costPricing(options: CostPricingOptions): Runnable {
  const clock = options.clock ?? systemClock;
  return periodic({
    name: "cost-pricing",
    leaderOnly: true,
    everyMs: options.everyMs ?? 10_000,
    log: options.log,
    clock,
    work: async (signal) => {
      const outcome = await priceCostLedger(options.sql, await options.books(), {
        retentionDays: options.retentionDays ?? 35,
        now: new Date(clock.now()),
        signal,
      });
      if (outcome.tooLate > 0)
        options.log({
          level: "warn",
          msg: "usage arrived after the hourly retention and was not priced",
          clusterHours: outcome.tooLate,
        });
      if (outcome.hoursPriced > 0 || outcome.rowsRemoved > 0 || outcome.locationsRepriced.length > 0)
        options.log({ level: "info", msg: "cost priced", ...outcome });
    },
  });
}
