/**
 * What a relay sends next over its one tunnel (docs/protocol.md, Flow control). Three lanes, in this order:
 *
 * - control: first, in order. A control message with a `supersedes` key replaces an unsent one with the same
 *   key (a newer state report makes the older one pointless).
 * - heartbeat: no credit; at most one per cluster waits — a newer heartbeat replaces the unsent one — so the
 *   lane never holds more than one message per cluster.
 * - metadata: queued per cluster and sent round-robin, each cluster within its credit (the hub gives one back
 *   per message it received): a cluster whose messages the hub is slow to take waits alone, and the others
 *   keep flowing. Each cluster's queue is bounded; when full, its oldest message is dropped and counted.
 *
 * Credit belongs to a session: `sessionOpened` gives every cluster its whole window again.
 */
import { initialCredit as defaultInitialCredit, type Lane } from "./flow-control.ts";

export interface Queued<T> {
  cluster: string;
  lane: Lane;
  item: T;
  /** Control lane: an unsent message with the same key is replaced by this one, in its place. */
  supersedes?: string;
}

export class OutboundQueue<T> {
  private readonly control: Array<Queued<T>> = [];
  private readonly heartbeats = new Map<string, Queued<T>>();
  private readonly metadata = new Map<string, Array<Queued<T>>>();
  private readonly credit = new Map<string, number>();
  private readonly order: string[] = [];
  private turn = 0;
  private waiting = 0;
  private highest = 0;
  private readonly perClusterLimit: number;
  private readonly initialCredit: number;
  /** Metadata messages dropped because a cluster's queue was full, per cluster. */
  readonly dropped = new Map<string, number>();
  /** Heartbeats replaced by a newer one of their cluster before they were sent. */
  heartbeatsSuperseded = 0;

  constructor(perClusterLimit = 1000, initialCredit = defaultInitialCredit) {
    this.perClusterLimit = perClusterLimit;
    this.initialCredit = initialCredit;
  }

  push(entry: Queued<T>): void {
    if (entry.lane === "control") this.pushControl(entry);
    else if (entry.lane === "heartbeat") {
      if (this.heartbeats.delete(entry.cluster)) {
        this.heartbeatsSuperseded += 1;
        this.waiting -= 1;
      }
      // Deleted and set again: the cluster goes to the back of the lane, behind those that waited longer.
      this.heartbeats.set(entry.cluster, entry);
      this.waiting += 1;
    } else this.pushMetadata(entry);
    this.highest = Math.max(this.highest, this.waiting);
  }

  private pushControl(entry: Queued<T>): void {
    const older =
      entry.supersedes === undefined ? -1 : this.control.findIndex((c) => c.supersedes === entry.supersedes);
    if (older >= 0) {
      this.control[older] = entry;
      return;
    }
    this.control.push(entry);
    this.waiting += 1;
  }

  private pushMetadata(entry: Queued<T>): void {
    let queue = this.metadata.get(entry.cluster);
    if (!queue) {
      queue = [];
      this.metadata.set(entry.cluster, queue);
      this.order.push(entry.cluster);
    }
    queue.push(entry);
    this.waiting += 1;
    if (queue.length > this.perClusterLimit) {
      queue.shift();
      this.waiting -= 1;
      this.dropped.set(entry.cluster, (this.dropped.get(entry.cluster) ?? 0) + 1);
    }
  }

  /**
   * The hub gave back `messages` credit for a cluster. Credit never exceeds the window: a hub that gives back
   * more than was taken cannot let more than a window be in flight.
   */
  grant(cluster: string, messages: number): void {
    this.credit.set(cluster, Math.min(this.initialCredit, this.creditOf(cluster) + messages));
  }

  /**
   * A new session opened: whatever was in flight on the old one is gone with it, so every cluster has its
   * whole window again. Heartbeats that waited for the session are dropped: they are late, and a late
   * heartbeat would make a cluster that died during the outage look alive.
   */
  sessionOpened(): void {
    this.credit.clear();
    this.waiting -= this.heartbeats.size;
    this.heartbeats.clear();
  }

  /** The next message to send, or undefined when nothing may be sent now. */
  next(): Queued<T> | undefined {
    const control = this.control.shift();
    if (control) {
      this.waiting -= 1;
      return control;
    }
    for (const [cluster, heartbeat] of this.heartbeats) {
      this.heartbeats.delete(cluster);
      this.waiting -= 1;
      return heartbeat;
    }
    for (let tried = 0; tried < this.order.length; tried++) {
      const index = (this.turn + tried) % this.order.length;
      const cluster = this.order[index]!;
      const queue = this.metadata.get(cluster)!;
      const credit = this.creditOf(cluster);
      if (queue.length === 0 || credit <= 0) continue;
      this.turn = index + 1;
      this.credit.set(cluster, credit - 1);
      this.waiting -= 1;
      return queue.shift();
    }
    return undefined;
  }

  /** A cluster's credit: how many more metadata messages it may send in this session. */
  creditOf(cluster: string): number {
    return this.credit.get(cluster) ?? this.initialCredit;
  }

  /** Messages waiting, per lane. */
  get size(): { control: number; heartbeat: number; metadata: number } {
    let metadata = 0;
    for (const q of this.metadata.values()) metadata += q.length;
    return { control: this.control.length, heartbeat: this.heartbeats.size, metadata };
  }

  /** The most messages (all lanes) that ever waited at once since the queue was made. */
  get peak(): number {
    return this.highest;
  }
}
