/**
 * PriceBooks on a real hub in this process (embedded store): bad books refused whole, each problem with its field
 * path and nothing stored; overlapping books of one Location refused whether applied together or one after the
 * other; a Location kept while a book prices it; `unitfleet get pricebooks` printing its columns.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { readEnvironment } from "../../src/config/environment.ts";
import { priceAt } from "../../src/core/metering/price-book.ts";
import { kinds, type PriceBook } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { refusal } from "../support/refusal.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
let home: string;
let hub: RunningHub;

const doc = (kind: string, name: string, spec: object) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind,
  metadata: { name },
  spec,
});

/** A valid book of frankfurt: whole-node and unit prices from November, a change in the middle of it. */
const nodeBook = (name = "frankfurt-nodes") =>
  doc("PriceBook", name, {
    location: "frankfurt",
    currency: "EUR",
    prices: [
      {
        from: "2026-11-01",
        nodes: [{ instanceType: "m6.4xlarge", perHour: "0.7671" }],
        units: { cpuPerCoreHour: "0.0316", memoryPerGiBHour: "0.0042" },
      },
      {
        from: "2026-11-15T12:00:00Z",
        nodes: [{ instanceType: "m6.4xlarge", perHour: "0.8" }],
        units: { cpuPerCoreHour: "0.0316", memoryPerGiBHour: "0.0042" },
      },
    ],
  });

const apply = (...bodies: object[]) =>
  hub.registry.applyAll(
    bodies.map((body, i) => ({ source: `books.yaml[${i}]`, body })),
    systemCaller,
  );

const storedBooks = async () =>
  (await hub.registry.list(kinds.PriceBook, {}, systemCaller)).items.map((o) => o.metadata.name).sort();

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-price-book-"));
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  await apply(doc("Location", "frankfurt", {}), doc("Location", "singapore", {}));
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(home, { recursive: true, force: true });
});

beforeEach(async () => {
  for (const name of await storedBooks()) await hub.registry.delete(kinds.PriceBook, name, systemCaller);
});

describe("a PriceBook applied to the hub", () => {
  it("refuses each bad price, currency and date with its field path, and stores nothing", async () => {
    const bad = doc("PriceBook", "bad", {
      location: "frankfurt",
      currency: "EUX",
      prices: [
        {
          from: "2026-11-01",
          units: { cpuPerCoreHour: "-0.0316", memoryPerGiBHour: "0.00420001" },
          storage: [{ storageClass: "standard", perGiBMonth: "NaN" }],
        },
        { from: "2026-11-01T00:00:00Z", loadBalancerPerHour: "0.025" },
        { from: "2026-11-31", loadBalancerPerHour: "0.025" },
        { from: "2026-12-01T10:30:00Z", loadBalancerPerHour: "0.025" },
      ],
    });
    const error = await refusal(apply(nodeBook(), bad));
    expect(error.code).toBe("InvalidInput");
    expect(error.problems.map((p) => [p.path, p.message])).toEqual([
      ["books.yaml[1]: spec.currency", '"EUX" is not an ISO 4217 currency code (e.g. EUR, USD, SGD)'],
      [
        "books.yaml[1]: spec.prices[0].storage[0].perGiBMonth",
        expect.stringContaining('"NaN" must be a decimal'),
      ],
      ["books.yaml[1]: spec.prices[0].units.cpuPerCoreHour", '"-0.0316" must not be negative'],
      [
        "books.yaml[1]: spec.prices[0].units.memoryPerGiBHour",
        expect.stringContaining("8 decimals; at most 6"),
      ],
      [
        "books.yaml[1]: spec.prices[1].from",
        expect.stringContaining("same hour (2026-11-01T00:00:00Z) as prices[0]"),
      ],
      ["books.yaml[1]: spec.prices[2].from", '"2026-11-31" is not a real date and time'],
      ["books.yaml[1]: spec.prices[3].from", expect.stringContaining("whole hour")],
    ]);
    // The valid book of the same apply is not stored either.
    expect(await storedBooks()).toEqual([]);
  });

  it("refuses a book of a Location that does not exist, and keeps a Location while a book prices it", async () => {
    const mars = { ...nodeBook("mars"), spec: { ...nodeBook().spec, location: "mars" } };
    expect((await refusal(apply(mars))).problems).toEqual([
      { path: "books.yaml[0]: spec.location", message: 'Location "mars" does not exist' },
    ]);
    await apply(nodeBook());
    const kept = await refusal(hub.registry.delete(kinds.Location, "frankfurt", systemCaller));
    expect(kept.code).toBe("Conflict");
    expect(kept.message).toContain('pricebook "frankfurt-nodes"');
  });

  it("refuses a book that gives an instance type of its Location another price at the same hours", async () => {
    await apply(nodeBook());
    const overlapping = doc("PriceBook", "frankfurt-discount", {
      location: "frankfurt",
      currency: "EUR",
      prices: [{ from: "2026-11-20", nodes: [{ instanceType: "m6.4xlarge", perHour: "0.5" }] }],
    });
    const error = await refusal(apply(overlapping));
    expect(error.problems).toEqual([
      {
        path: "books.yaml[0]: spec.prices[0].nodes[0].perHour",
        message: expect.stringMatching(
          /^PriceBook "frankfurt-nodes" \(its prices\[1\], from 2026-11-15T12:00:00Z\) prices instance type m6\.4xlarge differently from 2026-11-20T00:00:00Z/,
        ),
      },
    ]);
    expect(await storedBooks()).toEqual(["frankfurt-nodes"]);
    // Two such books in one apply: the second is refused, and neither is stored.
    await hub.registry.delete(kinds.PriceBook, "frankfurt-nodes", systemCaller);
    const together = await refusal(apply(nodeBook(), overlapping));
    expect(together.problems.map((p) => p.path)).toEqual(["books.yaml[1]: spec.prices[0].nodes[0].perHour"]);
    expect(await storedBooks()).toEqual([]);
  });

  it("refuses a second currency for a Location, and accepts books that price other things or other Locations", async () => {
    await apply(nodeBook());
    const dollars = doc("PriceBook", "frankfurt-storage", {
      location: "frankfurt",
      currency: "USD",
      prices: [{ from: "2026-01-01", storage: [{ storageClass: "standard", perGiBMonth: "0.1" }] }],
    });
    expect((await refusal(apply(dollars))).problems.map((p) => p.path)).toEqual([
      "books.yaml[0]: spec.currency",
    ]);
    const euros = { ...dollars, spec: { ...dollars.spec, currency: "EUR" } };
    const singapore = doc("PriceBook", "singapore", {
      location: "singapore",
      currency: "SGD",
      prices: [{ from: "2026-11-01", nodes: [{ instanceType: "m6.4xlarge", perHour: "1.26" }] }],
    });
    const applied = await apply(euros, singapore);
    expect(applied.map((a) => a.action)).toEqual(["created", "created"]);
    const books = (await hub.registry.list(kinds.PriceBook, {}, systemCaller))
      .items as unknown as PriceBook[];
    // The lookup over what the hub stored: each hour at the price that held then.
    const at = (hour: string) => priceAt(books, "frankfurt", hour);
    expect(at("2026-11-15T11:00:00Z")?.nodesPerHour["m6.4xlarge"]).toBe(767_100);
    expect(at("2026-11-15T12:00:00Z")?.nodesPerHour["m6.4xlarge"]).toBe(800_000);
    expect(at("2026-11-15T12:00:00Z")?.storagePerGiBMonth).toEqual({ standard: 100_000 });
    expect(priceAt(books, "singapore", "2026-11-15T12:00:00Z")?.currency).toBe("SGD");
  });

  it("prints its Location, currency and periods in `unitfleet get pricebooks`", async () => {
    await apply(nodeBook());
    const { stdout } = await run(cli, ["get", "pricebooks", "-l", "location=frankfurt"], {
      env: { ...env.inherited, UNITFLEET_HOME: home },
      timeout: 60_000,
    });
    const [header, row] = stdout.trimEnd().split("\n");
    expect(header!.split(/ {3,}/)).toEqual(["NAME", "LOCATION", "CURRENCY", "FROM", "AGE"]);
    expect(row!.split(/ {3,}/).slice(0, 4)).toEqual([
      "frankfurt-nodes",
      "frankfurt",
      "EUR",
      "2026-11-01,2026-11-15T12:00:00Z",
    ]);
  }, 60_000);

  it("applies examples/price-book.yaml, whose December contract prices December's hours only", async () => {
    const text = await readFile(join(import.meta.dirname, "../../examples/price-book.yaml"), "utf8");
    const applied = await apply(...parseAllDocuments(text).map((d) => d.toJS() as object));
    expect(applied.map((a) => `${a.object.metadata.name} ${a.action}`)).toEqual([
      "frankfurt created",
      "singapore created",
    ]);
    const books = (await hub.registry.list(kinds.PriceBook, {}, systemCaller))
      .items as unknown as PriceBook[];
    expect(priceAt(books, "frankfurt", "2026-11-30T23:00:00Z")?.nodesPerHour["m6.4xlarge"]).toBe(767_100);
    expect(priceAt(books, "frankfurt", "2026-12-01T00:00:00Z")?.nodesPerHour["m6.4xlarge"]).toBe(712_300);
  });
});
