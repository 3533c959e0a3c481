/**
 * Watches as kube-apiserver serves them, on real hubs over real HTTP (issue 12, findings 1 and 9). A hub process
 * (`unitfleet hub`) on PGlite and on PostgreSQL keeps answering `/livez` and stays idle while a watch on one kind
 * sees writes of other kinds; a scoped or selector watch sends DELETED when an object leaves it; bad starting
 * points are refused as Kubernetes refuses them; headers come at once; bookmarks carry the position. A hub in
 * this process, on PostgreSQL, shows what watches cost the database: one read per change for all of them, and
 * nothing once their clients have gone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { type PostgresServer, startPostgres } from "../support/postgres-server.ts";

const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
const api = "/apis/unitfleet.io/v1alpha1";

interface Hub {
  url: string;
  token: string;
  pid: number;
  /** The hub's own database on the throwaway PostgreSQL server, when it uses one. */
  database?: string;
  stop(): Promise<void>;
}

interface WatchEvent {
  type: string;
  object: { kind?: string; metadata: { name?: string; resourceVersion?: string; annotations?: object } } & {
    reason?: string;
    code?: number;
  };
}

interface Watching {
  events: WatchEvent[];
  headers: Promise<number>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  stop(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let postgres: PostgresServer;
let databases = 0;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  postgres = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  await postgres?.stop();
});

/** A database of its own on the throwaway server. */
async function freshDatabase(): Promise<string> {
  const name = `watches_${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return postgres.url.replace(/\/postgres$/, `/${name}`);
}

/** `unitfleet hub` in a process of its own (so that a starved hub cannot starve the test), plain HTTP. */
async function startHubProcess(store: "PGlite" | "PostgreSQL"): Promise<Hub> {
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-watches-"));
  const args = ["hub", "--insecure", "--listen", "127.0.0.1:0", "--dir", dir];
  const databaseUrl = store === "PostgreSQL" ? await freshDatabase() : undefined;
  if (databaseUrl) args.push("--database-url", databaseUrl);
  const child: ChildProcess = spawn(cli, args, { env: env.inherited, stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /hub serving at (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`the hub exited (${code}): ${output}`)));
  });
  const token = (await readFile(join(dir, "admin-token"), "utf8")).trim();
  const stop = async () => {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  };
  cleanups.push(stop);
  return {
    url,
    token,
    pid: child.pid!,
    stop,
    ...(databaseUrl ? { database: new URL(databaseUrl).pathname.slice(1) } : {}),
  };
}

async function call<T = Record<string, unknown>>(
  hub: { url: string; token: string },
  method: string,
  path: string,
  body?: unknown,
  token = hub.token,
): Promise<T> {
  const response = await fetch(`${hub.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined
        ? {}
        : { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

const location = (name: string) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Location",
  metadata: { name },
  spec: {},
});

const cluster = (name: string, business: string, environment = "prod") => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Cluster",
  metadata: { name },
  spec: { location: "base", environment, business },
});

async function listVersion(hub: Hub, plural: string): Promise<string> {
  const list = await call<{ metadata: { resourceVersion: string } }>(hub, "GET", `${api}/${plural}`);
  return list.metadata.resourceVersion;
}

/**
 * Opens a watch and reads its events as they come. `headers` resolves with the HTTP status when the response
 * headers arrive (the hub may be slow to send them: nothing here waits for them unless asked).
 */
function openWatch(hub: { url: string; token: string }, path: string, token = hub.token): Watching {
  const stop = new AbortController();
  const events: WatchEvent[] = [];
  const response = fetch(`${hub.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: stop.signal,
  });
  const headers = response.then((r) => r.status);
  headers.catch(() => {});
  const ended = (async () => {
    let pending = "";
    try {
      for await (const chunk of (await response).body!) {
        pending += Buffer.from(chunk).toString("utf8");
        let newline = pending.indexOf("\n");
        while (newline >= 0) {
          events.push(JSON.parse(pending.slice(0, newline)) as WatchEvent);
          pending = pending.slice(newline + 1);
          newline = pending.indexOf("\n");
        }
      }
    } catch {
      // Stopped by the test.
    }
  })();
  return { events, headers, ended, stop: () => stop.abort() };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Asks `/livez` every 20 ms until stopped; the worst answer time (a request that fails counts as 5 s). */
function probeLivez(hub: Hub): { stop(): Promise<{ worstMs: number; probes: number }> } {
  let stopped = false;
  let worstMs = 0;
  let probes = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const ok = await fetch(`${hub.url}/livez`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.text().then(() => r.ok))
        .catch(() => false);
      const took = ok ? performance.now() - started : 5000;
      worstMs = Math.max(worstMs, took);
      probes++;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { worstMs, probes };
    },
  };
}

/** Transactions the database has counted (PostgreSQL's statistics lag by up to a second while busy). */
async function transactions(database: string): Promise<number> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    const rows = await client.query<{ n: string }>(
      "select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = $1",
      [database],
    );
    return Number(rows.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** CPU seconds the process has used (user + system), from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Writes a Location every 50 ms for `ms` while probing `/livez`; the worst answer time and the probes made. */
async function writesWhileProbing(hub: Hub, prefix: string, ms: number) {
  const probe = probeLivez(hub);
  const streamUntil = Date.now() + ms;
  let written = 0;
  while (Date.now() < streamUntil) {
    await call(hub, "POST", `${api}/locations`, location(`${prefix}-${written++}`));
    await sleep(50);
  }
  return { written, ...(await probe.stop()) };
}

/** CPU share and database transactions per second over 3 s of nothing written, after a second's pause. */
async function rest(hub: Hub): Promise<{ cpuShare: number; transactionsPerSecond: number }> {
  await sleep(1000);
  const cpuBefore = await cpuSeconds(hub.pid);
  const transactionsBefore = hub.database ? await transactions(hub.database) : 0;
  await sleep(3000);
  return {
    cpuShare: ((await cpuSeconds(hub.pid)) - cpuBefore) / 3,
    transactionsPerSecond: hub.database ? ((await transactions(hub.database)) - transactionsBefore) / 3 : 0,
  };
}

describe.each(["PGlite", "PostgreSQL"] as const)("a hub on %s with a watch open", (store) => {
  it("answers /livez as fast as without it while another kind is written, rests after, and still delivers", async () => {
    const hub = await startHubProcess(store);
    await call(hub, "POST", `${api}/locations`, location("base"));
    // The same stream of writes without a watch: what this machine and store allow.
    const without = await writesWhileProbing(hub, "plain", 3000);
    const quiet = await rest(hub);
    // What `kubectl get clusters -w` does: a list, then a watch from its resourceVersion.
    const watch = openWatch(
      hub,
      `${api}/clusters?watch=true&resourceVersion=${await listVersion(hub, "clusters")}`,
    );
    const withWatch = await writesWhileProbing(hub, "watched", 3000);
    const figures = `worst /livez ${Math.round(withWatch.worstMs)} ms of ${withWatch.probes} probes during ${withWatch.written} writes with the watch, ${Math.round(without.worstMs)} ms of ${without.probes} without`;
    expect(withWatch.written, figures).toBeGreaterThan(10);
    expect(withWatch.probes, figures).toBeGreaterThan(20);
    expect(withWatch.worstMs, figures).toBeLessThan(Math.max(100, 2 * without.worstMs));

    // With the watch still open and nothing written, the hub rests, and so does its database.
    const resting = await rest(hub);
    expect(resting.cpuShare, "share of one core used by an idle hub with a watch open").toBeLessThan(0.2);
    expect(
      resting.transactionsPerSecond,
      `database transactions per second of an idle hub with a watch open (${quiet.transactionsPerSecond.toFixed(1)} without)`,
    ).toBeLessThan(quiet.transactionsPerSecond + 30);

    await call(hub, "POST", `${api}/clusters`, cluster("fra-shop-1", "shop"));
    await until("the watch to see fra-shop-1", () => watch.events.length > 0);
    expect(watch.events.map((e) => [e.type, e.object.metadata.name])).toEqual([["ADDED", "fra-shop-1"]]);
    console.log(
      `${store}: ${figures}; idle with the watch open: CPU ${(resting.cpuShare * 100).toFixed(1)}%, ${resting.transactionsPerSecond.toFixed(1)} transactions/s (${quiet.transactionsPerSecond.toFixed(1)} without)`,
    );
    watch.stop();
    await hub.stop();
  }, 90_000);
});

describe("watches on a hub on PGlite", { timeout: 20_000 }, () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startHubProcess("PGlite");
    await call(hub, "POST", `${api}/locations`, location("base"));
  }, 60_000);

  it("answers a bogus resourceVersion with 410 Expired and one from the future with 504, at once", async () => {
    for (const bogus of ["-5", "abc", "1.5"]) {
      const started = Date.now();
      const response = await fetch(`${hub.url}${api}/clusters?watch=true&resourceVersion=${bogus}`, {
        headers: { authorization: `Bearer ${hub.token}` },
        signal: AbortSignal.timeout(5000),
      });
      const status = (await response.json()) as { kind: string; reason: string; code: number };
      expect([bogus, response.status, status.kind, status.reason, status.code]).toEqual([
        bogus,
        410,
        "Status",
        "Expired",
        410,
      ]);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    const future = BigInt(await listVersion(hub, "clusters")) + 1000n;
    const response = await fetch(`${hub.url}${api}/clusters?watch=true&resourceVersion=${future}`, {
      headers: { authorization: `Bearer ${hub.token}` },
      signal: AbortSignal.timeout(5000),
    });
    const status = (await response.json()) as { reason: string; message: string };
    expect([response.status, status.reason]).toEqual([504, "Timeout"]);
    expect(status.message).toMatch(/Too large resource version/);
  });

  it("sends the headers of a watch from a resourceVersion at once, before any event", async () => {
    const rv = await listVersion(hub, "clusters");
    const started = Date.now();
    const watch = openWatch(hub, `${api}/clusters?watch=true&resourceVersion=${rv}`);
    const status = await Promise.race([watch.headers, sleep(1000).then(() => "no headers within 1 s")]);
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(watch.events).toEqual([]);
    watch.stop();
  });

  it("keeps a business-scoped watch to its business, and sends DELETED when a cluster leaves it", async () => {
    const { token } = await call<{ token: string }>(hub, "POST", "/unitfleet/v1alpha1/api-tokens", {
      name: "shop-viewer",
      role: "viewer",
      businesses: ["shop"],
    });
    await call(hub, "POST", `${api}/clusters`, cluster("sgp-ads-1", "ads"));
    const watch = openWatch(
      hub,
      `${api}/clusters?watch=true&resourceVersion=${await listVersion(hub, "clusters")}`,
      token,
    );
    // Another business's cluster changes: the scoped watch sees nothing of it, and the hub keeps answering.
    const probe = probeLivez(hub);
    for (let i = 0; i < 10; i++)
      await call(hub, "PATCH", `${api}/clusters/sgp-ads-1`, { metadata: { labels: { round: `r${i}` } } });
    await sleep(500);
    const { worstMs, probes } = await probe.stop();
    expect(worstMs, `the worst of ${probes} /livez probes`).toBeLessThan(1000);

    await call(hub, "POST", `${api}/clusters`, cluster("fra-shop-2", "shop"));
    await call(hub, "PATCH", `${api}/clusters/fra-shop-2`, { spec: { business: "ads" } });
    await call(hub, "PATCH", `${api}/clusters/sgp-ads-1`, { spec: { business: "shop" } });
    await until("three events", () => watch.events.length >= 3);
    await sleep(300);
    expect(watch.events.map((e) => [e.type, e.object.metadata.name])).toEqual([
      ["ADDED", "fra-shop-2"],
      ["DELETED", "fra-shop-2"],
      ["ADDED", "sgp-ads-1"],
    ]);
    watch.stop();
  });

  it("sends DELETED when an object stops matching a label selector, and ADDED when it matches again", async () => {
    await call(hub, "POST", `${api}/clusters`, cluster("fra-web-1", "web", "prod"));
    const rv = await listVersion(hub, "clusters");
    const watch = openWatch(
      hub,
      `${api}/clusters?watch=true&labelSelector=environment%3Dprod&resourceVersion=${rv}`,
    );
    await call(hub, "PATCH", `${api}/clusters/fra-web-1`, { metadata: { labels: { team: "a" } } });
    await call(hub, "PATCH", `${api}/clusters/fra-web-1`, { spec: { environment: "dev" } });
    await call(hub, "PATCH", `${api}/clusters/fra-web-1`, { metadata: { labels: { team: "b" } } });
    const back = await call<{ metadata: { resourceVersion: string } }>(
      hub,
      "PATCH",
      `${api}/clusters/fra-web-1`,
      { spec: { environment: "prod" } },
    );
    await until("three events", () => watch.events.length >= 3);
    await sleep(300);
    expect(watch.events.map((e) => [e.type, e.object.metadata.name])).toEqual([
      ["MODIFIED", "fra-web-1"],
      ["DELETED", "fra-web-1"],
      ["ADDED", "fra-web-1"],
    ]);
    expect(watch.events[2]!.object.metadata.resourceVersion).toBe(back.metadata.resourceVersion);
    watch.stop();
  });

  it("sends bookmarks that carry the position, other kinds' changes included, when asked", async () => {
    const rv = await listVersion(hub, "clusters");
    const watch = openWatch(
      hub,
      `${api}/clusters?watch=true&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=${rv}`,
    );
    const written = await call<{ metadata: { resourceVersion: string } }>(
      hub,
      "POST",
      `${api}/locations`,
      location("bookmarked"),
    );
    await watch.ended;
    const bookmark = watch.events.at(-1);
    expect(bookmark?.type).toBe("BOOKMARK");
    expect(bookmark?.object.kind).toBe("Cluster");
    expect(BigInt(bookmark!.object.metadata.resourceVersion!)).toBeGreaterThanOrEqual(
      BigInt(written.metadata.resourceVersion),
    );
    // A watch from the bookmark's position is served: it is a position this hub issued.
    const again = openWatch(
      hub,
      `${api}/clusters?watch=true&resourceVersion=${bookmark!.object.metadata.resourceVersion}`,
    );
    expect(await Promise.race([again.headers, sleep(2000).then(() => "no headers within 2 s")])).toBe(200);
    again.stop();
  });

  it("ends the initial events with a bookmark when asked for them (sendInitialEvents=true)", async () => {
    await call(hub, "POST", `${api}/clusters`, cluster("fra-books-1", "books"));
    await call(hub, "POST", `${api}/clusters`, cluster("fra-books-2", "books"));
    const watch = openWatch(
      hub,
      `${api}/clusters?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=business%3Dbooks`,
    );
    await until("the initial-events-end bookmark", () => watch.events.some((e) => e.type === "BOOKMARK"));
    const names = watch.events.filter((e) => e.type === "ADDED").map((e) => e.object.metadata.name);
    expect(names.sort()).toEqual(["fra-books-1", "fra-books-2"]);
    expect(watch.events.at(-1)!.object.metadata.annotations).toEqual({ "k8s.io/initial-events-end": "true" });
    watch.stop();
  });

  it("costs nothing once the client of a watch has gone", async () => {
    const watch = openWatch(
      hub,
      `${api}/clusters?watch=true&resourceVersion=${await listVersion(hub, "clusters")}`,
    );
    await Promise.race([watch.headers, sleep(1000)]);
    await call(hub, "POST", `${api}/locations`, location("while-watched"));
    watch.stop();
    await watch.ended;
    for (let i = 0; i < 3; i++) await call(hub, "POST", `${api}/locations`, location(`after-left-${i}`));
    const resting = await rest(hub);
    expect(resting.cpuShare, "share of one core used by the hub after the watch's client left").toBeLessThan(
      0.2,
    );
  });
});

describe("what watches cost a hub on PostgreSQL", () => {
  let hub: RunningHub;
  let dir: string;
  let queries = 0;
  const admin = () => ({ url: hub.url, token: adminToken });
  let adminToken: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "unitfleet-watch-cost-"));
    hub = await startHub({
      dir,
      databaseUrl: await freshDatabase(),
      host: "127.0.0.1",
      port: 0,
      insecure: true,
      log: () => {},
    });
    adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
    const query = hub.sql.query.bind(hub.sql);
    hub.sql.query = ((text: string, params?: readonly unknown[]) => {
      queries++;
      return query(text, params);
    }) as typeof hub.sql.query;
    await call(admin(), "POST", `${api}/locations`, location("base"));
  }, 60_000);

  afterAll(async () => {
    await hub?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Queries the hub runs while 20 Locations are written, one every 50 ms, and for half a second after. */
  async function queriesForWrites(prefix: string): Promise<number> {
    const before = queries;
    for (let i = 0; i < 20; i++) {
      await call(admin(), "POST", `${api}/locations`, location(`${prefix}-${i}`));
      await sleep(50);
    }
    await sleep(500);
    return queries - before;
  }

  it("reads each change once for all watches, and not at all for watches whose clients have gone", async () => {
    const alone = await queriesForWrites("alone");

    // Watches on the kind written: each sees every write.
    const one = openWatch(admin(), `${api}/locations?watch=true&resourceVersion=${await latest()}`);
    await Promise.race([one.headers, sleep(2000)]);
    const withOne = await queriesForWrites("one");
    expect(one.events.filter((e) => e.type === "ADDED").length).toBe(20);

    const many: Watching[] = [];
    for (let i = 0; i < 49; i++)
      many.push(openWatch(admin(), `${api}/locations?watch=true&resourceVersion=${await latest()}`));
    await Promise.race([Promise.all(many.map((w) => w.headers)), sleep(2000)]);
    const withFifty = await queriesForWrites("fifty");
    for (const watch of many) expect(watch.events.filter((e) => e.type === "ADDED").length).toBe(20);

    one.stop();
    for (const w of many) w.stop();
    await sleep(500);
    const afterwards = await queriesForWrites("gone");

    const figures = `alone ${alone}, one watch ${withOne}, fifty ${withFifty}, after they left ${afterwards}`;
    console.log(`queries for 20 writes: ${figures}`);
    // The hub reads each change once whatever is open (its own controllers follow the change feed too, so the
    // read is there with no watch): fifty watches add less than one query per write in all, where each watch
    // used to make three per write.
    expect(withFifty - alone, figures).toBeLessThan(20);
    // A watch whose client has gone costs nothing (what remains is the hub's own background work).
    expect(Math.abs(afterwards - alone), figures).toBeLessThan(10);
  }, 60_000);

  async function latest(): Promise<string> {
    return (await call<{ metadata: { resourceVersion: string } }>(admin(), "GET", `${api}/locations?limit=1`))
      .metadata.resourceVersion;
  }
});
