/**
 * The export side of multi-cluster services in the agent (issue 15): builds the record of every ServiceExport
 * of the cluster (`buildExportRecord`) from what the watches hold, and tells the Location's relay what changed
 * as `services.exports` — records new or changed and names removed, coalesced (`coalesceMs`, 100 ms), in frames
 * that keep under the protocol's bounds (`maxServiceRecords` records, `maxFrameBytes`). When a session opens it
 * sends the whole set with `present`, so that the relay (and through it every other agent) drops what it held
 * from before. Nothing is sent while the tunnel is down: the next session's whole set says it all.
 *
 * The cluster's own records go to `onRecords` after every change, connected or not: the agent imports its own
 * exports too (tier 0 of the locality chain).
 */

import {
  buildExportRecord,
  type ExportRecord,
  exportRecordSchema,
} from "../../core/multicluster-services/export-record.ts";
import { sameJson } from "../../core/resources/canonical-json.ts";
import { type MessageBody, maxFrameBytes, maxServiceRecords } from "../../protocol/messages.ts";
import { type Clock, systemClock, type TimerHandle } from "../../runtime/clock.ts";
import type { Log } from "../../runtime/runnable.ts";
import type { ServicesClusterView } from "./services-cluster.ts";

export type ServicesExportsBody = MessageBody<"services.exports">;
export type ServiceName = { namespace: string; name: string };

/** Room left in a frame for the envelope around the body (id, seq, type, class). */
const envelopeBytes = 1024;
const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8");

/** `namespace/name`: how records are keyed. */
export const exportKey = (r: ServiceName) => `${r.namespace}/${r.name}`;

export interface FrameBounds {
  /** The most records in one body. */
  records: number;
  /** The most bytes of one encoded frame. */
  bytes: number;
}

export const protocolFrameBounds: FrameBounds = { records: maxServiceRecords, bytes: maxFrameBytes };

/**
 * Splits one change of a cluster's exports into `services.exports` bodies within `bounds`: `present` (when
 * given) and the first removed names go in the first body, records fill bodies up to the count and byte bounds.
 * Always at least one body (an empty change with `present` still says what is present).
 */
export function packExports(
  change: {
    cluster: string;
    region: string;
    records: readonly ExportRecord[];
    removed: readonly ServiceName[];
    present?: readonly ServiceName[];
  },
  bounds: FrameBounds = protocolFrameBounds,
): ServicesExportsBody[] {
  const budget = bounds.bytes - envelopeBytes;
  const empty = (): ServicesExportsBody => ({
    cluster: change.cluster,
    region: change.region,
    records: [],
    removed: [],
  });
  const first = empty();
  if (change.present) first.present = [...change.present];
  const bodies = [first];
  let body = first;
  let size = jsonBytes(first);
  const next = () => {
    body = empty();
    bodies.push(body);
    size = jsonBytes(body);
  };
  for (const name of change.removed) {
    const bytes = jsonBytes(name) + 1;
    if (
      body.removed.length >= 10_000 ||
      (size + bytes > budget && body.removed.length + body.records.length > 0)
    )
      next();
    body.removed.push({ namespace: name.namespace, name: name.name });
    size += bytes;
  }
  for (const record of change.records) {
    const bytes = jsonBytes(record) + 1;
    if (
      body.records.length >= bounds.records ||
      (size + bytes > budget && body.records.length + body.removed.length > 0)
    )
      next();
    body.records.push(record);
    size += bytes;
  }
  return bodies;
}

export interface ExportPublisherOptions {
  cluster: string;
  /** The cluster's Region ("" without one). */
  region: string;
  view: Pick<ServicesClusterView, "serviceExports" | "service" | "endpointSlices">;
  /** Sends one body to the relay. */
  send: (body: ServicesExportsBody) => void;
  /** Whether a session is open now. */
  connected: () => boolean;
  /** The cluster's own records, whole, after every change. */
  onRecords: (records: readonly ExportRecord[]) => void;
  coalesceMs?: number;
  bounds?: FrameBounds;
  clock?: Clock;
  log: Log;
}

/** Builds and publishes the cluster's export records (see the module comment). */
export class ExportPublisher {
  readonly #options: ExportPublisherOptions;
  readonly #clock: Clock;
  readonly #coalesceMs: number;
  /** The records as the cluster has them now. */
  #current = new Map<string, ExportRecord>();
  /** The records the relay holds from this session (what deltas are computed against). */
  #sent = new Map<string, ExportRecord>();
  #synced = false;
  #wholeSetDue = false;
  #timer: TimerHandle | undefined;
  #stopped = false;
  /** Exports already logged as refused (logged once each). */
  readonly #refused = new Set<string>();
  /** What was sent: messages and records (tests and the bench read them). */
  readonly counters = { messages: 0, records: 0, wholeSets: 0 };

  constructor(options: ExportPublisherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#coalesceMs = options.coalesceMs ?? 100;
  }

  /** The watches have listed everything: records can be built, and a whole set sent if a session waits for one. */
  synced(): void {
    this.#synced = true;
    this.#flush();
  }

  /** Something the records read changed: publish in `coalesceMs`, with whatever else changes meanwhile. */
  changed(): void {
    if (this.#stopped || !this.#synced || this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#coalesceMs);
  }

  /** A session opened: the relay gets the whole set (now, or once the watches have listed). */
  sessionOpened(): void {
    this.#wholeSetDue = true;
    this.#flush();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The records as the cluster has them now. */
  records(): ExportRecord[] {
    return [...this.#current.values()];
  }

  #flush(): void {
    if (this.#stopped || !this.#synced) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const previous = this.#current;
    this.#current = this.#build();
    const ownChanged =
      previous.size !== this.#current.size ||
      [...this.#current].some(([key, record]) => !sameJson(previous.get(key), record));
    if (ownChanged) this.#options.onRecords(this.records());
    if (!this.#options.connected()) return;
    if (this.#wholeSetDue) {
      this.#wholeSetDue = false;
      this.counters.wholeSets += 1;
      const all = this.records();
      this.#send({
        records: all,
        removed: [],
        present: all.map(({ namespace, name }) => ({ namespace, name })),
      });
      return;
    }
    const records = [...this.#current]
      .filter(([key, r]) => !sameJson(this.#sent.get(key), r))
      .map(([, r]) => r);
    const removed = [...this.#sent.values()]
      .filter((r) => !this.#current.has(exportKey(r)))
      .map(({ namespace, name }) => ({ namespace, name }));
    if (records.length === 0 && removed.length === 0) return;
    this.#send({ records, removed });
  }

  #send(change: { records: ExportRecord[]; removed: ServiceName[]; present?: ServiceName[] }): void {
    const bodies = packExports(
      { cluster: this.#options.cluster, region: this.#options.region, ...change },
      this.#options.bounds,
    );
    for (const body of bodies) {
      this.#options.send(body);
      this.counters.messages += 1;
      this.counters.records += body.records.length;
    }
    this.#sent = new Map(this.#current);
  }

  #build(): Map<string, ExportRecord> {
    const { view, cluster } = this.#options;
    const records = new Map<string, ExportRecord>();
    for (const serviceExport of view.serviceExports()) {
      const { namespace, name } = serviceExport.metadata;
      const record = buildExportRecord({
        cluster,
        serviceExport,
        service: view.service(namespace, name),
        endpointSlices: view.endpointSlices(namespace, name),
      });
      // A record the relay would refuse (a name that is not a DNS label, say) would take the whole frame with it.
      const checked = exportRecordSchema.safeParse(record);
      if (checked.success) records.set(exportKey(record), record);
      else if (!this.#refused.has(exportKey(record))) {
        this.#refused.add(exportKey(record));
        this.#options.log({
          level: "warn",
          msg: "ServiceExport not published: its record is out of bounds",
          export: exportKey(record),
          problems: checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).slice(0, 5),
        });
      }
    }
    return new Map([...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
