/**
 * The agent of one cluster: joins the hub (once), then reports the cluster's inventory from watches and sends
 * heartbeats through the tunnel until stopped. It runs the hub's commands and applies the works the hub
 * delivers (kept on disk and applied again while the tunnel is down).
 */
import { join } from "node:path";
import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import { DiskBuffer } from "../dial-out/disk-buffer.ts";
import { ensureCredentials, keepRenewed, peerTrust, renewIfDue } from "../dial-out/join-client.ts";
import { TunnelClient } from "../dial-out/tunnel-client.ts";
import { UserError } from "../errors/user-error.ts";
import { checkHubServerIdentity, relayServerIdentityCheck } from "../pki/server-identity.ts";
import type { Clock } from "../runtime/clock.ts";
import { Manager, type ManagerOutcome } from "../runtime/manager.ts";
import { periodic } from "../runtime/periodic.ts";
import { type CommandRunner, commandRunner } from "./commands/command-runner.ts";
import { type Applier, startApplier } from "./delivery/applier.ts";
import { kubeInventorySource } from "./kube/inventory-source.ts";
import { kubeClusterReader } from "./kube/metering-reader.ts";
import { ObjectApi } from "./kube/object-api.ts";
import { kubeServicesCluster } from "./kube/services-cluster-api.ts";
import { metering } from "./metering/metering.ts";
import { UsageSampler } from "./metering/sampler.ts";
import { type MultiClusterServices, multiClusterServices } from "./services/multicluster-services.ts";

export interface AgentOptions {
  hub: string;
  /** The relay of the agent's Location to send through; without it, the agent dials the hub directly. */
  relay?: string;
  hubCa: string;
  token: string;
  kubeconfig: string;
  context?: string;
  cluster: string;
  location: string;
  region?: string;
  environment: string;
  business: string;
  /** Where the agent keeps its key and certificate, and the works it holds. */
  dir: string;
  /** How often every held work is applied again, putting back drift (default 30 s). */
  resyncSeconds?: number;
  /** Whether the agent meters usage (default true); a cluster metered by other means can do without. */
  metering?: boolean;
  /** The metering's clock (default the system's; compressed-time runs pass a `scaledClock`). */
  meteringClock?: Clock;
  /** Whether the agent runs multi-cluster services, ServiceExport and ServiceImport (default true). */
  multiClusterServices?: boolean;
  log: (entry: Record<string, unknown>) => void;
}

export interface RunningAgent {
  client: TunnelClient;
  commands: CommandRunner;
  /** The works delivered to the cluster. */
  delivery: Applier;
  /** Multi-cluster services (absent when turned off): their counters, API writes among them. */
  services: MultiClusterServices | undefined;
  /** Resolves when every part has stopped: after `stop`, or when one failed (`failure` says which). */
  stopped: Promise<ManagerOutcome>;
  stop(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(options.kubeconfig);
    if (options.context) kc.setCurrentContext(options.context);
  } catch (error) {
    throw new UserError(
      "InvalidInput",
      `cannot use kubeconfig ${options.kubeconfig}: ${(error as Error).message}`,
    );
  }
  if (options.context && !kc.getContextObject(options.context))
    throw new UserError("NotFound", `kubeconfig ${options.kubeconfig} has no context "${options.context}"`);
  const joined = await ensureCredentials({
    hub: options.hub,
    hubCa: options.hubCa,
    token: options.token,
    role: "agent",
    cluster: options.cluster,
    clusterSpec: {
      ...(options.region ? { region: options.region } : {}),
      environment: options.environment,
      business: options.business,
    },
    dir: options.dir,
  });
  // Renew now if the certificate is in the last third of its life; then check every hour.
  const credentials = await renewIfDue(options.hub, options.dir, joined, new Date());
  const log = (entry: Record<string, unknown>) => options.log({ cluster: options.cluster, ...entry });
  const commands = commandRunner(
    kc,
    options.cluster,
    (type, body) => client.forward(options.cluster, type, body),
    log,
  );
  let apiAnswers = true;
  const client: TunnelClient = new TunnelClient({
    url: new URL(
      "/unitfleet/v1alpha1/tunnel",
      (options.relay ?? options.hub).replace(/^http/, "ws"),
    ).toString(),
    // Through a relay: the fleet CA, and the relay of this Location only; directly: the hub CA, the hub only.
    ca: options.relay ? peerTrust(credentials) : credentials.ca,
    checkServerIdentity: options.relay ? relayServerIdentityCheck(options.location) : checkHubServerIdentity,
    cert: credentials.cert,
    key: credentials.key,
    hello: { role: "agent", location: options.location, cluster: options.cluster },
    buffer: new DiskBuffer(join(options.dir, "metadata-buffer.jsonl")),
    // A cluster whose API server does not answer is not alive: its heartbeats stop, and after the grace
    // period the hub marks it Unreachable (and delivery fails its work over).
    alive: () => apiAnswers,
    log,
    // Each session starts by telling the hub which works the agent holds; it answers with what to change.
    onOpen: () => {
      client.forward(options.cluster, "work.sync", { cluster: options.cluster, works: delivery.held() });
      // Hours the ledger has not acknowledged go again with each session (its keys count them once).
      if (options.metering !== false) void usage.resend();
      // The relay gets this cluster's whole set of exports (and sends the Location's).
      services?.sessionOpened();
    },
    onMessage: (m) => {
      if (m.type === "command" && m.body.cluster === options.cluster) void commands.handle(m.body);
      if (m.type === "usage.ack" && m.body.cluster === options.cluster) void usage.acknowledge(m.body);
      if (m.type === "work.apply" && m.body.cluster === options.cluster) {
        const { application, generation, manifests } = m.body;
        void delivery
          .set({ application, generation, manifests })
          .catch((error: Error) =>
            log({ level: "warn", msg: "work refused", application, error: error.message }),
          );
      }
      if (m.type === "work.remove" && m.body.cluster === options.cluster)
        void delivery.remove(m.body.application);
      if (m.type === "services.exports") services?.received(m.body);
    },
  });
  // Created after the client (it reports through it) and before the tunnel runs (which hands it works).
  const delivery = await startApplier({
    api: ObjectApi.for(kc),
    cluster: options.cluster,
    dir: options.dir,
    ...(options.resyncSeconds !== undefined ? { resyncSeconds: options.resyncSeconds } : {}),
    report: (body) => client.forward(options.cluster, "work.status", body),
    log,
  });
  const source = kubeInventorySource(kc);
  // Metering (issue 14): hours summed from minute samples, kept on disk, sent as `usage.hours`.
  const usage = metering({
    cluster: options.cluster,
    dir: join(options.dir, "metering"),
    sampler: new UsageSampler({ reader: kubeClusterReader(kc), log }),
    send: (body) => client.forward(options.cluster, "usage.hours", body),
    connected: () => client.connected,
    ...(options.meteringClock ? { clock: options.meteringClock } : {}),
    log,
  });
  // Multi-cluster services (issue 15, ADR 0020): exports to the relay, the Location's imports into this cluster.
  const servicesCluster = options.multiClusterServices !== false ? kubeServicesCluster(kc) : undefined;
  const services: MultiClusterServices | undefined = servicesCluster
    ? multiClusterServices({
        cluster: options.cluster,
        location: options.location,
        region: options.region ?? "",
        watches: servicesCluster,
        writes: servicesCluster,
        send: (body) => client.forward(options.cluster, "services.exports", body),
        connected: () => client.connected,
        log,
      })
    : undefined;
  // The long-lived parts (docs/adr/0017): the tunnel starts once the applier and the inventory can serve it,
  // and stops before them.
  const manager = new Manager({ log });
  manager.add({
    name: "applier",
    async start(signal) {
      await aborted(signal);
      await delivery.stop();
    },
  });
  manager.add({
    name: "inventory",
    reportsReady: true,
    async start(signal, ready) {
      await source.start((items) => client.setInventory(options.cluster, items));
      ready();
      await aborted(signal);
      await source.stop();
    },
  });
  manager.add(
    periodic({
      name: "api-probe",
      everyMs: 5000,
      firstAfter: true,
      log,
      work: async (signal) => {
        // No answer in 4 s counts as none; a stop does not wait for the answer either.
        let timer: NodeJS.Timeout | undefined;
        let onAbort = () => {};
        const giveUp = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no answer in 4 s")), 4000);
          onAbort = () => reject(new Error("stopping"));
          signal.addEventListener("abort", onAbort, { once: true });
        });
        try {
          await Promise.race([kc.makeApiClient(VersionApi).getCode(), giveUp]);
          if (!apiAnswers) log({ level: "info", msg: "the API server answers again" });
          apiAnswers = true;
        } catch (error) {
          if (signal.aborted) return;
          if (apiAnswers)
            log({ level: "warn", msg: "the API server does not answer", error: (error as Error).message });
          apiAnswers = false;
        } finally {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
        }
      },
    }),
  );
  if (options.metering !== false) manager.add(usage);
  if (services) manager.add(services);
  manager.add({
    name: "hub-tunnel",
    dependsOn: ["applier", "inventory"],
    start: (signal) => client.run(signal),
  });
  manager.add({
    name: "certificate-renewal",
    dependsOn: ["hub-tunnel"],
    async start(signal) {
      const stopRenewal = keepRenewed(
        options.hub,
        options.dir,
        credentials,
        // A renewal may bring the fleet CA (a folder joined before the CAs were split): the relay is trusted by it.
        (next) => client.useCredentials(next.cert, next.key, options.relay ? peerTrust(next) : next.ca),
        options.log,
      );
      await aborted(signal);
      stopRenewal();
    },
  });
  await manager.start();
  return {
    client,
    commands,
    delivery,
    services,
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
