/**
 * Two hub replicas on one PostgreSQL server: the relay of Frankfurt holds its tunnel to replica A, and a
 * command sent through replica B still reaches the agent of a lab cluster behind that relay, and its outcome
 * comes back to the caller on B.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent, startAgent } from "../../src/agent/agent.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken } from "../../src/hub/joining/joining.ts";
import { type Caller, systemCaller } from "../../src/hub/registry/caller.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";
import { type PostgresServer, startPostgres } from "../support/postgres-server.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const target = lab.topology.spec.clusters.find((c) => c.name === "fra-shop-dev")!;
const operator: Caller = { name: "operator-on-b", role: "operator" };
let postgres: PostgresServer;
let dir: string;
let a: RunningHub;
let b: RunningHub;
let relay: RunningRelay;
let agent: RunningAgent;

const sessions = (hub: RunningHub) => /^unitfleet_tunnel_sessions (\d+)$/m.exec(hub.metrics.render())?.[1];

beforeAll(async () => {
  postgres = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), "unitfleet-replica-commands-"));
  const replica = (name: string) =>
    startHub({
      dir: join(dir, "hub"),
      databaseUrl: postgres.url,
      replica: name,
      location: "frankfurt",
      host: "127.0.0.1",
      port: 0,
      log: () => {},
      heartbeatSeconds: 1,
    });
  a = await replica("a");
  b = await replica("b");
  await a.registry.applyAll(
    [
      {
        source: "test",
        body: {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Location",
          metadata: { name: "frankfurt" },
          spec: {},
        },
      },
      {
        source: "test",
        body: {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Region",
          metadata: { name: target.region! },
          spec: { location: "frankfurt", zones: target.zones ?? [] },
        },
      },
    ],
    systemCaller,
  );
  const hubCa = await readFile(a.caFile, "utf8");
  relay = await startRelay({
    hub: a.url,
    hubCa,
    token: (await createBootstrapToken(a.sql, "frankfurt", 600_000, new Date())).token,
    location: "frankfurt",
    hubLocation: "frankfurt",
    host: "127.0.0.1",
    port: 0,
    dir: join(dir, "relay"),
    log: () => {},
  });
  agent = await startAgent({
    hub: a.url,
    relay: relay.url,
    hubCa,
    token: (await createBootstrapToken(a.sql, "frankfurt", 600_000, new Date())).token,
    kubeconfig: lab.kubeconfig,
    context: target.name,
    cluster: target.name,
    location: "frankfurt",
    region: target.region!,
    environment: target.environment,
    business: target.business,
    dir: join(dir, "agent"),
    log: () => {},
  });
  const deadline = Date.now() + 30_000;
  while (sessions(a) !== "1" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await relay?.stop();
  await b?.close();
  await a?.close();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("commands across hub replicas", () => {
  it("reaches an agent whose relay is connected to the other replica", async () => {
    expect(sessions(a)).toBe("1");
    expect(sessions(b)).toBe("0");
    const started = performance.now();
    const report = await b.commands.submit(operator, {
      cluster: target.name,
      action: { type: "ping" },
      timeoutSeconds: 20,
    });
    const roundTrip = performance.now() - started;
    expect(report).toMatchObject({ state: "done", outcome: "succeeded", cluster: target.name });
    expect(report.message).toMatch(/^fra-shop-dev answered: Kubernetes v1\.36\.3/);
    expect(agent.commands.runs).toBe(1);
    console.log(`ping through replica B to a relay on replica A: ${Math.round(roundTrip)} ms`);
  });
});
