/**
 * The network plan on a real hub in this process (embedded store), with the CLI run in-process (issue 15,
 * docs/network-plan.md): NetworkPools and Clusters' `spec.network` refused whole with field paths and nothing
 * stored (overlapping pools, a pod range that cannot hold maxNodes, cluster ID 256, overlapping clusters);
 * `unitfleet network plan` giving the worked example of the docs and writing nothing; `allocate` writing it, a
 * second run changing nothing, and a later cluster moving none of the first; an exhausted pool refused naming
 * the pool; a deleted cluster's ID quarantined (and free again once the pool's period ends); `check` finding
 * planted overlaps (allocated and observed) and exiting 1.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type Environment, readEnvironment } from "../../src/config/environment.ts";
import { kinds } from "../../src/core/resources/kinds.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import type { StoredObject } from "../../src/store/resource-store.ts";
import { runCli } from "../support/cli-in-process.ts";
import { refusal } from "../support/refusal.ts";

let env: Environment;
let home: string;
let hub: RunningHub;

const doc = (kind: string, name: string, spec: object) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind,
  metadata: { name },
  spec,
});
const cluster = (name: string, location: string, region: string | undefined, network?: object) =>
  doc("Cluster", name, {
    location,
    ...(region ? { region } : {}),
    environment: "prod",
    business: "shop",
    ...(network ? { network } : {}),
  });

const apply = (...bodies: object[]) =>
  hub.registry.applyAll(
    bodies.map((body, i) => ({ source: `fleet.yaml[${i}]`, body })),
    systemCaller,
  );
const unitfleet = (args: string[]) => runCli(args, env);
const names = async (kind: keyof typeof kinds) =>
  (await hub.registry.list(kinds[kind], {}, systemCaller)).items.map((o) => o.metadata.name).sort();
const get = (kind: keyof typeof kinds, name: string) => hub.registry.get(kinds[kind], name, systemCaller);
const networkOf = async (name: string) =>
  ((await get("Cluster", name)).spec as { network?: Record<string, unknown> }).network;
/** A table's rows as objects keyed by header (columns are three or more spaces apart). */
const table = (text: string) => {
  const [header, ...lines] = text.trimEnd().split("\n");
  const keys = header!.split(/ {3,}/);
  return lines.map((line) => Object.fromEntries(line.split(/ {3,}/).map((v, i) => [keys[i], v])));
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-network-plan-"));
  env = { ...readEnvironment(), home };
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const pools = parseAllDocuments(
    await readFile(join(import.meta.dirname, "../../examples/network-pool.yaml"), "utf8"),
  ).map((d) => d.toJS() as object);
  const applied = await apply(
    doc("Location", "frankfurt", {}),
    doc("Location", "singapore", {}),
    doc("Location", "tokyo", {}),
    doc("Region", "fra-north", { location: "frankfurt", zones: ["fra-north-1"] }),
    doc("Region", "fra-south", { location: "frankfurt", zones: ["fra-south-1"] }),
    // A small pool with a short quarantine: its exhaustion and the end of a quarantine are quick to show.
    doc("NetworkPool", "tokyo", {
      location: "tokyo",
      pods: ["10.0.0.0/16"],
      services: ["10.96.0.0/20"],
      retiredIdQuarantine: "1s",
    }),
    // The Region's pool listed before the Location's: the apply puts the Location's first.
    ...pools.reverse(),
  );
  expect(applied.filter((a) => a.object.kind === "NetworkPool").map((a) => a.object.metadata.name)).toEqual([
    "tokyo",
    "singapore",
    "frankfurt",
    "fra-north",
  ]);
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(home, { recursive: true, force: true });
});

describe("NetworkPools and Clusters' spec.network on the hub", () => {
  it("refuses overlapping pools of one Location with their field paths, and stores nothing", async () => {
    const before = await names("NetworkPool");
    const second = doc("NetworkPool", "frankfurt-2", {
      location: "frankfurt",
      pods: ["10.0.0.0/12"],
      services: ["10.96.0.0/16"],
    });
    const sibling = doc("NetworkPool", "fra-south", {
      location: "frankfurt",
      region: "fra-south",
      pods: ["10.2.0.0/15"],
    });
    const selfOverlapping = doc("NetworkPool", "tokyo-2", {
      location: "tokyo",
      region: "nowhere",
      pods: ["10.0.0.0/12"],
      services: ["10.1.0.0/16"],
    });
    const error = await refusal(apply(second, sibling));
    expect(error.code).toBe("InvalidInput");
    expect(error.problems).toEqual([
      {
        path: "fleet.yaml[0]: spec.location",
        message: expect.stringContaining('Location "frankfurt" already has NetworkPool "frankfurt"'),
      },
      {
        path: "fleet.yaml[1]: spec.pods[0]",
        message:
          '10.2.0.0/15 overlaps 10.0.0.0/14 of NetworkPool "fra-north" (Region fra-north) (its pods): Regions of one Location never share an address',
      },
    ]);
    const own = await refusal(apply(selfOverlapping));
    expect(own.problems).toEqual([
      {
        path: "fleet.yaml[0]: spec.services[0]",
        message: expect.stringContaining("10.1.0.0/16 overlaps spec.pods[0] (10.0.0.0/12)"),
      },
    ]);
    expect(await names("NetworkPool")).toEqual(before);
  });

  it("refuses a pod range that cannot hold maxNodes, cluster ID 256, ranges outside the pools or another cluster's", async () => {
    await apply(
      cluster("fra-held", "frankfurt", "fra-south", {
        maxNodes: 100,
        clusterId: 200,
        pods: ["10.8.0.0/17"],
        services: ["10.96.200.0/22"],
      }),
    );
    const bad = cluster("fra-bad", "frankfurt", "fra-south", {
      maxNodes: 500,
      nodeMask: { ipv4: 24 },
      clusterId: 256,
      pods: ["10.4.0.0/16"],
      services: ["10.96.202.0/23"],
      nodes: ["192.168.0.0/28"],
    });
    const taken = cluster("fra-taken", "frankfurt", "fra-north", {
      maxNodes: 10,
      clusterId: 200,
      pods: ["10.3.0.0/20"],
      services: ["10.96.204.0/22"],
    });
    const error = await refusal(apply(bad, taken));
    expect(error.problems).toEqual([
      {
        path: "fleet.yaml[0]: spec.network.clusterId",
        message: '256 is outside the cluster IDs of NetworkPool "frankfurt" (1..255)',
      },
      {
        path: "fleet.yaml[0]: spec.network.nodes",
        message:
          "192.168.0.0/28 holds 8 nodes (8 addresses reserved), fewer than maxNodes 500: it needs a /23",
      },
      {
        path: "fleet.yaml[0]: spec.network.nodes[0]",
        message: '192.168.0.0/28 is outside the nodes of NetworkPool "frankfurt" (10.128.0.0/16)',
      },
      {
        path: "fleet.yaml[0]: spec.network.pods",
        message:
          "10.4.0.0/16 (IPv4) holds 256 nodes at /24 per node, fewer than maxNodes 500: it needs a /15 at /24 per node (or lower maxNodes, or a longer nodeMask)",
      },
      {
        path: "fleet.yaml[0]: spec.network.services[0]",
        message:
          '10.96.202.0/23 overlaps cluster "fra-held"\'s services 10.96.200.0/22: ranges inside a Location never share an address',
      },
      {
        path: "fleet.yaml[1]: spec.network.clusterId",
        message: 'cluster ID 200 is taken by cluster "fra-held" in Location "frankfurt"',
      },
    ]);
    expect(await names("Cluster")).toEqual(["fra-held"]);
    await hub.registry.delete(kinds.Cluster, "fra-held", systemCaller);
  });
});

/** The worked example of docs/network-plan.md, as the plan's table prints it. */
const workedExample = [
  {
    CLUSTER: "fra-payments-prod",
    LOCATION: "frankfurt",
    REGION: "fra-south",
    ID: "1",
    PODS: "10.4.0.0/17",
    SERVICES: "10.96.0.0/19",
    NODES: "10.128.2.0/25",
  },
  {
    CLUSTER: "fra-search",
    LOCATION: "frankfurt",
    REGION: "fra-north",
    ID: "2",
    PODS: "10.2.0.0/18",
    SERVICES: "10.96.32.0/22",
    NODES: "10.128.2.128/26",
  },
  {
    CLUSTER: "fra-shop-prod",
    LOCATION: "frankfurt",
    REGION: "fra-north",
    ID: "3",
    PODS: "10.0.0.0/15",
    SERVICES: "10.96.36.0/22",
    NODES: "10.128.0.0/23",
  },
];

const versions = async () =>
  Object.fromEntries(
    (await hub.registry.list(kinds.Cluster, {}, systemCaller)).items.map((o) => [
      o.metadata.name,
      o.metadata.resourceVersion,
    ]),
  );

describe("unitfleet network plan, allocate and check", () => {
  it("plans the docs' worked example for the clusters without an allocation, and writes nothing", async () => {
    await apply(
      cluster("fra-search", "frankfurt", "fra-north", { maxNodes: 50 }),
      cluster("fra-shop-prod", "frankfurt", "fra-north", { maxNodes: 500 }),
      cluster("fra-payments-prod", "frankfurt", "fra-south", { maxNodes: 100, plannedServices: 3000 }),
    );
    const before = await versions();
    const plan = await unitfleet(["network", "plan"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(table(plan.stdout)).toEqual(workedExample);
    expect(plan.stderr).toContain("3 planned, 0 already allocated (unchanged); nothing was written");
    expect(await versions()).toEqual(before);
    expect(await networkOf("fra-shop-prod")).toEqual({ maxNodes: 500 });
    const json = JSON.parse((await unitfleet(["network", "plan", "-o", "json"])).stdout);
    expect(json.items.map((r: { state: string }) => r.state)).toEqual(["planned", "planned", "planned"]);
    expect(json.explanations[0].lines).toContain(
      'pods IPv4 10.4.0.0/17: /17 for the pods (IPv4) of cluster "fra-payments-prod" (100 nodes at /24 per node), from NetworkPool "frankfurt" block 10.0.0.0/12',
    );
  }, 60_000);

  it("allocates it into spec.network; again changes nothing; a later cluster moves none of the first", async () => {
    const unwritten = await versions();
    const dryRun = await unitfleet(["network", "allocate", "--dry-run"]);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stderr).toContain("3 clusters would be allocated (dry run: nothing was written)");
    expect(await versions()).toEqual(unwritten);
    const allocated = await unitfleet(["network", "allocate"]);
    expect(allocated.code, allocated.stderr).toBe(0);
    expect(table(allocated.stdout)).toEqual(workedExample);
    expect(await networkOf("fra-shop-prod")).toEqual({
      maxNodes: 500,
      nodeMask: { ipv4: 24 },
      clusterId: 3,
      pods: ["10.0.0.0/15"],
      services: ["10.96.36.0/22"],
      nodes: ["10.128.0.0/23"],
    });
    expect(await networkOf("fra-payments-prod")).toMatchObject({ plannedServices: 3000, clusterId: 1 });
    const first = await versions();
    const firstNetworks = await Promise.all(Object.keys(first).map(networkOf));

    const again = await unitfleet(["network", "allocate"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("nothing to allocate");
    expect(await versions()).toEqual(first);

    await apply(cluster("fra-analytics", "frankfurt", "fra-north", { maxNodes: 200 }));
    const plan = table((await unitfleet(["network", "plan", "-o", "wide"])).stdout);
    expect(plan.map((r) => [r.CLUSTER, r.STATE])).toEqual([
      ["fra-analytics", "planned"],
      ["fra-payments-prod", "allocated"],
      ["fra-search", "allocated"],
      ["fra-shop-prod", "allocated"],
    ]);
    const grown = await unitfleet(["network", "allocate"]);
    expect(grown.code, grown.stderr).toBe(0);
    expect(table(grown.stdout)).toEqual([
      {
        CLUSTER: "fra-analytics",
        LOCATION: "frankfurt",
        REGION: "fra-north",
        ID: "4",
        PODS: "10.3.0.0/16",
        SERVICES: "10.96.40.0/22",
        NODES: "10.128.3.0/24",
      },
    ]);
    // The first three: not written again, their allocations as they were.
    const after = await versions();
    for (const name of Object.keys(first)) expect(after[name], name).toBe(first[name]);
    expect(await Promise.all(Object.keys(first).map(networkOf))).toEqual(firstNetworks);

    const checked = await unitfleet(["network", "check"]);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toBe("No overlaps.\n");
  }, 60_000);

  it("prints the pools with `get networkpools`", async () => {
    const listed = await unitfleet(["get", "networkpools", "-o", "wide"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(table(listed.stdout).find((r) => r.NAME === "fra-north")).toMatchObject({
      LOCATION: "frankfurt",
      REGION: "fra-north",
      PODS: "10.0.0.0/14",
      SERVICES: "-",
    });
    expect(table(listed.stdout).find((r) => r.NAME === "frankfurt")).toMatchObject({
      PODS: "10.0.0.0/12",
      SERVICES: "10.96.0.0/16",
      NODES: "10.128.0.0/16",
      "CLUSTER IDS": "1..255",
    });
  }, 60_000);

  it("plans a file's clusters beside the hub's, and refuses an exhausted pool naming it and what was asked", async () => {
    const list = join(home, "planned.yaml");
    await writeFile(
      list,
      "- {name: sgp-web, location: singapore, maxNodes: 20}\n- {name: sgp-db, location: singapore, maxNodes: 3, clusterId: 9}\n",
    );
    const planned = await unitfleet([
      "network",
      "plan",
      "-f",
      list,
      "-l",
      "location=singapore",
      "-o",
      "wide",
    ]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(table(planned.stdout).map((r) => [r.CLUSTER, r.ID, r.PODS, r.STATE])).toEqual([
      // The largest range first, at the lowest free place; the pinned ID kept.
      ["sgp-db", "9", "10.0.32.0/22", "file"],
      ["sgp-web", "1", "10.0.0.0/19", "file"],
    ]);
    expect(await names("Cluster")).not.toContain("sgp-web");

    // The lab's default topology: its Frankfurt clusters that the hub holds keep their allocations.
    const lab = await unitfleet([
      "network",
      "plan",
      "-f",
      "src/lab/topologies/default.yaml",
      "--max-nodes",
      "16",
      "-o",
      "json",
    ]);
    expect(lab.code, lab.stderr).toBe(0);
    const rows = JSON.parse(lab.stdout).items as Array<{ state: string; allocation: { cluster: string } }>;
    expect(rows.find((r) => r.allocation.cluster === "fra-shop-prod")?.state).toBe("allocated");
    expect(rows.find((r) => r.allocation.cluster === "fra-payments-prod")?.state).toBe("allocated");
    expect(rows.filter((r) => r.state === "file").length).toBeGreaterThan(2);

    // tokyo's pool holds one /16 of pods: a cluster of 256 nodes takes it all.
    await apply(cluster("tyo-a", "tokyo", undefined));
    const tokyo = join(home, "tokyo.yaml");
    await writeFile(tokyo, "clusters:\n  - {name: tyo-b, location: tokyo, maxNodes: 10}\n");
    const exhausted = await unitfleet(["network", "plan", "-f", tokyo, "-l", "location=tokyo"]);
    expect(exhausted.code).toBe(1);
    expect(exhausted.stdout).toBe("");
    expect(exhausted.stderr).toContain("error: the network plan cannot be made; nothing was planned");
    expect(exhausted.stderr).toContain(
      `${tokyo}: clusters[0]: NetworkPool "tokyo" is exhausted: no free /20 for the pods (IPv4) of cluster "tyo-b" (10 nodes at /24 per node) in its pods blocks 10.0.0.0/16`,
    );
    expect(exhausted.stderr).not.toMatch(/^\s+at /m);
  }, 60_000);

  it("quarantines a deleted cluster's ID until the pool's period ends", async () => {
    const deleted = await unitfleet(["delete", "cluster", "fra-payments-prod"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const pool = (await get("NetworkPool", "frankfurt")) as StoredObject & {
      status?: { retiredClusterIds?: Array<{ clusterId: number; cluster: string; retiredAt: string }> };
    };
    // fra-held's 200 too: it was deleted in the first tests.
    expect(pool.status?.retiredClusterIds).toEqual([
      { clusterId: 200, cluster: "fra-held", retiredAt: expect.stringMatching(/Z$/) },
      { clusterId: 1, cluster: "fra-payments-prod", retiredAt: expect.stringMatching(/Z$/) },
    ]);
    await apply(cluster("fra-payments-v2", "frankfurt", "fra-south", { maxNodes: 100 }));
    const plan = table((await unitfleet(["network", "plan", "-l", "location=frankfurt"])).stdout);
    // Its ranges are free again; its ID is not.
    expect(plan.find((r) => r.CLUSTER === "fra-payments-v2")).toMatchObject({ ID: "5", PODS: "10.4.0.0/17" });
    const unknown = await unitfleet(["network", "allocate", "--cluster", "fra-nosuch"]);
    expect([unknown.code, unknown.stderr.split("\n")[0]]).toEqual([1, "error: no such cluster: fra-nosuch"]);
    const one = await unitfleet(["network", "allocate", "--cluster", "fra-payments-v2"]);
    expect(table(one.stdout).map((r) => [r.CLUSTER, r.ID])).toEqual([["fra-payments-v2", "5"]]);
    const pinned = await refusal(
      apply(cluster("fra-pinned", "frankfurt", "fra-south", { maxNodes: 10, clusterId: 1 })),
    );
    expect(pinned.problems).toEqual([
      {
        path: "fleet.yaml[0]: spec.network.clusterId",
        message: expect.stringMatching(
          /^cluster ID 1 was retired with cluster "fra-payments-prod" and is quarantined until 2\d{3}-/,
        ),
      },
    ]);

    // tokyo's quarantine is 1 s: its ID comes back after it.
    const tokyo = await unitfleet(["network", "allocate", "-l", "location=tokyo"]);
    expect(tokyo.code, tokyo.stderr).toBe(0);
    expect(await networkOf("tyo-a")).toMatchObject({ clusterId: 1 });
    await hub.registry.delete(kinds.Cluster, "tyo-a", systemCaller);
    const file = join(home, "tyo-c.yaml");
    await writeFile(file, "- {name: tyo-c, location: tokyo, maxNodes: 10}\n");
    const idOf = async () =>
      table((await unitfleet(["network", "plan", "-f", file, "-l", "location=tokyo"])).stdout)[0]?.ID;
    expect(await idOf()).toBe("2");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await idOf()).toBe("1");
  }, 60_000);

  it("check names both clusters and ranges of a planted overlap, allocated or observed, and exits 1", async () => {
    // An overlap the hub would refuse today, planted in the store as an older hub might have kept it.
    const shop = await get("Cluster", "fra-shop-prod");
    await hub.store.write(async (tx) => {
      await tx.put(
        "Cluster",
        {
          ...shop,
          metadata: { ...shop.metadata, name: "fra-planted", uid: "planted" },
          spec: {
            ...(shop.spec as object),
            network: { maxNodes: 100, pods: ["10.1.0.0/17"], services: ["10.96.100.0/22"] },
          },
        } as StoredObject,
        (shop.metadata.labels ?? {}) as Record<string, string>,
      );
    });
    const checked = await unitfleet(["network", "check", "-l", "location=frankfurt"]);
    expect(checked.code).toBe(1);
    expect(table(checked.stdout)).toEqual([
      {
        LOCATION: "frankfurt",
        CLUSTER: "fra-planted",
        KIND: "pods",
        RANGE: "10.1.0.0/17",
        "OTHER CLUSTER": "fra-shop-prod",
        "OTHER KIND": "pods",
        "OTHER RANGE": "10.0.0.0/15",
        SOURCE: "allocated",
      },
    ]);
    expect(checked.stderr).toContain(
      "error: 1 overlapping ranges inside a Location: fra-planted pods 10.1.0.0/17 and fra-shop-prod pods 10.0.0.0/15 (frankfurt, allocated)",
    );
    // Singapore's clusters are not frankfurt's: none of them counts.
    expect((await unitfleet(["network", "check", "-l", "location=singapore"])).code).toBe(0);

    // What agents will report (status.observedNetwork): two clusters using the same pod range, as every lab
    // cluster does today.
    await hub.store.write(async (tx) => {
      await tx.remove("Cluster", "fra-planted");
    });
    for (const name of ["fra-search", "fra-analytics"])
      await hub.registry.mergeStatus(
        kinds.Cluster,
        name,
        { observedNetwork: { podCIDRs: ["10.244.0.0/24"], serviceCIDRs: ["10.96.0.0/16"] } },
        systemCaller,
      );
    const observed = await unitfleet(["network", "check", "-o", "json"]);
    expect(observed.code).toBe(1);
    const report = JSON.parse(observed.stdout);
    expect(
      report.overlaps.map(
        (o: {
          a: { cluster: string; range: string };
          b: { cluster: string; range: string };
          source: string;
        }) => [o.a.cluster, o.a.range, o.b.cluster, o.b.range, o.source],
      ),
    ).toEqual([
      ["fra-analytics", "10.244.0.0/24", "fra-search", "10.244.0.0/24", "observed"],
      ["fra-analytics", "10.96.0.0/16", "fra-search", "10.96.0.0/16", "observed"],
    ]);
    expect(report.drift.map((d: { cluster: string; kind: string }) => `${d.cluster} ${d.kind}`)).toEqual([
      "fra-analytics pods",
      "fra-analytics services",
      "fra-search pods",
      "fra-search services",
    ]);
  }, 60_000);
});
