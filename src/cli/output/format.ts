/**
 * The `-o` output formats the listing commands accept, as kubectl does: tables, JSON, YAML, and for `get` also
 * `name`. Declaring the option loads nothing heavy; YAML's printer loads only when YAML is printed.
 */
import { Option } from "commander";

export const outputFormats = ["table", "wide", "json", "yaml"] as const;
export type OutputFormat = (typeof outputFormats)[number];

/** `get` also prints `kind.group/name` per object (`-o name`). */
export const resourceOutputFormats = [...outputFormats, "name"] as const;
export type ResourceOutputFormat = (typeof resourceOutputFormats)[number];

/** The `-o, --output` option, restricted to `formats` (by default the formats every listing command has). */
export function outputOption(formats: readonly string[] = outputFormats): Option {
  return new Option("-o, --output <format>", "output format").choices(formats).default("table");
}

/** The printer of a structured format (JSON, or YAML once its library is loaded); undefined for the others. */
export async function structuredPrinter(format: string): Promise<((value: unknown) => string) | undefined> {
  if (format === "json") return (value) => `${JSON.stringify(value, null, 2)}\n`;
  if (format !== "yaml") return undefined;
  const { stringify } = await import("yaml");
  return (value) => stringify(value);
}

/** Prints structured output as JSON or YAML; returns false for the other formats, which the command draws itself. */
export async function printStructured(
  format: string,
  value: unknown,
  write: (text: string) => void,
): Promise<boolean> {
  const print = await structuredPrinter(format);
  if (print) write(print(value));
  return print !== undefined;
}
