/**
 * Two hub replicas (`unitfleet hub` processes) on one PostgreSQL server: a watch held on one sees a change
 * made through the other, and singleton work runs on exactly one replica and moves when that one is killed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { readEnvironment } from "../../src/config/environment.ts";
import { leaseHolder } from "../../src/hub/replicas/lease.ts";
import { openPostgres } from "../../src/store/postgres-sql.ts";
import type { Sql } from "../../src/store/sql.ts";
import { type PostgresServer, startPostgres } from "../support/postgres-server.ts";

const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();

interface Replica {
  name: string;
  process: ChildProcess;
  url: string;
}

let server: PostgresServer;
let sql: Sql;
let dir: string;
const replicas: Replica[] = [];

function startReplica(name: string): Promise<Replica> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      cli,
      [
        "hub",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        dir,
        "--database-url",
        server.url,
        "--replica",
        name,
        "--lease-ttl",
        "2",
      ],
      { env: env.inherited, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /hub serving at (\S+)/.exec(output);
      if (match) resolve({ name, process: child, url: match[1]! });
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`replica ${name} exited (${code}): ${output}`)));
  });
}

async function client(replica: Replica): Promise<HubClient> {
  const token = (await readFile(join(dir, "admin-token"), "utf8")).trim();
  return new HubClient({ server: replica.url, token, caCert: await readFile(join(dir, "ca.crt"), "utf8") });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

beforeAll(async () => {
  server = await startPostgres();
  sql = await openPostgres(server.url);
  dir = await mkdtemp(join(tmpdir(), "unitfleet-replicas-"));
  // A first, alone: it creates the CA and the admin token; B shares the folder (as replicas share a secret).
  replicas.push(await startReplica("replica-a"));
  replicas.push(await startReplica("replica-b"));
}, 120_000);

afterAll(async () => {
  for (const r of replicas) r.process.kill("SIGKILL");
  await sql?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("two hub replicas on one PostgreSQL", () => {
  it("shows a change made through replica A in a watch held on replica B within a second", async () => {
    const [a, b] = replicas;
    const onA = await client(a!);
    const onB = await client(b!);
    const list = await onB.send<{ metadata: { resourceVersion: string } }>(
      "GET",
      "/apis/unitfleet.io/v1alpha1/locations",
    );
    const seen: Array<{ type: string; name: string; at: number }> = [];
    const stop = new AbortController();
    const watching = onB.watch(
      `/apis/unitfleet.io/v1alpha1/locations?watch=true&resourceVersion=${list.metadata.resourceVersion}`,
      (event) =>
        seen.push({
          type: event.type,
          name: (event.object.metadata as { name: string }).name,
          at: Date.now(),
        }),
      stop.signal,
    );
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    await onA.send("POST", "/apis/unitfleet.io/v1alpha1/locations", {
      apiVersion: "unitfleet.io/v1alpha1",
      kind: "Location",
      metadata: { name: "lisbon" },
      spec: {},
    });
    await until("the watch on B to see lisbon", async () => seen.length > 0, 5000);
    stop.abort();
    await watching;
    expect(seen[0]).toMatchObject({ type: "ADDED", name: "lisbon" });
    expect(seen[0]!.at - sent).toBeLessThan(1000);
    onA.close();
    onB.close();
  });

  it("runs singleton work on exactly one replica, and moves it when that replica is killed", async () => {
    const holder = await leaseHolder(sql, "hub-singleton", new Date());
    expect(["replica-a", "replica-b"]).toContain(holder);
    const leader = replicas.find((r) => r.name === holder)!;
    const other = replicas.find((r) => r.name !== holder)!;
    leader.process.kill("SIGKILL");
    const waited = await until(
      `${other.name} to take the lease over`,
      async () => (await leaseHolder(sql, "hub-singleton", new Date())) === other.name,
      10_000,
    );
    // The lease lives 2 s; the survivor renews every third of that.
    expect(waited).toBeLessThan(5000);
    // The survivor still serves.
    const onOther = await client(other);
    const list = await onOther.send<{ items: unknown[] }>("GET", "/apis/unitfleet.io/v1alpha1/locations");
    expect(list.items.length).toBeGreaterThan(0);
    onOther.close();
  });
});
