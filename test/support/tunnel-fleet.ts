/**
 * A hub's relays and agents over the real tunnel, for integration tests: a relay joined with a bootstrap token, an
 * agent's own tunnel client joined with a certificate of its cluster, both stopped by `stop`. The Clusters and
 * Locations must exist on the hub first.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TunnelClient } from "../../src/dial-out/tunnel-client.ts";
import type { RunningHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { type RelayOptions, type RunningRelay, startRelay } from "../../src/relay/relay.ts";

export interface TestAgent {
  client: TunnelClient;
  /** Every message the agent received, in order. */
  received: Message[];
  stop(): Promise<void>;
}

export async function startTestRelay(
  hub: RunningHub,
  location: string,
  dir: string,
  more: Partial<RelayOptions> = {},
): Promise<RunningRelay> {
  const { token } = await createBootstrapToken(hub.sql, location, 60_000, new Date());
  return startRelay({
    hub: hub.url,
    hubCa: await readFile(hub.caFile, "utf8"),
    token,
    location,
    host: "127.0.0.1",
    port: 0,
    dir: join(dir, `relay-${location}`),
    log: () => {},
    ...more,
  });
}

/** Joins `cluster` as an agent and connects its tunnel client to `relay`; resolves once connected. */
export async function connectTestAgent(
  hub: RunningHub,
  hubDir: string,
  relay: RunningRelay,
  location: string,
  cluster: string,
): Promise<TestAgent> {
  const ca = await ensureHubAuthorities(hubDir, new Date(), () => {});
  const { token } = await createBootstrapToken(hub.sql, location, 60_000, new Date());
  const { csr, key } = await createCertificateRequest("agent");
  const joined = await joinHub(hub.sql, ca, { token, role: "agent", cluster, csr }, new Date());
  const received: Message[] = [];
  const client = new TunnelClient({
    url: `${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`,
    cert: joined.certificate,
    key,
    ca: [await readFile(hub.caFile, "utf8"), ca.fleet.cert],
    hello: { role: "agent", location, cluster },
    log: () => {},
    onMessage: (m) => received.push(m),
  });
  const stopping = new AbortController();
  const running = client.run(stopping.signal);
  const deadline = Date.now() + 20_000;
  while (!client.connected) {
    if (Date.now() > deadline) throw new Error(`the agent of ${cluster} did not connect`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    client,
    received,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}
