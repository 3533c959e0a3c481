/**
 * Kubernetes resource quantities ("500m", "2", "1.5Gi", "64G", "1e3") as plain numbers.
 *
 * A quantity is returned in base units: cores for cpu, bytes for memory, a count for pods and extended
 * resources. Numbers are IEEE doubles, which is exact for every quantity a fleet holds (bytes up to 2^53).
 */

const binarySuffixes: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const decimalSuffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const quantityPattern = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The outcome of parsing: a number in base units, or the reason the text is not a quantity. */
export type ParsedQuantity = { ok: true; value: number } | { ok: false; reason: string };

/** Parses a Kubernetes quantity; never throws. Negative quantities are refused (no resource is negative). */
export function parseQuantity(text: string | number): ParsedQuantity {
  if (typeof text === "number") {
    return Number.isFinite(text) && text >= 0
      ? { ok: true, value: text }
      : { ok: false, reason: `must be a non-negative number, got ${text}` };
  }
  const match = quantityPattern.exec(text.trim());
  if (!match) {
    return {
      ok: false,
      reason: `"${text}" is not a Kubernetes quantity (examples: 500m, 4, 16Gi, 64G)`,
    };
  }
  const [, digits, exponent, suffix] = match;
  let value = Number(digits);
  if (exponent) value *= 10 ** Number(exponent.slice(1));
  else if (suffix && suffix in binarySuffixes) value *= binarySuffixes[suffix]!;
  else value *= decimalSuffixes[suffix ?? ""]!;
  if (value < 0) return { ok: false, reason: `"${text}" is negative` };
  return { ok: true, value };
}

/** Formats bytes the way kubectl users read them: the largest binary unit that keeps an integer or one decimal. */
export function formatBytes(bytes: number): string {
  const units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const rounded = value >= 100 || Number.isInteger(value) ? Math.round(value) : Math.round(value * 10) / 10;
  return `${rounded}${units[unit]}`;
}

/** Formats cores as Kubernetes writes them: whole cores when whole, millicores otherwise. */
export function formatCores(cores: number): string {
  const millis = Math.round(cores * 1000);
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}
