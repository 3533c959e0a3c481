import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { readEnvironment } from "../../src/config/environment.ts";
import { UserError } from "../../src/errors/user-error.ts";
import { labDown, labProcessRecords, labStatus, labUp } from "../../src/lab/lab.ts";
import { labPaths } from "../../src/lab/paths.ts";
import { serviceAccountFiles } from "../../src/lab/pki.ts";
import { isRunning } from "../../src/lab/processes.ts";
import { loadTopology } from "../../src/lab/topology-file.ts";
import { e2ePorts } from "./shared-lab.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const fixture = (name: string) => join(import.meta.dirname, "../fixtures/topologies", name);

describe("a lab's whole life: up, down, and nothing left running", () => {
  const env = readEnvironment();
  const homes: string[] = [];
  afterAll(async () => {
    for (const home of homes) {
      await labDown({ paths: labPaths(env.cacheRoot, home), environment: env.inherited }, true);
      await rm(home, { recursive: true, force: true });
    }
  });

  it("stops exactly the processes it started, by pid, and `--purge` removes its data", async () => {
    const home = await mkdtemp(join(tmpdir(), "unitfleet-lifecycle-"));
    homes.push(home);
    const context = { paths: labPaths(env.cacheRoot, home), environment: env.inherited };
    await labUp(context, await loadTopology(fixture("one-cluster.yaml")), "one-cluster.yaml");
    const status = await labStatus(context);
    expect(status.clusters.map((c) => [c.name, c.state, c.nodesReady])).toEqual([["lis-web-dev", "up", 2]]);

    const records = await labProcessRecords(context.paths);
    expect(Object.keys(records).sort()).toEqual([
      "etcd",
      "lis-web-dev/kube-apiserver",
      "lis-web-dev/kube-controller-manager",
      "lis-web-dev/kube-scheduler",
      "lis-web-dev/kwok",
    ]);
    for (const record of Object.values(records)) expect(isRunning(record)).toBe(true);

    const { stdout } = await run(cli, ["lab", "down", "--purge"], {
      env: { ...env.inherited, UNITFLEET_HOME: home },
    });
    expect(stdout).toContain("5 processes stopped");
    for (const [name, record] of Object.entries(records)) {
      expect(isRunning(record), name).toBe(false);
      // Not even as a zombie or under another name: /proc has no such pid, or a different process.
      const cmdline = await readFile(`/proc/${record.pid}/cmdline`, "utf8").catch(() => "");
      expect(cmdline.startsWith(record.command), name).toBe(false);
    }
    await expect(readFile(context.paths.stateFile, "utf8")).rejects.toThrow(/ENOENT/);
  });

  it("says which component did not come up and shows the tail of its log", async () => {
    const home = await mkdtemp(join(tmpdir(), "unitfleet-broken-"));
    homes.push(home);
    const context = { paths: labPaths(env.cacheRoot, home), environment: env.inherited };
    const topology = await loadTopology(fixture("one-cluster.yaml"));
    topology.spec.ports = { etcd: 25990, apiServers: 18640 };
    // A service-account key that is not a key: kube-apiserver refuses to start.
    const sa = serviceAccountFiles(context.paths.pkiDir, "lis-web-dev");
    await mkdir(context.paths.pkiDir, { recursive: true });
    await writeFile(sa.publicKey, "not a key\n");
    await writeFile(sa.privateKey, "not a key\n");
    const failure = await labUp(context, topology, "one-cluster.yaml").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UserError);
    const error = failure as UserError;
    expect(error.code).toBe("ComponentFailed");
    expect(error.message).toMatch(/^lis-web-dev\/kube-apiserver exited \(code \d+\) while waiting for/);
    expect(error.logFile).toBe(join(context.paths.logsDir, "lis-web-dev-kube-apiserver.log"));
    expect(error.logTail.join("\n")).toMatch(/key/i);
    expect(error.render()).toContain("last lines of");
  });

  it("refuses to start on a port that is in use, naming the port and what needed it", async () => {
    const home = await mkdtemp(join(tmpdir(), "unitfleet-ports-"));
    homes.push(home);
    // The shared lab's first API server already listens on e2ePorts.apiServers + 1.
    const topology = await loadTopology(fixture("one-cluster.yaml"));
    topology.spec.ports = { etcd: 25890, apiServers: e2ePorts.apiServers };
    const context = { paths: labPaths(env.cacheRoot, home), environment: env.inherited };
    const failure = await labUp(context, topology, "one-cluster.yaml").catch((e: unknown) => e);
    expect(failure).toMatchObject({
      code: "PortInUse",
      problems: [
        { path: `127.0.0.1:${e2ePorts.apiServers + 1}`, message: "needed for lis-web-dev API server" },
      ],
    });
    // Nothing was started.
    expect(await labProcessRecords(context.paths)).toEqual({});
  });
});
