/**
 * The fleet's cost as a FinOps FOCUS 1.3 Cost and Usage dataset (issue 14, docs/metering.md "FOCUS export"): the
 * divided rows of each priced cluster-hour (allocation.ts) become FOCUS rows, one per workload and per idle
 * resource, and the rows become CSV (RFC 4180). In FOCUS's words each cluster-hour — its nodes, volumes and
 * LoadBalancers — is an origin charge, and our rows are its allocated charges, a data generator-calculated split
 * cost allocation: dimensions (ResourceId, Tags, SubAccountId…) are the cluster's, costs and PricingQuantity add up
 * to the cluster-hour's, and the split columns (AllocatedMethodId, AllocatedResourceId, AllocatedTags…) say who
 * each part went to and by which rule. Our own columns come last, prefixed `x_`.
 *
 * Money is written exactly from integer micro-units (up to six decimals), times as ISO 8601 UTC. Pure: the caller
 * brings the priced hours, the billing period and who issues the bill.
 */
import type { Problem, Validated } from "../validation/problems.ts";
import {
  type Allocation,
  type AllocationRow,
  type AllocationRules,
  idleNamespace,
  type NodeResource,
  payerName,
} from "./allocation.ts";
import { divideByLargestRemainder } from "./money.ts";
import { bytesPerGiB, minutesPerHour } from "./node-cost.ts";

/** The FOCUS version the export follows. */
export const focusVersion = "1.3";

/** A FOCUS data type, as the specification names it. */
export type FocusType = "Decimal" | "DateTime" | "String" | "JSON";

/** How the specification requires a column: always, when a feature applies, as advice, or our own (`x_`). */
export type FocusLevel = "Mandatory" | "Conditional" | "Recommended" | "Custom";

export interface FocusColumn {
  name: string;
  type: FocusType;
  level: FocusLevel;
  /** Whether the column may be empty on some rows. */
  nullable: boolean;
}

const column = (name: string, type: FocusType, level: FocusLevel, nullable = false): FocusColumn => ({
  name,
  type,
  level,
  nullable,
});

/**
 * The columns in the order written: FOCUS 1.3's mandatory columns (ProviderName and PublisherName are deprecated in
 * 1.3 in favour of ServiceProviderName and HostProviderName, and still mandatory), the conditional and recommended
 * ones that apply to a Kubernetes fleet, then ours.
 */
export const focusColumns: readonly FocusColumn[] = Object.freeze([
  column("BilledCost", "Decimal", "Mandatory"),
  column("BillingAccountId", "String", "Mandatory"),
  column("BillingAccountName", "String", "Mandatory"),
  column("BillingCurrency", "String", "Mandatory"),
  column("BillingPeriodEnd", "DateTime", "Mandatory"),
  column("BillingPeriodStart", "DateTime", "Mandatory"),
  column("ChargeCategory", "String", "Mandatory"),
  column("ChargeClass", "String", "Mandatory", true),
  column("ChargeDescription", "String", "Mandatory"),
  column("ChargePeriodEnd", "DateTime", "Mandatory"),
  column("ChargePeriodStart", "DateTime", "Mandatory"),
  column("ContractedCost", "Decimal", "Mandatory"),
  column("EffectiveCost", "Decimal", "Mandatory"),
  column("HostProviderName", "String", "Mandatory"),
  column("InvoiceIssuerName", "String", "Mandatory"),
  column("ListCost", "Decimal", "Mandatory"),
  column("PricingQuantity", "Decimal", "Mandatory"),
  column("PricingUnit", "String", "Mandatory"),
  column("ProviderName", "String", "Mandatory"),
  column("PublisherName", "String", "Mandatory"),
  column("ServiceCategory", "String", "Mandatory"),
  column("ServiceName", "String", "Mandatory"),
  column("ServiceProviderName", "String", "Mandatory"),
  column("AllocatedMethodId", "String", "Conditional", true),
  column("AllocatedMethodDetails", "JSON", "Recommended", true),
  column("AllocatedResourceId", "String", "Conditional", true),
  column("AllocatedResourceName", "String", "Conditional", true),
  column("AllocatedTags", "JSON", "Conditional", true),
  column("ChargeFrequency", "String", "Recommended"),
  column("RegionId", "String", "Conditional"),
  column("RegionName", "String", "Conditional"),
  column("ResourceId", "String", "Conditional"),
  column("ResourceName", "String", "Conditional"),
  column("ResourceType", "String", "Conditional"),
  column("ServiceSubcategory", "String", "Recommended"),
  column("SubAccountId", "String", "Conditional"),
  column("SubAccountName", "String", "Conditional"),
  column("Tags", "JSON", "Conditional"),
  column("x_Location", "String", "Custom"),
  column("x_Region", "String", "Custom", true),
  column("x_Cluster", "String", "Custom"),
  column("x_Environment", "String", "Custom"),
  column("x_Namespace", "String", "Custom"),
  column("x_Workload", "String", "Custom"),
  column("x_Payer", "String", "Custom"),
  column("x_RowKind", "String", "Custom"),
]);

/** One FOCUS row: every column of `focusColumns`, `null` where the row has no value. */
export type FocusRow = Record<string, string | null>;

/** Who bills: the platform team that runs the fleet. */
export interface FocusIssuer {
  /** ServiceProviderName, ProviderName, PublisherName: who makes the clusters available. */
  provider: string;
  /** HostProviderName: whose infrastructure the clusters run on (the provider itself when it is not known). */
  host: string;
  /** InvoiceIssuerName: who sends the bill. */
  invoiceIssuer: string;
  billingAccountId: string;
  billingAccountName: string;
}

/** Where a cluster is and who owns it (src/hub/metering/cost-query.ts `ClusterPlace`). */
export interface FocusPlace {
  cluster: string;
  location: string;
  region: string | null;
  business: string;
  environment: string;
}

/**
 * One priced and divided cluster-hour, in micro-units of `currency`: its rows and their total. A `correction`
 * holds, for an hour of an earlier billing period, the differences from what was billed then (negative when the
 * cost went down): its rows are written with ChargeClass `Correction` and a PricingQuantity of 0.
 */
export interface FocusClusterHour {
  place: FocusPlace;
  currency: string;
  allocation: Pick<Allocation, "hour" | "rows" | "totalCost">;
  correction?: boolean;
}

/** A billing period, `start` included, `end` excluded. */
export interface BillingPeriod {
  start: Date;
  end: Date;
}

/** Reads a billing month, `2026-11`: from its first day to the first of the next, UTC. */
export function billingMonth(text: string, field = "month"): Validated<BillingPeriod> {
  const match = /^(\d{4})-(\d{2})$/.exec(text);
  const month = match ? Number(match[2]) : 0;
  if (!match || month < 1 || month > 12) {
    const problem: Problem = {
      path: field,
      message: `must be a month as YYYY-MM (2026-11), got ${JSON.stringify(text)}`,
    };
    return { ok: false, problems: [problem] };
  }
  const year = Number(match[1]);
  return {
    ok: true,
    value: { start: new Date(Date.UTC(year, month - 1, 1)), end: new Date(Date.UTC(year, month, 1)) },
  };
}

/**
 * Days after a billing month's end at which it closes: what the ledger holds for its hours by then is the month's
 * bill; what is written for them later is a correction, billed in the month during which it is written.
 */
export const defaultCloseAfterDays = 2;

/** When a billing period closes: `closeAfterDays` after its end. */
export function periodClose(period: BillingPeriod, closeAfterDays = defaultCloseAfterDays): Date {
  return new Date(period.end.getTime() + closeAfterDays * 86_400_000);
}

/** Micro-units as an exact decimal with no trailing zeros: 1_234_500 → "1.2345", 0 → "0", -5 → "-0.000005". */
export function decimalFromMicros(micros: number | bigint): string {
  const value = BigInt(micros);
  const sign = value < 0n ? "-" : "";
  const magnitude = value < 0n ? -value : value;
  const whole = magnitude / 1_000_000n;
  const fraction = (magnitude % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "");
  return `${sign}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** `2026-11-01T00:00:00Z`: ISO 8601 in UTC, to the second. */
export function focusDateTime(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** The AllocatedMethodId of a set of rules; docs/metering.md documents each. */
export function allocatedMethodId(rules: Pick<AllocationRules, "idle" | "sharedSplit">): string {
  return `unitfleet-v1-idle-${rules.idle}-shared-${rules.sharedSplit}`;
}

/** Tag keys the data generator defines are prefixed so that they never collide with a workload's labels. */
const tagPrefix = "unitfleet.io/";

const hourMs = 3_600_000;
const microsPerHour = 1_000_000n;

type CostPart = NodeResource | "storage" | "loadBalancer";

/** How much of a row's part was used, in the unit FOCUS readers know. */
function quantityOf(row: AllocationRow, part: CostPart): { unit: string; quantity: number } {
  const perHour = (amount: number, per: number) => amount / per / minutesPerHour;
  const amount = (resource: NodeResource) =>
    row.kind === "idle" ? (row.resource === resource ? (row.unallocated ?? 0) : 0) : row[resource].allocated;
  switch (part) {
    case "cpu":
      return { unit: "Core-Hours", quantity: perHour(amount("cpu"), 1000) };
    case "memory":
      return { unit: "GiB-Hours", quantity: perHour(amount("memory"), bytesPerGiB) };
    case "gpu":
      return { unit: "GPU-Hours", quantity: perHour(amount("gpu"), 1) };
    case "storage":
      return { unit: "GiB-Hours", quantity: perHour(row.storage, bytesPerGiB) };
    case "loadBalancer":
      return { unit: "Hours", quantity: perHour(row.loadBalancers, 1) };
  }
}

const costOf = (row: AllocationRow, part: CostPart): number =>
  part === "cpu"
    ? row.cpuCost
    : part === "memory"
      ? row.memoryCost
      : part === "gpu"
        ? row.gpuCost
        : part === "storage"
          ? row.storageCost
          : row.loadBalancerCost;

const costParts: readonly CostPart[] = ["cpu", "memory", "gpu", "storage", "loadBalancer"];

/**
 * AllocatedMethodDetails: one element per part of the row's cost (cpu, memory, gpu, storage, LoadBalancers) with
 * its ratio of the cluster-hour's cost and the amount allocated; what of the cost came from idle or from shared
 * namespaces, and what a shared workload passed on, as `x_` properties in currency units.
 */
function methodDetails(row: AllocationRow, hourTotal: number): string {
  const elements = costParts
    .filter((part) => costOf(row, part) > 0 || quantityOf(row, part).quantity > 0)
    .map((part) => {
      const { unit, quantity } = quantityOf(row, part);
      return {
        AllocatedRatio: hourTotal > 0 ? costOf(row, part) / hourTotal : 0,
        UsageUnit: unit,
        UsageQuantity: quantity,
        x_Resource: part,
      };
    });
  const details: Record<string, unknown> = {
    Elements: elements.length > 0 ? elements : [{ AllocatedRatio: 0 }],
  };
  if (row.idleIncluded > 0) details.x_IdleIncluded = decimalFromMicros(row.idleIncluded);
  if (row.sharedIncluded > 0) details.x_SharedIncluded = decimalFromMicros(row.sharedIncluded);
  if (row.sharedSpread > 0) details.x_SharedSpread = decimalFromMicros(row.sharedSpread);
  return JSON.stringify(details);
}

const describeParts = (row: AllocationRow) =>
  costParts
    .filter((part) => costOf(row, part) > 0)
    .map((part) => (part === "loadBalancer" ? "LoadBalancers" : part))
    .join(", ") || "no cost";

function describe(row: AllocationRow, cluster: string): string {
  if (row.kind === "idle") return `Idle ${row.resource} of Kubernetes cluster ${cluster} for one hour`;
  const what = row.kind === "shared" ? "Shared workload" : "Workload";
  const extras = [
    row.idleIncluded > 0 ? "idle shared in" : "",
    row.sharedIncluded > 0 ? "shared namespaces' cost spread in" : "",
    row.kind === "shared" && row.sharedSpread > 0 ? "its cost spread over the other workloads" : "",
  ].filter(Boolean);
  return `${what} ${row.namespace}/${row.workload} on Kubernetes cluster ${cluster} for one hour: ${describeParts(row)}${
    extras.length > 0 ? ` (${extras.join("; ")})` : ""
  }`;
}

/**
 * The FOCUS rows of priced cluster-hours for one billing period: one per workload row and idle row of each
 * cluster-hour, in hour then cluster order, the rows of a cluster-hour in the allocation's order. Each row's
 * BilledCost = EffectiveCost = ListCost = ContractedCost = its total cost (price books carry no discounts); the
 * PricingQuantity of a cluster-hour's rows (unit `Hours`) is that hour divided in proportion to their cost, to the
 * millionth, adding up to exactly 1. A cluster-hour outside the period is refused (its path is its index).
 */
export function focusRows(
  hours: readonly FocusClusterHour[],
  period: BillingPeriod,
  issuer: FocusIssuer,
  rules: Pick<AllocationRules, "idle" | "sharedSplit">,
): Validated<FocusRow[]> {
  const problems: Problem[] = [];
  hours.forEach((hour, i) => {
    const at = Date.parse(hour.allocation.hour);
    if (hour.correction) {
      if (!(at + hourMs <= period.start.getTime()))
        problems.push({
          path: `[${i}].allocation.hour`,
          message: `a correction's hour ${hour.allocation.hour} must be before the billing period ${focusDateTime(period.start)}`,
        });
    } else if (!(at >= period.start.getTime() && at + hourMs <= period.end.getTime()))
      problems.push({
        path: `[${i}].allocation.hour`,
        message: `${hour.allocation.hour} is outside the billing period ${focusDateTime(period.start)} to ${focusDateTime(period.end)}`,
      });
  });
  if (problems.length > 0) return { ok: false, problems };

  const ordered = [...hours].sort(
    (a, b) =>
      Number(a.correction ?? false) - Number(b.correction ?? false) ||
      Date.parse(a.allocation.hour) - Date.parse(b.allocation.hour) ||
      (a.place.cluster < b.place.cluster ? -1 : a.place.cluster > b.place.cluster ? 1 : 0),
  );
  const method = allocatedMethodId(rules);
  const rows: FocusRow[] = [];
  for (const { place, currency, allocation, correction } of ordered) {
    const start = new Date(Date.parse(allocation.hour));
    const common = {
      BillingAccountId: issuer.billingAccountId,
      BillingAccountName: issuer.billingAccountName,
      BillingCurrency: currency,
      BillingPeriodEnd: focusDateTime(period.end),
      BillingPeriodStart: focusDateTime(period.start),
      ChargeCategory: "Usage",
      ChargeClass: correction ? "Correction" : null,
      ChargePeriodEnd: focusDateTime(new Date(start.getTime() + hourMs)),
      ChargePeriodStart: focusDateTime(start),
      HostProviderName: issuer.host,
      InvoiceIssuerName: issuer.invoiceIssuer,
      PricingUnit: "Hours",
      ProviderName: issuer.provider,
      PublisherName: issuer.provider,
      ServiceCategory: "Compute",
      ServiceName: "Kubernetes",
      ServiceProviderName: issuer.provider,
      AllocatedMethodId: method,
      ChargeFrequency: "Usage-Based",
      RegionId: place.region ?? place.location,
      RegionName: place.region ?? place.location,
      ResourceId: `${tagPrefix}clusters/${place.cluster}`,
      ResourceName: place.cluster,
      ResourceType: "Kubernetes Cluster",
      ServiceSubcategory: "Containers",
      SubAccountId: place.business,
      SubAccountName: place.business,
      Tags: JSON.stringify({
        [`${tagPrefix}location`]: place.location,
        ...(place.region ? { [`${tagPrefix}region`]: place.region } : {}),
        [`${tagPrefix}cluster`]: place.cluster,
        [`${tagPrefix}business`]: place.business,
        [`${tagPrefix}environment`]: place.environment,
      }),
      x_Location: place.location,
      x_Region: place.region,
      x_Cluster: place.cluster,
      x_Environment: place.environment,
    };
    // The hour (1,000,000 micro-hours) divided by cost; evenly when the hour cost nothing.
    const weights = allocation.rows.map((row) => ({
      key: `${row.namespace}/${row.workload}`,
      weight: BigInt(row.totalCost),
    }));
    const quantities =
      divideByLargestRemainder(microsPerHour, weights) ??
      divideByLargestRemainder(
        microsPerHour,
        weights.map((w) => ({ key: w.key, weight: 1n })),
      ) ??
      [];
    allocation.rows.forEach((row, i) => {
      const cost = decimalFromMicros(row.totalCost);
      const idle = row.kind === "idle";
      rows.push({
        ...common,
        BilledCost: cost,
        ChargeDescription: describe(row, place.cluster),
        ContractedCost: cost,
        EffectiveCost: cost,
        ListCost: cost,
        PricingQuantity: correction ? "0" : decimalFromMicros(quantities[i] ?? 0n),
        AllocatedMethodDetails: methodDetails(row, allocation.totalCost),
        AllocatedResourceId: idle ? null : `${row.namespace}/${row.workload}`,
        AllocatedResourceName: idle ? null : `${row.namespace}/${row.workload}`,
        AllocatedTags: idle
          ? null
          : JSON.stringify({
              ...row.labels,
              [`${tagPrefix}namespace`]: row.namespace,
              [`${tagPrefix}workload`]: row.workload,
            }),
        x_Namespace: row.namespace,
        x_Workload: row.workload,
        x_Payer: idle ? idleNamespace : payerName(row.payer),
        x_RowKind: row.kind,
      });
    });
  }
  return { ok: true, value: rows };
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; null is empty. */
function csvField(value: string | null): string {
  if (value === null) return "";
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The rows as CSV (RFC 4180): a header of `focusColumns`' names, then one line per row, CRLF line breaks. */
export function focusCsv(rows: readonly FocusRow[]): string {
  const names = focusColumns.map((c) => c.name);
  const lines = [names.join(",")];
  for (const row of rows) lines.push(names.map((name) => csvField(row[name] ?? null)).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
