/**
 * PriceBook (`unitfleet.io/v1alpha1`, issue 14): what things cost in one Location, and from when. A book names its
 * Location and currency and lists **periods**; each period holds from its `from` (an hour, UTC) until the next
 * period's `from`, and the last one holds until a later period is added. A period is the whole price list of its
 * time: node prices per instance type, unit prices (per core-hour, GiB-hour, GPU-hour), storage per GiB-month of
 * each storage class, and a price per LoadBalancer Service-hour. What a period leaves out has no price in it, so
 * an empty period ends the book's prices.
 *
 * Prices are decimal strings in the currency ("0.0316"), converted exactly to integer micro-units (1 EUR =
 * 1,000,000): at most six decimals, never negative, never a float. The lookup (`priceAt`) gives the prices that
 * held at an hour, never a later one, so that adding a period never reprices hours before its `from`.
 *
 * **Overlapping books.** A Location may have several books (one for nodes, one for storage…). Two books of one
 * Location overlap when, at some hour, both hold a non-empty period and either (a) their currencies differ (a
 * Location bills in one currency at a time), or (b) both price the same thing — an instance type, the unit
 * prices, a storage class or LoadBalancers — at different prices. Such a book is refused; the same price twice
 * is allowed (the lookup is not ambiguous). `priceBookConflicts` reports each at the newer book's field path.
 *
 * Pure: no clock; hours come in as arguments.
 */
import { z } from "zod";
import { dns1123Label } from "../validation/names.ts";
import { fieldPath, type Problem } from "../validation/problems.ts";
import { checkedString, dnsName, labelValue } from "../validation/zod-fields.ts";
import { type HourStart, microUnits } from "./usage.ts";

/**
 * The circulating currencies of ISO 4217 (as of 2026; fund and precious-metal codes such as XAU or CHE are left
 * out: nobody is billed in them).
 */
export const currencies: ReadonlySet<string> = new Set(
  (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF " +
    "CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL " +
    "HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD " +
    "MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG " +
    "QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD " +
    "TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"
  ).split(" "),
);

/** The largest price accepted, in units of the currency: far above any real hourly or monthly price. */
const maxPrice = 1_000_000_000;
const decimalPattern = /^(\d+)(?:\.(\d+))?$/;

/** A price in integer micro-units, or why the text is not one. */
export function parsePrice(text: string): { ok: true; micros: number } | { ok: false; reason: string } {
  const trimmed = text.trim();
  if (/^-\s*\d/.test(trimmed)) return { ok: false, reason: `"${text}" must not be negative` };
  const match = decimalPattern.exec(trimmed);
  if (!match)
    return {
      ok: false,
      reason: `"${text}" must be a decimal number such as "0.0316" (digits, one optional point)`,
    };
  const [, whole, fraction = ""] = match;
  if (fraction.length > 6)
    return {
      ok: false,
      reason: `"${text}" has ${fraction.length} decimals; at most 6 are kept (prices are whole micro-units)`,
    };
  if (Number(whole) > maxPrice) return { ok: false, reason: `"${text}" must be at most ${maxPrice}` };
  return { ok: true, micros: Number(whole) * microUnits + Number(fraction.padEnd(6, "0")) };
}

const datePattern = /^(\d{4})-(\d{2})-(\d{2})$/;
const timestampPattern =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * When a period starts, in milliseconds since the epoch: `2026-11-01` (midnight UTC) or an RFC 3339 time
 * (`2026-11-01T06:00:00Z`, `2026-11-01T07:00:00+01:00`) that falls on a whole hour in UTC — the ledger prices
 * whole hours, so a price cannot change in the middle of one.
 */
export function parseEffectiveTime(text: string): { ok: true; ms: number } | { ok: false; reason: string } {
  const bad = {
    ok: false as const,
    reason: `"${text}" must be a date (2026-11-01, midnight UTC) or an RFC 3339 time (2026-11-01T06:00:00Z)`,
  };
  const date = datePattern.exec(text);
  const time = date ? undefined : timestampPattern.exec(text);
  const parts = date ?? time;
  if (!parts) return bad;
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const [hour, minute, second] = time ? [Number(time[4]), Number(time[5]), Number(time[6])] : [0, 0, 0];
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    check.getUTCHours() !== hour ||
    check.getUTCMinutes() !== minute ||
    check.getUTCSeconds() !== second
  )
    return { ok: false, reason: `"${text}" is not a real date and time` };
  let ms = local;
  if (time?.[9]) {
    const [offsetHours, offsetMinutes] = [Number(time[10]), Number(time[11])];
    if (offsetHours > 23 || offsetMinutes > 59) return bad;
    ms -= (time[9] === "+" ? 1 : -1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  const fraction = time?.[7] ?? "";
  if (ms % 3_600_000 !== 0 || /[1-9]/.test(fraction))
    return { ok: false, reason: `"${text}" must fall on a whole hour in UTC: prices change between hours` };
  return { ok: true, ms };
}

/** An hour as the ledger writes it: `2026-11-01T06:00:00Z`. */
function hourText(ms: number): HourStart {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

const price = checkedString((v) => {
  const parsed = parsePrice(v);
  return parsed.ok ? undefined : parsed.reason;
});

/** A StorageClass name: a DNS subdomain (dot-separated DNS labels, at most 253 characters). */
const storageClassName = checkedString((v) => {
  if (v.length > 253) return `must be at most 253 characters (has ${v.length})`;
  if (!v.split(".").every((label) => dns1123Label.test(label)))
    return `"${v}" must be a DNS subdomain: lower case letters, digits, '-' and '.', each part starting and ending with a letter or digit`;
  return undefined;
});

const unitPrices = z
  .strictObject({
    cpuPerCoreHour: price.describe("Price of one cpu core (1000m of allocatable) for one hour."),
    memoryPerGiBHour: price.describe("Price of one GiB (2^30 bytes) of allocatable memory for one hour."),
    gpuPerDeviceHour: price
      .optional()
      .describe(
        "Price of one nvidia.com/gpu device for one hour; a node with GPUs and no such price is unpriced.",
      ),
  })
  .describe("Prices per unit of allocatable, for nodes whose instance type has no price of its own.");

const pricePeriod = z
  .strictObject({
    from: checkedString((v) => {
      const parsed = parseEffectiveTime(v);
      return parsed.ok ? undefined : parsed.reason;
    }).describe("When this period starts: a date (midnight UTC) or an RFC 3339 time on a whole hour."),
    nodes: z
      .array(
        z.strictObject({
          instanceType: labelValue.describe(
            "node.kubernetes.io/instance-type of the nodes this price is for.",
          ),
          perHour: price.describe("Price of one such node for one hour."),
        }),
      )
      .max(1000)
      .optional()
      .describe("Whole-node prices per instance type: they win over unit prices."),
    units: unitPrices.optional(),
    storage: z
      .array(
        z.strictObject({
          storageClass: storageClassName.describe("The StorageClass of the claims."),
          perGiBMonth: price.describe("Price of one GiB of requested claim size for one month."),
        }),
      )
      .max(1000)
      .optional()
      .describe("Prices of persistent volume claims per storage class."),
    loadBalancerPerHour: price.optional().describe("Price of one Service of type LoadBalancer for one hour."),
  })
  .describe("The whole price list from `from` until the next period's `from`.");

export const priceBookSpec = z
  .strictObject({
    location: dnsName.describe("The Location whose clusters these prices are for."),
    currency: checkedString((v) =>
      currencies.has(v) ? undefined : `"${v}" is not an ISO 4217 currency code (e.g. EUR, USD, SGD)`,
    ).describe("The ISO 4217 code of every price in the book, e.g. EUR."),
    prices: z
      .array(pricePeriod)
      .min(1)
      .max(500)
      .describe("Periods of prices; each holds from its `from` until the next one's."),
  })
  .superRefine((spec, ctx) => {
    const seen = new Map<number, number>();
    spec.prices.forEach((period, i) => {
      const from = parseEffectiveTime(period.from);
      if (!from.ok) return;
      const earlier = seen.get(from.ms);
      if (earlier !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["prices", i, "from"],
          message: `starts at the same hour (${hourText(from.ms)}) as prices[${earlier}]: each period needs a \`from\` of its own`,
        });
      else seen.set(from.ms, i);
      const duplicates = (names: string[], list: string, field: string) =>
        names.forEach((name, j) => {
          const first = names.indexOf(name);
          if (first !== j)
            ctx.addIssue({
              code: "custom",
              path: ["prices", i, list, j, field],
              message: `"${name}" is priced twice in this period (also ${list}[${first}])`,
            });
        });
      duplicates(
        (period.nodes ?? []).map((n) => n.instanceType),
        "nodes",
        "instanceType",
      );
      duplicates(
        (period.storage ?? []).map((s) => s.storageClass),
        "storage",
        "storageClass",
      );
    });
  })
  .describe("What things cost in one Location, and from when. A Location may have several books.");

export type PriceBookSpec = z.infer<typeof priceBookSpec>;
type PricePeriod = PriceBookSpec["prices"][number];

/** A PriceBook as the registry holds it: its name and valid spec. */
export interface PriceBookLike {
  metadata: { name: string };
  spec: PriceBookSpec;
}

/** One thing a period prices, in integer micro-units, with where it is written. */
interface PricedItem {
  /** `node:m6.xlarge`, `units`, `storage:standard`, `loadBalancer`. */
  key: string;
  /** What the item is, for messages. */
  what: string;
  /** The price(s), comparable: unit prices as "cpu/memory/gpu". */
  value: string;
  path: Array<string | number>;
}

const micros = (text: string) => {
  const parsed = parsePrice(text);
  if (!parsed.ok) throw new Error(`an invalid price was stored: ${parsed.reason}`);
  return parsed.micros;
};

function pricedItems(period: PricePeriod, index: number): PricedItem[] {
  const at = (...rest: Array<string | number>) => ["spec", "prices", index, ...rest];
  const items: PricedItem[] = [];
  for (const [j, n] of (period.nodes ?? []).entries())
    items.push({
      key: `node:${n.instanceType}`,
      what: `instance type ${n.instanceType}`,
      value: String(micros(n.perHour)),
      path: at("nodes", j, "perHour"),
    });
  if (period.units)
    items.push({
      key: "units",
      what: "unit prices",
      value: [period.units.cpuPerCoreHour, period.units.memoryPerGiBHour, period.units.gpuPerDeviceHour]
        .map((p) => (p === undefined ? "-" : micros(p)))
        .join("/"),
      path: at("units"),
    });
  for (const [j, c] of (period.storage ?? []).entries())
    items.push({
      key: `storage:${c.storageClass}`,
      what: `storage class ${c.storageClass}`,
      value: String(micros(c.perGiBMonth)),
      path: at("storage", j, "perGiBMonth"),
    });
  if (period.loadBalancerPerHour !== undefined)
    items.push({
      key: "loadBalancer",
      what: "LoadBalancers",
      value: String(micros(period.loadBalancerPerHour)),
      path: at("loadBalancerPerHour"),
    });
  return items;
}

/** A book's periods in time order, each with its start, its end (undefined: open) and its index in the spec. */
function timeline(spec: PriceBookSpec): Array<{ start: number; end: number | undefined; index: number }> {
  const starts = spec.prices
    .map((p, index) => ({ start: (parseEffectiveTime(p.from) as { ms: number }).ms, index }))
    .sort((a, b) => a.start - b.start);
  return starts.map((s, i) => ({ ...s, end: starts[i + 1]?.start }));
}

const isEmpty = (p: PricePeriod) =>
  !p.nodes?.length && !p.units && !p.storage?.length && p.loadBalancerPerHour === undefined;

/**
 * The ways `book` overlaps other books of its Location (see the module comment), each at `book`'s field path,
 * naming the other book and its period. `others` may include `book` itself (same name): it is skipped.
 */
export function priceBookConflicts(book: PriceBookLike, others: readonly PriceBookLike[]): Problem[] {
  const problems = new Map<string, Problem>();
  const mine = timeline(book.spec);
  for (const other of others) {
    if (other.metadata.name === book.metadata.name || other.spec.location !== book.spec.location) continue;
    const theirs = timeline(other.spec);
    for (const a of mine) {
      const periodA = book.spec.prices[a.index]!;
      if (isEmpty(periodA)) continue;
      for (const b of theirs) {
        const periodB = other.spec.prices[b.index]!;
        if (isEmpty(periodB)) continue;
        const start = Math.max(a.start, b.start);
        const end = Math.min(a.end ?? Number.POSITIVE_INFINITY, b.end ?? Number.POSITIVE_INFINITY);
        if (start >= end) continue;
        const theirPeriod = `PriceBook "${other.metadata.name}" (its prices[${b.index}], from ${hourText(b.start)})`;
        if (other.spec.currency !== book.spec.currency) {
          const path = fieldPath(["spec", "currency"]);
          problems.set(path, {
            path,
            message: `${book.spec.currency} differs from ${other.spec.currency} of ${theirPeriod}, which prices Location "${book.spec.location}" at the same hours: a Location bills in one currency at a time`,
          });
          continue;
        }
        const theirItems = new Map(pricedItems(periodB, b.index).map((item) => [item.key, item]));
        for (const item of pricedItems(periodA, a.index)) {
          const clash = theirItems.get(item.key);
          if (!clash || clash.value === item.value) continue;
          const path = fieldPath(item.path);
          problems.set(path, {
            path,
            message: `${theirPeriod} prices ${item.what} differently from ${hourText(start)}: two books of one Location may not give one thing two prices at the same hour`,
          });
        }
      }
    }
  }
  return [...problems.values()];
}

/** The prices that held in one Location at one hour, in integer micro-units of `currency`. */
export interface ResolvedPrices {
  location: string;
  hour: HourStart;
  currency: string;
  /** The books that gave these prices, by name. */
  books: string[];
  /** Price of one node per hour, by instance type. */
  nodesPerHour: Record<string, number>;
  /** Unit prices, when a book has them at that hour. */
  units?: { cpuPerCoreHour: number; memoryPerGiBHour: number; gpuPerDeviceHour?: number };
  /** Price of one GiB of claim per month (not per hour), by storage class. */
  storagePerGiBMonth: Record<string, number>;
  /** Price of one LoadBalancer Service per hour. */
  loadBalancerPerHour?: number;
}

/**
 * The prices that held in `location` at `hour` (the start of an hour, UTC): from each book of the Location, the
 * period whose `from` is the latest at or before that hour — never a later period, so a price added today does
 * not reprice yesterday. Undefined when no book of the Location prices anything at that hour. Books are read in
 * name order; a valid registry holds no conflicting books (see `priceBookConflicts`), so the order only decides
 * between equal prices.
 */
export function priceAt(
  books: readonly PriceBookLike[],
  location: string,
  hour: HourStart,
): ResolvedPrices | undefined {
  const at = Date.parse(hour);
  if (Number.isNaN(at)) throw new Error(`priceAt: "${hour}" is not a time`);
  let resolved: ResolvedPrices | undefined;
  const ordered = books
    .filter((b) => b.spec.location === location)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const book of ordered) {
    const held = timeline(book.spec).find((p) => p.start <= at && (p.end === undefined || at < p.end));
    if (!held) continue;
    const period = book.spec.prices[held.index]!;
    if (isEmpty(period)) continue;
    resolved ??= {
      location,
      hour,
      currency: book.spec.currency,
      books: [],
      nodesPerHour: {},
      storagePerGiBMonth: {},
    };
    if (book.spec.currency !== resolved.currency) continue;
    resolved.books.push(book.metadata.name);
    for (const n of period.nodes ?? []) resolved.nodesPerHour[n.instanceType] ??= micros(n.perHour);
    if (period.units && !resolved.units)
      resolved.units = {
        cpuPerCoreHour: micros(period.units.cpuPerCoreHour),
        memoryPerGiBHour: micros(period.units.memoryPerGiBHour),
        ...(period.units.gpuPerDeviceHour !== undefined
          ? { gpuPerDeviceHour: micros(period.units.gpuPerDeviceHour) }
          : {}),
      };
    for (const s of period.storage ?? [])
      resolved.storagePerGiBMonth[s.storageClass] ??= micros(s.perGiBMonth);
    if (period.loadBalancerPerHour !== undefined)
      resolved.loadBalancerPerHour ??= micros(period.loadBalancerPerHour);
  }
  return resolved;
}

/** A node to price: its instance type when it has one, and its allocatable at one moment. */
export interface NodeToPrice {
  instanceType?: string;
  /** Millicores, bytes and whole devices (nvidia.com/gpu). */
  allocatable: { cpu: number; memory: number; gpu: number };
}

/**
 * What one node costs for one hour, in micro-units: the whole-node price of its instance type, else the sum of
 * its allocatable at unit prices (each part rounded half up to a micro-unit, the parts adding up to the whole);
 * else no price, and why.
 */
export type NodeQuote =
  | { basis: "instanceType"; instanceType: string; perHour: number }
  | { basis: "units"; perHour: number; parts: { cpu: number; memory: number; gpu: number } }
  | { basis: undefined; perHour: undefined; reason: string };

const gib = 2n ** 30n;

/** `amount × price / per`, rounded half up, in BigInt so that large memory sizes stay exact. */
function scaled(amount: number, price: number, per: bigint): number {
  const numerator = BigInt(Math.round(amount)) * BigInt(price);
  return Number((numerator * 2n + per) / (2n * per));
}

/**
 * Prices one node for one hour from the prices that held then (see `NodeQuote`); hour-prices.ts turns quotes
 * into the allocation's `NodePrice`.
 */
export function nodePrice(prices: ResolvedPrices | undefined, node: NodeToPrice): NodeQuote {
  const type = node.instanceType ? `instance type "${node.instanceType}"` : "a node without an instance type";
  if (!prices)
    return {
      basis: undefined,
      perHour: undefined,
      reason: "no PriceBook of its Location holds a price at that hour",
    };
  const where = `the PriceBooks of Location "${prices.location}" at ${prices.hour} (${prices.books.join(", ")})`;
  if (node.instanceType !== undefined && prices.nodesPerHour[node.instanceType] !== undefined)
    return {
      basis: "instanceType",
      instanceType: node.instanceType,
      perHour: prices.nodesPerHour[node.instanceType]!,
    };
  if (!prices.units)
    return {
      basis: undefined,
      perHour: undefined,
      reason: `${type} has no price in ${where}, and they have no unit prices`,
    };
  if (node.allocatable.gpu > 0 && prices.units.gpuPerDeviceHour === undefined)
    return {
      basis: undefined,
      perHour: undefined,
      reason: `${type} has ${node.allocatable.gpu} GPUs and ${where} have no gpuPerDeviceHour`,
    };
  const parts = {
    cpu: scaled(node.allocatable.cpu, prices.units.cpuPerCoreHour, 1000n),
    memory: scaled(node.allocatable.memory, prices.units.memoryPerGiBHour, gib),
    gpu: node.allocatable.gpu > 0 ? scaled(node.allocatable.gpu, prices.units.gpuPerDeviceHour!, 1n) : 0,
  };
  return { basis: "units", perHour: parts.cpu + parts.memory + parts.gpu, parts };
}
