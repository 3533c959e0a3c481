/**
 * `unitfleet cost`: what the fleet cost over a window, grouped as asked, from the hub's usage ledger and
 * PriceBooks (docs/metering.md). Money is printed in the books' currency with up to six decimals; `-o json|yaml`
 * gives the hub's answer as it is (integer micro-units), `-o csv` one line per group.
 *
 * `unitfleet cost export --format focus --month 2026-11 [--file F]`: one billing month as FinOps FOCUS 1.3 CSV,
 * one row per cluster-hour and workload or idle resource (docs/metering.md "FOCUS export"), to stdout or a file.
 */
import { writeFile } from "node:fs/promises";
import { Command, Option } from "commander";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { outputFormats, printStructured } from "../output/format.ts";
import { renderTable } from "../output/table.ts";

/** The hub's answer (src/hub/metering/cost-query.ts `CostReport`), as far as the CLI prints it. */
interface CostAnswer {
  window: { start: string; end: string };
  aggregate: string[];
  idle: string;
  hours: number;
  pending: number;
  groups: Array<{
    keys: Record<string, string | null>;
    currency: string;
    cost: { cpu: number; memory: number; gpu: number; storage: number; loadBalancer: number; total: number };
    idle: number;
    efficiency: { cpu: number | null; memory: number | null };
  }>;
  unpriced: Array<{ cluster: string; hour: string; node: string; reason: string }>;
}

const out = (text: string) => process.stdout.write(text);

/** Micro-units as a decimal amount: 1234567 → "1.234567", trailing zeros kept to two decimals. */
export function money(micros: number): string {
  const sign = micros < 0 ? "-" : "";
  const whole = Math.floor(Math.abs(micros) / 1_000_000);
  const fraction = String(Math.abs(micros) % 1_000_000)
    .padStart(6, "0")
    .replace(/0{1,4}$/, "");
  return `${sign}${whole}.${fraction.padEnd(2, "0")}`;
}

const percent = (value: number | null) => (value === null ? "-" : `${Math.round(value * 100)}%`);

/** A CSV field, quoted when it must be (RFC 4180). */
const csvField = (value: string) => (/[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

/** `unitfleet cost export`: a billing month of the fleet's cost as a FOCUS CSV file. */
function costExportCommand(env: Environment): Command {
  return new Command("export")
    .description("a billing month of the fleet's cost as FinOps FOCUS 1.3 CSV, for finance tools")
    .addOption(new Option("--format <format>", "file format").choices(["focus"]).default("focus"))
    .requiredOption("--month <month>", "the billing month, YYYY-MM (UTC), e.g. 2026-11")
    .option("--file <file>", "write to this file instead of stdout")
    .addHelpText(
      "after",
      "\n`--idle separate|share` of `unitfleet cost` applies: cost export --month 2026-11 --idle share",
    )
    .action(async (flags: { format: string; month: string; file?: string }, command: Command) => {
      // `--idle` belongs to `unitfleet cost`, which reads it before or after `export` (commander's global options).
      const idle = String(command.parent?.opts().idle ?? "separate");
      const query = new URLSearchParams({ format: flags.format, month: flags.month, idle });
      const csv = await (await import("../client/hub-client.ts")).withHub(env, (hub: HubClient) =>
        hub.send<string>("GET", `/unitfleet/v1alpha1/cost/export?${query}`, undefined, "text/csv"),
      );
      const { billingMonth, periodClose } = await import("../../core/metering/focus.ts");
      const month = billingMonth(flags.month);
      const closes = month.ok ? periodClose(month.value) : undefined;
      if (closes && Date.now() < closes.getTime())
        process.stderr.write(
          `note: ${flags.month} closes at ${closes.toISOString()}: until then the export is provisional (usage and price changes still join the month)\n`,
        );
      const corrections = csv.split("\r\n").filter((line) => line.includes(",Correction,")).length;
      if (corrections > 0)
        process.stderr.write(
          `note: ${corrections} Correction rows for hours of earlier months, corrected during ${flags.month}\n`,
        );
      if (!flags.file) {
        out(csv);
        return;
      }
      const file = flags.file;
      await writeFile(file, csv).catch((error: NodeJS.ErrnoException) => {
        const reason = error.code === "ENOENT" ? "its folder does not exist" : error.message;
        throw new UserError("BadRequest", `cannot write ${file}: ${reason}`);
      });
      const rows = csv.split("\r\n").filter(Boolean).length - 1;
      process.stderr.write(`wrote ${rows} FOCUS rows for ${flags.month} to ${file}\n`);
    });
}

export function costCommand(env: Environment): Command {
  return new Command("cost")
    .description(
      "what the fleet cost over a window: by location, region, cluster, business, namespace, payer…",
    )
    .addCommand(costExportCommand(env))
    .option("--window <window>", "7d, 24h, or DATE/DATE (UTC, end excluded)", "24h")
    .option(
      "--by <dimensions>",
      "group by, comma-separated: location, region, cluster, business, environment, namespace, workload, payer, label:KEY",
      "",
    )
    .addOption(
      new Option("--idle <mode>", "idle cost as rows of its own, or shared out")
        .choices(["separate", "share"])
        .default("separate"),
    )
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices([...outputFormats, "csv"])
        .default("table"),
    )
    .action(async (flags: { window: string; by: string; idle: string; output: string }) => {
      const query = new URLSearchParams({ window: flags.window, idle: flags.idle });
      if (flags.by) query.set("by", flags.by);
      const answer = await (await import("../client/hub-client.ts")).withHub(env, (hub: HubClient) =>
        hub.send<CostAnswer>("GET", `/unitfleet/v1alpha1/cost?${query}`),
      );
      for (const u of answer.unpriced.slice(0, 5))
        process.stderr.write(`warning: ${u.cluster} at ${u.hour} not billed: node ${u.node}: ${u.reason}\n`);
      if (answer.unpriced.length > 5)
        process.stderr.write(
          `warning: ${answer.unpriced.length - 5} more cluster-hours not billed (-o json lists them)\n`,
        );
      if (answer.pending > 0)
        process.stderr.write(
          `note: ${answer.pending} cluster-hours of the window were reported but are not priced yet (the hub prices them within seconds)\n`,
        );
      if (await printStructured(flags.output, answer, out)) return;
      const dims = answer.aggregate;
      const headers = [
        ...dims,
        "currency",
        "cpu",
        "memory",
        "gpu",
        "storage",
        "load-balancers",
        "idle",
        "total",
      ];
      const rows = answer.groups.map((g) => [
        ...dims.map((d) => g.keys[d] ?? "-"),
        g.currency,
        money(g.cost.cpu),
        money(g.cost.memory),
        money(g.cost.gpu),
        money(g.cost.storage),
        money(g.cost.loadBalancer),
        money(g.idle),
        money(g.cost.total),
        ...(flags.output === "wide" || flags.output === "csv"
          ? [percent(g.efficiency.cpu), percent(g.efficiency.memory)]
          : []),
      ]);
      const allHeaders =
        flags.output === "wide" || flags.output === "csv"
          ? [...headers, "cpu-efficiency", "memory-efficiency"]
          : headers;
      if (flags.output === "csv") {
        out(`${[allHeaders, ...rows].map((r) => r.map(csvField).join(",")).join("\n")}\n`);
        return;
      }
      process.stderr.write(
        `${answer.window.start} to ${answer.window.end}: ${answer.hours} cluster-hours, idle ${answer.idle}\n`,
      );
      out(
        `${renderTable(
          allHeaders.map((h) => h.toUpperCase()),
          rows,
        )}\n`,
      );
    });
}
