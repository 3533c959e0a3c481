/** Printer columns' values, read from an object: shared by the API's Table responses and the CLI's tables. */
import type { PrinterColumn } from "./kinds.ts";

/**
 * The value a column shows for an object: null when absent or an empty list, dates as ages, lists of plain
 * values joined by commas, objects and lists of objects as the column formats them (as compact JSON when it
 * does not: never `[object Object]`).
 */
export function columnValue(column: PrinterColumn, object: unknown, now: Date): string | number | null {
  const value = readPath(object, column.jsonPath);
  if (value === undefined || value === null) return null;
  if (column.type === "date") return shortAge(String(value), now);
  if (Array.isArray(value) && value.length === 0) return null;
  if (typeof value === "object") {
    if (column.format) return column.format(value);
    if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object"))
      return value.join(",");
    return JSON.stringify(value);
  }
  if (column.type === "integer") return Number(value);
  return String(value);
}

/** Reads the JSONPath subset printer columns use: `.a.b`, and `.a[?(@.k=="v")].f`. */
export function readPath(object: unknown, path: string): unknown {
  let current: unknown = object;
  const steps = path.match(/\.[A-Za-z0-9_]+|\[\?\(@\.[A-Za-z0-9_]+=="[^"]*"\)\]/g) ?? [];
  for (const step of steps) {
    if (current === undefined || current === null) return undefined;
    if (step.startsWith(".")) {
      current = (current as Record<string, unknown>)[step.slice(1)];
    } else {
      const [, key, value] = /\[\?\(@\.([A-Za-z0-9_]+)=="([^"]*)"\)\]/.exec(step)!;
      current = Array.isArray(current)
        ? current.find((item) => (item as Record<string, unknown>)[key!] === value)
        : undefined;
    }
  }
  return current;
}

/** Kubernetes' short age: 45s, 12m, 5h, 3d. */
export function shortAge(since: string | undefined, now: Date): string {
  if (!since) return "<unknown>";
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}
