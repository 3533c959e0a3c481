/**
 * Multi-cluster services inside one Location (issue 15, docs/multi-cluster-services.md, ADR 0020): the relay keeps
 * the latest export records of each cluster of its Location and fans every `services.exports` an agent sends out to
 * the Location's other agents; every agent merges the records itself. Nothing goes through the hub, so imports
 * never reach another Location (only this relay's agents see the records) and keep working while the hub is away.
 *
 * A cluster is **down** when its agent's session has been closed, or its heartbeats have stopped (an agent whose
 * API server does not answer stops them), for longer than the grace (`graceMs`, default three heartbeat intervals).
 * Then the others are sent `present: []` for it: its endpoints leave every import. Its records are kept: when it is
 * up again (heartbeats again, or a new session), they are sent out again, and a new session's own full set
 * replaces them.
 *
 * Bounds: records are held per cluster and export (at most what agents may send: 10,000 exports a cluster); what
 * goes to an agent joining is cut into messages of at most `maxServiceRecords` records and some 512 KB.
 */
import type { ExportRecord } from "../core/multicluster-services/export-record.ts";
import { type MessageBody, maxServiceRecords } from "../protocol/messages.ts";
import { type Clock, systemClock, type TimerHandle } from "../runtime/clock.ts";
import type { Log } from "../runtime/runnable.ts";

type ExportsBody = MessageBody<"services.exports">;

/** What the component needs of an agent's session. */
export interface ServicesPeer {
  readonly cluster: string;
  send(body: ExportsBody): void;
}

interface ClusterExports {
  region: string;
  records: Map<string, ExportRecord>;
  /** When the cluster was last seen alive: a heartbeat, a message, a session opening. */
  lastSeen: number;
  /** Whether the others were told it is gone (and have not been told otherwise since). */
  down: boolean;
  connected: boolean;
}

export interface LocationServicesOptions {
  /** How long a cluster may be silent or disconnected before its endpoints leave the imports (read when needed). */
  graceMs: () => number;
  clock?: Clock;
  log: Log;
}

const keyOf = (r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`;
const maxSendBytes = 512 * 1024;

export class LocationServices {
  readonly #clusters = new Map<string, ClusterExports>();
  readonly #peers = new Map<string, ServicesPeer>();
  readonly #clock: Clock;
  readonly #options: LocationServicesOptions;
  #timer: TimerHandle | undefined;
  /** Messages sent to agents (fan-out and joins), for tests and the relay's log. */
  sent = 0;

  constructor(options: LocationServicesOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** An agent's session was greeted: it gets every other cluster's records (those up). */
  joined(peer: ServicesPeer): void {
    this.#peers.set(peer.cluster, peer);
    const own = this.#entry(peer.cluster, undefined);
    own.connected = true;
    // Not announced: a new session starts by sending its whole set (with `present`), which goes out as it is.
    this.#seen(peer.cluster, false);
    for (const [cluster, entry] of this.#clusters) {
      if (cluster === peer.cluster || entry.down || entry.records.size === 0) continue;
      for (const body of this.#fullSet(cluster, entry)) this.#send(peer, body);
    }
  }

  /** An agent's session closed (`peer` is that session: a newer one of the same cluster may already be in). */
  left(peer: ServicesPeer): void {
    if (this.#peers.get(peer.cluster) !== peer) return;
    this.#peers.delete(peer.cluster);
    const entry = this.#clusters.get(peer.cluster);
    if (entry) entry.connected = false;
    this.#arm();
  }

  /** A heartbeat of `cluster` went through the relay. */
  heartbeat(cluster: string): void {
    this.#seen(cluster);
  }

  /** An agent sent its exports: keep them and pass them on to the Location's other agents. */
  exports(from: string, body: ExportsBody): void {
    const entry = this.#entry(from, body.region);
    entry.region = body.region;
    if (body.present) {
      const present = new Set(body.present.map(keyOf));
      for (const key of [...entry.records.keys()]) if (!present.has(key)) entry.records.delete(key);
    }
    for (const r of body.removed) entry.records.delete(keyOf(r));
    for (const r of body.records) entry.records.set(keyOf(r), r);
    const wasDown = entry.down;
    this.#seen(from, false);
    // A cluster back from down: the others get its whole set (this message alone may be a part of it).
    const out = wasDown ? this.#fullSet(from, entry) : [body];
    for (const peer of this.#peers.values()) {
      if (peer.cluster === from) continue;
      for (const message of out) this.#send(peer, message);
    }
  }

  /** Clusters told down, for tests and logs. */
  get downClusters(): string[] {
    return [...this.#clusters].filter(([, e]) => e.down).map(([c]) => c);
  }

  stop(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #entry(cluster: string, region: string | undefined): ClusterExports {
    let entry = this.#clusters.get(cluster);
    if (!entry) {
      entry = {
        region: region ?? "",
        records: new Map(),
        lastSeen: this.#clock.now(),
        down: false,
        connected: false,
      };
      this.#clusters.set(cluster, entry);
    }
    return entry;
  }

  /** Notes `cluster` alive; one that was down is back: the others get its whole set (unless the caller sends it). */
  #seen(cluster: string, announce = true): void {
    const entry = this.#entry(cluster, undefined);
    entry.lastSeen = this.#clock.now();
    if (entry.down) {
      entry.down = false;
      this.#options.log({
        level: "info",
        msg: "a cluster's exports are back in its Location's imports",
        cluster,
      });
      if (announce)
        for (const peer of this.#peers.values())
          if (peer.cluster !== cluster)
            for (const body of this.#fullSet(cluster, entry)) this.#send(peer, body);
    }
    this.#arm();
  }

  /** Checks for clusters past their grace at the earliest time one could be. */
  #arm(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#clusters.values())
      if (!entry.down && entry.records.size > 0)
        next = Math.min(next, entry.lastSeen + this.#options.graceMs());
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timer = this.#clock.setTimeout(() => this.#expire(), Math.max(0, next - this.#clock.now()));
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (const [cluster, entry] of this.#clusters) {
      if (entry.down || entry.records.size === 0 || now - entry.lastSeen < this.#options.graceMs()) continue;
      entry.down = true;
      this.#options.log({
        level: "warn",
        msg: "a cluster's exports left its Location's imports: no heartbeat or session within the grace",
        cluster,
        connected: entry.connected,
        graceMs: this.#options.graceMs(),
      });
      const gone: ExportsBody = { cluster, region: entry.region, records: [], removed: [], present: [] };
      for (const peer of this.#peers.values()) if (peer.cluster !== cluster) this.#send(peer, gone);
    }
    this.#arm();
  }

  /** A cluster's whole set as messages: `present` on the first, records cut by count and size. */
  #fullSet(cluster: string, entry: ClusterExports): ExportsBody[] {
    const records = [...entry.records.values()];
    const present = records.map((r) => ({ namespace: r.namespace, name: r.name }));
    const bodies: ExportsBody[] = [];
    let chunk: ExportRecord[] = [];
    let bytes = 0;
    const flush = () => {
      bodies.push({
        cluster,
        region: entry.region,
        records: chunk,
        removed: [],
        ...(bodies.length === 0 ? { present } : {}),
      });
      chunk = [];
      bytes = 0;
    };
    for (const record of records) {
      const size = JSON.stringify(record).length;
      if (chunk.length > 0 && (chunk.length >= maxServiceRecords || bytes + size > maxSendBytes)) flush();
      chunk.push(record);
      bytes += size;
    }
    flush();
    return bodies;
  }

  #send(peer: ServicesPeer, body: ExportsBody): void {
    this.sent += 1;
    peer.send(body);
  }
}
