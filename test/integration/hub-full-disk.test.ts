/**
 * The embedded hub on a full disk, on a small tmpfs mounted for the test (it needs root; skipped with a
 * message where mounting is not permitted): writes are refused with a clear 503 and reads are served while
 * the disk is short, and writes resume when space returns. And when another program fills the disk between
 * two checks, so that PostgreSQL cannot write its log, the store gives that instance up instead of spinning in
 * it, and opens again by itself, data intact, once there is room.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { statfsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { openPglite } from "../../src/store/pglite-sql.ts";

const run = promisify(execFile);
const mib = 1024 * 1024;

const mountPoint = await mkdtemp(join(tmpdir(), "unitfleet-full-disk-"));
const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=200m", "tmpfs", mountPoint]).then(
  () => ({ ok: true as const }),
  (error: Error) => ({ ok: false as const, why: error.message.split("\n")[0] }),
);
if (!mounted.ok)
  console.warn(`skipping the full-disk tests: cannot mount a small tmpfs here (needs root): ${mounted.why}`);

afterAll(async () => {
  if (mounted.ok) await run("umount", ["-l", mountPoint]).catch(() => {});
  await rm(mountPoint, { recursive: true, force: true });
});

const free = () => {
  const stats = statfsSync(mountPoint);
  return stats.bavail * stats.bsize;
};

/** Fills the disk until `leave` bytes are free; returns the file to delete to give the space back. */
async function fillDisk(name: string, leave: number): Promise<string> {
  const file = join(mountPoint, name);
  await writeFile(file, Buffer.alloc(Math.max(0, free() - leave), 1));
  return file;
}

/** A request that must be answered: a hang fails the test instead of stalling it. */
function answered<T>(what: string, promise: Promise<T>, ms = 10_000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  ]);
}

describe.skipIf(!mounted.ok)("the embedded hub on a full disk", () => {
  let hub: RunningHub | undefined;
  afterAll(async () => {
    await hub?.close();
  });

  it("refuses writes with a clear 503 while the disk is short, serves reads, and takes writes again when space returns", async () => {
    const logs: Array<Record<string, unknown>> = [];
    hub = await startHub({
      dir: join(mountPoint, "hub"),
      host: "127.0.0.1",
      port: 0,
      insecure: true,
      log: (entry) => logs.push(entry),
    });
    const token = (await readFile(hub.adminTokenFile, "utf8")).trim();
    const client = new HubClient({ server: hub.url, token });
    const post = (name: string) =>
      answered(
        `POST ${name}`,
        client.raw<{ message?: string }>("POST", "/apis/unitfleet.io/v1alpha1/locations", {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Location",
          metadata: { name, annotations: { note: randomBytes(75_000).toString("hex") } },
          spec: {},
        }),
      );

    // Just above the reserve the hub keeps for its log (64 MiB), so that a few writes take it below.
    const ballast = await fillDisk("ballast", 64 * mib + 6 * mib);
    const acknowledged: string[] = [];
    let refusal: { status: number; body: { message?: string } } | undefined;
    for (let i = 0; i < 200 && !refusal; i++) {
      const response = await post(`big-${i}`);
      if (response.status === 201) acknowledged.push(`big-${i}`);
      else refusal = response;
    }
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(refusal?.status).toBe(503);
    expect(refusal?.body.message).toMatch(
      /^the hub's disk is full: \d+ MiB free in .*, writes need 64 MiB; reads are served$/,
    );
    expect(logs).toContainEqual(expect.objectContaining({ msg: "the disk is full: writes are refused" }));

    // Reads are served, with every acknowledged write; the hub is alive.
    const list = await answered(
      "GET",
      client.send<{ items: Array<{ metadata: { name: string } }> }>(
        "GET",
        "/apis/unitfleet.io/v1alpha1/locations",
      ),
    );
    expect(list.items.map((item) => item.metadata.name)).toEqual(expect.arrayContaining(acknowledged));
    expect((await answered("livez", client.raw("GET", "/livez"))).status).toBe(200);
    expect((await post("still-full")).status).toBe(503);

    // Space returns: writes resume by themselves.
    await rm(ballast);
    expect((await post("after")).status).toBe(201);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: "the disk has room again: writes are taken" }),
    );
    client.close();
  }, 180_000);

  it("gives up an instance that could not write its log, instead of spinning in it, and opens again when there is room", async () => {
    const dataDir = join(mountPoint, "store");
    await mkdir(dataDir);
    // Another program fills the disk between the store's checks: the store believes there is room until then.
    let believeRoom = true;
    const sql = await openPglite(dataDir, {
      reserveBytes: 32 * mib,
      freeBytes: () => (believeRoom ? Number.MAX_SAFE_INTEGER : free()),
    });
    await sql.query("create table counter (id int primary key, value int not null, padding text)");
    await sql.query("insert into counter values (1, 0, '')");
    const ballast = await fillDisk("ballast-2", 1 * mib);

    // Updates of one row grow the log, not the table: the log hits the full disk first. Closing the current
    // log segment makes the next write need a new one (16 MiB) at once, as a busy hub's would in time.
    let acknowledged = 0;
    let failure: Error | undefined;
    await sql.query("select pg_switch_wal()").catch((error: Error) => {
      failure = error;
    });
    for (let i = 1; i < 1_000_000 && !failure; i++) {
      await answered(
        "an update",
        sql.query("update counter set value = $1, padding = $2 where id = 1", [i, "y".repeat(200)]),
      ).then(
        () => {
          acknowledged = i;
        },
        (error: Error) => {
          failure = error;
        },
      );
    }
    believeRoom = false;
    expect(failure?.message).toMatch(
      /^the hub's disk is full: .*could not write to file "pg_wal\/.*No space left on device/,
    );

    // Any statement now is refused at once, reads too, saying what to do: none reaches the broken instance.
    const refused = await answered(
      "a read after the failure",
      sql.query("select value from counter").then(
        () => undefined,
        (error: Error) => error,
      ),
      2000,
    );
    expect(refused?.message).toMatch(
      /stopped when the disk filled up: .* it starts again by itself at 32 MiB/,
    );

    // Space returns: a fresh instance recovers from the log on disk, with every acknowledged update.
    await rm(ballast);
    const rows = await answered(
      "a read once there is room",
      sql.query<{ value: number }>("select value from counter"),
      60_000,
    );
    expect(rows[0]?.value).toBe(acknowledged);
    await sql.query("update counter set value = value + 1 where id = 1");
    await sql.close();
  }, 180_000);
});
