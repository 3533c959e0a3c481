/**
 * The agent of one cluster: joins the hub (once), then reports the cluster's inventory from watches and sends
 * heartbeats through the tunnel until stopped.
 */
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { UserError } from "../errors/user-error.ts";
import { type CommandRunner, commandRunner } from "./commands/command-runner.ts";
import { DiskBuffer } from "./connection/disk-buffer.ts";
import { ensureCredentials, keepRenewed, renewIfDue } from "./connection/join-client.ts";
import { TunnelClient } from "./connection/tunnel-client.ts";
import { kubeInventorySource } from "./kube/inventory-source.ts";

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
  /** Where the agent keeps its key and certificate. */
  dir: string;
  log: (entry: Record<string, unknown>) => void;
}

export interface RunningAgent {
  client: TunnelClient;
  commands: CommandRunner;
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
  const client: TunnelClient = new TunnelClient({
    url: new URL(
      "/unitfleet/v1alpha1/tunnel",
      (options.relay ?? options.hub).replace(/^http/, "ws"),
    ).toString(),
    ca: credentials.ca,
    cert: credentials.cert,
    key: credentials.key,
    hello: { role: "agent", location: options.location, cluster: options.cluster },
    buffer: new DiskBuffer(join(options.dir, "metadata-buffer.jsonl")),
    log,
    onMessage: (m) => {
      if (m.type === "command" && m.body.cluster === options.cluster) void commands.handle(m.body);
    },
  });
  const source = kubeInventorySource(kc);
  await source.start((items) => client.setInventory(options.cluster, items));
  const stopping = new AbortController();
  const running = client.run(stopping.signal);
  const stopRenewal = keepRenewed(
    options.hub,
    options.dir,
    credentials,
    (next) => client.useCredentials(next.cert, next.key),
    options.log,
  );
  return {
    client,
    commands,
    async stop() {
      stopRenewal();
      stopping.abort();
      await running;
      await source.stop();
    },
  };
}
