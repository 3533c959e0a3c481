/**
 * Discovery and detection of what clusters really use (issue 15, item 6; docs/network-plan.md, Detection), on a
 * real hub with agents' tunnel clients behind real relays: an agent's `network` inventory item becomes the
 * Cluster's `status.observedNetwork`; the leader's network pass sets `NetworkOverlap` on the two Frankfurt
 * clusters that share a service range (each naming the other and both ranges) and not on the Singapore one with
 * the same range, `NetworkDrift` against a cluster's plan, and keeps the health loop's conditions; a fix clears
 * the overlap. `network check` reads the same reports. Then the planner's rule `fits-pod-range` through
 * `plan consolidation` and `explain plan` on a snapshot file.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import type { InventoryItem } from "../../src/core/inventory/inventory.ts";
import type { ObservedClusterNetwork } from "../../src/core/network/observed-network.ts";
import { sketchFleet } from "../../src/core/planning/fleet-fixtures.test-support.ts";
import { type ClusterStatus, kinds } from "../../src/core/resources/kinds.ts";
import type { Condition } from "../../src/core/resources/meta.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import type { RunningRelay } from "../../src/relay/relay.ts";
import { runCli } from "../support/cli-in-process.ts";
import { connectTestAgent, startTestRelay, type TestAgent } from "../support/tunnel-fleet.ts";

let home: string;
let env: Environment;
let hub: RunningHub;
const relays: RunningRelay[] = [];
const agents = new Map<string, TestAgent>();

const doc = (kind: string, name: string, spec: object) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

const observed = (services: string, pods: string, podIPs: string[] = []): ObservedClusterNetwork => ({
  podCIDRs: [pods],
  serviceCIDRs: [services],
  podIPs,
  podsOutsidePodCIDRs: podIPs.length,
  nodeMask: { ipv4: 24 },
});

/** An agent's inventory: its version, one node, and what it observed of its network. */
const inventory = (network: ObservedClusterNetwork) =>
  new Map<string, InventoryItem>([
    ["cluster", { kubernetesVersion: "v1.36.3" }],
    [
      "node/n0",
      {
        name: "n0",
        zone: "z1",
        ready: true,
        capacity: { cpu: "16", memory: "64Gi", pods: "110" },
        allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
        kubeletVersion: "v1.36.3",
        kernelVersion: "6.12",
        containerRuntimeVersion: "containerd://2.1.4",
      },
    ],
    ["network", network],
  ]);

const statusOf = async (name: string) =>
  ((await hub.registry.get(kinds.Cluster, name, systemCaller)).status ?? {}) as ClusterStatus;
const condition = (status: ClusterStatus, type: string): Condition | undefined =>
  status.conditions?.find((c) => c.type === type);

async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-network-discovery-"));
  env = { ...readEnvironment(), home };
  hub = await startHub({
    dir: join(home, "hub"),
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    networkConditionsEveryMs: 200,
    healthEveryMs: 200,
  });
  const cluster = (name: string, location: string, network?: object) =>
    doc("Cluster", name, {
      location,
      environment: "prod",
      business: "shop",
      ...(network ? { network } : {}),
    });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Location", "singapore", {}),
      doc("NetworkPool", "frankfurt", {
        location: "frankfurt",
        pods: ["10.0.0.0/12"],
        services: ["10.96.0.0/16"],
      }),
      // fra-a is on the plan: pods 10.1.0.0/22, services 10.96.0.0/22.
      cluster("fra-a", "frankfurt", {
        maxNodes: 4,
        pods: ["10.1.0.0/22"],
        services: ["10.96.0.0/22"],
      }),
      cluster("fra-b", "frankfurt"),
      cluster("sin-a", "singapore"),
    ],
    systemCaller,
  );
  for (const location of ["frankfurt", "singapore"]) relays.push(await startTestRelay(hub, location, home));
  const [frankfurt, singapore] = relays as [RunningRelay, RunningRelay];
  for (const name of ["fra-a", "fra-b"])
    agents.set(name, await connectTestAgent(hub, join(home, "hub"), frankfurt, "frankfurt", name));
  agents.set("sin-a", await connectTestAgent(hub, join(home, "hub"), singapore, "singapore", "sin-a"));
}, 60_000);

afterAll(async () => {
  for (const agent of agents.values()) await agent.stop();
  for (const relay of relays) await relay.stop();
  await hub?.close();
  await rm(home, { recursive: true, force: true });
});

describe("observed networks on the hub", () => {
  it("keeps what an agent reports as status.observedNetwork, and flags the Frankfurt pair sharing a range", async () => {
    // Today's lab: every cluster has the service range 10.96.0.0/16. fra-a also runs pods outside its plan.
    agents
      .get("fra-a")!
      .client.setInventory("fra-a", inventory(observed("10.96.0.0/16", "10.1.0.0/24", ["10.200.0.0/30"])));
    agents.get("fra-b")!.client.setInventory("fra-b", inventory(observed("10.96.0.0/16", "10.2.0.0/24")));
    agents.get("sin-a")!.client.setInventory("sin-a", inventory(observed("10.96.0.0/16", "10.1.0.0/24")));

    const fraA = await until(
      "fra-a's network conditions",
      () => statusOf("fra-a"),
      // Both reports in (they arrive in any order): the overlap is True.
      (s) =>
        condition(s, "NetworkOverlap")?.status === "True" && condition(s, "Reachable")?.status === "True",
    );
    expect(fraA.observedNetwork).toEqual(observed("10.96.0.0/16", "10.1.0.0/24", ["10.200.0.0/30"]));
    expect(condition(fraA, "NetworkOverlap")).toMatchObject({
      status: "True",
      reason: "RangesOverlap",
      message: 'services 10.96.0.0/16 overlaps cluster "fra-b"\'s services 10.96.0.0/16',
    });
    const fraB = await until(
      "fra-b's overlap",
      () => statusOf("fra-b"),
      (s) => condition(s, "NetworkOverlap")?.status === "True",
    );
    expect(condition(fraB, "NetworkOverlap")).toMatchObject({
      status: "True",
      message: 'services 10.96.0.0/16 overlaps cluster "fra-a"\'s services 10.96.0.0/16',
    });
    // The same range in Singapore overlaps nothing: only the control tunnel joins Locations.
    const sinA = await until(
      "sin-a's overlap",
      () => statusOf("sin-a"),
      (s) => condition(s, "NetworkOverlap") !== undefined,
    );
    expect(condition(sinA, "NetworkOverlap")).toMatchObject({ status: "False", reason: "NoOverlap" });

    // Drift against fra-a's plan: its ServiceCIDR beyond the planned /22 and its pods outside 10.1.0.0/22.
    expect(condition(fraA, "NetworkDrift")).toMatchObject({
      status: "True",
      reason: "OutsidePlan",
      message: expect.stringMatching(
        /^pods 10\.200\.0\.0\/30 outside the planned 10\.1\.0\.0\/22; services .*10\.96\.4\.0\/22.* outside the planned 10\.96\.0\.0\/22$/,
      ),
    });
    expect(condition(fraB, "NetworkDrift")).toMatchObject({ status: "Unknown", reason: "NotPlanned" });
  });

  it("keeps the health loop's conditions beside its own, and clears the overlap once fixed", async () => {
    const before = await statusOf("fra-a");
    expect(condition(before, "Reachable")?.status).toBe("True");
    agents.get("fra-b")!.client.setInventory("fra-b", inventory(observed("10.97.0.0/16", "10.2.0.0/24")));
    const fraA = await until(
      "fra-a's overlap cleared",
      () => statusOf("fra-a"),
      (s) => condition(s, "NetworkOverlap")?.status === "False",
    );
    const fraB = await until(
      "fra-b's overlap cleared",
      () => statusOf("fra-b"),
      (s) => condition(s, "NetworkOverlap")?.status === "False",
    );
    expect(fraB.observedNetwork?.serviceCIDRs).toEqual(["10.97.0.0/16"]);
    // Its drift did not change: its transition time stays; the health loop's conditions are still there.
    expect(condition(fraA, "NetworkDrift")?.lastTransitionTime).toBe(
      condition(before, "NetworkDrift")?.lastTransitionTime,
    );
    expect(fraA.conditions?.map((c) => c.type).sort()).toEqual([
      "NetworkDrift",
      "NetworkOverlap",
      "Reachable",
      "Ready",
    ]);
  });

  it("gives network check the agents' reports", async () => {
    agents.get("fra-b")!.client.setInventory("fra-b", inventory(observed("10.96.0.0/16", "10.2.0.0/24")));
    await until(
      "fra-b's report",
      () => statusOf("fra-b"),
      (s) => s.observedNetwork?.serviceCIDRs?.[0] === "10.96.0.0/16",
    );
    const check = await runCli(["network", "check", "-l", "location=frankfurt"], env);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(
      /frankfurt\s+fra-a\s+services\s+10\.96\.0\.0\/16\s+fra-b\s+services\s+10\.96\.0\.0\/16\s+observed/,
    );
    expect(check.stderr).toContain("2 with observed ranges");
  });
});

describe("the planner on a snapshot with a target's pod range", () => {
  it("refuses, in plan consolidation and explain plan, a merge the target's pod range cannot hold", async () => {
    const snapshot = sketchFleet([
      {
        name: "fra-big",
        nodes: { count: 4 },
        workloads: [{ name: "api", replicas: 20, cpu: "2", memory: "4Gi" }],
      },
      {
        name: "fra-small",
        nodes: { count: 2 },
        workloads: [{ name: "web", replicas: 10, cpu: "2", memory: "4Gi" }],
      },
    ]);
    const file = join(home, "fleet.json");
    await writeFile(file, JSON.stringify(snapshot));
    const merged = await runCli(["plan", "consolidation", "--from", file, "-o", "json"], env);
    expect(merged.code, merged.stderr).toBe(0);
    expect(JSON.parse(merged.stdout).targets.map((t: { sources: string[] }) => t.sources)).toEqual([
      ["fra-big", "fra-small"],
    ]);

    snapshot.clusters[0]!.network = { pods: ["10.4.0.0/22"], nodeMask: { ipv4: 24 }, source: "allocated" };
    await writeFile(file, JSON.stringify(snapshot));
    const refused = await runCli(["plan", "consolidation", "--from", file, "-o", "json"], env);
    expect(refused.code, refused.stderr).toBe(0);
    const plan = JSON.parse(refused.stdout);
    expect(plan.targets.map((t: { sources: string[] }) => t.sources)).toEqual([["fra-big"], ["fra-small"]]);
    expect(plan.decisions).toContainEqual(
      expect.objectContaining({
        cluster: "fra-small",
        target: "fra-big",
        verdict: "refused",
        rule: "fits-pod-range",
      }),
    );
    const explained = await runCli(["explain", "plan", "fra-small", "--from", file], env);
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toContain("fits-pod-range");
    expect(explained.stdout).toMatch(
      /its pod range 10\.4\.0\.0\/22 \(IPv4, from the network plan\) holds 4 nodes at \/24 per node: it would need a \/21/,
    );
  });
});
