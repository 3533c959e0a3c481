/**
 * `get -o wide`, `describe` and `explain` through the CLI against a real hub in this process (embedded store),
 * with one cluster whose status and heartbeats the test writes as an agent would: every kind prints plain
 * values in every column; an Application wanting more replicas than fit says how many were placed, counts
 * ready replicas against those wanted, and counts as applied only what applied without a failure.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import { type Application, type ClusterStatus, kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
let home: string;
let hub: RunningHub;
let beats: NodeJS.Timeout;

async function unitfleet(args: string[]) {
  try {
    const { stdout, stderr } = await run(cli, args, {
      env: { ...env.inherited, UNITFLEET_HOME: home },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const doc = (kind: string, name: string, spec: object) => ({
  source: "test",
  body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
});

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

const web = async () =>
  (await hub.registry.get(kinds.Application, "web", systemCaller)) as unknown as Application;

/** The cells of a `get` table: its header row and one row, split on the runs of spaces between columns. */
function table(stdout: string): Array<Record<string, string>> {
  const [header, ...rows] = stdout.trimEnd().split("\n");
  const names = header!.split(/ {3,}/);
  return rows.map((r) => Object.fromEntries(r.split(/ {3,}/).map((cell, i) => [names[i], cell])));
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-cli-printing-"));
  hub = await startHub({
    dir: join(home, "hub"),
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    healthGraceMs: 1500,
    healthEveryMs: 100,
  });
  const manifests = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "web" } },
    { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "web" } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "web" },
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "web:1", resources: { requests: { cpu: "1" } } }] },
        },
      },
    },
  ];
  // One apply, the Application first: the Location it names is created in the same batch.
  await hub.registry.applyAll(
    [
      doc("Application", "web", {
        manifests,
        placement: { locations: ["tokyo"], replicas: { mode: "Divided", count: 3 } },
      }),
      doc("Placement", "tokyo-only", { locations: ["tokyo"], replicas: { mode: "Divided", count: 9 } }),
      doc("Override", "mirror", {
        applications: ["web"],
        rules: [{ clusters: { clusterNames: ["elsewhere"] }, imageRegistry: "registry.example" }],
      }),
      doc("ConsolidationPolicy", "default", {}),
      doc("PriceBook", "tokyo-2026", {
        location: "tokyo",
        currency: "JPY",
        prices: [{ from: "2026-01-01", units: { cpuPerCoreHour: "4.5", memoryPerGiBHour: "0.6" } }],
      }),
      doc("NetworkPool", "tokyo", {
        location: "tokyo",
        pods: ["10.0.0.0/12"],
        services: ["10.96.0.0/16"],
        nodes: ["10.128.0.0/16"],
        clusterIds: { first: 1, last: 255 },
      }),
      doc("Location", "tokyo", { displayName: "Tokyo" }),
      doc("Region", "tyo-east", { location: "tokyo", zones: ["tyo-east-1"] }),
      doc("Cluster", "tyo-a", {
        location: "tokyo",
        region: "tyo-east",
        environment: "prod",
        business: "shop",
      }),
    ],
    systemCaller,
  );
  // Room for 2 replicas of 1 cpu in all.
  await hub.registry.mergeStatus(
    kinds.Cluster,
    "tyo-a",
    {
      kubernetesVersion: "v1.36.3",
      nodes: { total: 1, ready: 1 },
      observedZones: ["tyo-east-1"],
      capacity: { cpu: "2", memory: "8Gi", pods: "110" },
      allocatable: { cpu: "2", memory: "8Gi", pods: "110" },
      requested: { cpu: "0", memory: "0" },
      pods: 0,
    },
    systemCaller,
  );
  const beat = () =>
    hub.sql.query(
      `insert into cluster_heartbeats (cluster, at, replica) values ('tyo-a', now(), 'test')
       on conflict (cluster) do update set at = excluded.at`,
    );
  await beat();
  beats = setInterval(() => void beat().catch(() => {}), 100);
  await until(
    "tyo-a to be Ready",
    async () => (await hub.registry.get(kinds.Cluster, "tyo-a", systemCaller)).status as ClusterStatus,
    (s) => s?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
  );
  await until("web to be placed", web, (a) => (a.status?.placement?.clusters.length ?? 0) > 0);
  // The agent reports the work — the Deployment runs its 2 replicas, the Namespace applied, the Service
  // failed — and its inventory counts the 2 ready pods' requests: no room left.
  await hub.registry.mergeStatus(
    kinds.Cluster,
    "tyo-a",
    { requested: { cpu: "2", memory: "0" }, pods: 2 },
    systemCaller,
  );
  await hub.sql.query("update works set status = $1::jsonb where application = 'web' and cluster = 'tyo-a'", [
    JSON.stringify({
      generation: 1,
      objects: [
        { kind: "Namespace", name: "web", state: "Applied", healthy: true },
        {
          kind: "Service",
          name: "web",
          state: "Failed",
          message: "spec.ports: Required value",
          healthy: false,
        },
        {
          kind: "Deployment",
          name: "web",
          state: "Applied",
          replicas: { desired: 2, ready: 2 },
          healthy: true,
        },
      ],
    }),
  ]);
  await until("web's report to be summed", web, (a) => a.status?.summary?.ready === 2);
}, 60_000);

afterAll(async () => {
  clearInterval(beats);
  await hub?.close();
  await rm(home, { recursive: true, force: true });
});

describe("printing resources through the CLI", () => {
  it("prints every column of every kind with -o wide as plain values", async () => {
    for (const kind of Object.values(kinds)) {
      const result = await unitfleet(["get", kind.plural, "-o", "wide"]);
      expect(result.code, `${kind.plural}: ${result.stderr}`).toBe(0);
      expect(result.stdout, kind.plural).not.toMatch(/\[object|[{}"]/);
      const [row] = table(result.stdout);
      expect(Object.keys(row!), kind.plural).toEqual([
        "NAME",
        ...kind.columns.map((c) => c.name.toUpperCase()),
      ]);
    }
  }, 120_000);

  it("shows an Application's replicas against those wanted, what applied, and where it runs", async () => {
    const [row] = table((await unitfleet(["get", "applications", "-o", "wide"])).stdout);
    expect(row).toMatchObject({
      NAME: "web",
      CLUSTERS: "1",
      REPLICAS: "2/3",
      APPLIED: "0/1",
      READY: "False",
      PLACEMENT: "tyo-a=2",
    });
  }, 60_000);

  it("says in describe how many replicas could be placed, and counts applied objects without failures", async () => {
    const described = await unitfleet(["describe", "application", "web"]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(
      /Scheduled +False +Unschedulable +\S+ +Resources: only 2 of 3 replicas fit in Location tokyo \(2 of 3 replicas placed\)/,
    );
    expect(described.stdout).toMatch(/CLUSTER +SHARE +READY +APPLIED +GENERATION +HEALTHY +MESSAGE/);
    expect(described.stdout).toMatch(
      /tyo-a +2 +2\/2 +2\/3 +1\/1 +no +Service web: spec\.ports: Required value/,
    );
  }, 60_000);

  it("explains the same room the controller used: fits 2, not 4", async () => {
    const explained = await unitfleet(["explain", "application", "web"]);
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain("Divided: 2 of 3 replicas (ideal 2, fits 2)");
    expect(explained.stdout).toContain(
      "unschedulable: Resources: only 2 of 3 replicas fit in Location tokyo",
    );
  }, 60_000);
});
