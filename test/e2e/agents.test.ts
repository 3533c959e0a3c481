/**
 * A relay per Location and an agent per lab cluster, joined to a hub: the registry shows each cluster Ready in
 * its Location and Region with the version, nodes, capacity and requests kubectl reads from the same API
 * servers. A relay that stops makes its Location's clusters Unreachable after the grace period and leaves their
 * workloads alone; started again, it brings them back to Ready.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent, startAgent } from "../../src/agent/agent.ts";
import { formatBytes, formatCores, parseQuantity } from "../../src/core/quantity/quantity.ts";
import { type Cluster, kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";
import { kubectlJson } from "./kubectl.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const graceMs = 4000;
let dir: string;
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
    host: "127.0.0.1",
    port,
    dir: join(dir, "relays", location),
    log: () => {},
  };
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
  hub = await startHub({
    dir,
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    healthGraceMs: graceMs,
    heartbeatSeconds: 1,
  });
  const topology = lab.topology;
  await hub.registry.applyAll(
    [
      ...topology.spec.locations.map((l) => ({
        source: "topology",
        body: { apiVersion: "unitfleet.io/v1alpha1", kind: "Location", metadata: { name: l.name }, spec: {} },
      })),
      ...topology.spec.locations.flatMap((l) =>
        (l.regions ?? []).map((r) => ({
          source: "topology",
          body: {
            apiVersion: "unitfleet.io/v1alpha1",
            kind: "Region",
            metadata: { name: r.name },
            spec: { location: l.name, zones: r.zones },
          },
        })),
      ),
    ],
    systemCaller,
  );
  hubCa = await readFile(hub.caFile, "utf8");
  for (const l of topology.spec.locations) {
    const { token } = await createBootstrapToken(hub.sql, l.name, 600_000, new Date());
    relays.set(l.name, await startRelay(relayOptions(l.name, token, 0)));
  }
  for (const c of topology.spec.clusters) {
    const { token } = await createBootstrapToken(hub.sql, c.location, 600_000, new Date());
    agents.set(
      c.name,
      await startAgent({
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
        log: () => {},
      }),
    );
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

    // The relay comes back on its address with the credentials it already has (no new token needed).
    relays.set(location.name, await startRelay(relayOptions(location.name, "ufb_000000000000.unused", port)));
    for (const c of mine)
      await until(
        `${c.name} to be Ready again`,
        async () =>
          (await cluster(c.name)).status?.conditions?.find((x) => x.type === "Ready")?.status === "True",
        45_000,
      );
  });
});
