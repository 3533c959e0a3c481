/**
 * The hub's end of the tunnel: relays and agents dial `/unitfleet/v1alpha1/tunnel` (a WebSocket on the API's
 * HTTPS port) with the client certificate they got by joining. Each session is checked (certificate, then the
 * `hello` against it), then carries heartbeats and inventory for the clusters the peer may speak for. The hub
 * keeps each cluster's inventory, writes its items into the store (cluster-inventories.ts) and its summary into
 * the Cluster's status (with `observedNetwork`, the addresses the cluster uses, when its agent reports them),
 * records heartbeats for the health loop (hub/tunnel/cluster-health.ts), and writes metered hours into the ledger
 * (hub/metering/usage-ledger.ts).
 */
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { type WebSocket, WebSocketServer } from "ws";
import { applyChanges, type InventoryItem, summarise } from "../../core/inventory/inventory.ts";
import { usageMessageIdentity } from "../../core/metering/hourly.ts";
import type { UsageSource } from "../../core/metering/usage.ts";
import { usageCondition, withCondition } from "../../core/metering/usage-condition.ts";
import { readObservedNetwork } from "../../core/network/observed-network.ts";
import { type ClusterSpec, kinds } from "../../core/resources/kinds.ts";
import type { Condition } from "../../core/resources/meta.ts";
import { spreadRetries } from "../../protocol/backoff.ts";
import { decodeFrame, encodeFrame, message } from "../../protocol/codec.ts";
import { creditReturned, creditReturnedForFrame, initialCredit } from "../../protocol/flow-control.ts";
import {
  type Envelope,
  type Message,
  type MessageBody,
  type MessageType,
  maxFrameBytes,
} from "../../protocol/messages.ts";
import { commandResidencyVerdict, residencyVerdict } from "../../protocol/residency.ts";
import { InboundSequence } from "../../protocol/session.ts";
import type { ResourceStore } from "../../store/resource-store.ts";
import type { Sql } from "../../store/sql.ts";
import type { Metrics } from "../api/metrics.ts";
import type { CommandBus } from "../commands/command-bus.ts";
import type { WorkDispatcher, WorkRoute } from "../delivery/work-dispatcher.ts";
import type { PeerIdentity } from "../joining/identity.ts";
import { maySpeakFor } from "../joining/identity.ts";
import { checkPeerCertificate, revocationsChannel, revokedSerials } from "../joining/joining.ts";
import { recordUsageHours } from "../metering/usage-ledger.ts";
import { systemCaller } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";
import type { ServiceExportSummaries } from "../services/service-export-summaries.ts";
import { inventoryText, saveInventory } from "./cluster-inventories.ts";

export const tunnelPath = "/unitfleet/v1alpha1/tunnel";
export const defaultHeartbeatSeconds = 10;
const helloTimeoutMs = 10_000;
/** Frames of one session received and not yet handled: past this the socket is paused (TCP backpressure). */
const pauseAtQueuedFrames = 1024;
/** …and resumed once the session has caught up to this. */
const resumeAtQueuedFrames = 256;
/** Metadata frames sent beyond a cluster's credit that a session may make before it is closed. */
const creditViolationLimit = 8;
/** A cluster's heartbeats closer together than this fraction of the interval are counted and dropped. */
const heartbeatMinGapFraction = 0.25;

export interface TunnelDependencies {
  sql: Sql;
  store: ResourceStore;
  registry: Registry;
  caCert: string;
  metrics: Metrics;
  replica: string;
  /** How often clients send heartbeats (told in `welcome`). */
  heartbeatSeconds: number;
  commands: CommandBus;
  works: WorkDispatcher;
  /** Relays' summaries of their Locations' multi-cluster services. */
  serviceExports?: ServiceExportSummaries;
  /** The Location the hub runs in: user content of that Location's clusters may reach it, no other. */
  location?: string;
  log: (entry: Record<string, unknown>) => void;
}

/** The inventories this replica holds, by cluster, with the version of the last delta applied. */
interface ClusterInventory {
  version: number;
  items: Map<string, InventoryItem>;
  /** The summary last written into the Cluster's status. */
  written?: string;
  /** A digest of the items last written into the store (a digest, not the text: 10,000 clusters' items add up). */
  itemsWritten?: string;
}

export class TunnelServer {
  private readonly deps: TunnelDependencies;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes });
  private readonly sessions = new Set<Session>();
  readonly inventories = new Map<string, ClusterInventory>();

  constructor(deps: TunnelDependencies) {
    this.deps = deps;
    deps.metrics.gauge("unitfleet_tunnel_sessions", () => this.sessions.size);
  }

  private unlisten: (() => Promise<void>) | undefined;
  /** Set by `goAway`: new tunnels are refused (503), so none outlives the hub. */
  private stopping = false;

  /** Listens for revocations, to pass them on to the relays of their Location. */
  async start(): Promise<void> {
    this.unlisten = await this.deps.sql.listen(revocationsChannel, (location) => {
      for (const session of this.sessions) if (session.relayOf === location) void session.sendRevocations();
    });
  }

  revokedSerials(location: string): Promise<string[]> {
    return revokedSerials(this.deps.sql, location, new Date());
  }

  /** Takes WebSocket upgrades on the tunnel path of the API server. */
  attach(server: Server): void {
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? "/", "http://hub").pathname !== tunnelPath) {
        socket.destroy();
        return;
      }
      this.upgrade(req, socket, head).catch((error: unknown) => {
        // The store may be closing under a stopping hub: answer, so that the client retries elsewhere or later.
        this.deps.log({ level: "warn", msg: "tunnel upgrade failed", error: (error as Error).message });
        refuse(socket, 503, "the hub could not take the tunnel now; retry");
      });
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.stopping) return refuse(socket, 503, "the hub is stopping; retry");
    const tls = socket as TLSSocket;
    const peer = typeof tls.getPeerCertificate === "function" ? tls.getPeerCertificate(false) : undefined;
    if (!peer?.raw)
      return refuse(socket, 401, "the tunnel needs the client certificate a relay or agent gets by joining");
    const pem = new X509Certificate(peer.raw).toString();
    const check = await checkPeerCertificate(this.deps.sql, this.deps.caCert, pem, new Date());
    if (!check.ok) {
      this.deps.log({ level: "warn", msg: "tunnel refused", reason: check.reason });
      return refuse(socket, 403, check.reason);
    }
    // Stopping began while the certificate was checked: a session now would outlive the hub's goaway.
    if (this.stopping) return refuse(socket, 503, "the hub is stopping; retry");
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(ws, check.identity, this);
      this.sessions.add(session);
      ws.on("close", () => this.sessions.delete(session));
    });
  }

  /** Tells every client to come back after a delay spread over `windowMs`, then closes. */
  async goAway(windowMs: number): Promise<void> {
    this.stopping = true;
    const sessions = [...this.sessions];
    const delays = spreadRetries(sessions.length, windowMs, Math.random);
    for (const [i, session] of sessions.entries()) session.goAway(delays[i]!);
    await new Promise((r) => setTimeout(r, 100));
    for (const s of [...this.sessions]) s.close();
    this.wss.close();
    await this.unlisten?.();
  }

  /** Heartbeats (and snapshots, which count as one) received by this replica since it started, per cluster. */
  readonly heartbeatsReceived = new Map<string, number>();

  /** Records a heartbeat (a row per cluster, no resource event: cheap at fleet scale). */
  async heartbeat(cluster: string, at: Date): Promise<void> {
    this.heartbeatsReceived.set(cluster, (this.heartbeatsReceived.get(cluster) ?? 0) + 1);
    await this.deps.sql.query(
      `insert into cluster_heartbeats (cluster, at, replica) values ($1, $2, $3)
       on conflict (cluster) do update set at = excluded.at, replica = excluded.replica`,
      [cluster, at.toISOString(), this.deps.replica],
    );
  }

  /**
   * Writes a cluster's inventory items into the store and their summary into its status, each when it changed
   * (the items change more often: a workload's constraints are not in the summary).
   */
  async writeStatus(cluster: string): Promise<void> {
    const inventory = this.inventories.get(cluster);
    if (!inventory) return;
    const summary = summarise(inventory.items);
    const text = JSON.stringify(summary);
    const itemsText = inventoryText(inventory.items);
    const itemsDigest = createHash("sha256").update(itemsText).digest("base64");
    if (inventory.written === text && inventory.itemsWritten === itemsDigest) return;
    if (!(await this.deps.store.get("Cluster", cluster))) return;
    if (inventory.itemsWritten !== itemsDigest) {
      await saveInventory(this.deps.sql, cluster, inventory.version, itemsText);
      inventory.itemsWritten = itemsDigest;
    }
    if (inventory.written === text) return;
    // What the agent observed of the cluster's addresses (issue 15, item 6): the network pass reads it.
    const observedNetwork = readObservedNetwork(summary.network);
    await this.deps.registry.mergeStatus(
      kinds.Cluster,
      cluster,
      {
        ...(summary.kubernetesVersion ? { kubernetesVersion: summary.kubernetesVersion } : {}),
        nodes: summary.nodes,
        capacity: summary.capacity,
        allocatable: summary.allocatable,
        requested: summary.requested,
        pods: summary.pods,
        observedZones: summary.zones,
        namespaces: summary.namespaces,
        ...(observedNetwork ? { observedNetwork } : {}),
      },
      systemCaller,
    );
    inventory.written = text;
  }

  /** A registered Cluster's spec (where it runs, who owns it), or undefined. */
  /** Sets the Cluster's UsageMetered condition from the source of the hours it just sent, when it changed. */
  async noteUsageSource(name: string, source: UsageSource): Promise<void> {
    const cluster = await this.deps.store.get("Cluster", name);
    const current = ((cluster?.status as { conditions?: Condition[] } | undefined)?.conditions ??
      []) as Condition[];
    if (!cluster) return;
    const conditions = withCondition(current, usageCondition(source, current, new Date()));
    if (conditions) await this.deps.registry.mergeStatus(kinds.Cluster, name, { conditions }, systemCaller);
  }

  async clusterSpec(name: string): Promise<ClusterSpec | undefined> {
    return (await this.deps.store.get("Cluster", name))?.spec as ClusterSpec | undefined;
  }

  get sql(): Sql {
    return this.deps.sql;
  }

  async clusterLocation(name: string): Promise<string | undefined> {
    const cluster = await this.deps.store.get("Cluster", name);
    return (cluster?.spec as { location?: string } | undefined)?.location;
  }

  get log() {
    return this.deps.log;
  }

  get heartbeatSeconds(): number {
    return this.deps.heartbeatSeconds;
  }

  get commands(): CommandBus {
    return this.deps.commands;
  }

  get works(): WorkDispatcher {
    return this.deps.works;
  }

  get location(): string | undefined {
    return this.deps.location;
  }

  get serviceExports(): ServiceExportSummaries | undefined {
    return this.deps.serviceExports;
  }

  get metrics(): Metrics {
    return this.deps.metrics;
  }
}

/** One relay's or agent's session. */
class Session {
  private readonly ws: WebSocket;
  private readonly identity: PeerIdentity;
  private readonly server: TunnelServer;
  private readonly inbound = new InboundSequence();
  private outboundSeq = 0;
  private greeted = false;
  private readonly helloTimer: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  /** Frames received and not yet handled, in all and of metadata per cluster (within its credit). */
  private queuedFrames = 0;
  private readonly queuedMetadata = new Map<string, number>();
  private creditViolations = 0;
  /** When each cluster's last heartbeat was handled in this session (ms since the epoch). */
  private readonly heartbeatHandledAt = new Map<string, number>();
  private detach: (() => void) | undefined;
  /** This session as a route for works (the dispatcher remembers what it sent through it). */
  private readonly workRoute: WorkRoute;
  private closed = false;

  constructor(ws: WebSocket, identity: PeerIdentity, server: TunnelServer) {
    this.ws = ws;
    this.identity = identity;
    this.server = server;
    this.workRoute = { identity, send: (type, body) => this.send(type, body) };
    this.helloTimer = setTimeout(() => this.fail("malformed", "no hello within 10 s"), helloTimeoutMs);
    ws.on("message", (data: Buffer) => {
      // Frames are handled one after another, in order, whatever their handlers await, each in a turn of its
      // own: a peer that sends faster than the hub handles slows its own session (paused socket), nothing else.
      const metadataOf = this.greeted ? creditReturnedForFrame(data)?.cluster : undefined;
      const overCredit =
        metadataOf !== undefined && (this.queuedMetadata.get(metadataOf) ?? 0) >= initialCredit;
      if (metadataOf !== undefined && !overCredit)
        this.queuedMetadata.set(metadataOf, (this.queuedMetadata.get(metadataOf) ?? 0) + 1);
      if (++this.queuedFrames >= pauseAtQueuedFrames) ws.pause();
      this.chain = this.chain
        .then(() => new Promise((resolve) => setImmediate(resolve)))
        .then(() => (overCredit ? this.refuseOverCredit(data, metadataOf) : this.receive(data)))
        .catch((error: unknown) => {
          server.log({ level: "error", msg: "tunnel message failed", error: String(error) });
        })
        .finally(() => {
          if (metadataOf !== undefined && !overCredit) {
            const left = (this.queuedMetadata.get(metadataOf) ?? 1) - 1;
            if (left > 0) this.queuedMetadata.set(metadataOf, left);
            else this.queuedMetadata.delete(metadataOf);
          }
          if (--this.queuedFrames === resumeAtQueuedFrames && ws.isPaused) ws.resume();
        });
    });
    ws.on("close", () => {
      clearTimeout(this.helloTimer);
      this.closed = true;
      this.detach?.();
    });
    // An oversized or broken frame errors this socket only: log it; ws closes the connection.
    ws.on("error", (error) =>
      server.log({
        level: "warn",
        msg: "tunnel session error",
        peer: describe(identity),
        error: error.message,
      }),
    );
  }

  send<T extends MessageType>(type: T, body: MessageBody<T>, replyTo?: string): void {
    const m = message(type, body, {
      id: randomUUID(),
      seq: ++this.outboundSeq,
      ...(replyTo ? { replyTo } : {}),
    });
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeFrame(m));
  }

  /** The Location whose relay this session is, if it is a relay's. */
  get relayOf(): string | undefined {
    return this.greeted && this.identity.role === "relay" ? this.identity.location : undefined;
  }

  /** Tells a relay which agent certificates of its Location are revoked. */
  async sendRevocations(): Promise<void> {
    try {
      this.send("revocations", { serials: await this.server.revokedSerials(this.identity.location) });
    } catch (error) {
      this.server.log({ level: "error", msg: "could not send revocations", error: String(error) });
    }
  }

  goAway(retryAfterMs: number): void {
    this.send("goaway", { reason: "hub stopping", retryAfterMs });
  }

  close(): void {
    this.ws.close(1001, "going away");
  }

  private fail(code: MessageBody<"error">["code"], text: string): void {
    this.send("error", { code, message: text });
    this.ws.close(1008, text.slice(0, 120));
  }

  /**
   * A metadata frame sent while its cluster's window was already full: refused without its credit (the peer
   * had none to spend), and the session closed after repeated violations.
   */
  private refuseOverCredit(data: Buffer, cluster: string): void {
    const decoded = decodeFrame(data);
    const order = decoded.ok
      ? this.inbound.check(decoded.message.seq)
      : decoded.rejection.seq !== undefined
        ? this.inbound.check(decoded.rejection.seq)
        : "accept";
    if (order === "duplicate") return;
    if (order === "gap" && decoded.ok) {
      this.fail("out-of-order", `expected seq ${this.inbound.handled + 1}, got ${decoded.message.seq}`);
      return;
    }
    this.server.metrics.count(
      "unitfleet_tunnel_credit_violations_total",
      "Metadata frames refused because the peer had no credit left for their cluster.",
      {},
    );
    if (++this.creditViolations >= creditViolationLimit) {
      this.fail("forbidden", `more than ${initialCredit} metadata messages in flight for ${cluster}, again`);
      return;
    }
    this.send("error", {
      code: "forbidden",
      message: `credit exceeded: more than ${initialCredit} metadata messages in flight for ${cluster}`,
    });
  }

  private async receive(data: Buffer): Promise<void> {
    const decoded = decodeFrame(data);
    if (!decoded.ok) {
      this.send("error", { code: decoded.rejection.code, message: decoded.rejection.message });
      // Refused, but handled: the messages after it are not out of order.
      if (this.greeted && decoded.rejection.seq !== undefined) this.inbound.check(decoded.rejection.seq);
      // A refused frame gives its credit back too, or the relay's window for the cluster would shrink for good.
      const credit = this.greeted ? creditReturnedForFrame(data) : undefined;
      if (credit) this.send("credit", credit);
      return;
    }
    const m = decoded.message;
    const order = this.inbound.check(m.seq);
    if (order === "duplicate") return;
    if (order === "gap")
      return this.fail("out-of-order", `expected seq ${this.inbound.handled + 1}, got ${m.seq}`);
    if (!this.greeted) return this.hello(m);
    await this.handle(m);
    if (this.inbound.handled % 32 === 0) this.send("ack", { upTo: this.inbound.handled });
  }

  private async hello(m: Message): Promise<void> {
    clearTimeout(this.helloTimer);
    if (m.type !== "hello") {
      this.fail("malformed", "the first message must be hello");
      return;
    }
    const hello = m.body;
    const id = this.identity;
    const matches =
      hello.role === id.role &&
      hello.location === id.location &&
      (id.role === "relay" || hello.cluster === id.cluster);
    if (!matches) {
      this.fail("forbidden", `hello does not match the client certificate (${describe(id)})`);
      return;
    }
    if (!hello.versions.includes(1)) {
      this.fail("unsupported-version", "this hub speaks protocol version 1");
      return;
    }
    this.greeted = true;
    this.send(
      "welcome",
      { version: 1, session: randomUUID(), resumeFrom: 0, heartbeatSeconds: this.server.heartbeatSeconds },
      m.id,
    );
    this.server.log({ level: "info", msg: "tunnel session open", peer: describe(id) });
    if (id.role === "relay") await this.sendRevocations();
    // From now on this session carries commands for the clusters it reaches, starting with pending ones.
    const detach = await this.server.commands.attach({
      identity: id,
      deliver: (command) => {
        // An agent that dialled the hub directly has no relay to guard its Location: the hub does.
        const verdict =
          id.role === "agent"
            ? commandResidencyVerdict(command.action, id.location, this.server.location ?? "(unknown)")
            : { allowed: true as const };
        if (verdict.allowed) return this.send("command", command);
        void this.server.commands.complete(id, {
          idempotencyKey: command.idempotencyKey,
          outcome: "refused",
          rule: verdict.rule,
          message: `${verdict.rule}: ${verdict.reason}`,
        });
      },
    });
    const detachWorks = this.server.works.attach(this.workRoute);
    if (this.closed) {
      detach();
      detachWorks();
    } else
      this.detach = () => {
        detach();
        detachWorks();
      };
  }

  private async allowed(cluster: string): Promise<boolean> {
    const location = await this.server.clusterLocation(cluster);
    const verdict = location
      ? maySpeakFor(this.identity, { name: cluster, location })
      : { allowed: false as const, reason: `cluster "${cluster}" is not registered` };
    if (!verdict.allowed) this.send("error", { code: "forbidden", message: verdict.reason });
    return verdict.allowed;
  }

  /** Handles a message, then gives back the credit it took (flow-control.ts), whatever became of it. */
  private async handle(m: Message): Promise<void> {
    try {
      await this.handleMessage(m);
    } finally {
      const credit = creditReturned(m);
      if (credit) this.send("credit", credit);
    }
  }

  private async handleMessage(m: Message): Promise<void> {
    this.server.metrics.count("unitfleet_tunnel_messages_total", "Tunnel messages received, by type.", {
      type: m.type,
    });
    switch (m.type) {
      case "heartbeat":
        for (const beat of m.body.clusters) {
          // Closer together than the interval allows: it says nothing new (counted, then dropped).
          const now = Date.now();
          const gapMs = this.server.heartbeatSeconds * 1000 * heartbeatMinGapFraction;
          if (now - (this.heartbeatHandledAt.get(beat.cluster) ?? 0) < gapMs) {
            this.server.metrics.count(
              "unitfleet_tunnel_heartbeats_dropped_total",
              "Heartbeats dropped because they came far faster than the heartbeat interval.",
              {},
            );
            continue;
          }
          if (!(await this.allowed(beat.cluster))) continue;
          this.heartbeatHandledAt.set(beat.cluster, now);
          await this.server.heartbeat(beat.cluster, new Date(now));
        }
        return;
      case "inventory.snapshot": {
        if (!(await this.allowed(m.body.cluster))) return;
        const items = new Map(m.body.items.map((i) => [i.key, i.value as InventoryItem]));
        this.server.inventories.set(m.body.cluster, { version: m.body.version, items });
        await this.server.heartbeat(m.body.cluster, new Date());
        await this.server.writeStatus(m.body.cluster);
        return;
      }
      case "inventory.delta": {
        if (!(await this.allowed(m.body.cluster))) return;
        const held = this.server.inventories.get(m.body.cluster);
        if (!held || held.version !== m.body.baseVersion) {
          this.send("inventory.resync", { cluster: m.body.cluster });
          return;
        }
        held.items = applyChanges(held.items, m.body.changes as Parameters<typeof applyChanges>[1]);
        held.version = m.body.version;
        await this.server.writeStatus(m.body.cluster);
        return;
      }
      case "ack":
        return;
      case "command.result":
        await this.server.commands.complete(this.identity, m.body);
        return;
      case "work.sync":
        if (!(await this.allowed(m.body.cluster))) return;
        await this.server.works.sync(this.workRoute, m.body);
        return;
      case "work.status":
        if (!(await this.allowed(m.body.cluster))) return;
        await this.server.works.report(m.body);
        return;
      case "usage.hours": {
        // Metered hours go into the ledger, each record once by its key (hub/metering/usage-ledger.ts).
        if (!(await this.allowed(m.body.cluster))) return;
        const cluster = await this.server.clusterSpec(m.body.cluster);
        if (!cluster) return;
        await recordUsageHours(this.server.sql, cluster, m.body);
        await this.server.noteUsageSource(m.body.cluster, m.body.source);
        // Recorded (or already there): the agent need not send this message again.
        const identity = usageMessageIdentity(m.body);
        if (identity) this.send("usage.ack", { cluster: m.body.cluster, ...identity });
        return;
      }
      case "services.summary":
        // Only a relay summarises, and only its own Location (docs/multi-cluster-services.md "What the hub sees").
        if (this.identity.role !== "relay" || m.body.location !== this.identity.location) {
          this.send("error", {
            code: "forbidden",
            message: `only the relay of ${m.body.location} may summarise its services`,
          });
          return;
        }
        await this.server.serviceExports?.receive(m.body);
        return;
      case "logs.chunk": {
        // Pod logs are user content: the relay's guard keeps them in their Location; the hub checks again.
        if (!(await this.allowed(m.body.cluster))) return;
        const location = (await this.server.clusterLocation(m.body.cluster)) ?? this.identity.location;
        const verdict = residencyVerdict(m.type, location, this.server.location ?? "(unknown)");
        if (!verdict.allowed) {
          this.server.metrics.count(
            "unitfleet_residency_refusals_total",
            "Commands refused because their output may not leave its Location, by Location and rule.",
            { location, rule: verdict.rule },
          );
          this.send("error", { code: "residency", message: `${verdict.rule}: ${verdict.reason}` });
          return;
        }
        await this.server.commands.appendOutput(this.identity, m.body);
        return;
      }
      default:
        this.send("error", { code: "malformed", message: `${(m as Envelope).type} is not sent to the hub` });
    }
  }
}

function describe(id: PeerIdentity): string {
  return id.role === "relay" ? `relay of ${id.location}` : `agent of ${id.cluster} in ${id.location}`;
}

const statusText: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  503: "Service Unavailable",
};

function refuse(socket: Duplex, code: number, reason: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(
    `HTTP/1.1 ${code} ${statusText[code] ?? "Forbidden"}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${reason}\n`,
  );
  socket.destroy();
}
