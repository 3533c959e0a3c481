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
 * **Across restarts** (`store`): the records, with each cluster's Region and whether it is down, are written to the
 * relay's directory, coalesced (`saveDelayMs` after the first change, one write at a time) and read back by
 * `restore`. A cluster read back counts as up, as if it had just been heard from: an agent that connects gets its
 * records at once; if the cluster is not heard from within the grace, it is withdrawn as above.
 *
 * **Pacing** (`maxBufferedBytes`): a message goes to an agent only while less than that many bytes wait in its
 * socket, so a relay never holds more than the bound and one frame per agent, however many clusters send their sets
 * at once. What cannot go yet is remembered per agent and cluster, not as messages: which clusters it must get
 * whole, which records changed, which clusters are gone. When the socket drains, frames are built from the records
 * as they are then, each filled up to `maxServiceRecords` records and the frame limit. So an agent gets every
 * change's latest state (two changes of one record while it waits make one), and nothing is dropped.
 *
 * Bounds: records are held per cluster and export (at most what agents may send: 10,000 exports a cluster); per
 * agent, at most `maxBufferedBytes` plus one frame queued, and a set of names of what it has yet to get.
 */
import type { ExportRecord } from "../core/multicluster-services/export-record.ts";
import { type MessageBody, maxFrameBytes, maxServiceRecords } from "../protocol/messages.ts";
import { type Clock, systemClock, type TimerHandle } from "../runtime/clock.ts";
import type { Log } from "../runtime/runnable.ts";

type ExportsBody = MessageBody<"services.exports">;

/** What the component needs of an agent's session. */
export interface ServicesPeer {
  readonly cluster: string;
  /** Sends a message; `written`, when given, is called once its bytes have left the process's buffers. */
  send(body: ExportsBody, written?: () => void): void;
  /** Bytes waiting in the session's socket (its `bufferedAmount`); without it, messages are never held back. */
  bufferedBytes?(): number;
}

/** One cluster's records as kept across restarts. */
export interface SavedCluster {
  cluster: string;
  region: string;
  /** Whether the others were told it is gone. */
  down: boolean;
  records: ExportRecord[];
}

/** Where the records are kept across restarts (the relay's is `ExportRecordsFile`). */
export interface ExportRecordsStore {
  /** What was kept; empty when nothing was, or when it cannot be read (the store says why in its log). */
  load(): Promise<SavedCluster[]>;
  /** Replaces what is kept, atomically: a crash leaves the old copy or the new one. */
  save(clusters: readonly SavedCluster[]): Promise<void>;
}

interface ClusterExports {
  region: string;
  records: Map<string, ExportRecord>;
  /** When the cluster was last seen alive: a heartbeat, a message, a session opening, the relay's start. */
  lastSeen: number;
  /** Whether the others were told it is gone (and have not been told otherwise since). */
  down: boolean;
  connected: boolean;
}

/** What an agent has yet to get of one cluster: gone, its whole set, or the records under these names. */
type Pending = "gone" | "whole" | Set<string>;

/** An agent's session with what it has yet to get, in the order the clusters first waited. */
interface Outbox {
  peer: ServicesPeer;
  pending: Map<string, Pending>;
  pumping: boolean;
}

export interface LocationServicesOptions {
  /** How long a cluster may be silent or disconnected before its endpoints leave the imports (read when needed). */
  graceMs: () => number;
  /** Where the records are kept across restarts; without it they live in memory only. */
  store?: ExportRecordsStore;
  /** How long after a change the records are written to the store (default 2 s): later changes join the write. */
  saveDelayMs?: number;
  /** How many bytes may wait in one agent's socket before messages to it are held back (default 64 KiB). */
  maxBufferedBytes?: number;
  clock?: Clock;
  log: Log;
}

/**
 * The default of `maxBufferedBytes`. Measured with 100 agents sending their sets at once (bench/services-bench.ts):
 * 64 KiB keeps the relay's peak near 210 MiB where 256 KiB let it reach 360 MiB, and 16 KiB gained nothing more.
 */
export const defaultMaxBufferedBytes = 64 * 1024;
/** The default of `saveDelayMs`. */
export const defaultSaveDelayMs = 2000;
/** After a failed write, the next try waits this many times the save delay. */
const saveRetryFactor = 10;
/** Room left in a frame for its envelope (type, id, seq, cluster, Region). */
const envelopeBytes = 4096;
const frameBudget = maxFrameBytes - envelopeBytes;
/** The most names one message's `removed` carries (the protocol's bound). */
const maxRemovedNames = 10_000;

const keyOf = (r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`;
const nameOf = (key: string) => {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
};

/** A record's size as JSON, in bytes; measured once per record (records are replaced, never changed). */
const sizes = new WeakMap<ExportRecord, number>();
function sizeOf(record: ExportRecord): number {
  let size = sizes.get(record);
  if (size === undefined) {
    size = Buffer.byteLength(JSON.stringify(record));
    sizes.set(record, size);
  }
  return size;
}

export class LocationServices {
  readonly #clusters = new Map<string, ClusterExports>();
  readonly #outboxes = new Map<string, Outbox>();
  readonly #clock: Clock;
  readonly #options: LocationServicesOptions;
  readonly #maxBuffered: number;
  #timer: TimerHandle | undefined;
  #saveTimer: TimerHandle | undefined;
  /** A write to the store under way, and whether something changed since it took its copy. */
  #saving: Promise<void> | undefined;
  #unsaved = false;
  #stopped = false;
  /** Messages sent to agents (fan-out and joins), for tests and the relay's log. */
  sent = 0;
  /** Writes made to the store, for tests and the relay's log. */
  saves = 0;

  constructor(options: LocationServicesOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#maxBuffered = options.maxBufferedBytes ?? defaultMaxBufferedBytes;
  }

  /**
   * Reads the records kept in the store (once, before agents connect). Each cluster read back counts as just seen:
   * it is withdrawn if not heard from within the grace. Answers how many clusters were read back.
   */
  async restore(): Promise<number> {
    const saved = this.#options.store ? await this.#options.store.load() : [];
    let restored = 0;
    for (const c of saved) {
      if (this.#clusters.has(c.cluster) || c.records.length === 0) continue;
      this.#clusters.set(c.cluster, {
        region: c.region,
        records: new Map(c.records.map((r) => [keyOf(r), r])),
        lastSeen: this.#clock.now(),
        down: c.down,
        connected: false,
      });
      restored += 1;
    }
    if (restored > 0)
      this.#options.log({
        level: "info",
        msg: "read back the Location's export records kept on disk",
        clusters: restored,
        down: saved.filter((c) => c.down).length,
        exports: saved.reduce((n, c) => n + c.records.length, 0),
      });
    this.#arm();
    return restored;
  }

  /** An agent's session was greeted: it gets every other cluster's records (those up). */
  joined(peer: ServicesPeer): void {
    const outbox: Outbox = { peer, pending: new Map(), pumping: false };
    this.#outboxes.set(peer.cluster, outbox);
    const own = this.#entry(peer.cluster, undefined);
    own.connected = true;
    // Not announced: a new session starts by sending its whole set (with `present`), which goes out as it is.
    this.#seen(peer.cluster, false);
    for (const [cluster, entry] of this.#clusters) {
      if (cluster === peer.cluster || entry.down || entry.records.size === 0) continue;
      outbox.pending.set(cluster, "whole");
    }
    this.#pump(outbox);
  }

  /** An agent's session closed (`peer` is that session: a newer one of the same cluster may already be in). */
  left(peer: ServicesPeer): void {
    if (this.#outboxes.get(peer.cluster)?.peer !== peer) return;
    this.#outboxes.delete(peer.cluster);
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
    this.#changed();
    for (const outbox of this.#outboxes.values()) {
      if (outbox.peer.cluster === from) continue;
      // A cluster back from down: the others get its whole set (this message alone may be a part of it).
      if (wasDown) this.#hold(outbox, from, "whole");
      else if (outbox.pending.size === 0 && this.#hasRoom(outbox)) this.#send(outbox, body);
      else if (body.present) this.#hold(outbox, from, "whole");
      else this.#hold(outbox, from, new Set([...body.records, ...body.removed].map(keyOf)));
      this.#pump(outbox);
    }
  }

  /** Clusters told down, for tests and logs. */
  get downClusters(): string[] {
    return [...this.#clusters].filter(([, e]) => e.down).map(([c]) => c);
  }

  /** Each cluster's records as held, read-only (the hub's summary, relay/location-services-summary.ts). */
  get exportsByCluster(): ReadonlyMap<
    string,
    { readonly region: string; readonly down: boolean; readonly records: ReadonlyMap<string, ExportRecord> }
  > {
    return this.#clusters;
  }

  /** Per agent whose socket is full, how many clusters it has yet to get something of (the pacing's backlog). */
  get backlog(): Record<string, number> {
    return Object.fromEntries(
      [...this.#outboxes].filter(([, o]) => o.pending.size > 0).map(([c, o]) => [c, o.pending.size]),
    );
  }

  /** Stops the timers (the grace's, the next write's); `flush` still writes what changed. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#saveTimer) this.#clock.clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
  }

  /** Writes what changed to the store now (after any write under way), as a relay does when it stops. */
  async flush(): Promise<void> {
    if (this.#saveTimer) this.#clock.clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    await this.#saving;
    if (this.#unsaved) await this.#save();
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
      this.#changed();
      this.#options.log({
        level: "info",
        msg: "a cluster's exports are back in its Location's imports",
        cluster,
      });
      if (announce)
        for (const outbox of this.#outboxes.values())
          if (outbox.peer.cluster !== cluster) {
            this.#hold(outbox, cluster, "whole");
            this.#pump(outbox);
          }
    }
    this.#arm();
  }

  /** Checks for clusters past their grace at the earliest time one could be. */
  #arm(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
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
      this.#changed();
      this.#options.log({
        level: "warn",
        msg: "a cluster's exports left its Location's imports: no heartbeat or session within the grace",
        cluster,
        connected: entry.connected,
        graceMs: this.#options.graceMs(),
      });
      for (const outbox of this.#outboxes.values())
        if (outbox.peer.cluster !== cluster) {
          this.#hold(outbox, cluster, "gone");
          this.#pump(outbox);
        }
    }
    this.#arm();
  }

  /** Notes what an agent has yet to get of `cluster`, on top of what it already waits for. */
  #hold(outbox: Outbox, cluster: string, what: Pending): void {
    const before = outbox.pending.get(cluster);
    if (what === "gone" || what === "whole" || before === undefined) outbox.pending.set(cluster, what);
    else if (before instanceof Set) for (const key of what) before.add(key);
    // A withdrawal not yet sent and the cluster speaking again: its whole set says it all.
    else if (before === "gone") outbox.pending.set(cluster, "whole");
    // A whole set waiting already covers the changed records.
  }

  #hasRoom(outbox: Outbox): boolean {
    return (outbox.peer.bufferedBytes?.() ?? 0) < this.#maxBuffered;
  }

  /** Sends what an agent waits for while its socket has room; called again each time a frame has left. */
  #pump(outbox: Outbox): void {
    if (outbox.pumping) return;
    outbox.pumping = true;
    try {
      while (outbox.pending.size > 0 && this.#outboxes.get(outbox.peer.cluster) === outbox) {
        if (!this.#hasRoom(outbox)) return;
        const [cluster, pending] = outbox.pending.entries().next().value as [string, Pending];
        this.#send(outbox, this.#nextFrame(outbox, cluster, pending));
      }
    } finally {
      outbox.pumping = false;
    }
  }

  /**
   * The next frame of what an agent waits for of `cluster`, built from the records as they are now: the whole set
   * starts with `present` (the records that do not fit in it wait as changed), changed names go as their records
   * or, when they are gone, in `removed`.
   */
  #nextFrame(outbox: Outbox, cluster: string, pending: Pending): ExportsBody {
    const entry = this.#clusters.get(cluster);
    const region = entry?.region ?? "";
    if (pending === "gone" || !entry || entry.down) {
      outbox.pending.delete(cluster);
      return { cluster, region, records: [], removed: [], present: [] };
    }
    let keys: Iterable<string>;
    let present: ExportsBody["present"];
    let bytes = 0;
    if (pending === "whole") {
      present = [...entry.records.values()].map((r) => ({ namespace: r.namespace, name: r.name }));
      bytes = Buffer.byteLength(JSON.stringify(present));
      keys = entry.records.keys();
    } else keys = pending;
    const records: ExportRecord[] = [];
    const removed: Array<{ namespace: string; name: string }> = [];
    const left = new Set<string>();
    for (const key of keys) {
      const record = entry.records.get(key);
      const full =
        records.length + removed.length > 0 &&
        (records.length >= maxServiceRecords ||
          removed.length >= maxRemovedNames ||
          bytes + (record ? sizeOf(record) : key.length + 32) > frameBudget);
      if (full) left.add(key);
      else if (record) {
        records.push(record);
        bytes += sizeOf(record) + 1;
      } else {
        removed.push(nameOf(key));
        bytes += key.length + 32;
      }
    }
    if (left.size > 0) outbox.pending.set(cluster, left);
    else outbox.pending.delete(cluster);
    return { cluster, region, records, removed, ...(present ? { present } : {}) };
  }

  #send(outbox: Outbox, body: ExportsBody): void {
    this.sent += 1;
    outbox.peer.send(body, () => this.#pump(outbox));
  }

  /** Something worth keeping changed: a write follows, once, after the save delay. */
  #changed(): void {
    if (!this.#options.store) return;
    this.#unsaved = true;
    this.#scheduleSave(this.#options.saveDelayMs ?? defaultSaveDelayMs);
  }

  #scheduleSave(delay: number): void {
    if (this.#saveTimer || this.#stopped) return;
    this.#saveTimer = this.#clock.setTimeout(() => {
      this.#saveTimer = undefined;
      // A write under way: the next is scheduled when it ends.
      if (!this.#saving) void this.#save();
    }, delay);
  }

  /** One write of every cluster's records as they are now (their copy is a list of references, not of text). */
  async #save(): Promise<void> {
    const store = this.#options.store;
    if (!store) return;
    this.#unsaved = false;
    const clusters: SavedCluster[] = [];
    for (const [cluster, entry] of this.#clusters)
      if (entry.records.size > 0)
        clusters.push({
          cluster,
          region: entry.region,
          down: entry.down,
          records: [...entry.records.values()],
        });
    const delay = this.#options.saveDelayMs ?? defaultSaveDelayMs;
    let retryIn = delay;
    this.#saving = store.save(clusters).then(
      () => {
        this.saves += 1;
      },
      (error: Error) => {
        this.#unsaved = true;
        retryIn = delay * saveRetryFactor;
        this.#options.log({
          level: "warn",
          msg: "could not keep the Location's export records on disk; trying again later",
          error: error.message,
          retryInMs: retryIn,
        });
      },
    );
    await this.#saving;
    this.#saving = undefined;
    if (this.#unsaved) this.#scheduleSave(retryIn);
  }
}
