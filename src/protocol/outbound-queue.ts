/**
 * What a relay sends next over its one tunnel. Control always overtakes metadata. Metadata is queued per
 * cluster and sent round-robin, each cluster within the credit the hub has granted it: a cluster whose
 * messages the hub is slow to take (no credit left) waits alone, and the others keep flowing. Each cluster's
 * queue is bounded; when full, its oldest message is dropped and counted.
 */

export interface Queued<T> {
  cluster: string;
  lane: "control" | "metadata";
  item: T;
}

export class OutboundQueue<T> {
  private readonly control: Array<Queued<T>> = [];
  private readonly metadata = new Map<string, Array<Queued<T>>>();
  private readonly credit = new Map<string, number>();
  private readonly order: string[] = [];
  private turn = 0;
  private readonly perClusterLimit: number;
  private readonly initialCredit: number;
  /** Metadata messages dropped because a cluster's queue was full, per cluster. */
  readonly dropped = new Map<string, number>();

  constructor(perClusterLimit = 1000, initialCredit = 64) {
    this.perClusterLimit = perClusterLimit;
    this.initialCredit = initialCredit;
  }

  push(entry: Queued<T>): void {
    if (entry.lane === "control") {
      this.control.push(entry);
      return;
    }
    let queue = this.metadata.get(entry.cluster);
    if (!queue) {
      queue = [];
      this.metadata.set(entry.cluster, queue);
      this.order.push(entry.cluster);
      if (!this.credit.has(entry.cluster)) this.credit.set(entry.cluster, this.initialCredit);
    }
    queue.push(entry);
    if (queue.length > this.perClusterLimit) {
      queue.shift();
      this.dropped.set(entry.cluster, (this.dropped.get(entry.cluster) ?? 0) + 1);
    }
  }

  /** The hub granted `messages` more metadata messages for a cluster. */
  grant(cluster: string, messages: number): void {
    this.credit.set(cluster, (this.credit.get(cluster) ?? this.initialCredit) + messages);
  }

  /** The next message to send, or undefined when nothing may be sent now. */
  next(): Queued<T> | undefined {
    const control = this.control.shift();
    if (control) return control;
    for (let tried = 0; tried < this.order.length; tried++) {
      const index = (this.turn + tried) % this.order.length;
      const cluster = this.order[index]!;
      const queue = this.metadata.get(cluster)!;
      if (queue.length === 0 || (this.credit.get(cluster) ?? 0) <= 0) continue;
      this.turn = index + 1;
      this.credit.set(cluster, this.credit.get(cluster)! - 1);
      return queue.shift();
    }
    return undefined;
  }

  /** Messages waiting, per lane. */
  get size(): { control: number; metadata: number } {
    let metadata = 0;
    for (const q of this.metadata.values()) metadata += q.length;
    return { control: this.control.length, metadata };
  }
}
