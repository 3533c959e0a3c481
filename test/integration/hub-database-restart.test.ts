/**
 * Two hub replicas ride through their PostgreSQL going away: a restart under writes and a watch, and the
 * database cutting the replicas' connections (`pg_terminate_backend`, as an idle timeout or a failover does).
 * No replica exits, every write that was answered 2xx is there after, watches resume (or end with a Status),
 * LISTEN comes back, and the singleton lease is held again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { readEnvironment } from "../../src/config/environment.ts";
import { type PostgresServer, startPostgres } from "../support/postgres-server.ts";

const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();

interface Replica {
  name: string;
  process: ChildProcess;
  url: string;
  /** Set when the process exits: it never should here. */
  exited?: string;
  output: string;
}

let server: PostgresServer;
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
    const replica: Replica = { name, process: child, url: "", output: "" };
    const collect = (chunk: Buffer) => {
      replica.output += chunk.toString();
      const match = /hub serving at (\S+)/.exec(replica.output);
      if (match && !replica.url) {
        replica.url = match[1]!;
        resolve(replica);
      }
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("exit", (code, signal) => {
      replica.exited = `exit ${code ?? signal}`;
      reject(new Error(`replica ${name} exited (${code ?? signal}): ${replica.output}`));
    });
  });
}

async function client(replica: Replica): Promise<HubClient> {
  const token = (await readFile(join(dir, "admin-token"), "utf8")).trim();
  return new HubClient({ server: replica.url, token, caCert: await readFile(join(dir, "ca.crt"), "utf8") });
}

/** One query on a connection of its own: the test's checks must not depend on the code under test. */
async function query<T>(text: string): Promise<T[]> {
  const connection = new pg.Client({ connectionString: server.url });
  await connection.connect();
  try {
    return (await connection.query(text)).rows as T[];
  } finally {
    await connection.end();
  }
}

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const location = (name: string) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Location",
  metadata: { name },
  spec: {},
});

/** A watch on Locations from `from`, recording what it sees and how it ended. */
function watchLocations(on: HubClient, from: string) {
  const seen: Array<{ type: string; name?: string; code?: number; at: number }> = [];
  const stop = new AbortController();
  const state = { ended: false };
  const done = on
    .watch(
      `/apis/unitfleet.io/v1alpha1/locations?watch=true&resourceVersion=${from}`,
      (event) =>
        seen.push({
          type: event.type,
          name: (event.object.metadata as { name?: string } | undefined)?.name,
          code: (event.object as { code?: number }).code,
          at: Date.now(),
        }),
      stop.signal,
    )
    .catch(() => {})
    .finally(() => {
      state.ended = true;
    });
  return { seen, state, stop: () => stop.abort(), done };
}

beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), "unitfleet-db-restart-"));
  replicas.push(await startReplica("replica-a"));
  replicas.push(await startReplica("replica-b"));
}, 120_000);

afterAll(async () => {
  for (const r of replicas) r.process.kill("SIGKILL");
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("hub replicas when PostgreSQL goes away", () => {
  it("ride through a PostgreSQL restart under writes and a watch: no exit, no acknowledged write lost", async () => {
    const [a, b] = replicas as [Replica, Replica];
    const clients = [await client(a), await client(b)];
    const list = await clients[1]!.send<{ metadata: { resourceVersion: string } }>(
      "GET",
      "/apis/unitfleet.io/v1alpha1/locations",
    );
    const watch = watchLocations(clients[1]!, list.metadata.resourceVersion);

    const acknowledged: Array<{ name: string; at: number; via: string }> = [];
    const refused: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const via = i % 2;
        const name = `w-${i}`;
        try {
          await clients[via]!.send("POST", "/apis/unitfleet.io/v1alpha1/locations", location(name));
          acknowledged.push({ name, at: Date.now(), via: replicas[via]!.name });
        } catch (error) {
          refused.push(`${name}: ${(error as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    })();

    await until("writes before the restart", () => acknowledged.length >= 10, 10_000);
    const restarted = Date.now();
    await server.restart({ downMs: 1500 });
    const up = Date.now();
    // Both replicas take writes again once the server is back.
    const recovered = await until(
      "writes through both replicas after the restart",
      () =>
        acknowledged.filter((w) => w.at > up && w.via === a.name).length >= 3 &&
        acknowledged.filter((w) => w.at > up && w.via === b.name).length >= 3,
      30_000,
    );
    writing = false;
    await writer;

    expect(a.exited).toBeUndefined();
    expect(b.exited).toBeUndefined();
    expect(refused.length).toBeGreaterThan(0); // the outage was real
    // Refused with a message saying why and what to do, not "internal error".
    expect(
      refused.filter((r) => !/the hub's database is unavailable .*; retry in a moment$/.test(r)),
    ).toEqual([]);

    // Every write answered 2xx is there, seen through either replica.
    for (const on of clients) {
      const names = new Set(
        (
          await on.send<{ items: Array<{ metadata: { name: string } }> }>(
            "GET",
            "/apis/unitfleet.io/v1alpha1/locations",
          )
        ).items.map((item) => item.metadata.name),
      );
      expect(acknowledged.map((w) => w.name).filter((name) => !names.has(name))).toEqual([]);
    }

    // The watch resumed (it sees the writes made after the restart), or it ended with a Status.
    const last = acknowledged.at(-1)!;
    const watchOutcome = watch.state.ended ? `ended with ${JSON.stringify(watch.seen.at(-1))}` : "resumed";
    if (!watch.state.ended) {
      await until(
        "the watch to see the last write",
        () => watch.seen.some((e) => e.name === last.name),
        10_000,
      );
    } else {
      // Ended as Kubernetes ends a watch it cannot go on with: an ERROR event with a Status, not a cut stream.
      expect(watch.seen.at(-1)).toMatchObject({ type: "ERROR", code: expect.any(Number) });
    }
    watch.stop();
    await watch.done;

    // Singleton work is held again by one replica.
    await until(
      "a replica to hold the singleton lease",
      async () =>
        (
          await query<{ holder: string }>(
            "select holder from leases where name = 'hub-singleton' and expires_at > now()",
          )
        ).length === 1,
      10_000,
    );
    for (const c of clients) c.close();
    console.log(
      `restart: down ${up - restarted} ms, writes refused ${refused.length}, acknowledged ${acknowledged.length}, both replicas writing again ${recovered} ms after the server was up; watch ${watchOutcome}; refusals: ${[...new Set(refused.map((r) => r.replace(/^w-\d+: /, "").replace(/\d+/g, "N")))].join(" | ")}`,
    );
  }, 90_000);

  it("keep running and keep watches live when PostgreSQL cuts every connection (pg_terminate_backend)", async () => {
    const [a, b] = replicas as [Replica, Replica];
    const onA = await client(a);
    const onB = await client(b);
    const list = await onB.send<{ metadata: { resourceVersion: string } }>(
      "GET",
      "/apis/unitfleet.io/v1alpha1/locations",
    );
    const watch = watchLocations(onB, list.metadata.resourceVersion);
    await new Promise((r) => setTimeout(r, 300));

    const listeners = await query<{ pid: number }>(
      "select pid from pg_stat_activity where query ilike 'listen %' and pid <> pg_backend_pid()",
    );
    expect(listeners.length).toBeGreaterThan(0);
    const cut = await query<{ pid: number }>(
      `select pid, pg_terminate_backend(pid) from pg_stat_activity
       where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    );
    expect(cut.length).toBeGreaterThan(listeners.length);

    // LISTEN comes back within the reconnection backoff.
    await until(
      "the replicas to LISTEN again",
      async () =>
        (await query("select pid from pg_stat_activity where query ilike 'listen %'")).length >=
        listeners.length,
      10_000,
    );
    // A change through A reaches the watch on B by NOTIFY, well before the 5 s poll would.
    await until(
      "a write through A after the cut",
      async () => {
        try {
          await onA.send("POST", "/apis/unitfleet.io/v1alpha1/locations", location(`cut-${Date.now()}`));
          return true;
        } catch {
          return false;
        }
      },
      10_000,
    );
    const sent = Date.now();
    await onA.send("POST", "/apis/unitfleet.io/v1alpha1/locations", location("after-cut"));
    await until(
      "the watch on B to see after-cut",
      () => watch.seen.some((e) => e.name === "after-cut"),
      10_000,
    );
    const seen = watch.seen.find((e) => e.name === "after-cut")!;
    expect(seen.at - sent).toBeLessThan(2000);
    expect(watch.state.ended).toBe(false);
    expect(a.exited).toBeUndefined();
    expect(b.exited).toBeUndefined();
    watch.stop();
    await watch.done;
    onA.close();
    onB.close();
  }, 60_000);
});
