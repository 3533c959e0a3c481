/**
 * `unitfleet hub` on the embedded store, driven by the unitfleet CLI and by the real kubectl the lab builds.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readEnvironment } from "../../src/config/environment.ts";
import { binaryPath, labPaths } from "../../src/lab/paths.ts";
import { unitfleetCli } from "./cli.ts";
import { sharedLab } from "./shared-lab.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const cli = join(root, "bin/unitfleet.ts");
const env = readEnvironment();

let home: string;
let hub: ChildProcess;
let kubectlBin: string;

const unitfleet = (args: string[]) => unitfleetCli(home, args);

async function kubectl(args: string[]) {
  const { stdout } = await run(kubectlBin, ["--kubeconfig", join(home, "hub", "kubeconfig"), ...args]);
  return stdout;
}

beforeAll(async () => {
  const lab = sharedLab();
  kubectlBin = binaryPath(labPaths(lab.cacheRoot, lab.home), "kubectl");
  home = await mkdtemp(join(tmpdir(), "unitfleet-hub-"));
  hub = spawn(cli, ["hub", "--listen", "127.0.0.1:0"], {
    env: { ...env.inherited, UNITFLEET_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let output = "";
    hub.stdout!.on("data", (c: Buffer) => {
      output += c.toString();
      if (output.includes("kubeconfig:")) resolve();
    });
    hub.stderr!.on("data", (c: Buffer) => {
      output += c.toString();
    });
    hub.on("exit", (code) => reject(new Error(`hub exited (${code}): ${output}`)));
  });
}, 60_000);

afterAll(async () => {
  hub?.kill("SIGTERM");
  await new Promise((r) => hub?.once("exit", r));
  await rm(home, { recursive: true, force: true });
});

describe("the hub, through the unitfleet CLI and the real kubectl", () => {
  it("applies a fleet of 2 Locations, 3 Regions and 6 clusters, and lists it wide", async () => {
    const applied = await unitfleet(["apply", "-f", "examples/fleet.yaml"]);
    expect(applied.code).toBe(0);
    expect(applied.stdout.trim().split("\n")).toHaveLength(11);
    expect(applied.stdout).toContain("cluster/fra-shop-prod created");
    const wide = await unitfleet(["get", "clusters", "-o", "wide"]);
    const lines = wide.stdout.trim().split("\n");
    expect(lines[0]).toMatch(
      /^NAME\s+LOCATION\s+REGION\s+ENVIRONMENT\s+BUSINESS\s+VERSION\s+NODES\s+READY\s+ZONES\s+CPU\s+MEMORY\s+CPU REQ\s+MEM REQ\s+PODS\s+AGE$/,
    );
    expect(lines).toHaveLength(7);
    // No agent reports here: what only an agent can know is shown as "-"; Ready is not set yet ("-") or, once
    // the health loop (every 2 s) has seen the cluster, Unknown.
    expect(lines.find((l) => l.startsWith("fra-shop-prod "))).toMatch(
      /^fra-shop-prod\s+frankfurt\s+fra-north\s+prod\s+shop\s+-\s+-\s+(-|Unknown)\s+-\s+-/,
    );
  });

  it("serves kubectl: a label selector, YAML output and printer columns", async () => {
    const prod = await kubectl(["get", "clusters", "-l", "environment=prod"]);
    const rows = prod.trim().split("\n");
    expect(rows[0]).toMatch(
      /^NAME\s+LOCATION\s+REGION\s+ENVIRONMENT\s+BUSINESS\s+VERSION\s+NODES\s+READY\s+AGE$/,
    );
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual([
      "fra-payments-prod",
      "fra-shop-prod",
      "sgp-shop-prod",
    ]);

    const yaml = parse(await kubectl(["get", "clusters", "-o", "yaml"])) as {
      items: Array<{
        metadata: { name: string; uid: string; labels: Record<string, string> };
        spec: { business: string };
      }>;
    };
    expect(yaml.items).toHaveLength(6);
    const shop = yaml.items.find((i) => i.metadata.name === "sgp-shop-dev")!;
    expect(shop.metadata.labels).toMatchObject({
      location: "singapore",
      region: "sgp-central",
      environment: "dev",
    });
    expect(shop.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("deletes with kubectl and sees, in kubectl get --watch, a change made by unitfleet apply", async () => {
    expect(await kubectl(["delete", "cluster", "fra-shop-dev"])).toContain(
      'cluster.unitfleet.io "fra-shop-dev" deleted',
    );
    expect(await kubectl(["get", "clusters", "-o", "name"])).not.toContain("fra-shop-dev");

    const watch = spawn(kubectlBin, [
      "--kubeconfig",
      join(home, "hub", "kubeconfig"),
      "get",
      "clusters",
      "--watch",
      "--output-watch-events",
    ]);
    let seen = "";
    watch.stdout.on("data", (c: Buffer) => {
      seen += c.toString();
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!seen.includes("sgp-shop-prod") && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const reapplied = await unitfleet(["apply", "-f", "examples/fleet.yaml"]);
      expect(reapplied.stdout).toContain("cluster/fra-shop-dev created");
      // The initial list lacks the deleted cluster: its ADDED line can only be the new event.
      while (!/^ADDED\s+fra-shop-dev\s/m.test(seen) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
    } finally {
      watch.kill();
    }
    const lines = seen.trim().split("\n");
    // The initial list (6 clusters minus the deleted one), then the event for the cluster applied again —
    // followed at most by the hub's own status updates of it (the health loop marks a cluster that has never
    // reported Ready=Unknown, which may land before the watch is stopped).
    expect(lines.filter((l) => /^ADDED\s+fra-shop-dev\s/.test(l))).toHaveLength(1);
    const added = lines.findIndex((l) =>
      /^ADDED\s+fra-shop-dev\s+frankfurt\s+fra-north\s+dev\s+shop/.test(l),
    );
    expect(added).toBeGreaterThan(lines.findIndex((l) => /^ADDED\s+sgp-shop-prod\s/.test(l)));
    expect(lines.slice(added + 1).filter((l) => !/^MODIFIED\s+fra-shop-dev\s/.test(l))).toEqual([]);
  });

  it("shows kubectl the field causes of an invalid object", async () => {
    const bad = join(root, "test/fixtures/fleet-one-bad.yaml");
    const failure = await run(kubectlBin, [
      "--kubeconfig",
      join(home, "hub", "kubeconfig"),
      "apply",
      "-f",
      bad,
    ]).catch((e: { stderr: string }) => e);
    expect((failure as { stderr: string }).stderr).toContain(
      'Region "fra-north" belongs to Location "frankfurt", not "paris"',
    );
  });

  it("applies nothing of a multi-document file with one bad document (unitfleet apply)", async () => {
    await unitfleet(["delete", "clusters", "par-web-prod"]);
    await unitfleet(["delete", "locations", "paris"]);
    const result = await unitfleet(["apply", "-f", "test/fixtures/fleet-one-bad.yaml"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("references are broken; nothing was applied");
    expect(result.stderr).toContain(
      'test/fixtures/fleet-one-bad.yaml[2]: spec.region: Region "fra-north" belongs to Location "frankfurt", not "paris"',
    );
    expect((await unitfleet(["get", "locations", "paris"])).stderr).toContain('locations "paris" not found');
  });

  it("names the file, document and line of a YAML syntax error, and unknown kinds", async () => {
    const broken = await unitfleet(["apply", "-f", "test/fixtures/topologies/broken-yaml.yaml"]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/broken-yaml\.yaml\[0\]: line 9, column \d+/);
    const unknown = await unitfleet(["get", "nodes"]);
    expect(unknown.stderr).toContain('the hub has no resource type "nodes"');
  });

  it("refuses a viewer token writing, and lists the refusal in the audit log", async () => {
    const created = await unitfleet(["api-token", "create", "reader", "--role", "viewer"]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(await kubectl(["--token", token, "get", "clusters", "-o", "name"])).toContain(
      "cluster.unitfleet.io/sgp-shop-prod",
    );
    const refused = await run(kubectlBin, [
      "--kubeconfig",
      join(home, "hub", "kubeconfig"),
      "--token",
      token,
      "delete",
      "cluster",
      "sgp-shop-prod",
    ]).catch((e: { stderr: string }) => e);
    expect((refused as { stderr: string }).stderr).toContain("Error from server (Forbidden)");
    const audit = await unitfleet(["audit", "--actor", "reader", "-o", "json"]);
    const entries = JSON.parse(audit.stdout) as Array<{ verb: string; name: string; result: string }>;
    expect(entries[0]).toMatchObject({ verb: "delete", name: "sgp-shop-prod", result: "refused" });
    expect(await kubectl(["get", "cluster", "sgp-shop-prod", "-o", "name"])).toContain("sgp-shop-prod");
  });

  it("logs in, describes, prints JSON and YAML, watches with the unitfleet CLI, and serves health and metrics", async () => {
    const hubDir = join(home, "hub");
    const kubeconfig = parse(await readFile(join(hubDir, "kubeconfig"), "utf8")) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    const server = kubeconfig.clusters[0]!.cluster.server;
    const token = (await readFile(join(hubDir, "admin-token"), "utf8")).trim();
    const badLogin = await unitfleet([
      "login",
      "--server",
      server,
      "--token",
      "uft_wrong",
      "--certificate-authority",
      join(hubDir, "ca.crt"),
    ]);
    expect(badLogin.code).toBe(1);
    expect(badLogin.stderr).toContain("a valid API token is required");
    const login = await unitfleet([
      "login",
      "--server",
      server,
      "--token",
      token,
      "--certificate-authority",
      join(hubDir, "ca.crt"),
    ]);
    expect(login.stdout).toContain(`logged in to ${server}`);

    const described = await unitfleet(["describe", "cluster", "sgp-shop-prod"]);
    expect(described.stdout).toMatch(/^Name:\s+sgp-shop-prod$/m);
    expect(described.stdout).toContain("environment=prod");
    expect(described.stdout).toContain("<none reported yet>");
    const asJson = JSON.parse((await unitfleet(["get", "regions", "-o", "json"])).stdout) as {
      items: unknown[];
    };
    expect(asJson.items).toHaveLength(3);
    const asYaml = parse((await unitfleet(["get", "location", "frankfurt", "-o", "yaml"])).stdout) as {
      spec: unknown;
    };
    expect(asYaml.spec).toEqual({ displayName: "Frankfurt" });

    const watcher = spawn(cli, ["get", "locations", "-w"], {
      env: { ...env.inherited, UNITFLEET_HOME: home },
    });
    let seen = "";
    watcher.stdout.on("data", (c: Buffer) => {
      seen += c.toString();
    });
    const deadline = Date.now() + 10_000;
    while (!seen.includes("singapore") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await unitfleet(["apply", "-f", "test/fixtures/location-oslo.yaml"]);
    while (!seen.includes("oslo") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    watcher.kill("SIGINT");
    expect(seen).toMatch(/^oslo\s+Oslo\s/m);

    const ca = await readFile(join(hubDir, "ca.crt"), "utf8");
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        httpsGet(new URL(path, server), { ca, headers }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        }).on("error", reject);
      });
    expect(await get("/livez")).toEqual({ status: 200, text: "ok" });
    expect(await get("/readyz")).toEqual({ status: 200, text: "ok" });
    // Metrics need a token (any role); health does not.
    expect((await get("/metrics")).status).toBe(401);
    const metrics = await get("/metrics", { authorization: `Bearer ${token}` });
    expect(metrics.text).toMatch(/^unitfleet_api_requests_total\{method="POST",code="200"\} \d+$/m);
  });
});
