/**
 * What the hub sees of multi-cluster services (docs/multi-cluster-services.md "What the hub sees"), end to end
 * through the real parts: agents' tunnel clients send `services.exports` to a real relay, the relay summarises its
 * Location to a real hub, and `unitfleet get serviceexports` (the CLI, in process) prints what the hub stored. An
 * export asking for more than its Location is Valid=False and audited exactly once over many summaries; a Location's
 * rows are replaced as a whole (an unexport disappears); no other Location's relay or agent can write them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import { exportRecordFixture } from "../../src/core/multicluster-services/export-record.test-support.ts";
import type { ExportRecord } from "../../src/core/multicluster-services/export-record.ts";
import { listAudit } from "../../src/hub/audit/audit-log.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import type { MessageBody } from "../../src/protocol/messages.ts";
import type { RunningRelay } from "../../src/relay/relay.ts";
import { runCli } from "../support/cli-in-process.ts";
import { connectTestAgent, startTestRelay, type TestAgent } from "../support/tunnel-fleet.ts";

let env: Environment;
let hub: RunningHub;
let frankfurt: RunningRelay;
let singapore: RunningRelay;
const agents = new Map<string, TestAgent>();
const unitfleet = (args: string[]) => runCli(args, env);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

const record = (cluster: string, name: string, more: Partial<ExportRecord> = {}) =>
  exportRecordFixture(cluster, name, {
    endpoints: [
      { address: "10.4.1.7", ready: true, serving: true, terminating: false },
      { address: "10.4.1.8", ready: false, serving: false, terminating: false },
    ],
    more,
  });

function send(cluster: string, records: ExportRecord[]): void {
  const body: MessageBody<"services.exports"> = {
    cluster,
    region: "north",
    records,
    removed: [],
    present: records.map((r) => ({ namespace: r.namespace, name: r.name })),
  };
  agents.get(cluster)!.client.forward(cluster, "services.exports", body);
}

const scopeAudits = async () =>
  (await listAudit(hub.sql, { kind: "ServiceExport", limit: 500 })).items.filter((a) =>
    a.reason?.startsWith("ExportScopeBeyondLocation"),
  );
/** The id of the last summary of Frankfurt the hub stored (it changes with every summary). */
const lastSummary = async () =>
  (
    await hub.sql.query<{ summary: string }>(
      "select summary from service_export_summaries where location = 'frankfurt'",
    )
  )[0]?.summary;

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), "unitfleet-service-exports-"));
  env = { ...readEnvironment(), home };
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
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
      cluster("sin-a", "singapore"),
    ],
    systemCaller,
  );
  const summaryPace = { servicesSummary: { everyMs: 150, settleMs: 0 } };
  frankfurt = await startTestRelay(hub, "frankfurt", home, summaryPace);
  singapore = await startTestRelay(hub, "singapore", home, summaryPace);
  for (const name of ["fra-a", "fra-b"])
    agents.set(name, await connectTestAgent(hub, join(home, "hub"), frankfurt, "frankfurt", name));
  agents.set("sin-a", await connectTestAgent(hub, join(home, "hub"), singapore, "singapore", "sin-a"));
}, 60_000);

afterAll(async () => {
  for (const agent of agents.values()) await agent.stop();
  await frankfurt?.stop();
  await singapore?.stop();
  await hub?.close();
  await rm(env.home, { recursive: true, force: true });
});

describe("the hub's view of service exports", () => {
  it("lists the Location's exports in `unitfleet get serviceexports`, with conditions from the merge", async () => {
    send("fra-a", [
      record("fra-a", "cart"),
      record("fra-a", "global-cart", { exportCreatedAt: "2026-12-03T09:30:00Z", requestedScope: "global" }),
    ]);
    send("fra-b", [
      record("fra-b", "cart", {
        exportCreatedAt: "2026-12-03T10:00:00Z",
        ports: [
          { name: "http", protocol: "TCP", port: 80 },
          { name: "admin", protocol: "TCP", port: 9000 },
        ],
      }),
    ]);
    const table = await until("the hub lists three exports", async () => {
      const answer = await unitfleet(["get", "serviceexports"]);
      return answer.code === 0 && answer.stdout.trim().split("\n").length === 4 ? answer.stdout : undefined;
    });
    const lines = table.trim().split("\n");
    expect(lines[0]!.split(/\s{2,}/)).toEqual([
      "LOCATION",
      "CLUSTER",
      "NAMESPACE",
      "NAME",
      "TYPE",
      "PORTS",
      "ENDPOINTS",
      "VALID",
      "CONFLICT",
      "AGE",
    ]);
    const rows = lines.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 9));
    expect(rows).toEqual([
      ["frankfurt", "fra-a", "shop", "cart", "ClusterSetIP", "80/TCP", "1/2", "True", "True"],
      ["frankfurt", "fra-b", "shop", "cart", "ClusterSetIP", "80/TCP,9000/TCP", "1/2", "True", "True"],
      ["frankfurt", "fra-a", "shop", "global-cart", "ClusterSetIP", "80/TCP", "1/2", "False", "Unknown"],
    ]);

    const wide = await unitfleet(["get", "svcexports", "-o", "wide", "--cluster", "fra-a"]);
    expect(wide.code).toBe(0);
    expect(wide.stdout).toContain("VALID REASON");
    expect(wide.stdout).toMatch(/global-cart .*ExportScopeBeyondLocation/);
    expect(wide.stdout).not.toContain("fra-b");

    const json = await unitfleet([
      "get",
      "serviceexports",
      "-o",
      "json",
      "-n",
      "shop",
      "--location",
      "frankfurt",
    ]);
    const items = (JSON.parse(json.stdout) as { items: Array<Record<string, unknown>> }).items;
    expect(items.map((i) => `${i.cluster}/${i.name}`)).toEqual([
      "fra-a/cart",
      "fra-b/cart",
      "fra-a/global-cart",
    ]);
    expect(items[0]).toMatchObject({
      conflict: { status: "True", reason: "PortConflict" },
      endpoints: { ready: 1, total: 2 },
      exportedSince: "2026-12-03T09:00:00Z",
    });
    const yaml = await unitfleet(["get", "serviceexports", "global-cart", "-o", "yaml"]);
    expect(yaml.stdout).toContain("reason: ExportScopeBeyondLocation");

    const none = await unitfleet(["get", "serviceexports", "--location", "singapore"]);
    expect(none.stdout).toBe("No service exports found (location singapore).\n");
  });

  it("audits the export refused for its scope exactly once, however many summaries follow", async () => {
    // Several more summaries of the same refusal (each message from an agent is a change for the relay).
    for (let i = 0; i < 4; i++) {
      const before = await lastSummary();
      send("fra-b", [record("fra-b", "cart", { exportCreatedAt: "2026-12-03T10:00:00Z" })]);
      await until("a new summary is stored", async () =>
        (await lastSummary()) !== before ? true : undefined,
      );
    }
    const audits = await scopeAudits();
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      actor: "relay:frankfurt",
      verb: "export",
      kind: "ServiceExport",
      name: "fra-a/shop/global-cart",
      result: "refused",
    });
    const cli = await unitfleet(["audit", "--kind", "ServiceExport"]);
    expect(cli.stdout).toContain("fra-a/shop/global-cart");
  });

  it("replaces a Location's rows: an unexport disappears, and a refusal again after it is audited again", async () => {
    send("fra-a", [record("fra-a", "cart")]);
    await until("global-cart is gone", async () => {
      const answer = await unitfleet(["get", "serviceexports", "-o", "json"]);
      const names = (JSON.parse(answer.stdout) as { items: Array<{ name: string }> }).items.map(
        (i) => i.name,
      );
      return names.includes("global-cart") ? undefined : names;
    });
    // fra-b agreed on ports in the last test: no conflict now.
    const table = await unitfleet(["get", "serviceexports"]);
    expect(
      table.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s{2,}/).slice(1, 9)),
    ).toEqual([
      ["fra-a", "shop", "cart", "ClusterSetIP", "80/TCP", "1/2", "True", "False"],
      ["fra-b", "shop", "cart", "ClusterSetIP", "80/TCP", "1/2", "True", "False"],
    ]);
    send("fra-a", [record("fra-a", "cart"), record("fra-a", "global-cart", { requestedScope: "global" })]);
    await until("the second refusal is audited", async () =>
      (await scopeAudits()).length === 2 ? true : undefined,
    );
  });

  it("takes a summary only from the Location's relay: an agent's or another relay's is refused", async () => {
    const forged: MessageBody<"services.summary"> = {
      location: "frankfurt",
      summary: "forged:1",
      page: 0,
      pages: 1,
      exports: [],
      exportsOmitted: 0,
    };
    // An agent of Frankfurt through its relay, and Singapore's relay itself, each claiming Frankfurt's summary.
    agents.get("fra-a")!.client.forward("frankfurt", "services.summary", forged);
    singapore.client.forward("frankfurt", "services.summary", forged);
    await sleep(800);
    const answer = await unitfleet(["get", "serviceexports", "--location", "frankfurt", "-o", "json"]);
    expect((JSON.parse(answer.stdout) as { items: unknown[] }).items).toHaveLength(3);
    const [row] = await hub.sql.query<{ summary: string }>(
      "select summary from service_export_summaries where location = 'frankfurt'",
    );
    expect(row?.summary).not.toBe("forged:1");
  });

  it("refuses bad filters with their field, and the filters on other types", async () => {
    const bad = await unitfleet(["get", "serviceexports", "--location", "Not_A_Name"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("location");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const other = await unitfleet(["get", "clusters", "--location", "frankfurt"]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain("--location applies only to serviceexports");
  });
});
