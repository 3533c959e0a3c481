/**
 * Values of command-line flags that are not plain text: durations as kubectl takes them and whole numbers.
 * Each parser is given to commander, so a bad value stops the command with one line naming the flag before
 * anything runs (a UserError thrown from a parser passes through commander to the CLI's error printer).
 */
import { UserError } from "../errors/user-error.ts";

const unitMilliseconds = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration as kubectl and Go read it — "500ms", "60s", "2m", "1h30m", "1.5h" — or a bare number of seconds
 * ("15"), in milliseconds; undefined when the text is neither (empty, negative, "60x", "1 h").
 */
export function durationMilliseconds(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(amount) * unitMilliseconds[unit as keyof typeof unitMilliseconds];
  return total;
}

/** A commander parser of a duration flag, in milliseconds; `minimumMs` refuses shorter ones. */
export function durationFlag(flag: string, minimumMs = 0): (text: string) => number {
  return (text) => {
    const ms = durationMilliseconds(text);
    if (ms === undefined)
      throw new UserError(
        "BadRequest",
        `${flag}: "${text}" is not a duration (examples: 60s, 2m, 1h30m, 500ms, or 15 for seconds)`,
      );
    if (ms < minimumMs)
      throw new UserError("BadRequest", `${flag}: "${text}" is too short: at least ${minimumMs / 1000} s`);
    return ms;
  };
}

/** A commander parser of a whole-number flag, at least `minimum`. */
export function wholeNumberFlag(flag: string, minimum = 0): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text) || Number(text) < minimum)
      throw new UserError(
        "BadRequest",
        `${flag}: must be a whole number, at least ${minimum}, got "${text}"`,
      );
    return Number(text);
  };
}
