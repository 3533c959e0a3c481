/**
 * The relay of a Location: its agents dial it over the intranet (mutual TLS with certificates from the fleet
 * CA: docs/pki.md); it holds the Location's one tunnel to the hub and forwards their control and metadata over
 * it — control first, metadata fairly per cluster, buffered (bounded) while the tunnel is down. It enforces the
 * residency guard: user content from its clusters never goes out of the Location.
 */
import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { type WebSocket, WebSocketServer } from "ws";
import { DiskBuffer } from "../dial-out/disk-buffer.ts";
import { ensureCredentials, keepRenewed, peerTrust, renewIfDue } from "../dial-out/join-client.ts";
import { TunnelClient } from "../dial-out/tunnel-client.ts";
import { normaliseSerial } from "../pki/certificates.ts";
import { checkHubServerIdentity } from "../pki/server-identity.ts";
import { decodeFrame, encodeFrame, message } from "../protocol/codec.ts";
import { creditReturned, creditReturnedForFrame } from "../protocol/flow-control.ts";
import { type Message, type MessageBody, type MessageType, maxFrameBytes } from "../protocol/messages.ts";
import { commandResidencyVerdict, residencyVerdict } from "../protocol/residency.ts";
import { InboundSequence } from "../protocol/session.ts";
import { Manager, type ManagerOutcome } from "../runtime/manager.ts";
import { periodic } from "../runtime/periodic.ts";
import { ExportRecordsFile } from "./export-records-file.ts";
import { LocationServices, type ServicesPeer } from "./location-services.ts";
import { LocationServicesSummary } from "./location-services-summary.ts";

export const relayTunnelPath = "/unitfleet/v1alpha1/tunnel";

export interface RelayOptions {
  hub: string;
  hubCa: string;
  token: string;
  location: string;
  /** The Location the hub runs in: user content may go to it only if it is this relay's Location. */
  hubLocation?: string;
  host: string;
  port: number;
  dir: string;
  log: (entry: Record<string, unknown>) => void;
  /** How often the relay logs its queue depth, peak and drops (default 60 s). */
  queueLogEveryMs?: number;
  /** How long a new agent connection may stay silent before its hello (default 5 s); then it is closed. */
  helloTimeoutMs?: number;
  /**
   * How long a cluster may be without a session or heartbeat before its exported services' endpoints leave the
   * Location's imports (default three heartbeat intervals, at least 5 s).
   */
  servicesGraceMs?: number;
  /** The pace of the services summary to the hub (relay/location-services-summary.ts): tests shorten it. */
  servicesSummary?: { everyMs?: number; settleMs?: number };
}

/** WebSocket close codes the relay gives agents (4000–4999 are the application's). */
export const relayCloseCodes = {
  /** No hello within the hello timeout. */
  helloTimeout: 4008,
  /** Another connection with the same certificate took this agent's place. */
  replaced: 4009,
} as const;

export interface RunningRelay {
  url: string;
  client: TunnelClient;
  /** Counters: messages forwarded, residency refusals. */
  counters: { forwarded: number; residencyRefusals: number };
  /** Resolves when every part has stopped: after `stop`, or when one failed (`failure` says which). */
  stopped: Promise<ManagerOutcome>;
  stop(): Promise<void>;
}

export async function startRelay(options: RelayOptions): Promise<RunningRelay> {
  const joined = await ensureCredentials({
    hub: options.hub,
    hubCa: options.hubCa,
    token: options.token,
    role: "relay",
    dir: options.dir,
    serveAt: [options.host, "localhost"],
  });
  // Renew now if the certificate is in the last third of its life; then check every hour.
  const credentials = await renewIfDue(options.hub, options.dir, joined, new Date());
  const agents = new Map<string, AgentSession>();
  // Multi-cluster services stay in the Location: exports fan out to its agents, never to the hub (ADR 0020).
  const services = new LocationServices({
    graceMs: () => options.servicesGraceMs ?? Math.max(5000, 3 * client.heartbeatSeconds * 1000),
    // Kept on disk, so that a restarted relay gives reconnecting agents the others' records at once.
    store: new ExportRecordsFile(join(options.dir, "export-records.jsonl"), (entry) => log(entry)),
    log: (entry) => log(entry),
  });
  // What the hub sees of them: a summary of the Location's exports and their conditions, paced.
  const summary = new LocationServicesSummary({
    location: options.location,
    held: () => services.exportsByCluster,
    connected: () => client.connected,
    send: (body) => client.forward(options.location, "services.summary", body),
    log: (entry) => log(entry),
    ...options.servicesSummary,
  });
  // Agent certificates the hub revoked: kept on disk, so that a relay cut off from the hub still refuses them.
  const revokedFile = join(options.dir, "revoked-serials.json");
  let revoked = new Set<string>(
    JSON.parse(await readFile(revokedFile, "utf8").catch(() => "[]")) as string[],
  );
  /** Commands for agents not connected right now: delivered when they are, unless their deadline passes. */
  const waiting = new Map<string, Array<MessageBody<"command">>>();
  const counters = { forwarded: 0, residencyRefusals: 0 };
  const log = (entry: Record<string, unknown>) => options.log({ relay: options.location, ...entry });
  /** The most metadata messages waiting in the tunnel's queue at once since the last queue line. */
  let queuePeak = 0;
  const noteQueueDepth = () => {
    queuePeak = Math.max(queuePeak, client.queue.size.metadata);
  };
  const client = new TunnelClient({
    url: new URL(relayTunnelPath, options.hub.replace(/^http/, "ws")).toString(),
    ca: credentials.ca,
    cert: credentials.cert,
    key: credentials.key,
    checkServerIdentity: checkHubServerIdentity,
    hello: { role: "relay", location: options.location },
    buffer: new DiskBuffer(join(options.dir, "metadata-buffer.jsonl")),
    log,
    // A new session with the hub starts from nothing: every agent sends its whole inventory again.
    onOpen: () => {
      for (const session of agents.values()) session.send("inventory.resync", { cluster: session.cluster });
      summary.sessionOpened();
    },
    onMessage: (m) => {
      if (m.type === "inventory.resync") agents.get(m.body.cluster)?.send("inventory.resync", m.body);
      if (m.type === "command") passOn(m.body);
      // Works go to a connected agent only: one that is not sends `work.sync` when it connects, and the hub
      // answers it with what it missed.
      // The ledger's acknowledgements go to a connected agent; one that is not sends its hours again later.
      if (m.type === "usage.ack") {
        const agent = agents.get(m.body.cluster);
        if (agent?.greeted) agent.send(m.type, m.body);
      }
      if (m.type === "work.apply" || m.type === "work.remove") {
        const agent = agents.get(m.body.cluster);
        if (agent?.greeted) agent.send(m.type, m.body);
        else
          log({
            level: "info",
            msg: "dropped a work for an agent not connected",
            type: m.type,
            cluster: m.body.cluster,
          });
      }
      if (m.type === "revocations") {
        revoked = new Set(m.body.serials);
        void writeFile(revokedFile, JSON.stringify(m.body.serials), { mode: 0o600 }).catch(() => {});
        for (const session of agents.values())
          if (revoked.has(session.serial)) {
            log({
              level: "warn",
              msg: "cut off an agent whose certificate was revoked",
              cluster: session.cluster,
            });
            session.close();
          }
      }
    },
  });

  /** A command from the hub, to the agent of its cluster — unless its output could not go back. */
  function passOn(command: MessageBody<"command">): void {
    const verdict = commandResidencyVerdict(
      command.action,
      options.location,
      options.hubLocation ?? "(another Location)",
    );
    if (!verdict.allowed) {
      counters.residencyRefusals += 1;
      log({
        level: "warn",
        msg: "residency guard refused a command",
        rule: verdict.rule,
        reason: verdict.reason,
        cluster: command.cluster,
      });
      client.forward(command.cluster, "command.result", {
        idempotencyKey: command.idempotencyKey,
        outcome: "refused",
        rule: verdict.rule,
        message: `${verdict.rule}: ${verdict.reason}`,
      });
      return;
    }
    const agent = agents.get(command.cluster);
    if (agent?.greeted) {
      agent.send("command", command);
      return;
    }
    const queue = (waiting.get(command.cluster) ?? []).filter((c) => c.deadline > Date.now()).slice(-99);
    queue.push(command);
    waiting.set(command.cluster, queue);
  }

  // Read back before any agent connects (the grace of the clusters read back runs from now).
  await services.restore();
  const server: Server = createServer({
    cert: credentials.cert,
    key: credentials.key,
    ca: peerTrust(credentials),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes });
  server.on("upgrade", (req, socket, head) => {
    const peer = (socket as TLSSocket).getPeerCertificate?.();
    const subject = peer?.subject?.CN;
    const serial = normaliseSerial(peer?.serialNumber ?? "");
    if (revoked.has(serial)) {
      log({ level: "warn", msg: "refused an agent with a revoked certificate", subject, serial });
      socket.write("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nthe certificate has been revoked\n");
      socket.destroy();
      return;
    }
    const agent = /^agent:([a-z0-9-]+):([a-z0-9-]+)$/.exec(typeof subject === "string" ? subject : "");
    if (
      new URL(req.url ?? "/", "http://relay").pathname !== relayTunnelPath ||
      !agent ||
      agent[1] !== options.location
    ) {
      socket.write(
        `HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nonly agents of Location ${options.location} may connect\n`,
      );
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new AgentSession(
        ws,
        agent[2]!,
        serial,
        options,
        client,
        counters,
        log,
        noteQueueDepth,
        () => summary.changed(),
        () => {
          for (const command of waiting.get(session.cluster) ?? [])
            if (command.deadline > Date.now()) session.send("command", command);
          waiting.delete(session.cluster);
          services.joined(session.servicesPeer);
        },
        services,
      );
      const previous = agents.get(session.cluster);
      if (previous) {
        // Two connections with one certificate: the newer wins (an agent that reconnects before the relay saw
        // its old connection drop), but never silently, since it may also be a copied certificate.
        log({
          level: "warn",
          msg: "a second agent connection with the same certificate replaced the first",
          cluster: session.cluster,
          serial,
          from: req.socket.remoteAddress,
        });
        previous.close(
          relayCloseCodes.replaced,
          `replaced by a newer connection with this certificate from ${req.socket.remoteAddress ?? "?"}`,
        );
      }
      agents.set(session.cluster, session);
      ws.on("close", () => {
        if (agents.get(session.cluster) === session) agents.delete(session.cluster);
        services.left(session.servicesPeer);
      });
    });
  });
  // The long-lived parts (docs/adr/0017): stopped in reverse order of their dependencies.
  const manager = new Manager({ log });
  manager.add({
    name: "agent-server",
    reportsReady: true,
    async start(signal, ready) {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port, options.host, () => resolve());
      });
      ready();
      await aborted(signal);
      services.stop();
      await services.flush();
      summary.stop();
      for (const a of agents.values()) a.close();
      wss.close();
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  });
  manager.add({ name: "hub-tunnel", dependsOn: ["agent-server"], start: (signal) => client.run(signal) });
  manager.add({
    name: "certificate-renewal",
    dependsOn: ["hub-tunnel"],
    async start(signal) {
      const stopRenewal = keepRenewed(
        options.hub,
        options.dir,
        credentials,
        (next) => {
          client.useCredentials(next.cert, next.key);
          // The relay's certificate also serves its agents: new connections get the renewed one.
          server.setSecureContext({ cert: next.cert, key: next.key, ca: peerTrust(next) });
        },
        log,
      );
      await aborted(signal);
      stopRenewal();
    },
  });
  // What an operator watches for a relay under load: the queue now, its peak, and anything dropped.
  manager.add(
    periodic({
      name: "queue-log",
      everyMs: options.queueLogEveryMs ?? 60_000,
      firstAfter: true,
      log,
      work: async () => {
        const size = client.queue.size;
        log({
          level: "info",
          msg: "relay queue",
          control: size.control,
          heartbeat: size.heartbeat,
          metadata: size.metadata,
          peak: Math.max(queuePeak, size.metadata),
          dropped: [...client.queue.dropped.values()].reduce((n, d) => n + d, 0),
          buffered: client.buffered.entries,
          bufferDropped: client.buffered.dropped,
          forwarded: counters.forwarded,
          agents: agents.size,
          connected: client.connected,
        });
        queuePeak = 0;
      },
    }),
  );
  await manager.start();
  const url = `https://${options.host}:${(server.address() as AddressInfo).port}`;
  log({ level: "info", msg: "relay serving agents", url });
  return {
    url,
    client,
    counters,
    stopped: manager.done,
    async stop() {
      await manager.stop();
    },
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** One agent's session with the relay. */
class AgentSession {
  readonly cluster: string;
  /** The serial of the agent's certificate, to cut it off if the certificate is revoked. */
  readonly serial: string;
  private readonly ws: WebSocket;
  private readonly inbound = new InboundSequence();
  private seq = 0;
  greeted = false;
  private readonly client: TunnelClient;
  private readonly onGreeted: () => void;
  /** This session as the Location's services see it. */
  readonly servicesPeer: ServicesPeer;

  constructor(
    ws: WebSocket,
    cluster: string,
    serial: string,
    options: RelayOptions,
    client: TunnelClient,
    counters: RunningRelay["counters"],
    log: (entry: Record<string, unknown>) => void,
    onForwarded: () => void,
    onServicesChanged: () => void,
    onGreeted: () => void,
    services: LocationServices,
  ) {
    this.ws = ws;
    this.serial = serial;
    this.onGreeted = onGreeted;
    this.cluster = cluster;
    this.client = client;
    this.servicesPeer = {
      cluster,
      send: (body, written) => this.send("services.exports", body, undefined, written),
      bufferedBytes: () => this.ws.bufferedAmount,
    };
    const helloTimeoutMs = options.helloTimeoutMs ?? 5000;
    const helloTimer = setTimeout(() => {
      if (this.greeted) return;
      log({ level: "warn", msg: "an agent connection sent no hello in time", cluster, helloTimeoutMs });
      this.close(relayCloseCodes.helloTimeout, `no hello within ${helloTimeoutMs} ms`);
    }, helloTimeoutMs);
    ws.on("close", () => clearTimeout(helloTimer));
    ws.on("error", (error) =>
      log({ level: "warn", msg: "agent session error", cluster, error: error.message }),
    );
    ws.on("message", (data: Buffer) => {
      const decoded = decodeFrame(data);
      if (!decoded.ok) {
        this.send("error", { code: decoded.rejection.code, message: decoded.rejection.message });
        // Refused, but handled: the messages after it are not out of order.
        if (this.greeted && decoded.rejection.seq !== undefined) this.inbound.check(decoded.rejection.seq);
        const credit = this.greeted ? creditReturnedForFrame(data) : undefined;
        if (credit) this.send("credit", credit);
        return;
      }
      const m = decoded.message;
      const order = this.inbound.check(m.seq);
      if (order === "duplicate") return;
      if (order === "gap") {
        this.send("error", { code: "out-of-order", message: `expected seq ${this.inbound.handled + 1}` });
        return this.close();
      }
      if (!this.greeted) return this.hello(m, options);
      try {
        const concerns = clustersOf(m);
        if (concerns.some((c) => c !== cluster))
          return this.send("error", {
            code: "forbidden",
            message: `the agent of ${cluster} may speak only for ${cluster}`,
          });
        const verdict = residencyVerdict(
          m.type,
          options.location,
          options.hubLocation ?? "(another Location)",
        );
        if (!verdict.allowed) {
          counters.residencyRefusals += 1;
          log({
            level: "warn",
            msg: "residency guard refused a message",
            rule: verdict.rule,
            reason: verdict.reason,
            cluster,
          });
          return this.send("error", { code: "residency", message: `${verdict.rule}: ${verdict.reason}` });
        }
        if (m.type === "hello" || m.type === "ack") return;
        // Exports are for the Location's other agents, not the hub.
        if (m.type === "services.exports") {
          services.exports(cluster, m.body);
          return onServicesChanged();
        }
        // The Location's summary is the relay's own to make: an agent cannot speak for its Location.
        if (m.type === "services.summary")
          return this.send("error", {
            code: "forbidden",
            message: "services.summary comes from the relay, not from an agent",
          });
        if (m.type === "heartbeat") for (const c of m.body.clusters) services.heartbeat(c.cluster);
        counters.forwarded += 1;
        client.forward(cluster, m.type, m.body as MessageBody<typeof m.type>);
        onForwarded();
      } finally {
        // Toward its agents the relay plays the hub: the agent's credit comes back for every metadata message
        // the relay took (into its own bounded queue or disk buffer), forwarded or refused.
        const credit = creditReturned(m);
        if (credit) this.send("credit", credit);
      }
    });
  }

  private hello(m: Message, options: RelayOptions): void {
    if (
      m.type !== "hello" ||
      m.body.role !== "agent" ||
      m.body.cluster !== this.cluster ||
      m.body.location !== options.location
    ) {
      this.send("error", { code: "forbidden", message: "hello does not match the agent's certificate" });
      this.close();
      return;
    }
    this.greeted = true;
    this.send(
      "welcome",
      { version: 1, session: randomUUID(), resumeFrom: 0, heartbeatSeconds: this.client.heartbeatSeconds },
      m.id,
    );
    this.onGreeted();
  }

  /** Sends a message; `written`, when given, is called once the frame has left the process's buffers. */
  send<T extends MessageType>(type: T, body: MessageBody<T>, replyTo?: string, written?: () => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(
      encodeFrame(
        message(type, body, { id: randomUUID(), seq: ++this.seq, ...(replyTo ? { replyTo } : {}) }),
      ),
      written && (() => written()),
    );
  }

  /** Closes the connection; `reason` (at most 123 bytes) tells the agent why. */
  close(code = 1000, reason?: string): void {
    this.ws.close(code, reason === undefined ? undefined : Buffer.from(reason).subarray(0, 123).toString());
  }
}

/** The clusters a message from an agent speaks for. */
function clustersOf(m: Message): string[] {
  if (m.type === "heartbeat") return m.body.clusters.map((c) => c.cluster);
  if ("cluster" in m.body && typeof m.body.cluster === "string") return [m.body.cluster];
  return [];
}
