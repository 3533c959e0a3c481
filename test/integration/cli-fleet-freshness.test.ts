/**
 * The CLI against a real hub in this process (embedded store), with clusters whose status and heartbeats the
 * test writes as agents would: `rollout status --timeout 2s` times out; `lastHeartbeatTime` follows heartbeats
 * (at most one write per report interval) and condition messages hold no frozen ages; `snapshot` and `plan`
 * name the clusters whose data may be stale; `plan --from FILE` says which policy it uses, and uses the hub's.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import type { InventoryItem } from "../../src/core/inventory/inventory.ts";
import { type ClusterStatus, kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { inventoryText, saveInventory } from "../../src/hub/tunnel/cluster-inventories.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
let home: string;
let hub: RunningHub;
let beats: NodeJS.Timeout;

async function unitfleet(args: string[], extraEnv: Record<string, string> = {}) {
  const started = Date.now();
  try {
    const { stdout, stderr } = await run(cli, args, {
      env: { ...env.inherited, UNITFLEET_HOME: home, ...extraEnv },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr, ms: Date.now() - started };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, ms: Date.now() - started };
  }
}

const doc = (kind: string, name: string, spec: object) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

const items = (nodes: number) =>
  new Map<string, InventoryItem>([
    ["cluster", { kubernetesVersion: "v1.36.3" }],
    ...Array.from({ length: nodes }, (_, i): [string, InventoryItem] => [
      `node/n${i}`,
      {
        name: `n${i}`,
        zone: "fra-north-1",
        ready: true,
        capacity: { cpu: "16", memory: "64Gi", pods: "110" },
        allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
        kubeletVersion: "v1.36.3",
        kernelVersion: "6.12",
        containerRuntimeVersion: "containerd://2.1.4",
        labels: {},
      },
    ]),
  ]);

const cluster = async (name: string) =>
  (await hub.registry.get(kinds.Cluster, name, systemCaller)).status as ClusterStatus | undefined;

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-cli-hub-"));
  hub = await startHub({
    dir: join(home, "hub"),
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    healthGraceMs: 1500,
    healthEveryMs: 100,
    heartbeatReportMs: 1000,
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Region", "fra-north", { location: "frankfurt", zones: ["fra-north-1"] }),
      ...["fra-live", "fra-silent"].map((name) =>
        doc("Cluster", name, {
          location: "frankfurt",
          region: "fra-north",
          environment: "prod",
          business: "shop",
        }),
      ),
    ],
    systemCaller,
  );
  for (const name of ["fra-live", "fra-silent"]) {
    await hub.registry.mergeStatus(
      kinds.Cluster,
      name,
      {
        nodes: { total: 2, ready: 2 },
        allocatable: { cpu: "32", memory: "128Gi", pods: "220" },
        requested: { cpu: "0", memory: "0" },
        pods: 0,
      },
      systemCaller,
    );
    await saveInventory(hub.sql, name, 1, inventoryText(items(2)));
  }
  const beat = () =>
    hub.sql.query(
      `insert into cluster_heartbeats (cluster, at, replica) values ('fra-live', now(), 'test')
       on conflict (cluster) do update set at = excluded.at`,
    );
  await beat();
  beats = setInterval(() => void beat().catch(() => {}), 100);
  await until(
    "fra-live to be Ready",
    () => cluster("fra-live"),
    (s) => s?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
  );
}, 60_000);

afterAll(async () => {
  clearInterval(beats);
  await hub?.close();
  await rm(home, { recursive: true, force: true });
});

describe("the CLI against a live hub", () => {
  it("times out a rollout after --timeout 2s, as after --timeout 2", async () => {
    await hub.registry.applyAll(
      [
        doc("Application", "storefront", {
          manifests: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } }],
          placement: { locations: ["frankfurt"], replicas: { mode: "Duplicated", count: 1 } },
        }),
      ],
      systemCaller,
    );
    for (const timeout of ["2s", "2"]) {
      const result = await unitfleet([
        "rollout",
        "status",
        "application",
        "storefront",
        "--timeout",
        timeout,
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('error: application "storefront" is not ready after 2 s');
      expect(result.ms).toBeLessThan(15_000);
    }
  }, 40_000);

  it("refuses a --timeout that is not a duration before reaching the hub", async () => {
    for (const args of [
      ["rollout", "status", "application", "storefront", "--timeout", "60x"],
      ["ping", "fra-live", "--timeout", "soon"],
    ]) {
      const result = await unitfleet(args);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `error: --timeout: "${args[args.length - 1]}" is not a duration (examples: 60s, 2m, 1h30m, 500ms, or 15 for seconds)`,
      );
    }
  }, 30_000);

  it("keeps lastHeartbeatTime within the report interval, writing once per interval, with messages that stay true", async () => {
    const first = await cluster("fra-live");
    const writesBefore = String(
      (await hub.registry.get(kinds.Cluster, "fra-live", systemCaller)).metadata.resourceVersion,
    );
    await new Promise((r) => setTimeout(r, 3500));
    const later = await cluster("fra-live");
    const writesAfter = String(
      (await hub.registry.get(kinds.Cluster, "fra-live", systemCaller)).metadata.resourceVersion,
    );
    const advanced = Date.parse(later!.lastHeartbeatTime!) - Date.parse(first!.lastHeartbeatTime!);
    expect(advanced).toBeGreaterThanOrEqual(2000);
    expect(Date.now() - Date.parse(later!.lastHeartbeatTime!)).toBeLessThan(2500);
    // 35 health passes and heartbeats in 3.5 s, about 3 writes: one per report interval.
    const events = await hub.registry.changesSince(kinds.Cluster, writesBefore, systemCaller);
    const writes = events.filter(
      (e) => (e.object as { metadata: { name: string } }).metadata.name === "fra-live",
    );
    expect(writes.length).toBeGreaterThanOrEqual(2);
    expect(writes.length).toBeLessThanOrEqual(5);
    expect(writesAfter).not.toBe(writesBefore);
    for (const c of later!.conditions ?? []) expect(c.message).not.toMatch(/\d+ s ago/);
    const described = await unitfleet(["describe", "cluster", "fra-live"]);
    expect(described.stdout).toMatch(/Last heartbeat: \S+ \(\d+ s ago\)/);
  }, 20_000);

  it("names the clusters whose data may be stale in snapshot and plan, with how long ago", async () => {
    const snapshot = await unitfleet(["snapshot", "-o", join(home, "fleet.json")]);
    expect(snapshot.code).toBe(0);
    expect(snapshot.stderr).toContain(
      "warning: the data of 1 cluster may be stale: fra-silent (reachability unknown, never heard from)",
    );
    expect(snapshot.stderr).not.toContain("fra-live");
    const plan = await unitfleet(["plan", "consolidation"]);
    expect(plan.code).toBe(0);
    expect(plan.stderr).toContain("fra-silent (reachability unknown, never heard from)");
  }, 30_000);

  it("says which policy a plan uses, and takes the hub's with --from", async () => {
    const file = join(home, "fleet.json");
    const defaults = await unitfleet(["plan", "consolidation", "--from", file]);
    expect(defaults.stderr).toContain(
      'policy: built-in defaults (the hub has no ConsolidationPolicy "default")',
    );
    await hub.registry.applyAll(
      [doc("ConsolidationPolicy", "default", { headroomPercent: 35 })],
      systemCaller,
    );
    const stored = await unitfleet(["plan", "consolidation", "--from", file]);
    expect(stored.code).toBe(0);
    expect(stored.stderr).toContain("policy: ConsolidationPolicy default (hub)");
    expect(stored.stdout).toContain("headroom 35%");
    const noHub = await unitfleet(["plan", "consolidation", "--from", file], {
      UNITFLEET_HOME: join(home, "nowhere"),
    });
    expect(noHub.code).toBe(0);
    expect(noHub.stderr).toContain(
      'policy: built-in defaults (the hub\'s ConsolidationPolicy "default" could not be read: no hub to talk to)',
    );
    await writeFile(
      join(home, "policy.yaml"),
      "apiVersion: unitfleet.io/v1alpha1\nkind: ConsolidationPolicy\nmetadata: {name: tight}\nspec: {headroomPercent: 10}\n",
    );
    const given = await unitfleet(["plan", "consolidation", "--from", file, "-f", join(home, "policy.yaml")]);
    expect(given.stderr).toContain(`policy: ${join(home, "policy.yaml")} (-f)`);
    expect(given.stdout).toContain("headroom 10%");
  }, 40_000);
});
