import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { type FleetSnapshot, readFleet } from "../../core/planning/fleet-snapshot.ts";
import { UserError } from "../../errors/user-error.ts";
import { snapshotCommand, snapshotFigures, snapshotTarget } from "./snapshot-command.ts";

const snapshot: FleetSnapshot = {
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "FleetSnapshot",
  takenAt: "2026-11-25T18:00:00Z",
  locations: [{ name: "frankfurt" }],
  clusters: [
    {
      name: "fra-shop-dev",
      location: "frankfurt",
      environment: "dev",
      business: "shop",
      kubernetesVersion: "v1.36.3",
      nodes: [
        { name: "n0", zone: "z1", allocatable: { cpu: "8", memory: "32Gi", pods: "110" } },
        { name: "n1", zone: "z1", allocatable: { cpu: "8", memory: "32Gi", pods: "110" } },
      ],
      workloads: [
        {
          namespace: "shop-dev",
          kind: "Deployment",
          name: "storefront",
          replicas: 2,
          podRequests: { cpu: "500m" },
        },
        { namespace: "shop-dev", kind: "Deployment", name: "worker", replicas: 1, podRequests: { cpu: "1" } },
      ],
    },
  ],
};

describe("where -o sends the snapshot", () => {
  it("prints JSON or YAML, or writes a file in the format of its name", () => {
    expect(snapshotTarget("json")).toEqual({ format: "json" });
    expect(snapshotTarget("yaml")).toEqual({ format: "yaml" });
    expect(snapshotTarget("out/fleet.json")).toEqual({ format: "json", file: "out/fleet.json" });
    expect(snapshotTarget("fleet.yml")).toEqual({ format: "yaml", file: "fleet.yml" });
    expect(snapshotTarget("fleet.YAML")).toEqual({ format: "yaml", file: "fleet.YAML" });
  });

  it("refuses anything else, saying what it takes", () => {
    expect(() => snapshotTarget("table")).toThrow(
      "-o table: expected json, yaml, or a file name ending in .json, .yaml or .yml",
    );
    expect(() => snapshotTarget("fleet.txt")).toThrow(UserError);
  });

  it("counts clusters, nodes and pods (the replicas of the workloads)", () => {
    expect(snapshotFigures(snapshot)).toBe("1 cluster, 2 nodes, 3 pods");
    expect(snapshotFigures({ ...snapshot, clusters: [] })).toBe("0 clusters, 0 nodes, 0 pods");
  });
});

describe("unitfleet snapshot against a hub", () => {
  let server: Server;
  let home: string;
  let requests: string[] = [];
  const out: string[] = [];
  const err: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.setHeader("content-type", "application/json");
      if (req.url === "/unitfleet/v1alpha1/fleet-snapshot") return res.end(JSON.stringify(snapshot));
      if (req.url === "/apis/unitfleet.io/v1alpha1/clusters")
        return res.end(
          JSON.stringify({
            items: [{ metadata: { name: "fra-shop-dev" } }, { metadata: { name: "fra-new" } }],
          }),
        );
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: "Status", message: "not found" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    home = await mkdtemp(join(tmpdir(), "unitfleet-snapshot-"));
    const port = (server.address() as AddressInfo).port;
    await writeFile(join(home, "config.yaml"), `server: http://127.0.0.1:${port}\ntoken: t0k3n\n`);
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(home, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    requests = [];
    out.length = 0;
    err.length = 0;
  });

  async function run(args: string[], at = home): Promise<void> {
    vi.spyOn(process.stdout, "write").mockImplementation((text) => out.push(String(text)) > 0);
    vi.spyOn(process.stderr, "write").mockImplementation((text) => err.push(String(text)) > 0);
    await snapshotCommand({ home: at }).exitOverride().parseAsync(args, { from: "user" });
  }

  it("prints the hub's snapshot as JSON by default, and names clusters left out", async () => {
    await run([]);
    expect(requests[0]).toBe("GET /unitfleet/v1alpha1/fleet-snapshot Bearer t0k3n");
    expect(JSON.parse(out.join(""))).toEqual(snapshot);
    expect(err.join("")).toBe(
      "warning: 1 registered cluster has reported no inventory yet and is left out: fra-new\n",
    );
  });

  it("prints YAML with -o yaml", async () => {
    await run(["-o", "yaml"]);
    expect(parse(out.join(""))).toEqual(snapshot);
  });

  it("writes a file that readFleet accepts and prints one line of figures", async () => {
    const file = join(home, "fleet.yaml");
    await run(["-o", file]);
    expect(out.join("")).toBe(`wrote fleet snapshot: 1 cluster, 2 nodes, 3 pods → ${file}\n`);
    expect(readFleet(parse(await readFile(file, "utf8"))).ok).toBe(true);
  });

  it("says in one line why a file cannot be written, and contacts no hub for a bad -o", async () => {
    await expect(run(["-o", join(home, "missing", "fleet.json")])).rejects.toThrow(
      /^cannot write .*missing\/fleet\.json: its folder does not exist$/,
    );
    requests = [];
    await expect(run(["-o", "xml"])).rejects.toThrow("-o xml: expected json, yaml");
    expect(requests).toEqual([]);
  });

  it("says there is no hub to talk to in a home without one", async () => {
    const empty = await mkdtemp(join(tmpdir(), "unitfleet-snapshot-empty-"));
    try {
      await expect(run([], empty)).rejects.toThrow("no hub to talk to");
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
