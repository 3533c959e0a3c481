/**
 * Bounds on what a caller can make the audit log keep: entries cut to a fixed size, and refused requests
 * recorded at most so many per token and minute, the rest counted in one summary entry.
 */

/** The most characters of a name, as sent, that an audit entry keeps. */
export const maxAuditNameChars = 256;
/** The most characters of a refusal's reason that an audit entry keeps. */
export const maxAuditReasonChars = 1024;
/** Objects (before/after) larger than this, as JSON, are recorded as their size only. */
export const maxAuditObjectBytes = 65_536;
/** Refused requests recorded per token in one window; the rest are counted. */
export const maxRefusalsPerWindow = 30;
/** The window of the refusal limit. */
export const refusalWindowMs = 60_000;

/** `text` cut to `max` characters, saying how long it was. */
export function truncated(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** An object as the audit log keeps it: itself, or its identity and size when too large. */
export function boundedObject(object: unknown): unknown {
  if (object === undefined || object === null) return object;
  const bytes = new TextEncoder().encode(JSON.stringify(object)).length;
  if (bytes <= maxAuditObjectBytes) return object;
  const metadata = (object as { metadata?: { name?: unknown; resourceVersion?: unknown } }).metadata;
  return {
    truncated: true,
    bytes,
    kind: (object as { kind?: unknown }).kind,
    name: metadata?.name,
    resourceVersion: metadata?.resourceVersion,
  };
}

/** What to do with one refused request's audit entry. */
export interface RefusalDecision {
  /** Whether to record this refusal. */
  record: boolean;
  /** Refusals of this token not recorded since its last recorded one: to record in a summary entry first. */
  dropped: number;
}

/**
 * Per-token limit on refused requests' audit entries: at most `maxRefusalsPerWindow` per window. Time comes
 * in as an argument; a token's count of dropped refusals is handed back once, with its next recorded one.
 */
export class RefusalAuditLimiter {
  private readonly windows = new Map<string, { start: number; recorded: number; dropped: number }>();

  /** Decides for one refusal by `actor` at `nowMs`. */
  admit(actor: string, nowMs: number): RefusalDecision {
    let window = this.windows.get(actor);
    if (!window || nowMs - window.start >= refusalWindowMs) {
      const dropped = window?.dropped ?? 0;
      window = { start: nowMs, recorded: 0, dropped: 0 };
      this.windows.set(actor, window);
      this.forgetOld(nowMs);
      window.recorded++;
      return { record: true, dropped };
    }
    if (window.recorded < maxRefusalsPerWindow) {
      window.recorded++;
      return { record: true, dropped: 0 };
    }
    window.dropped++;
    return { record: false, dropped: 0 };
  }

  private forgetOld(nowMs: number): void {
    if (this.windows.size < 10_000) return;
    for (const [actor, w] of this.windows)
      if (nowMs - w.start >= refusalWindowMs && w.dropped === 0) this.windows.delete(actor);
  }
}
