/**
 * The import boundaries of ADR 0002, tested by feeding Biome probe files that break them (and some that keep
 * them): src/core is pure; the CLI never imports the hub; only adapters import drivers; `process.env` is read in
 * src/config only. Each probe is written where the rule applies, linted, and removed.
 */
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
/** Every probe's name carries this, so that parallel runs and leftovers are told apart. */
const tag = `boundary-probe-${process.pid}`;
const written: string[] = [];

type Rule = "noRestrictedImports" | "noProcessEnv";

/**
 * Writes `source` to `file` (relative to the repository), lints it, and returns the lines Biome flags under
 * `rule`.
 */
async function breaches(file: string, source: string, rule: Rule = "noRestrictedImports"): Promise<number[]> {
  const path = join(root, file);
  await mkdir(dirname(path), { recursive: true });
  written.push(path);
  await writeFile(path, source);
  return flagged(file, rule);
}

/** The lines of an existing `file` (relative to the repository) that Biome flags under `rule`. */
async function flagged(file: string, rule: Rule = "noRestrictedImports"): Promise<number[]> {
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return (await diagnostics(file, rule)).flatMap((d) => {
    const match = new RegExp(`^${escaped}:(\\d+)$`).exec(d);
    return match ? [Number(match[1])] : [];
  });
}

/** Where Biome flags `rule` in the files or folders `paths`, as `file:line`. */
async function diagnostics(paths: string | string[], rule: Rule = "noRestrictedImports"): Promise<string[]> {
  const result = await run(
    join(root, "node_modules/.bin/biome"),
    ["lint", "--max-diagnostics=200", ...[paths].flat()],
    { cwd: root },
  ).catch((e: { stdout: string; stderr: string }) => e);
  const output = `${result.stdout}${result.stderr}`;
  return [...output.matchAll(new RegExp(`^(\\S+):(\\d+):\\d+ lint/style/${rule}`, "gm"))].map(
    (m) => `${m[1]}:${m[2]}`,
  );
}

/** What Biome flags in the code as it is: `diagnostics` without the probes this file writes. */
async function asItIs(paths: string | string[], rule: Rule = "noRestrictedImports"): Promise<string[]> {
  return (await diagnostics(paths, rule)).filter((d) => !d.includes("boundary-probe-"));
}

afterAll(async () => {
  for (const path of written) await rm(path, { force: true });
  for (const folder of ["src/core", "src/cli", "src"])
    await rm(join(root, folder, tag), { recursive: true, force: true });
});

describe("the import-boundary rule: src/core imports nothing outside itself and does no I/O", () => {
  it("flags node built-ins, drivers and climbs out of src/core, and allows imports inside it", async () => {
    // The probe sits at src/core/boundary-probe-<pid>/nested/probe.ts: three levels below src/core.
    const lines = await breaches(
      `src/core/${tag}/nested/probe.ts`,
      [
        'import { readFileSync } from "node:fs";', // 1: I/O
        'import { KubeConfig } from "@kubernetes/client-node";', // 2: a driver
        'import { labVersions } from "../../../lab/versions.ts";', // 3: out of src/core
        'import { parseQuantity } from "../../quantity/quantity.ts";', // 4: inside src/core: allowed
        'import { z } from "zod";', // 5: a pure library: allowed
        "export const all = [readFileSync, KubeConfig, labVersions, parseQuantity, z];",
      ].join("\n"),
    );
    expect(lines).toEqual([1, 2, 3]);
  });

  it("holds one level up too", async () => {
    const lines = await breaches(
      `src/core/${tag}/probe.ts`,
      [
        'import { labVersions } from "../../lab/versions.ts";', // 1: out of src/core
        'import { parseQuantity } from "../quantity/quantity.ts";', // 2: inside: allowed
        "export const all = [labVersions, parseQuantity];",
      ].join("\n"),
    );
    expect(lines).toEqual([1]);
  });
});

describe("the CLI never imports the hub: it reaches a hub through its API client", () => {
  it("flags a command file that imports the hub, even a type or lazily, and allows the API client and contract", async () => {
    // src/cli/<tag>/probe.ts: at the depth of the command folders (src/cli/cluster/cluster-commands.ts).
    const lines = await breaches(
      `src/cli/${tag}/probe.ts`,
      [
        'import type { CommandReport } from "../../hub/commands/command-bus.ts";', // 1: the hub's insides
        'import { startHub } from "../../hub/hub.ts";', // 2: the hub, from a command that is not `hub`
        'import type { CommandRequest } from "../../api-contract/commands.ts";', // 3: the shared contract
        'import { HubClient } from "../client/hub-client.ts";', // 4: the API client
        'import { hubCommand } from "../hub/hub-command.ts";', // 5: the CLI's own hub command: allowed
        'export const lazy = () => import("../../hub/registry/registry.ts");', // 6: lazily, still the hub
        "export type Shapes = [CommandReport, CommandRequest];",
        "export const all = [startHub, HubClient, hubCommand];",
      ].join("\n"),
    );
    expect(lines).toEqual([1, 2, 6]);
  });

  it("holds at the top of src/cli and one level deeper", async () => {
    const top = await breaches(
      `src/cli/${tag}.ts`,
      [
        'import { startHub } from "../hub/hub.ts";', // 1: the hub
        'import { hubCommand } from "./hub/hub-command.ts";', // 2: the CLI's own command: allowed
        "export const all = [startHub, hubCommand];",
      ].join("\n"),
    );
    const deeper = await breaches(
      `src/cli/${tag}/nested/probe.ts`,
      [
        'import { Registry } from "../../../hub/registry/registry.ts";', // 1: the hub
        'import { outputOption } from "../../output/format.ts";', // 2: inside the CLI: allowed
        "export const all = [Registry, outputOption];",
      ].join("\n"),
    );
    expect({ top, deeper }).toEqual({ top: [1], deeper: [1] });
  });

  it("lets `unitfleet hub` import only the hub's public start and, for admin-token, its token store", async () => {
    const lines = await breaches(
      `src/cli/hub/${tag}.ts`,
      [
        'import { startHub } from "../../hub/hub.ts";', // 1: the public start: allowed
        'import { createToken } from "../../hub/auth/tokens.ts";', // 2: offline admin token: allowed
        'import { Registry } from "../../hub/registry/registry.ts";', // 3: the hub's insides
        'import pg from "pg";', // 4: a driver
        "export const all = [startHub, createToken, Registry, pg];",
      ].join("\n"),
    );
    expect(lines).toEqual([3, 4]);
  });

  it("lets `unitfleet up` (src/up) start the hub only through its public start", async () => {
    const lines = await breaches(
      `src/up/${tag}.ts`,
      [
        'import { startHub } from "../hub/hub.ts";', // 1: the public start: allowed
        'import { createBootstrapToken } from "../hub/joining/joining.ts";', // 2: the hub's insides
        'import { systemCaller } from "../hub/registry/caller.ts";', // 3: the hub's insides
        'import { startRelay } from "../relay/relay.ts";', // 4: the relay's public start: allowed
        "export const all = [startHub, createBootstrapToken, systemCaller, startRelay];",
      ].join("\n"),
    );
    expect(lines).toEqual([2, 3]);
  });

  it("passes the CLI and src/up as they are", async () => {
    expect(await asItIs(["src/cli", "src/up"])).toEqual([]);
  });
});

describe("only adapters import drivers (pg, PGlite, ws, client-node)", () => {
  it("flags every driver outside its adapters and allows pure libraries", async () => {
    const lines = await breaches(
      `src/${tag}/probe.ts`,
      [
        'import pg from "pg";', // 1
        'import { PGlite } from "@electric-sql/pglite";', // 2
        'import WebSocket from "ws";', // 3
        'import { KubeConfig } from "@kubernetes/client-node";', // 4
        'import { z } from "zod";', // 5: a pure library: allowed
        "export const all = [pg, PGlite, WebSocket, KubeConfig, z];",
      ].join("\n"),
    );
    expect(lines).toEqual([1, 2, 3, 4]);
  });

  it("flags a driver in the adapter's own folder but outside the adapter file", async () => {
    const store = await breaches(`src/store/${tag}.ts`, 'import pg from "pg";\nexport const all = [pg];\n');
    const hub = await breaches(
      `src/hub/tunnel/${tag}.ts`,
      'import { WebSocketServer } from "ws";\nexport const all = [WebSocketServer];\n',
    );
    const agent = await breaches(
      `src/agent/delivery/${tag}.ts`,
      'import { KubeConfig } from "@kubernetes/client-node";\nexport const all = [KubeConfig];\n',
    );
    expect({ store, hub, agent }).toEqual({ store: [1], hub: [1], agent: [1] });
  });

  it("allows client-node in the agent's kube/ adapters", async () => {
    const lines = await breaches(
      `src/agent/kube/${tag}.ts`,
      'import { KubeConfig } from "@kubernetes/client-node";\nexport const all = [KubeConfig];\n',
    );
    expect(lines).toEqual([]);
  });

  it("passes the adapters and the rest of src as they are", async () => {
    expect(await asItIs("src")).toEqual([]);
  });
});

describe("process.env is read in src/config only", () => {
  it("flags process.env anywhere else in src, and allows it in src/config", async () => {
    const source = ["export const home = process.env.HOME;", "export const ci = process.env.CI;"].join("\n");
    const hub = await breaches(`src/hub/${tag}.ts`, source, "noProcessEnv");
    const config = await breaches(`src/config/${tag}.ts`, source, "noProcessEnv");
    expect({ hub, config }).toEqual({ hub: [1, 2], config: [] });
  });

  it("passes src as it is", async () => {
    expect(await asItIs("src", "noProcessEnv")).toEqual([]);
  });
});
