/**
 * The locality chain of multi-cluster services end to end on the lab (issue 15, "Locality" acceptance): a hub,
 * the relay of each Location and an agent per cluster, in-process. The same Service is exported in two clusters
 * of fra-north (fra-shop-prod, fra-shop-dev) and one of fra-south (fra-payments-prod); the consumer
 * fra-search-staging (fra-south, no copy of its own) shows the tiers in order — its Region first, then the other
 * Region — in its ServiceImport's status, in its slices' tier labels and in their zone hints. When the same-Region
 * copy is scaled to 0, the next tier serves within 5 s; when it is scaled back, the import fails back to it.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AppsV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeServicesCluster } from "../../src/agent/kube/services-cluster-api.ts";
import { derivedServiceName } from "../../src/core/multicluster-services/object-names.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";
import { type LabFleet, startLabFleet, until } from "./lab-fleet.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const namespace = "mcs-locality";
const consumer = "fra-search-staging";
const sameRegion = "fra-payments-prod";
/** Each exporting cluster and the replicas of its copy: the counts tell the clusters apart in the status. */
const exporters = new Map([
  ["fra-shop-prod", 2],
  ["fra-shop-dev", 1],
  [sameRegion, 3],
]);
const frankfurt = [...exporters.keys(), consumer];
const derived = derivedServiceName(namespace, "api");
/** The zones of the consumer's nodes, where hints of the serving tier point. */
const consumerZones = lab.topology.spec.clusters.find((c) => c.name === consumer)!.zones ?? [];

interface ServiceImport {
  spec: { type: string; ips?: string[] };
  status?: {
    clusters?: Array<{ cluster: string; region: string; tier: number; readyEndpoints: number }>;
    servingTier?: number;
  };
}
interface EndpointSlice {
  metadata: { name: string; labels: Record<string, string> };
  endpoints?: Array<{
    addresses: string[];
    conditions: { ready?: boolean };
    hints?: { forZones?: Array<{ name: string }> };
  }>;
}

const workload = (replicas: number) => ({
  apiVersion: "v1",
  kind: "List",
  items: [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "api", namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: "api" } },
        template: {
          metadata: { labels: { app: "api" } },
          spec: {
            containers: [
              {
                name: "api",
                image: "registry.example/api:1.0",
                ports: [{ name: "http", containerPort: 8080 }],
                resources: { requests: { cpu: "10m", memory: "16Mi" } },
              },
            ],
            tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "api", namespace },
      spec: {
        selector: { app: "api" },
        ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
      },
    },
    {
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceExport",
      metadata: { name: "api", namespace },
    },
  ],
});

let fleet: LabFleet;
const kubeConfigOf = (cluster: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(lab.kubeconfig);
  kc.setCurrentContext(cluster);
  return kc;
};
/** Reads straight from the consumer's API server (kubectl takes half a second a call: too coarse to time). */
const consumerApi = kubeServicesCluster(kubeConfigOf(consumer));

async function apply(cluster: string, manifest: unknown): Promise<void> {
  const file = join(fleet.dir, `manifest-${cluster}-${Date.now()}.json`);
  await writeFile(file, JSON.stringify(manifest));
  await kubectl(lab, cluster, ["apply", "-f", file]);
}
/** Sets the replicas of `cluster`'s copy straight through the API server, so that the clock starts with it. */
async function scale(cluster: string, replicas: number): Promise<void> {
  await kubeConfigOf(cluster)
    .makeApiClient(AppsV1Api)
    .replaceNamespacedDeploymentScale({
      name: "api",
      namespace,
      body: { metadata: { name: "api", namespace }, spec: { replicas } },
    });
}
/** What the consumer holds for the import: its ServiceImport and its imported EndpointSlices. */
async function consumerView(): Promise<{ serviceImport?: ServiceImport; slices: EndpointSlice[] }> {
  const managed = await consumerApi.listManaged();
  const serviceImport = managed.find(
    (o) => o.kind === "ServiceImport" && o.metadata.namespace === namespace && o.metadata.name === "api",
  ) as unknown as ServiceImport | undefined;
  const slices = managed.filter(
    (o) =>
      o.kind === "EndpointSlice" &&
      o.metadata.namespace === namespace &&
      o.metadata.labels?.["multicluster.kubernetes.io/service-name"] === "api",
  ) as unknown as EndpointSlice[];
  return { ...(serviceImport ? { serviceImport } : {}), slices };
}
type View = Awaited<ReturnType<typeof consumerView>>;
/** Polls the consumer every 50 ms until `ok` holds; returns the view and the milliseconds since `since`. */
async function consumerSoon(
  what: string,
  ok: (view: View) => boolean,
  since: number,
  ms: number,
): Promise<View & { after: number }> {
  const deadline = since + ms;
  let last: View | undefined;
  while (performance.now() < deadline) {
    last = await consumerView().catch(() => undefined);
    if (last && ok(last)) return { ...last, after: performance.now() - since };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 3000)}`);
}
const slicesOf = (slices: EndpointSlice[], source: string) =>
  slices.filter((s) => s.metadata.labels["multicluster.kubernetes.io/source-cluster"] === source);
const readyIn = (slices: EndpointSlice[], source: string) =>
  slicesOf(slices, source)
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions.ready !== false).length;
/** The zones the hints of `source`'s endpoints name, every endpoint alike (else the distinct lists, joined). */
const hintedZones = (slices: EndpointSlice[], source: string) => [
  ...new Set(
    slicesOf(slices, source)
      .flatMap((s) => s.endpoints ?? [])
      .map((e) => (e.hints?.forZones ?? []).map((z) => z.name).join(",")),
  ),
];
const note = (text: string) => process.stderr.write(`[mcs-locality] ${text}\n`);

beforeAll(async () => {
  fleet = await startLabFleet(lab, { prefix: "unitfleet-mcs-locality-" });
  await Promise.all(
    frankfurt.map(async (cluster) => {
      await kubectl(lab, cluster, ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true"]);
      await kubectl(lab, cluster, ["create", "namespace", namespace]);
    }),
  );
  for (const cluster of frankfurt)
    await until(
      `the MCS CRDs in ${cluster}`,
      () => kubectl(lab, cluster, ["get", "crd", "serviceexports.multicluster.x-k8s.io", "-o", "name"]),
      (out) => out.includes("serviceexports"),
    );
});

afterAll(async () => {
  await fleet?.stop();
  await Promise.all(
    frankfurt.map((cluster) =>
      kubectl(lab, cluster, ["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"]).catch(
        () => {},
      ),
    ),
  );
});

describe("the locality chain of a multi-cluster service on the lab", () => {
  it("shows a fra-south consumer its own Region's copy first, then fra-north's, in status, labels and hints", async () => {
    expect(consumerZones).toEqual(["fra-south-1"]);
    await Promise.all([...exporters].map(([cluster, replicas]) => apply(cluster, workload(replicas))));
    const { serviceImport, slices } = await consumerSoon(
      `every copy's ready endpoints in ${consumer}'s import`,
      // Slices and status are separate writes: wait for both to show every copy (in any order).
      (v) =>
        (v.serviceImport?.spec.ips?.length ?? 0) > 0 &&
        [...exporters].every(
          ([cluster, replicas]) =>
            readyIn(v.slices, cluster) === replicas &&
            v.serviceImport?.status?.clusters?.find((c) => c.cluster === cluster)?.readyEndpoints ===
              replicas,
        ),
      performance.now(),
      120_000,
    );

    // The chain in order: the same Region (tier 1) before the other Region (tier 2), by name within a tier.
    expect(serviceImport!.status).toEqual({
      clusters: [
        { cluster: "fra-payments-prod", region: "fra-south", tier: 1, readyEndpoints: 3 },
        { cluster: "fra-shop-dev", region: "fra-north", tier: 2, readyEndpoints: 1 },
        { cluster: "fra-shop-prod", region: "fra-north", tier: 2, readyEndpoints: 2 },
      ],
      servingTier: 1,
    });
    // One set of slices per source, each labelled with its tier and Region.
    for (const [cluster, tier, region] of [
      ["fra-payments-prod", "1", "fra-south"],
      ["fra-shop-dev", "2", "fra-north"],
      ["fra-shop-prod", "2", "fra-north"],
    ] as const) {
      const own = slicesOf(slices, cluster);
      expect(own.length).toBeGreaterThan(0);
      for (const slice of own)
        expect(slice.metadata.labels).toMatchObject({
          "unitfleet.io/locality-tier": tier,
          "unitfleet.io/source-region": region,
          "kubernetes.io/service-name": derived,
        });
    }
    // Hints: the serving tier's endpoints point at the consumer's zones; the others at the standby zone.
    expect(hintedZones(slices, "fra-payments-prod")).toEqual(["fra-south-1"]);
    expect(hintedZones(slices, "fra-shop-dev")).toEqual(["unitfleet-standby"]);
    expect(hintedZones(slices, "fra-shop-prod")).toEqual(["unitfleet-standby"]);
    const service = await kubectlJson<{ spec: { clusterIP: string; trafficDistribution?: string } }>(
      lab,
      consumer,
      ["get", "service", derived, "-n", namespace],
    );
    expect(service.spec.trafficDistribution).toBe("PreferSameZone");
    expect(serviceImport!.spec.ips).toEqual([service.spec.clusterIP]);
  });

  it("serves from fra-north within 5 s when fra-payments-prod's copy is scaled to 0, and fails back after", async () => {
    const before = await consumerView();
    const virtualIps = before.serviceImport!.spec.ips;

    const scaledDown = performance.now();
    await scale(sameRegion, 0);
    const failedOver = await consumerSoon(
      `${consumer} to serve from tier 2`,
      (v) =>
        v.serviceImport?.status?.servingTier === 2 &&
        readyIn(v.slices, sameRegion) === 0 &&
        hintedZones(v.slices, "fra-shop-prod").join() === "fra-south-1" &&
        hintedZones(v.slices, "fra-shop-dev").join() === "fra-south-1",
      scaledDown,
      30_000,
    );
    note(
      `fail-over: serving tier 2 and its hints ${(failedOver.after / 1000).toFixed(2)} s after the scale to 0`,
    );
    expect(failedOver.after).toBeLessThan(5000);
    expect(failedOver.serviceImport!.status).toEqual({
      clusters: [
        { cluster: "fra-payments-prod", region: "fra-south", tier: 1, readyEndpoints: 0 },
        { cluster: "fra-shop-dev", region: "fra-north", tier: 2, readyEndpoints: 1 },
        { cluster: "fra-shop-prod", region: "fra-north", tier: 2, readyEndpoints: 2 },
      ],
      servingTier: 2,
    });
    expect(readyIn(failedOver.slices, sameRegion)).toBe(0);
    expect(readyIn(failedOver.slices, "fra-shop-prod")).toBe(2);
    expect(readyIn(failedOver.slices, "fra-shop-dev")).toBe(1);
    // The virtual IP a client uses does not change.
    expect(failedOver.serviceImport!.spec.ips).toEqual(virtualIps);

    const scaledUp = performance.now();
    await scale(sameRegion, 3);
    const failedBack = await consumerSoon(
      `${consumer} to serve from tier 1 again`,
      (v) =>
        v.serviceImport?.status?.servingTier === 1 &&
        v.serviceImport.status.clusters?.[0]?.readyEndpoints === 3 &&
        readyIn(v.slices, sameRegion) === 3 &&
        hintedZones(v.slices, sameRegion).join() === "fra-south-1" &&
        hintedZones(v.slices, "fra-shop-prod").join() === "unitfleet-standby" &&
        hintedZones(v.slices, "fra-shop-dev").join() === "unitfleet-standby",
      scaledUp,
      60_000,
    );
    note(
      `fail-back: serving tier 1 and its hints ${(failedBack.after / 1000).toFixed(2)} s after the scale to 3 (pod start included)`,
    );
    expect(failedBack.serviceImport!.status).toEqual({
      clusters: [
        { cluster: "fra-payments-prod", region: "fra-south", tier: 1, readyEndpoints: 3 },
        { cluster: "fra-shop-dev", region: "fra-north", tier: 2, readyEndpoints: 1 },
        { cluster: "fra-shop-prod", region: "fra-north", tier: 2, readyEndpoints: 2 },
      ],
      servingTier: 1,
    });
    expect(failedBack.serviceImport!.spec.ips).toEqual(virtualIps);
  });
});
