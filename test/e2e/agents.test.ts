/**
 * A relay per Location and an agent per lab cluster, joined to a hub in Frankfurt: the registry shows each
 * cluster Ready in its Location and Region with the version, nodes, capacity and requests kubectl reads from
 * the same API servers. A relay that stops makes its Location's clusters Unreachable after the grace period and
 * leaves their workloads alone; what changed meanwhile is buffered by the agents and arrives when it is back.
 * Commands reach clusters through the relays; pod logs come back only from the hub's own Location. A hub
 * restart brings every relay back, duplicates nothing, and completes a command in flight exactly once.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent, startAgent } from "../../src/agent/agent.ts";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { sendCommand } from "../../src/cli/cluster/cluster-commands.ts";
import { formatBytes, formatCores, parseQuantity } from "../../src/core/quantity/quantity.ts";
import { type Cluster, kinds } from "../../src/core/resources/kinds.ts";
import { UserError } from "../../src/errors/user-error.ts";
import { listAudit } from "../../src/hub/audit/audit-log.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";
import { locationsOfTopology, placeDocuments } from "../../src/up/up.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const graceMs = 4000;
const hubLocation = "frankfurt";
const reconnectWindowMs = 3000;
let dir: string;
let hubPort: number;
let hub: RunningHub;
const agents = new Map<string, RunningAgent>();
const relays = new Map<string, RunningRelay>();
let hubCa: string;

function relayOptions(location: string, token: string, port: number) {
  return {
    hub: hub.url,
    hubCa,
    token,
    location,
    hubLocation,
    host: "127.0.0.1",
    port,
    dir: join(dir, "relays", location),
    log: () => {},
  };
}

/** What an agent logged (its buffer deliveries, its commands). */
const agentLogs = new Map<string, Array<Record<string, unknown>>>();

function agentOptions(c: (typeof lab.topology.spec.clusters)[number], token: string) {
  agentLogs.set(c.name, []);
  return {
    hub: hub.url,
    relay: relays.get(c.location)!.url,
    hubCa,
    token,
    kubeconfig: lab.kubeconfig,
    context: c.name,
    cluster: c.name,
    location: c.location,
    ...(c.region ? { region: c.region } : {}),
    environment: c.environment,
    business: c.business,
    dir: join(dir, "agents", c.name),
    log: (entry: Record<string, unknown>) => agentLogs.get(c.name)?.push(entry),
  };
}

function startTheHub(port: number): Promise<RunningHub> {
  return startHub({
    dir,
    host: "127.0.0.1",
    port,
    location: hubLocation,
    log: () => {},
    healthGraceMs: graceMs,
    heartbeatSeconds: 1,
    reconnectWindowMs,
  });
}

async function adminClient(): Promise<HubClient> {
  return new HubClient({
    server: hub.url,
    token: (await readFile(hub.adminTokenFile, "utf8")).trim(),
    caCert: hubCa,
  });
}

async function cluster(name: string): Promise<Cluster> {
  return (await hub.registry.get(kinds.Cluster, name, systemCaller)) as unknown as Cluster;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const sum = (values: Array<string | undefined>) =>
  values.reduce((n, v) => n + (parseQuantity(v ?? "0") as { value: number }).value, 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-agents-"));
  hub = await startTheHub(0);
  hubPort = Number(new URL(hub.url).port);
  const topology = lab.topology;
  await hub.registry.applyAll(placeDocuments(locationsOfTopology(topology)), systemCaller);
  hubCa = await readFile(hub.caFile, "utf8");
  for (const l of topology.spec.locations) {
    const { token } = await createBootstrapToken(hub.sql, l.name, 600_000, new Date());
    relays.set(l.name, await startRelay(relayOptions(l.name, token, 0)));
  }
  for (const c of topology.spec.clusters) {
    const { token } = await createBootstrapToken(hub.sql, c.location, 600_000, new Date());
    agents.set(c.name, await startAgent(agentOptions(c, token)));
  }
}, 120_000);

afterAll(async () => {
  for (const agent of agents.values()) await agent.stop();
  for (const relay of relays.values()) await relay.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("agents on the lab's clusters", () => {
  it("shows every cluster Ready, in its Location and Region, with what kubectl reads from its API server", async () => {
    for (const c of lab.topology.spec.clusters) {
      await until(
        `${c.name} to be Ready`,
        async () =>
          (await cluster(c.name)).status?.conditions?.find((x) => x.type === "Ready")?.status === "True",
      );
      const registered = await cluster(c.name);
      expect(registered.spec).toMatchObject({
        location: c.location,
        environment: c.environment,
        business: c.business,
      });
      expect(registered.spec.region).toBe(c.region);

      const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(lab, c.name, ["version"]);
      const nodes = await kubectlJson<{ items: Array<{ status: { capacity: Record<string, string> } }> }>(
        lab,
        c.name,
        ["get", "nodes"],
      );
      const deployments = await kubectlJson<{
        items: Array<{
          status: { readyReplicas?: number };
          spec: {
            template: { spec: { containers: Array<{ resources: { requests?: Record<string, string> } }> } };
          };
        }>;
      }>(lab, c.name, ["get", "deployments", "-A"]);
      const requested = (resource: string) =>
        deployments.items.reduce(
          (n, d) =>
            n +
            (d.status.readyReplicas ?? 0) *
              sum(d.spec.template.spec.containers.map((k) => k.resources.requests?.[resource])),
          0,
        );
      await until(
        `${c.name}'s requests to be reported`,
        async () => (await cluster(c.name)).status?.requested?.cpu === formatCores(requested("cpu")),
      );
      const status = (await cluster(c.name)).status!;
      expect(status.kubernetesVersion).toBe(version.serverVersion.gitVersion);
      expect(status.nodes).toEqual({ total: nodes.items.length, ready: nodes.items.length });
      expect(status.capacity?.cpu).toBe(formatCores(sum(nodes.items.map((n) => n.status.capacity.cpu))));
      expect(status.capacity?.memory).toBe(
        formatBytes(sum(nodes.items.map((n) => n.status.capacity.memory))),
      );
      expect(status.requested?.memory).toBe(formatBytes(requested("memory")));
    }
  });

  it("marks a Location's clusters Unreachable when its relay stops, leaves their workloads alone, and recovers", async () => {
    const location = lab.topology.spec.locations.find((l) => l.name === "singapore")!;
    const mine = lab.topology.spec.clusters.filter((c) => c.location === location.name);
    const others = lab.topology.spec.clusters.filter((c) => c.location !== location.name);
    const relay = relays.get(location.name)!;
    const port = Number(new URL(relay.url).port);
    await relay.stop();
    const stoppedAt = Date.now();
    for (const c of mine)
      await until(
        `${c.name} to be Unreachable`,
        async () =>
          (await cluster(c.name)).status?.conditions?.find((x) => x.type === "Reachable")?.status === "False",
        20_000,
      );
    const waited = Date.now() - stoppedAt;
    // Not before the grace period (less the heartbeat interval that may have passed since the last beat); within it
    // plus two rounds of the health loop (2 s each).
    expect(waited).toBeGreaterThanOrEqual(graceMs - 1000);
    expect(waited).toBeLessThan(graceMs + 4000 + 1000);
    for (const c of mine)
      expect((await cluster(c.name)).status!.conditions!.map((x) => [x.type, x.status, x.reason])).toEqual([
        ["Reachable", "False", "HeartbeatMissed"],
        ["Ready", "Unknown", "ClusterUnreachable"],
      ]);
    for (const c of others)
      expect(
        (await cluster(c.name)).status?.conditions?.find((x) => x.type === "Reachable")?.status,
        c.name,
      ).toBe("True");
    for (const c of mine)
      for (const w of c.workloads ?? []) {
        const d = await kubectlJson<{ status: { readyReplicas?: number } }>(lab, c.name, [
          "get",
          "deployment",
          "-n",
          w.namespace,
          w.name,
        ]);
        expect(d.status.readyReplicas, `${c.name} ${w.name}`).toBe(w.replicas);
      }

    // Meanwhile a workload grows: the agent, cut off, keeps the change on disk.
    const changed = mine[0]!;
    const workload = changed.workloads![0]!;
    const requestedBefore = (await cluster(changed.name)).status!.requested!.cpu!;
    await kubectl(lab, changed.name, [
      "scale",
      "deployment",
      "-n",
      workload.namespace,
      workload.name,
      `--replicas=${workload.replicas + 1}`,
    ]);
    const agent = agents.get(changed.name)!;
    await until(
      `${changed.name}'s agent to buffer the change`,
      async () => agent.client.buffered.entries > 0,
    );
    expect((await cluster(changed.name)).status!.requested!.cpu).toBe(requestedBefore);

    // The relay comes back on its address with the credentials it already has (no new token needed).
    relays.set(location.name, await startRelay(relayOptions(location.name, "ufb_000000000000.unused", port)));
    for (const c of mine)
      await until(
        `${c.name} to be Ready again`,
        async () =>
          (await cluster(c.name)).status?.conditions?.find((x) => x.type === "Ready")?.status === "True",
        45_000,
      );
    // What was buffered arrived: the hub shows one more replica's requests.
    const expected = formatCores(sum([requestedBefore, String(workload.cpu)]));
    await until(
      `${changed.name}'s requests to include the new replica`,
      async () => (await cluster(changed.name)).status?.requested?.cpu === expected,
    );
    expect(agent.client.buffered.entries).toBe(0);
    const delivered = agentLogs
      .get(changed.name)!
      .find((e) => e.msg === "delivered metadata buffered while the tunnel was down");
    expect(delivered?.messages).toBeGreaterThanOrEqual(1);
    expect(delivered?.dropped).toBe(0);

    await kubectl(lab, changed.name, [
      "scale",
      "deployment",
      "-n",
      workload.namespace,
      workload.name,
      `--replicas=${workload.replicas}`,
    ]);
    await until(
      `${changed.name}'s requests to be back`,
      async () => (await cluster(changed.name)).status?.requested?.cpu === requestedBefore,
    );
  });

  it("runs commands in clusters through their relay; pod logs come back only from the hub's Location", async () => {
    const client = await adminClient();
    try {
      for (const c of lab.topology.spec.clusters) {
        const report = await sendCommand(client, { cluster: c.name, action: { type: "ping" } }, 30);
        expect(report.outcome, c.name).toBe("succeeded");
        expect(report.message).toMatch(
          new RegExp(`^${c.name} answered: Kubernetes v1\\.36\\.3, in \\d+ ms$`),
        );
      }

      // Frankfurt's pod logs come back to the hub in Frankfurt, read by the agent from the real API server.
      const fra = lab.topology.spec.clusters.find((c) => c.location === "frankfurt" && c.workloads?.length)!;
      const fraPod = (
        await kubectlJson<{ items: Array<{ metadata: { name: string; namespace: string } }> }>(
          lab,
          fra.name,
          ["get", "pods", "-n", fra.workloads![0]!.namespace],
        )
      ).items[0]!.metadata;
      const logs = await sendCommand(
        client,
        { cluster: fra.name, action: { type: "logs", namespace: fraPod.namespace, pod: fraPod.name } },
        30,
      );
      expect(logs.outcome).toBe("succeeded");
      expect(logs.output).toContain(`${fra.name}: request served in 12ms`);
      expect(
        logs
          .output!.trim()
          .split("\n")
          .every((line) => line.startsWith(`${fra.name}: `)),
      ).toBe(true);
      const tail = await sendCommand(
        client,
        {
          cluster: fra.name,
          action: { type: "logs", namespace: fraPod.namespace, pod: fraPod.name, tailLines: 1 },
        },
        30,
      );
      expect(tail.output!.trim().split("\n")).toHaveLength(1);
      // The output is handed over once: the hub keeps no copy of it.
      const kept = await hub.sql.query<{ output: string | null }>(
        "select output from commands where key = $1",
        [logs.key],
      );
      expect(kept).toEqual([{ output: null }]);

      // Singapore's pod logs may not leave Singapore: its relay refuses before anything is read.
      const sgp = lab.topology.spec.clusters.find((c) => c.location === "singapore")!;
      const pods = await kubectlJson<{ items: Array<{ metadata: { name: string; namespace: string } }> }>(
        lab,
        sgp.name,
        ["get", "pods", "-n", sgp.workloads![0]!.namespace],
      );
      const pod = pods.items[0]!.metadata;
      const runsBefore = agents.get(sgp.name)!.commands.runs;
      const refused = await sendCommand(
        client,
        { cluster: sgp.name, action: { type: "logs", namespace: pod.namespace, pod: pod.name } },
        30,
      );
      expect(refused).toMatchObject({
        outcome: "refused",
        rule: "user-content-stays-in-its-location",
        message:
          'user-content-stays-in-its-location: logs output is user content of Location "singapore" and may not be sent to the hub in Location "frankfurt"',
      });
      expect(refused.output).toBeUndefined();
      expect(agents.get(sgp.name)!.commands.runs).toBe(runsBefore);
      expect(relays.get("singapore")!.counters.residencyRefusals).toBeGreaterThanOrEqual(1);
      const audit = (await listAudit(hub.sql, { name: sgp.name, limit: 5 })).items;
      expect(audit[0]).toMatchObject({
        verb: "logs",
        kind: "Cluster",
        result: "refused",
        reason: expect.stringContaining("refused by rule user-content-stays-in-its-location"),
      });
      expect(hub.metrics.render()).toContain(
        'unitfleet_residency_refusals_total{location="singapore",rule="user-content-stays-in-its-location"} 1',
      );

      // Bad input is refused with its fields, nothing sent.
      const invalid = (await client
        .send("POST", "/unitfleet/v1alpha1/commands", {
          cluster: sgp.name,
          action: { type: "logs", namespace: "Not A Namespace", pod: "" },
        })
        .catch((error: unknown) => error)) as UserError;
      expect(invalid).toBeInstanceOf(UserError);
      expect(invalid.render()).toContain("action.namespace: must be a DNS label");
      expect(invalid.render()).toContain("action.pod: must be a pod name");
      await expect(
        sendCommand(client, { cluster: "no-such-cluster", action: { type: "ping" } }, 5),
      ).rejects.toThrow(/clusters.unitfleet.io "no-such-cluster" not found/);
    } finally {
      client.close();
    }
  });

  it("brings every relay back after a hub restart, duplicates nothing, and completes a command in flight once", async () => {
    const target = lab.topology.spec.clusters.find((c) => c.name === "fra-shop-dev")!;
    // The cluster's agent is away: the command reaches its relay and waits there.
    await agents.get(target.name)!.stop();
    const client = await adminClient();
    const auditBefore = (await listAudit(hub.sql, { name: target.name, limit: 500 })).items.filter(
      (e) => e.verb === "ping",
    ).length;
    const inFlight = sendCommand(client, { cluster: target.name, action: { type: "ping" } }, 120);
    const deliveries = async () =>
      (
        await hub.sql.query<{ deliveries: number }>(
          "select deliveries from commands where cluster = $1 and state = 'pending'",
          [target.name],
        )
      )[0]?.deliveries ?? 0;
    await until("the command to reach the relay", async () => (await deliveries()) >= 1);

    await hub.close();
    const restartedAt = Date.now();
    hub = await startTheHub(hubPort);
    const sessions = () => /^unitfleet_tunnel_sessions (\d+)$/m.exec(hub.metrics.render())?.[1];
    const back = await until("both relays to be back", async () => sessions() === "2", 60_000);
    // The new hub delivers the pending command again; the relay now holds it twice.
    await until("the command to be delivered again", async () => (await deliveries()) >= 2);

    const { token } = await createBootstrapToken(hub.sql, target.location, 600_000, new Date());
    agents.set(target.name, await startAgent(agentOptions(target, token)));
    const report = await inFlight;
    client.close();
    expect(report.outcome).toBe("succeeded");
    expect(agents.get(target.name)!.commands.runs).toBe(1);
    const rows = await hub.sql.query<{ state: string; deliveries: number }>(
      "select state, deliveries from commands where key = $1",
      [report.key],
    );
    expect(rows).toEqual([{ state: "done", deliveries: expect.any(Number) }]);
    expect(rows[0]!.deliveries).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 1000)); // a second result, if any, has arrived by now
    const pings = (await listAudit(hub.sql, { name: target.name, limit: 500 })).items.filter(
      (e) => e.verb === "ping",
    );
    expect(pings.length - auditBefore).toBe(1);

    for (const c of lab.topology.spec.clusters)
      await until(
        `${c.name} to be Ready after the restart`,
        async () =>
          (await cluster(c.name)).status?.conditions?.find((x) => x.type === "Ready")?.status === "True",
        60_000,
      );
    const allReady = Date.now() - restartedAt;
    const listed = await hub.registry.list(kinds.Cluster, {}, systemCaller);
    expect(listed.items.map((o) => o.metadata.name).sort()).toEqual(
      lab.topology.spec.clusters.map((c) => c.name).sort(),
    );
    // Documented in docs/protocol.md: relays back within the reconnect window plus backoff.
    expect(back).toBeLessThan(reconnectWindowMs + 10_000);
    console.log(`hub restart: relays back in ${back} ms, every cluster Ready in ${allReady} ms`);
  });
});
