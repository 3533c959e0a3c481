/**
 * A lost admin-token file (issue 12, finding 11): the hub does not write a kubeconfig with an empty token but says
 * how to recover, and `unitfleet hub admin-token` mints a new admin token into the hub's directory while the hub
 * is stopped (refused with a one-line error while it runs: the data directory's lock).
 */
import { execFile } from "node:child_process";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { parse } from "yaml";
import { readEnvironment } from "../../src/config/environment.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
const temp: string[] = [];
const running: RunningHub[] = [];

afterAll(async () => {
  for (const hub of running) await hub.close().catch(() => {});
  for (const dir of temp) await rm(dir, { recursive: true, force: true });
});

async function unitfleet(args: string[], home: string) {
  try {
    const { stdout, stderr } = await run(cli, args, { env: { ...env.inherited, UNITFLEET_HOME: home } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function start(dir: string, logs: Array<Record<string, unknown>> = []): Promise<RunningHub> {
  const hub = await startHub({ dir, host: "127.0.0.1", port: 0, insecure: true, log: (e) => logs.push(e) });
  running.push(hub);
  return hub;
}

async function stop(hub: RunningHub) {
  await hub.close();
  running.splice(running.indexOf(hub), 1);
}

async function kubeconfigToken(file: string): Promise<string> {
  const config = parse(await readFile(file, "utf8")) as { users: Array<{ user: { token: string } }> };
  return config.users[0]!.user.token;
}

it("recovers from a lost admin-token file with unitfleet hub admin-token", async () => {
  const home = await mkdtemp(join(tmpdir(), "unitfleet-admin-token-"));
  temp.push(home);
  const dir = join(home, "hub");
  const first = await start(dir);
  const { adminTokenFile, kubeconfigFile } = first;
  await stop(first);
  await rm(adminTokenFile);
  await rm(kubeconfigFile);

  const logs: Array<Record<string, unknown>> = [];
  const second = await start(dir, logs);
  await expect(access(kubeconfigFile)).rejects.toThrow();
  const warning = logs.find((e) => e.level === "warn" && /admin token file/.test(String(e.msg)));
  expect(String(warning?.msg)).toContain(`unitfleet hub admin-token --dir ${dir}`);

  // While the hub runs, the data directory is its own: a one-line error, no stack.
  const refused = await unitfleet(["hub", "admin-token", "--dir", dir], home);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/used by another hub/);
  expect(refused.stderr).not.toMatch(/\n\s+at /);
  await stop(second);

  const minted = await unitfleet(["hub", "admin-token", "--dir", dir], home);
  expect(minted.stderr).toBe("");
  expect(minted.code).toBe(0);
  expect(minted.stdout).toContain(adminTokenFile);
  const secret = (await readFile(adminTokenFile, "utf8")).trim();
  expect(secret).not.toBe("");

  const third = await start(dir);
  expect(await kubeconfigToken(kubeconfigFile)).toBe(secret);
  const answer = await fetch(`${third.url}/apis/unitfleet.io/v1alpha1/locations`, {
    headers: { authorization: `Bearer ${secret}` },
  });
  expect(answer.status).toBe(200);
}, 120_000);
