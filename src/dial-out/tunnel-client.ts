/**
 * The client end of the tunnel (an agent dialling its relay or the hub; a relay dialling the hub): dials over
 * mutual TLS, says hello, then keeps the hub's copy of each cluster's inventory current — a snapshot first or
 * when the hub asks for one, deltas afterwards — and sends heartbeats. It reconnects with jittered exponential
 * backoff, or after the delay a `goaway` names. While the tunnel is down, metadata goes to a bounded buffer on
 * disk and is delivered, oldest first, when the next session opens.
 */
import { randomUUID } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import WebSocket from "ws";
import { diffInventory, type InventoryItem } from "../core/inventory/inventory.ts";
import { reconnectDelay } from "../protocol/backoff.ts";
import { decodeFrame, encodeFrame, message } from "../protocol/codec.ts";
import { laneOf } from "../protocol/flow-control.ts";
import type { Message, MessageBody, MessageType } from "../protocol/messages.ts";
import { OutboundQueue } from "../protocol/outbound-queue.ts";
import type { DiskBuffer } from "./disk-buffer.ts";

/** How long the upgrade of a tunnel connection may take before the attempt is given up and retried. */
const handshakeTimeoutMs = 10_000;

/** A metadata message kept while the tunnel was down. */
export interface BufferedMessage {
  cluster: string;
  type: MessageType;
  body: unknown;
}

export interface TunnelClientOptions {
  url: string;
  /** The CA (or CAs) trusted for the server. */
  ca: string | string[];
  cert: string;
  key: string;
  /** Who may answer (the hub, or the agent's relay): checked after the address (docs/pki.md). */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
  hello: { role: "relay" | "agent"; location: string; cluster?: string };
  log: (entry: Record<string, unknown>) => void;
  random?: () => number;
  /** Called when a session opens (after `welcome`). */
  onOpen?: () => void;
  /** Messages the client does not handle itself (a relay routes them to its agents). */
  onMessage?: (message: Message) => void;
  /** Whether a cluster should be reported alive in heartbeats (an agent: its API server answers). */
  alive?: (cluster: string) => boolean;
  /** Where metadata waits while the tunnel is down; without it, only the latest inventory is kept. */
  buffer?: DiskBuffer<BufferedMessage>;
}

interface ClusterState {
  latest: Map<string, InventoryItem>;
  /**
   * What the hub has (or will have, once buffered deltas arrive) and its version. Kept across sessions: after
   * a short outage the hub still holds it and takes deltas; a hub that lost it asks for a snapshot.
   */
  sent?: { items: Map<string, InventoryItem>; version: number };
}

export class TunnelClient {
  private options: TunnelClientOptions;
  private readonly clusters = new Map<string, ClusterState>();
  private ws: WebSocket | undefined;
  private seq = 0;
  private open = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private attempt = 0;
  private retryAfterMs: number | undefined;
  /** Sessions opened so far (tests and metrics read it). */
  sessions = 0;
  /** The heartbeat interval the hub asked for in its last `welcome` (a relay passes it on to its agents). */
  heartbeatSeconds = 10;
  /** Messages forwarded for others (a relay's agents): control first, metadata fairly per cluster. */
  readonly queue = new OutboundQueue<{ type: MessageType; body: unknown }>();

  constructor(options: TunnelClientOptions) {
    this.options = options;
  }

  /** New credentials after a renewal (and what to trust, if that changed): used from the next session on. */
  useCredentials(cert: string, key: string, ca?: string | string[]): void {
    this.options = { ...this.options, cert, key, ...(ca ? { ca } : {}) };
  }

  /** The latest inventory of a cluster; sent now if connected, else when the next session opens. */
  setInventory(cluster: string, items: Map<string, InventoryItem>): void {
    const state = this.clusters.get(cluster) ?? { latest: items };
    state.latest = items;
    this.clusters.set(cluster, state);
    if (this.open) this.sendInventory(cluster, state, (type, body) => this.send(type, body));
    else if (this.options.buffer && state.sent)
      this.sendInventory(cluster, state, (type, body) =>
        this.options.buffer?.append({ cluster, type, body }),
      );
  }

  /** Metadata waiting on disk for the tunnel, and how much was dropped because the buffer was full. */
  get buffered(): { entries: number; bytes: number; dropped: number } {
    const buffer = this.options.buffer;
    return buffer ? { ...buffer.size, dropped: buffer.dropped } : { entries: 0, bytes: 0, dropped: 0 };
  }

  /**
   * Sends a message on behalf of a cluster (a relay forwarding an agent's message), through the queue: control
   * first, then heartbeats, then metadata within the cluster's credit. While the tunnel is down, metadata goes
   * to the disk buffer (if any), control waits in the queue, and a heartbeat waits only to be replaced by the
   * next one or dropped when the session opens.
   */
  forward<T extends MessageType>(cluster: string, type: T, body: MessageBody<T>): void {
    if (!this.open && this.options.buffer && laneOf(type) === "metadata") {
      this.options.buffer.append({ cluster, type, body });
      return;
    }
    this.queue.push({
      cluster,
      // Command output (user content) travels with the command's control messages, in order, ahead of bulk
      // metadata: a command's result never overtakes its output. Heartbeats take no credit (protocol.md).
      lane: laneOf(type),
      item: { type, body },
      // The works an agent holds: only the latest list means anything.
      ...(type === "work.sync" ? { supersedes: `work.sync/${cluster}` } : {}),
    });
    this.pump();
  }

  private pump(): void {
    if (!this.open) return;
    for (let next = this.queue.next(); next; next = this.queue.next())
      this.send(next.item.type, next.item.body as MessageBody<MessageType>);
  }

  get connected(): boolean {
    return this.open;
  }

  /** Runs until `signal` aborts: connect, serve, reconnect. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.session(signal);
      if (signal.aborted) break;
      const delay = this.retryAfterMs ?? reconnectDelay(this.attempt++, this.options.random ?? Math.random);
      this.retryAfterMs = undefined;
      this.options.log({ level: "info", msg: "tunnel reconnecting", inMs: delay });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        signal.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  }

  private session(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.seq = 0;
      const ws = new WebSocket(this.options.url, {
        ca: this.options.ca,
        cert: this.options.cert,
        key: this.options.key,
        // ws hands this to tls.connect, which wants an Error or undefined (ws's types say boolean).
        ...(this.options.checkServerIdentity
          ? {
              checkServerIdentity: this.options.checkServerIdentity as unknown as (
                host: string,
                cert: unknown,
              ) => boolean,
            }
          : {}),
        // A hub that takes the connection and never answers the upgrade (one stopping, say) is left and retried.
        handshakeTimeout: handshakeTimeoutMs,
      });
      this.ws = ws;
      let closing: NodeJS.Timeout | undefined;
      const abort = () => {
        ws.close(1001, "agent stopping");
        // A peer that does not answer the close handshake must not hold the stop up (ws waits 30 s).
        closing = setTimeout(() => ws.terminate(), 2000);
      };
      signal.addEventListener("abort", abort, { once: true });
      ws.on("open", () => {
        this.send("hello", { ...this.options.hello, versions: [1], resumeFrom: 0 });
      });
      ws.on("message", (data: Buffer) => this.receive(data));
      ws.on("unexpected-response", (_req, res) => {
        this.options.log({ level: "warn", msg: "tunnel refused by the hub", status: res.statusCode });
      });
      ws.on("error", (error) =>
        this.options.log({ level: "warn", msg: "tunnel error", error: error.message }),
      );
      ws.on("close", () => {
        if (closing) clearTimeout(closing);
        signal.removeEventListener("abort", abort);
        this.open = false;
        if (this.heartbeat) clearInterval(this.heartbeat);
        resolve();
      });
    });
  }

  private receive(data: Buffer): void {
    const decoded = decodeFrame(data);
    if (!decoded.ok) {
      this.options.log({
        level: "warn",
        msg: "refused a frame from the hub",
        reason: decoded.rejection.message,
      });
      return;
    }
    const m = decoded.message;
    switch (m.type) {
      case "welcome":
        this.open = true;
        this.attempt = 0;
        this.sessions += 1;
        this.options.log({ level: "info", msg: "tunnel open", session: m.body.session });
        // Credit is per session: whatever was in flight went with the old one.
        this.queue.sessionOpened();
        this.deliverBuffered();
        for (const [cluster, state] of this.clusters)
          this.sendInventory(cluster, state, (type, body) => this.send(type, body));
        this.heartbeatSeconds = m.body.heartbeatSeconds;
        this.heartbeat = setInterval(() => this.beat(), m.body.heartbeatSeconds * 1000);
        this.beat();
        this.options.onOpen?.();
        this.pump();
        return;
      case "inventory.resync": {
        const state = this.clusters.get(m.body.cluster);
        if (state) {
          delete state.sent;
          this.sendInventory(m.body.cluster, state, (type, body) => this.send(type, body));
        } else this.options.onMessage?.(m);
        return;
      }
      case "credit":
        this.queue.grant(m.body.cluster, m.body.messages);
        this.pump();
        this.options.onMessage?.(m);
        return;
      case "goaway":
        this.retryAfterMs = m.body.retryAfterMs;
        this.options.log({
          level: "info",
          msg: "hub asked to reconnect later",
          retryAfterMs: m.body.retryAfterMs,
        });
        this.ws?.close(1000, "goaway");
        return;
      case "error":
        this.options.log({
          level: "warn",
          msg: "hub refused a message",
          code: m.body.code,
          message: m.body.message,
        });
        return;
      default:
        this.options.onMessage?.(m);
        return;
    }
  }

  private beat(): void {
    if (this.clusters.size === 0) return;
    const at = new Date().toISOString();
    const alive = [...this.clusters.keys()].filter((cluster) => this.options.alive?.(cluster) ?? true);
    if (alive.length === 0) return;
    this.send("heartbeat", { clusters: alive.map((cluster) => ({ cluster, at })) });
  }

  /** What waited on disk goes first, in order, before anything newer. */
  private deliverBuffered(): void {
    const buffer = this.options.buffer;
    if (!buffer || buffer.size.entries === 0) return;
    const items = buffer.drain();
    for (const item of items) this.send(item.type, item.body as MessageBody<MessageType>);
    this.options.log({
      level: "info",
      msg: "delivered metadata buffered while the tunnel was down",
      messages: items.length,
      dropped: buffer.dropped,
    });
  }

  private sendInventory(
    cluster: string,
    state: ClusterState,
    emit: <T extends "inventory.snapshot" | "inventory.delta">(type: T, body: MessageBody<T>) => void,
  ): void {
    if (!state.sent) {
      // A snapshot's version starts a new line of numbering, different from what a hub may hold from before.
      const version = Date.now();
      emit("inventory.snapshot", {
        cluster,
        version,
        items: [...state.latest].map(([key, value]) => ({ key, value })),
      });
      state.sent = { items: state.latest, version };
      return;
    }
    const changes = diffInventory(state.sent.items, state.latest);
    if (changes.length === 0) return;
    const version = state.sent.version + 1;
    emit("inventory.delta", {
      cluster,
      baseVersion: state.sent.version,
      version,
      changes: changes as MessageBody<"inventory.delta">["changes"],
    });
    state.sent = { items: state.latest, version };
  }

  private send<T extends MessageType>(type: T, body: MessageBody<T>): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++this.seq })));
  }
}
