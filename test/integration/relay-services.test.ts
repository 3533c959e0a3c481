/**
 * Multi-cluster services' records through real relays (src/relay/location-services.ts, ADR 0020): what one agent
 * exports reaches every other agent of its Location and none of another Location, nor the hub; an agent that
 * connects gets the Location's whole set; a cluster whose agent is gone past the grace is withdrawn from the others.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportRecordFixture } from "../../src/core/multicluster-services/export-record.test-support.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import type { Message, MessageBody } from "../../src/protocol/messages.ts";
import type { RunningRelay } from "../../src/relay/relay.ts";
import { connectTestAgent, startTestRelay, type TestAgent } from "../support/tunnel-fleet.ts";

let dir: string;
let hub: RunningHub;
let frankfurt: RunningRelay;
let singapore: RunningRelay;
const agents = new Map<string, TestAgent>();
const graceMs = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

const exportsOf = (agent: TestAgent) =>
  agent.received
    .filter((m): m is Extract<Message, { type: "services.exports" }> => m.type === "services.exports")
    .map((m) => m.body);

const record = (cluster: string, name: string) => exportRecordFixture(cluster, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-relay-services-"));
  hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "test",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  const cluster = (name: string, location: string) =>
    doc("Cluster", name, { location, environment: "prod", business: "shop" });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Location", "singapore", {}),
      cluster("fra-a", "frankfurt"),
      cluster("fra-b", "frankfurt"),
      cluster("fra-c", "frankfurt"),
      cluster("sin-a", "singapore"),
    ],
    systemCaller,
  );
  frankfurt = await startTestRelay(hub, "frankfurt", dir, { servicesGraceMs: graceMs });
  singapore = await startTestRelay(hub, "singapore", dir, { servicesGraceMs: graceMs });
  for (const name of ["fra-a", "fra-b"])
    agents.set(name, await connectTestAgent(hub, join(dir, "hub"), frankfurt, "frankfurt", name));
  agents.set("sin-a", await connectTestAgent(hub, join(dir, "hub"), singapore, "singapore", "sin-a"));
}, 60_000);

afterAll(async () => {
  for (const agent of agents.values()) await agent.stop();
  await frankfurt?.stop();
  await singapore?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("multi-cluster services through the relays", () => {
  it("passes an export to the Location's other agents only: not back, not to Singapore, not to the hub", async () => {
    const forwardedBefore = frankfurt.counters.forwarded;
    const body: MessageBody<"services.exports"> = {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "cart")],
      removed: [],
      present: [{ namespace: "shop", name: "cart" }],
    };
    agents.get("fra-a")!.client.forward("fra-a", "services.exports", body);
    await until("fra-b has fra-a's exports", () => exportsOf(agents.get("fra-b")!).length === 1);
    expect(exportsOf(agents.get("fra-b")!)).toEqual([body]);
    // Ten seconds' worth of chances for it to go astray, compressed: nothing reaches Singapore or the sender.
    await sleep(1000);
    expect(exportsOf(agents.get("sin-a")!)).toEqual([]);
    expect(exportsOf(agents.get("fra-a")!)).toEqual([]);
    expect(frankfurt.counters.forwarded - forwardedBefore).toBe(0);
  });

  it("gives an agent that connects the Location's whole set", async () => {
    const c = await connectTestAgent(hub, join(dir, "hub"), frankfurt, "frankfurt", "fra-c");
    agents.set("fra-c", c);
    await until("fra-c has fra-a's exports", () => exportsOf(c).length === 1);
    expect(exportsOf(c)[0]).toMatchObject({
      cluster: "fra-a",
      region: "north",
      records: [{ name: "cart" }],
      present: [{ namespace: "shop", name: "cart" }],
    });
  });

  it("withdraws a cluster whose agent is gone past the grace, and sends it again when it is back", async () => {
    const b = agents.get("fra-b")!;
    // fra-a last seen now: it sends its set again, which reaches fra-b.
    agents.get("fra-a")!.client.forward("fra-a", "services.exports", {
      cluster: "fra-a",
      region: "north",
      records: [],
      removed: [],
    });
    await until("fra-b has fra-a's message", () => exportsOf(b).at(-1)?.records.length === 0);
    const seen = exportsOf(b).length;
    const stoppedAt = Date.now();
    await agents.get("fra-a")!.stop();
    agents.delete("fra-a");
    await until("fra-b is told fra-a is gone", () => exportsOf(b).length > seen, 10_000);
    const waited = Date.now() - stoppedAt;
    expect(exportsOf(b).at(-1)).toEqual({
      cluster: "fra-a",
      region: "north",
      records: [],
      removed: [],
      present: [],
    });
    // Not before the grace; within it and a heartbeat or two (heartbeats every 10 s do not matter: the session is gone).
    expect(waited).toBeGreaterThanOrEqual(graceMs - 100);
    expect(waited).toBeLessThan(graceMs + 3000);
    // Back: the new session's set goes out as it is.
    const a = await connectTestAgent(hub, join(dir, "hub"), frankfurt, "frankfurt", "fra-a");
    agents.set("fra-a", a);
    a.client.forward("fra-a", "services.exports", {
      cluster: "fra-a",
      region: "north",
      records: [record("fra-a", "cart")],
      removed: [],
      present: [{ namespace: "shop", name: "cart" }],
    });
    await until("fra-b has fra-a's exports again", () => exportsOf(b).at(-1)?.records.length === 1);
    expect(exportsOf(agents.get("sin-a")!)).toEqual([]);
  });
});
