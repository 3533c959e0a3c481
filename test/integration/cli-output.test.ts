/**
 * `unitfleet get -o name|yaml|json` in this process against a real hub (embedded store): names as kubectl prints
 * them (`cluster.unitfleet.io/NAME`), objects with apiVersion, kind, metadata, spec and status first, and
 * several objects as a `kind: List`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { runCli } from "../support/cli-in-process.ts";

let env: Environment;
let hub: RunningHub;

/** Runs the CLI in this process (test/support/cli-in-process.ts). */
const unitfleet = (args: string[]) => runCli(args, env);

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), "unitfleet-cli-output-"));
  env = { ...readEnvironment(), home };
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const applied = await unitfleet(["apply", "-f", join(import.meta.dirname, "../../examples/fleet.yaml")]);
  expect(applied).toMatchObject({ code: 0, stderr: "" });
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(env.home, { recursive: true, force: true });
});

describe("unitfleet get -o name", () => {
  it("prints kind.group/name for each object of a list, as kubectl does", async () => {
    const { code, stdout } = await unitfleet(["get", "clusters", "-l", "location=frankfurt", "-o", "name"]);
    expect(code).toBe(0);
    expect(stdout.trimEnd().split("\n").sort()).toEqual([
      "cluster.unitfleet.io/fra-payments-prod",
      "cluster.unitfleet.io/fra-search-staging",
      "cluster.unitfleet.io/fra-shop-dev",
      "cluster.unitfleet.io/fra-shop-prod",
    ]);
  });

  it("prints one name for one object, whatever type name was typed", async () => {
    expect((await unitfleet(["get", "region", "fra-north", "-o", "name"])).stdout).toBe(
      "region.unitfleet.io/fra-north\n",
    );
    expect((await unitfleet(["get", "loc", "singapore", "-o", "name"])).stdout).toBe(
      "location.unitfleet.io/singapore\n",
    );
  });

  it("refuses an output format it does not know, naming the choices", async () => {
    const { code, stderr } = await unitfleet(["get", "clusters", "-o", "names"]);
    expect(code).not.toBe(0);
    expect(stderr).toContain("table, wide, json, yaml, name");
  });
});

describe("unitfleet get -o yaml|json", () => {
  it("prints one object with apiVersion, kind, metadata and spec first", async () => {
    const { code, stdout } = await unitfleet(["get", "cluster", "fra-shop-prod", "-o", "yaml"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^apiVersion: unitfleet\.io\/v1alpha1\nkind: Cluster\nmetadata:\n/);
    const object = parse(stdout) as Record<string, unknown>;
    expect(Object.keys(object).slice(0, 4)).toEqual(["apiVersion", "kind", "metadata", "spec"]);
    expect(object).toMatchObject({ metadata: { name: "fra-shop-prod" }, spec: { business: "shop" } });
  });

  it("prints a list as a v1 List of objects, each in Kubernetes order, in YAML and in JSON", async () => {
    for (const format of ["yaml", "json"]) {
      const { code, stdout } = await unitfleet(["get", "regions", "-o", format]);
      expect(code).toBe(0);
      const list = (format === "json" ? JSON.parse(stdout) : parse(stdout)) as {
        items: Array<Record<string, unknown>>;
      };
      expect(Object.keys(list)).toEqual(["apiVersion", "kind", "metadata", "items"]);
      expect(list).toMatchObject({ apiVersion: "v1", kind: "List" });
      expect(list.items.map((r) => (r.metadata as { name: string }).name).sort()).toEqual([
        "fra-north",
        "fra-south",
        "sgp-central",
      ]);
      for (const item of list.items) {
        expect(Object.keys(item).slice(0, 4)).toEqual(["apiVersion", "kind", "metadata", "spec"]);
        expect(item).toMatchObject({ apiVersion: "unitfleet.io/v1alpha1", kind: "Region" });
      }
    }
  });
});
