/**
 * A throwaway PostgreSQL server for tests, from the machine's PostgreSQL binaries (Debian's `postgresql`
 * package), in a temporary folder on a loopback port. Started by the tests that need it, stopped after them.
 * When running as root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
 */
import { execFile } from "node:child_process";
import { chown, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PostgresServer {
  url: string;
  /** Stops the server the way an operator's restart does (fast shutdown: sessions are cut) and starts it again. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

async function binaries(): Promise<string> {
  const root = "/usr/lib/postgresql";
  const versions = await readdir(root).catch(() => [] as string[]);
  const newest = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0];
  if (!newest)
    throw new Error(
      "PostgreSQL server binaries are missing (/usr/lib/postgresql/<version>/bin): install Debian's `postgresql` package (`.ci/run` does)",
    );
  return join(root, newest, "bin");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = await binaries();
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-pg-"));
  const asRoot = process.getuid?.() === 0;
  let uid: number | undefined;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    uid = Number(stdout.trim());
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, uid, Number(gid.trim()));
  }
  const as = (command: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", command, ...args]) : run(command, args);
  const data = join(dir, "data");
  await as(join(bin, "initdb"), ["-D", data, "-U", "unitfleet", "--auth=trust", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  const start = () =>
    as(join(bin, "pg_ctl"), [
      "-D",
      data,
      "-l",
      join(dir, "server.log"),
      "-w",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      "start",
    ]);
  await start();
  return {
    url: `postgres://unitfleet@127.0.0.1:${port}/postgres`,
    async restart(options = {}) {
      await as(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
      await new Promise((resolve) => setTimeout(resolve, options.downMs ?? 0));
      await start();
    },
    async stop() {
      await as(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
