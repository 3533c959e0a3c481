/** The `-o` output formats every listing command accepts, as kubectl does. */
import { Option } from "commander";
import { stringify } from "yaml";

export const outputFormats = ["table", "wide", "json", "yaml"] as const;
export type OutputFormat = (typeof outputFormats)[number];

/** The `-o, --output` option, restricted to the known formats. */
export function outputOption(): Option {
  return new Option("-o, --output <format>", "output format").choices(outputFormats).default("table");
}

/** Prints structured output as JSON or YAML; returns false for table formats, which the command draws itself. */
export function printStructured(
  format: OutputFormat,
  value: unknown,
  write: (text: string) => void,
): boolean {
  if (format === "json") write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === "yaml") write(stringify(value));
  else return false;
  return true;
}
