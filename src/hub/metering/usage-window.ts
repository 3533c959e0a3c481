/**
 * The time window of a usage or cost query, read strictly from what a user types: `24h` and `7d` (the last
 * hours or days of complete hours, ending where the current hour began), or two UTC dates or hours joined by a
 * slash, the end excluded: `2026-11-01/2026-12-01`, `2026-12-03T06:00:00Z/2026-12-03T12:00:00Z`. Anything else
 * is refused with the field it came in. Pure: the present comes in as an argument.
 */
import { UserError } from "../../errors/user-error.ts";

/** A window of whole UTC hours, `start` included, `end` excluded. */
export interface UsageWindow {
  start: Date;
  end: Date;
}

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
/** The longest window asked for: ten years of days. */
const maxDays = 3660;

const examples = "7d, 24h, 2026-11-01/2026-12-01 or 2026-12-03T06:00:00Z/2026-12-03T12:00:00Z";

/**
 * Reads a window. `now` ends relative windows at the start of its hour (the current hour is not complete: its
 * records arrive once it ends). Throws a `UserError` naming `field` for anything malformed.
 */
export function parseUsageWindow(text: string, now: Date, field = "window"): UsageWindow {
  const refuse = (message: string): never => {
    throw new UserError("BadRequest", `invalid ${field} ${JSON.stringify(text)}: ${message}`, {
      problems: [{ path: field, message }],
      hint: `a window is one of ${examples}`,
    });
  };
  const relative = /^([1-9][0-9]{0,5})([hd])$/.exec(text);
  if (relative) {
    const count = Number(relative[1]);
    const days = relative[2] === "d" ? count : count / 24;
    if (days > maxDays) refuse(`at most ${maxDays} days`);
    const end = new Date(Math.floor(now.getTime() / hourMs) * hourMs);
    return { start: new Date(end.getTime() - (relative[2] === "d" ? count * dayMs : count * hourMs)), end };
  }
  const bounds = text.split("/");
  if (bounds.length !== 2) refuse(`must be a duration or START/END, e.g. ${examples}`);
  const [start, end] = bounds.map((bound, i) => instant(bound, i === 0 ? "start" : "end", refuse)) as [
    Date,
    Date,
  ];
  if (end.getTime() <= start.getTime()) refuse("the end must come after the start");
  if (end.getTime() - start.getTime() > maxDays * dayMs) refuse(`at most ${maxDays} days`);
  return { start, end };
}

/** A date (`2026-11-01`, midnight UTC) or the start of a UTC hour (`2026-11-01T06:00:00Z`). */
function instant(text: string, which: string, refuse: (message: string) => never): Date {
  const date = /^(\d{4}-\d{2}-\d{2})$/.exec(text);
  const hour = /^(\d{4}-\d{2}-\d{2}T\d{2}):00:00Z$/.exec(text);
  if (!date && !hour)
    refuse(
      `the ${which} ${JSON.stringify(text)} must be a date (2026-11-01) or an hour (2026-11-01T06:00:00Z)`,
    );
  const iso = date ? `${date[1]}T00:00:00.000Z` : `${hour![1]}:00:00.000Z`;
  const at = new Date(iso);
  // Date accepts 2026-02-30 as 2 March: a date that does not read back the same does not exist.
  if (Number.isNaN(at.getTime()) || at.toISOString() !== iso)
    refuse(`the ${which} ${JSON.stringify(text)} is not a real date`);
  return at;
}
