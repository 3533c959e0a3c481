/**
 * `unitfleet up` with a port in use (the hub's, or a relay's: the hub's + 1000): one line naming the port and
 * the flag, exit 1, no stack trace, and nothing started (no lab, no hub files).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
let home: string;
let kubeconfig: string;
const servers: Server[] = [];

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

/** Listens on a free port from `from` up (any free port without one); answers the port. */
async function occupy(from?: number): Promise<number> {
  for (let port = from ?? 0; ; port += 1) {
    const server = createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen({ port, host: "127.0.0.1" }, () => resolve(true));
    });
    if (!listening) continue;
    servers.push(server);
    return (server.address() as { port: number }).port;
  }
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-up-ports-"));
  kubeconfig = join(home, "existing.kubeconfig");
  await writeFile(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
      "users: [{name: u, user: {token: t}}]",
      "contexts: [{name: edge-one, context: {cluster: c, user: u}}]",
      "current-context: edge-one",
    ].join("\n"),
  );
});

afterAll(async () => {
  for (const s of servers) s.close();
  await rm(home, { recursive: true, force: true });
});

describe("unitfleet up on a port in use", () => {
  it("names the hub's port and --listen in one line, and starts nothing", async () => {
    const port = await occupy();
    const result = await unitfleet(["up", "--kubeconfig", kubeconfig, "--listen", `127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `error: port 127.0.0.1:${port} for the hub is in use by another process: choose another with --listen HOST:PORT`,
    );
    expect(existsSync(join(home, "hub"))).toBe(false);
  }, 30_000);

  it("names a relay's port before the lab starts", async () => {
    const relayPort = await occupy(51_000 + Math.floor(Math.random() * 10_000));
    const listen = `127.0.0.1:${relayPort - 1000}`;
    const result = await unitfleet(["up", "--listen", listen]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `error: port 127.0.0.1:${relayPort} for the relay of Location frankfurt (the --listen port + 1000) is in use by another process: choose another with --listen HOST:PORT`,
    );
    expect(existsSync(join(home, "lab"))).toBe(false);
    expect(existsSync(join(home, "hub"))).toBe(false);
  }, 30_000);

  it("refuses a --listen that is not HOST:PORT", async () => {
    const result = await unitfleet(["up", "--listen", "127.0.0.1:http"]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'error: --listen: must be HOST:PORT with a port from 1 to 64535 (relays take the port + 1000…), got "127.0.0.1:http"',
    );
  }, 30_000);
});
