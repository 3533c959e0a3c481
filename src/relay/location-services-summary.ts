/**
 * What the hub sees of a Location's multi-cluster services (issue 15, docs/multi-cluster-services.md "What the hub
 * sees"). Records never go to the hub (ADR 0020); instead the relay summarises every export it holds — names,
 * type, ports, endpoint counts and the `Valid` and `Conflict` conditions that the agents' own merge
 * (`mergeExports`) gives it — and sends that to the hub as `services.summary`: a whole-Location snapshot, cut into
 * pages that fit a frame.
 *
 * Bounded: at most one summary every `everyMs` (2 s), and only when something changed (records, a cluster withdrawn
 * or back) or a hub session opened; nothing while the tunnel is down (a session's opening sends the latest). Memory:
 * the summary is computed when it is sent and not kept. A frame: at most `maxSummaryExportsPerPage` exports and some
 * 512 KB per page, at most `maxSummaryPages` pages; exports beyond are counted (`exportsOmitted`), not listed.
 *
 * Every export the relay holds is summarised, those of a cluster withdrawn past the grace included (`withdrawn`),
 * so that a short outage does not make exports vanish from the hub's view and come back as new.
 */
import { randomUUID } from "node:crypto";
import type { ExportRecord } from "../core/multicluster-services/export-record.ts";
import { type ExportCondition, mergeExports } from "../core/multicluster-services/merge.ts";
import { type MessageBody, maxSummaryExportsPerPage, maxSummaryPages } from "../protocol/messages.ts";
import { type Clock, systemClock, type TimerHandle } from "../runtime/clock.ts";
import type { Log } from "../runtime/runnable.ts";

export type SummaryBody = MessageBody<"services.summary">;
export type ExportSummary = SummaryBody["exports"][number];

/** One cluster's records as the relay holds them (LocationServices.held). */
export interface HeldClusterExports {
  readonly region: string;
  /** Withdrawn: past the grace without a session or heartbeat. */
  readonly down: boolean;
  readonly records: ReadonlyMap<string, ExportRecord>;
}

/** The longest condition message a summary carries (the protocol's bound). */
const maxMessageLength = 1024;
/** A page is closed before it passes this many bytes of JSON, far under the 1 MiB frame. */
const maxPageBytes = 512 * 1024;

/**
 * Every export of the Location with its conditions, sorted by namespace, name and cluster. Pure: the merge is the
 * agents' own, over every record held (withdrawn clusters' too).
 */
export function summariseExports(
  location: string,
  held: ReadonlyMap<string, HeldClusterExports>,
): { ok: true; exports: ExportSummary[] } | { ok: false; problems: string[] } {
  const clusters = [...held].map(([name, c]) => ({ name, region: c.region }));
  const records = [...held.values()].flatMap((c) => [...c.records.values()]);
  const merged = mergeExports({ location, clusters }, records);
  if (!merged.ok) return { ok: false, problems: merged.problems.map((p) => `${p.path}: ${p.message}`) };
  const recordOf = new Map(records.map((r) => [`${r.cluster}/${r.namespace}/${r.name}`, r]));
  const exports = merged.exports.map((status): ExportSummary => {
    const record = recordOf.get(`${status.cluster}/${status.namespace}/${status.name}`)!;
    const cluster = held.get(status.cluster)!;
    const found = record.serviceState === "Found" ? record : undefined;
    const endpoints = found?.endpointGroups.flatMap((g) => g.endpoints) ?? [];
    const [valid, conflict] = status.conditions;
    return {
      cluster: status.cluster,
      namespace: status.namespace,
      name: status.name,
      region: cluster.region,
      ...(found ? { type: found.type } : {}),
      ports: (found?.ports ?? []).map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
      endpoints: {
        ready: endpoints.filter((e) => e.ready).length,
        total: endpoints.length + (found?.endpointsOmitted ?? 0),
      },
      valid: condition(valid),
      conflict: condition(conflict),
      exportedSince: record.exportCreatedAt,
      ...(cluster.down ? { withdrawn: true as const } : {}),
    };
  });
  return { ok: true, exports };
}

function condition(c: ExportCondition): ExportSummary["valid"] {
  const message =
    c.message.length > maxMessageLength ? `${c.message.slice(0, maxMessageLength - 1)}…` : c.message;
  return { status: c.status, reason: c.reason, message };
}

/**
 * A summary as the messages that carry it: one page at least (an empty Location's summary says so), each under
 * `maxSummaryExportsPerPage` exports and some 512 KB; past `maxSummaryPages` pages the rest are counted.
 */
export function summaryPages(
  location: string,
  summary: string,
  exports: readonly ExportSummary[],
): SummaryBody[] {
  const chunks: ExportSummary[][] = [[]];
  let bytes = 0;
  let listed = 0;
  for (const e of exports) {
    const size = JSON.stringify(e).length;
    const chunk = chunks[chunks.length - 1]!;
    if (chunk.length > 0 && (chunk.length >= maxSummaryExportsPerPage || bytes + size > maxPageBytes)) {
      if (chunks.length === maxSummaryPages) break;
      chunks.push([e]);
      bytes = size;
    } else {
      chunk.push(e);
      bytes += size;
    }
    listed += 1;
  }
  return chunks.map((chunk, page) => ({
    location,
    summary,
    page,
    pages: chunks.length,
    exports: chunk,
    exportsOmitted: exports.length - listed,
  }));
}

export interface LocationServicesSummaryOptions {
  location: string;
  /** The records the relay holds now (LocationServices.held). */
  held: () => ReadonlyMap<string, HeldClusterExports>;
  /** Whether the tunnel to the hub is open: nothing is sent while it is not. */
  connected: () => boolean;
  /** Sends one page to the hub. */
  send: (body: SummaryBody) => void;
  /** The least time between two summaries (default 2 s). */
  everyMs?: number;
  /**
   * How long after the relay starts its first summary waits, so that its agents have reconnected and sent their
   * sets (default 5 s): a summary of nothing would make every export look new to the hub.
   */
  settleMs?: number;
  /** A summary is sent again after this long even with nothing changed (default 5 minutes). */
  refreshMs?: number;
  clock?: Clock;
  log: Log;
}

/** Sends the Location's summary to the hub when it changed, at most once every `everyMs`. */
export class LocationServicesSummary {
  readonly #options: LocationServicesSummaryOptions;
  readonly #clock: Clock;
  readonly #startedAt: number;
  /** Unique per relay process, so that the hub never mixes the pages of two processes' summaries. */
  readonly #epoch = randomUUID().slice(0, 8);
  #counter = 0;
  #dirty = true;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #lastDown = "";
  #timer: TimerHandle | undefined;
  #stopped = false;
  /** Summaries sent (each of one or more pages), for tests and logs. */
  sent = 0;

  constructor(options: LocationServicesSummaryOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#startedAt = this.#clock.now();
    this.#arm();
  }

  /** The records changed (an agent's message went through LocationServices): summarised at the next check. */
  changed(): void {
    this.#dirty = true;
  }

  /** A hub session opened: the hub gets the summary again at the next check. */
  sessionOpened(): void {
    this.#dirty = true;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The first check, once the relay has settled; then one every `everyMs` (`#tick`). */
  #arm(): void {
    if (this.#stopped || this.#timer) return;
    const everyMs = this.#options.everyMs ?? 2000;
    const due = Math.max(
      this.#startedAt + (this.#options.settleMs ?? 5000),
      this.#lastSentAt + everyMs,
      this.#clock.now(),
    );
    this.#timer = this.#clock.setTimeout(() => this.#tick(), due - this.#clock.now());
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const held = this.#options.held();
    const down = [...held]
      .filter(([, c]) => c.down)
      .map(([name]) => name)
      .sort()
      .join(",");
    const stale = this.#clock.now() - this.#lastSentAt >= (this.#options.refreshMs ?? 300_000);
    if ((this.#dirty || down !== this.#lastDown || stale) && this.#options.connected()) {
      this.#lastDown = down;
      this.#dirty = false;
      this.#send(held);
    }
    // Withdrawals happen on the relay's own timer, so the summary looks for changes at its pace.
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#options.everyMs ?? 2000);
  }

  #send(held: ReadonlyMap<string, HeldClusterExports>): void {
    const summary = summariseExports(this.#options.location, held);
    if (!summary.ok) {
      this.#options.log({
        level: "error",
        msg: "could not summarise the Location's services for the hub",
        problems: summary.problems,
      });
      return;
    }
    this.#lastSentAt = this.#clock.now();
    this.sent += 1;
    const id = `${this.#epoch}:${++this.#counter}`;
    const pages = summaryPages(this.#options.location, id, summary.exports);
    for (const page of pages) this.#options.send(page);
    if (pages[0]!.exportsOmitted > 0)
      this.#options.log({
        level: "warn",
        msg: "the Location has more exports than a summary lists: the hub sees the first ones only",
        listed: summary.exports.length - pages[0]!.exportsOmitted,
        omitted: pages[0]!.exportsOmitted,
      });
  }
}
