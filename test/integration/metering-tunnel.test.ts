/**
 * Metered hours over the real tunnel (hub on its embedded store, a relay whose hub is in another Location, an
 * agent's own tunnel client, real TLS and WebSockets): `usage.hours` is metadata, so the residency guard lets it
 * cross Locations; every message gives its credit back (more than a window's worth go through); the ledger counts
 * a record once however often it comes — resent by the agent, kept on the relay's disk while the hub restarts —
 * and an agent cannot report hours for another cluster.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkloadHour } from "../../src/core/metering/usage.ts";
import { TunnelClient } from "../../src/dial-out/tunnel-client.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { queryUsage } from "../../src/hub/metering/usage-query.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";

let dir: string;
let hub: RunningHub;
let hubPort: number;
let relay: RunningRelay;
let agent: TunnelClient;
const stopAgent = new AbortController();
let agentRunning: Promise<void>;
/** The ledger's acknowledgements the agent received through the relay. */
const acks: Array<{ cluster: string; hour: string; first: string; records: number }> = [];

const hubOptions = () => ({ dir: join(dir, "hub"), host: "127.0.0.1", port: hubPort, log: () => {} });

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-metering-"));
  hubPort = await freePort();
  hub = await startHub(hubOptions());
  const doc = (kind: string, name: string, spec: object) => ({
    source: "metering",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-shop-prod", { location: "frankfurt", environment: "prod", business: "shop" }),
      doc("Cluster", "fra-pay-prod", { location: "frankfurt", environment: "prod", business: "payments" }),
    ],
    systemCaller,
  );
  const hubCa = await readFile(hub.caFile, "utf8");
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  relay = await startRelay({
    hub: hub.url,
    hubCa,
    token,
    location: "frankfurt",
    // The hub runs in another Location: metadata may go there, user content may not.
    hubLocation: "singapore",
    host: "127.0.0.1",
    port: 0,
    dir: join(dir, "relay"),
    log: () => {},
  });
  const ca = await ensureHubAuthorities(join(dir, "hub"), new Date(), () => {});
  const agentToken = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  const { csr, key } = await createCertificateRequest("agent");
  const joined = await joinHub(
    hub.sql,
    ca,
    { token: agentToken.token, role: "agent", cluster: "fra-shop-prod", csr },
    new Date(),
  );
  agent = new TunnelClient({
    url: `${relay.url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`,
    cert: joined.certificate,
    key,
    ca: [hubCa, ca.fleet.cert],
    hello: { role: "agent", location: "frankfurt", cluster: "fra-shop-prod" },
    log: () => {},
    onMessage: (m) => {
      if (m.type === "usage.ack") acks.push(m.body);
    },
  });
  agentRunning = agent.run(stopAgent.signal);
  await until("the agent is connected", () => agent.connected);
}, 60_000);

afterAll(async () => {
  stopAgent.abort();
  await agentRunning;
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The agent's hour of one workload: `i` hours after 2026-11-01 00:00 UTC, `cpu` millicore-minutes requested. */
function hour(i: number, cpu = 60_000, cluster = "fra-shop-prod"): WorkloadHour {
  return {
    cluster,
    hour: new Date(Date.UTC(2026, 10, 1) + i * 3_600_000).toISOString().replace(".000Z", "Z"),
    namespace: "web",
    workload: "Deployment/front",
    labels: {},
    samples: 60,
    cpu: { request: cpu, usage: cpu / 2, allocated: cpu },
    memory: { request: 0, usage: 0, allocated: 0 },
    gpu: { request: 0, usage: 0, allocated: 0 },
    storage: {},
    loadBalancers: 0,
  };
}

const sendHours = (hours: WorkloadHour[]) => {
  for (const h of hours)
    agent.forward("fra-shop-prod", "usage.hours", {
      cluster: "fra-shop-prod",
      source: "kubelet",
      workloads: [h],
      nodes: [],
    });
};

async function rows(): Promise<number> {
  const found = await hub.sql.query<{ n: number }>("select count(*)::int as n from usage_workload_hours");
  return found[0]!.n;
}

describe("metered hours over the tunnel", () => {
  it("records 150 hours sent twice through a relay once each, with every credit given back", async () => {
    const before = relay.counters.forwarded;
    const hours = Array.from({ length: 150 }, (_, i) => hour(i));
    sendHours(hours);
    sendHours(hours); // the agent resends what it holds no acknowledgement for
    await until("the relay forwarded 300 messages", () => relay.counters.forwarded - before === 300);
    // 300 messages is over four windows of 64: the hub gave a credit back for each.
    await until("the relay's queue is empty", () => relay.client.queue.size.metadata === 0);
    await until("the hub recorded 150 rows", async () => (await rows()) === 150);
    await sleep(300);
    expect(await rows()).toBe(150);
    expect(relay.counters.residencyRefusals).toBe(0);
    // Each message acknowledged back through the relay, the resent ones too: the agent may forget its hours.
    await until("the agent got 300 acknowledgements", () => acks.length >= 300);
    expect(new Set(acks.map((a) => a.hour)).size).toBe(150);
    expect(acks[0]).toEqual({
      cluster: "fra-shop-prod",
      hour: "2026-11-01T00:00:00Z",
      first: "fra-shop-prod/2026-11-01T00:00:00Z/workload/web/Deployment/front",
      records: 1,
    });
    const report = await queryUsage(
      hub.sql,
      { window: "2026-11-01/2026-11-08", aggregate: ["business", "namespace"] },
      new Date(),
    );
    expect(report.groups.map((g) => [g.keys, Number(g.cpu.request)])).toEqual([
      [{ business: "shop", namespace: "web" }, 150 * 60_000],
    ]);
    // The hours' source shows on the Cluster; an hour metered by requests turns it False.
    const usageMetered = async () =>
      (
        (await hub.store.get("Cluster", "fra-shop-prod"))?.status as
          | { conditions?: Array<{ type: string; status: string; reason: string }> }
          | undefined
      )?.conditions?.find((c) => c.type === "UsageMetered");
    expect(await usageMetered()).toMatchObject({ status: "True", reason: "KubeletResourceMetrics" });
    agent.forward("fra-shop-prod", "usage.hours", {
      cluster: "fra-shop-prod",
      source: "requests",
      workloads: [hour(0)], // already recorded: no new row, but its source still counts
      nodes: [],
    });
    await until("UsageMetered False", async () => (await usageMetered())?.status === "False");
    expect(await usageMetered()).toMatchObject({ reason: "RequestsOnly" });
  }, 60_000);

  it("counts hours once across a hub restart: kept on the relay's disk, then sent again by the agent", async () => {
    await hub.close();
    await until("the relay has lost the hub", () => !relay.client.connected);
    const hours = Array.from({ length: 20 }, (_, i) => hour(140 + i)); // 10 already recorded, 10 new
    sendHours(hours);
    await until("the relay holds 20 messages on disk", () => relay.client.buffered.entries === 20);
    hub = await startHub(hubOptions());
    await until("the relay is back", () => relay.client.connected);
    await until("the hub recorded 160 rows", async () => (await rows()) === 160);
    sendHours(hours);
    await until(
      "the relay's queue is empty",
      () => relay.client.queue.size.metadata === 0 && relay.client.buffered.entries === 0,
    );
    await sleep(500);
    expect(await rows()).toBe(160);
  }, 90_000);

  it("refuses hours of another cluster from an agent, and stores none", async () => {
    const before = await rows();
    agent.forward("fra-shop-prod", "usage.hours", {
      cluster: "fra-pay-prod",
      source: "kubelet",
      workloads: [hour(500, 60_000, "fra-pay-prod")],
      nodes: [],
    });
    sendHours([hour(501)]);
    await until("the hub recorded the agent's own hour", async () => (await rows()) === before + 1);
    const paid = await hub.sql.query<{ n: number }>(
      "select count(*)::int as n from usage_workload_hours where cluster = 'fra-pay-prod'",
    );
    expect(paid[0]!.n).toBe(0);
  }, 30_000);
});
