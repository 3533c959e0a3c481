/**
 * `unitfleet snapshot` on the lab: a hub, the relay of each Location and an agent per cluster; the snapshot the
 * CLI writes holds the lab's six clusters with the nodes, capacity, workloads, versions and zones the topology
 * gives them, and is a file the planner reads. A Deployment with placement constraints shows up with them; a
 * token scoped to a business gets that business's clusters only.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FleetSnapshot, readFleet } from "../../src/core/planning/fleet-snapshot.ts";
import { parseQuantity } from "../../src/core/quantity/quantity.ts";
import { clusterZones } from "../../src/core/topology/topology.ts";
import { kubernetesGitVersion } from "../../src/lab/versions.ts";
import { unitfleetCli } from "./cli.ts";
import { kubectl } from "./kubectl.ts";
import { adminCliHome, type LabFleet, startLabFleet, until } from "./lab-fleet.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const topology = lab.topology;
const probeCluster = "sgp-shop-dev";
const probeNamespace = "snapshot-e2e";
let fleet: LabFleet;
let home: string;

const number = (q: string | number | undefined) => {
  const parsed = parseQuantity(q ?? 0);
  return parsed.ok ? parsed.value : Number.NaN;
};

async function snapshotJson(at = home): Promise<FleetSnapshot> {
  const result = await unitfleetCli(at, ["snapshot", "-o", "json"]);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as FleetSnapshot;
}

beforeAll(async () => {
  fleet = await startLabFleet(lab, { prefix: "unitfleet-snapshot-e2e-" });
  home = await adminCliHome(fleet);
}, 300_000);

afterAll(async () => {
  await kubectl(lab, probeCluster, [
    "delete",
    "namespace",
    probeNamespace,
    "--ignore-not-found",
    "--wait=false",
  ]).catch(() => {});
  await fleet?.stop();
});

describe("unitfleet snapshot on the lab", () => {
  it("writes the lab's six clusters as the topology made them, in a file the planner reads", async () => {
    const file = join(fleet.dir, "fleet.json");
    const result = await unitfleetCli(home, ["snapshot", "-o", file]);
    expect(result.code, result.stderr).toBe(0);
    const snapshot = JSON.parse(await readFile(file, "utf8")) as FleetSnapshot;
    const read = readFleet(snapshot);
    expect(read.ok ? [] : read.problems).toEqual([]);

    const nodes = snapshot.clusters.reduce((n, c) => n + c.nodes.length, 0);
    const pods = snapshot.clusters.reduce((n, c) => n + c.workloads.reduce((p, w) => p + w.replicas, 0), 0);
    const topologyNodes = topology.spec.clusters.reduce(
      (n, c) => n + c.nodePools.reduce((m, p) => m + p.count, 0),
      0,
    );
    const topologyPods = topology.spec.clusters.reduce(
      (n, c) => n + (c.workloads ?? []).reduce((m, w) => m + w.replicas, 0),
      0,
    );
    expect(result.stdout).toBe(`wrote fleet snapshot: 6 clusters, ${nodes} nodes, ${pods} pods → ${file}\n`);
    expect(nodes).toBe(topologyNodes);
    expect(pods).toBeGreaterThanOrEqual(topologyPods);
    console.log(result.stdout.trim());

    expect(snapshot.locations).toEqual([
      {
        name: "frankfurt",
        regions: [
          { name: "fra-north", zones: ["fra-north-1", "fra-north-2", "fra-north-3"] },
          { name: "fra-south", zones: ["fra-south-1", "fra-south-2"] },
        ],
      },
      { name: "singapore" },
    ]);
    expect(snapshot.clusters.map((c) => c.name)).toEqual(topology.spec.clusters.map((c) => c.name).sort());
    for (const expected of topology.spec.clusters) {
      const cluster = snapshot.clusters.find((c) => c.name === expected.name)!;
      expect(cluster, expected.name).toMatchObject({
        location: expected.location,
        environment: expected.environment,
        business: expected.business,
        kubernetesVersion: kubernetesGitVersion,
        zones: clusterZones(topology, expected),
        ...(expected.region ? { region: expected.region } : {}),
      });
      // Nodes: as many as the pools hold, each with its pool's shape; allocatable summed over the cluster.
      expect(cluster.nodes, expected.name).toHaveLength(expected.nodePools.reduce((n, p) => n + p.count, 0));
      for (const resource of ["cpu", "memory", "pods"] as const)
        expect(
          cluster.nodes.reduce((sum, n) => sum + number(n.allocatable[resource]), 0),
          `${expected.name} ${resource}`,
        ).toBe(expected.nodePools.reduce((sum, p) => sum + p.count * number(p[resource]), 0));
      for (const pool of expected.nodePools) {
        const ofPool = cluster.nodes.filter((n) => n.name.startsWith(`${expected.name}-${pool.name}-`));
        expect(ofPool, `${expected.name} pool ${pool.name}`).toHaveLength(pool.count);
        for (const n of ofPool) {
          expect(n.allocatable).toMatchObject({ cpu: String(pool.cpu), memory: String(pool.memory) });
          if (pool.instanceType) expect(n.instanceType).toBe(pool.instanceType);
          expect(clusterZones(topology, expected)).toContain(n.zone);
        }
      }
      // Workloads: each of the topology's with its replicas and the requests of one pod.
      for (const w of expected.workloads ?? []) {
        const found = cluster.workloads.find(
          (x) => x.namespace === w.namespace && x.name === w.name && x.kind === "Deployment",
        );
        expect(found, `${expected.name} ${w.namespace}/${w.name}`).toBeDefined();
        expect(found!.replicas).toBe(w.replicas);
        expect(number(found!.podRequests.cpu)).toBe(number(w.cpu));
        expect(number(found!.podRequests.memory)).toBe(number(w.memory));
      }
    }
    const storefront = snapshot.clusters
      .find((c) => c.name === "fra-shop-prod")!
      .workloads.find((w) => w.name === "storefront")!;
    expect(storefront).toEqual({
      namespace: "shop",
      kind: "Deployment",
      name: "storefront",
      replicas: 12,
      podRequests: { cpu: "2", memory: "4Gi" },
      // The lab's kwok pods tolerate kwok's node taint: the snapshot carries it (issue 16).
      tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
    });
  });

  it("carries a workload's placement constraints, and the node labels its selector uses", async () => {
    const manifest = join(fleet.dir, "probe.yaml");
    const labels = { app: "snapshot-probe" };
    await writeFile(
      manifest,
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name: probeNamespace } },
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: {
              name: "probe",
              namespace: probeNamespace,
              labels: { ...labels, "unitfleet.io/application": "probe" },
            },
            spec: {
              replicas: 2,
              selector: { matchLabels: labels },
              template: {
                metadata: { labels },
                spec: {
                  nodeSelector: { "kubernetes.io/os": "linux" },
                  affinity: {
                    podAntiAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: [
                        { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: labels } },
                      ],
                    },
                  },
                  topologySpreadConstraints: [
                    {
                      topologyKey: "topology.kubernetes.io/zone",
                      maxSkew: 1,
                      whenUnsatisfiable: "DoNotSchedule",
                      labelSelector: { matchLabels: labels },
                    },
                  ],
                  tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
                  containers: [
                    {
                      name: "probe",
                      image: "registry.example/probe:1.0",
                      resources: { requests: { cpu: "100m", memory: "64Mi" } },
                    },
                  ],
                },
              },
            },
          },
        ],
      }),
    );
    await kubectl(lab, probeCluster, ["apply", "-f", manifest]);
    const probeOf = (s: FleetSnapshot) =>
      s.clusters.find((c) => c.name === probeCluster)?.workloads.find((w) => w.namespace === probeNamespace);
    const snapshot = await until(
      "the probe to be in the snapshot",
      () => snapshotJson(),
      (s) => !!probeOf(s),
    );
    expect(probeOf(snapshot)).toEqual({
      namespace: probeNamespace,
      kind: "Deployment",
      name: "probe",
      replicas: 2,
      podRequests: { cpu: "100m", memory: "64Mi" },
      application: "probe",
      nodeSelector: { "kubernetes.io/os": "linux" },
      podAntiAffinity: { topologyKey: "kubernetes.io/hostname" },
      topologySpread: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }],
      // The lab's kwok pods tolerate kwok's node taint: the snapshot carries it (issue 16).
      tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
    });
    // The nodes now carry the label the selector uses (and the other clusters' nodes do not).
    for (const n of snapshot.clusters.find((c) => c.name === probeCluster)!.nodes)
      expect(n.labels?.["kubernetes.io/os"]).toBe("linux");
    expect(snapshot.clusters.find((c) => c.name === "fra-shop-prod")!.nodes[0]!.labels).not.toHaveProperty(
      "kubernetes.io/os",
    );
    const read = readFleet(snapshot);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    expect(
      read.value.clusters.find((c) => c.name === probeCluster)!.workloads.find((w) => w.name === "probe"),
    ).toMatchObject({
      antiAffinity: "hostname",
      zoneMaxSkew: 1,
      nodeSelector: { "kubernetes.io/os": "linux" },
    });

    await kubectl(lab, probeCluster, ["delete", "namespace", probeNamespace, "--wait=false"]);
    await until(
      "the probe to leave the snapshot",
      () => snapshotJson(),
      (s) => !probeOf(s),
    );
  });

  it("gives a token scoped to a business that business's clusters only, as YAML with -o yaml", async () => {
    const created = await unitfleetCli(home, [
      "api-token",
      "create",
      "payments-viewer",
      "--role",
      "viewer",
      "--business",
      "payments",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const scoped = join(fleet.dir, "scoped-home");
    const login = await unitfleetCli(scoped, [
      "login",
      "--server",
      fleet.hub.url,
      "--token",
      created.stdout.trim(),
      "--certificate-authority",
      fleet.hub.caFile,
    ]);
    expect(login.code, login.stderr).toBe(0);
    const result = await unitfleetCli(scoped, ["snapshot", "-o", "yaml"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^apiVersion: unitfleet\.io\/v1alpha1\nkind: FleetSnapshot\n/);
    expect([...result.stdout.matchAll(/^ {2}- name: (\S+)\n {4}location:/gm)].map((m) => m[1])).toEqual([
      "fra-payments-prod",
    ]);
  });

  it("refuses a bad -o in one line, without a stack trace", async () => {
    const result = await unitfleetCli(home, ["snapshot", "-o", "fleet.txt"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "error: -o fleet.txt: expected json, yaml, or a file name ending in .json, .yaml or .yml\n",
    );
  });
});
