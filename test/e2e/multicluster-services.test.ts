/**
 * Multi-cluster services end to end on the lab (issue 15, ADR 0020): a hub, the relay of each Location and an agent
 * per cluster, in-process. A Deployment, Service and ServiceExport in fra-shop-dev appear as a ServiceImport with
 * a virtual IP and EndpointSlices labelled with their source cluster in the other Frankfurt clusters, and never in
 * Singapore (checked for 30 s); an endpoint change costs each consumer a bounded number of writes; an export of a
 * Service that does not exist is `Valid=False` (`NoService`) and imported nowhere until the Service comes; when a
 * whole exporting cluster is stopped (`lab stop`), its endpoints leave the others' imports within the documented
 * bound and nothing else changes, and they come back after `lab start`; exports that disagree on a port set
 * `Conflict=True` on both, the oldest winning; when one exporting cluster's agent stops, its endpoints leave the
 * others' imports within the relay's grace and the rest stays.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeServicesCluster } from "../../src/agent/kube/services-cluster-api.ts";
import { derivedServiceName, mcsApiVersion } from "../../src/core/multicluster-services/object-names.ts";
import { labStartCluster, labStopCluster } from "../../src/lab/lab.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";
import { type LabFleet, startLabFleet, until } from "./lab-fleet.ts";
import { sharedLab } from "./shared-lab.ts";

const lab = sharedLab();
const namespace = "mcs-e2e";
const frankfurt = ["fra-shop-prod", "fra-payments-prod", "fra-shop-dev", "fra-search-staging"];
const singapore = ["sgp-shop-prod", "sgp-shop-dev"];
const exporter = "fra-shop-dev";
const consumers = frankfurt.filter((c) => c !== exporter);
const derived = derivedServiceName(namespace, "web");

interface ServiceImport {
  spec: { type: string; ips?: string[]; ports: Array<{ name: string; port: number }> };
  status?: { clusters?: Array<{ cluster: string; tier: number; readyEndpoints: number }> };
}
interface EndpointSlice {
  metadata: { name: string; labels: Record<string, string> };
  endpoints?: Array<{ addresses: string[]; conditions: { ready?: boolean } }>;
}
interface Condition {
  type: string;
  status: string;
  reason: string;
  lastTransitionTime: string;
}

const exportOf = (name: string) => ({
  apiVersion: "multicluster.x-k8s.io/v1beta1",
  kind: "ServiceExport",
  metadata: { name, namespace },
});
const serviceExport = exportOf("web");
/** A Deployment of `replicas` pods (kwok makes them ready) and its Service, both called `name`. */
const workload = (replicas: number, servicePort: { name: string; port: number }, name = "web") => ({
  apiVersion: "v1",
  kind: "List",
  items: [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: "web",
                image: "registry.example/web:1.0",
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
      metadata: { name, namespace },
      spec: { selector: { app: name }, ports: [{ ...servicePort, protocol: "TCP", targetPort: "http" }] },
    },
  ],
});

let fleet: LabFleet;

async function apply(cluster: string, manifest: unknown): Promise<string> {
  const file = join(fleet.dir, `manifest-${cluster}-${Date.now()}.json`);
  await writeFile(file, JSON.stringify(manifest));
  return kubectl(lab, cluster, ["apply", "-f", file]);
}
/** Reads straight from each cluster's API server (kubectl takes half a second a call here: too coarse to time). */
const readers = new Map<string, ReturnType<typeof kubeServicesCluster>>();
function reader(cluster: string) {
  let r = readers.get(cluster);
  if (!r) {
    const kc = new KubeConfig();
    kc.loadFromFile(lab.kubeconfig);
    kc.setCurrentContext(cluster);
    r = kubeServicesCluster(kc);
    readers.set(cluster, r);
  }
  return r;
}
const serviceImport = async (cluster: string, name = "web") =>
  (await reader(cluster).read({
    apiVersion: mcsApiVersion,
    kind: "ServiceImport",
    namespace,
    name,
  })) as ServiceImport | undefined;
const importedSlices = async (cluster: string, service = "web") =>
  (await reader(cluster).listManaged()).filter(
    (o) =>
      o.kind === "EndpointSlice" &&
      o.metadata.namespace === namespace &&
      o.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] === "mcs.unitfleet.io" &&
      o.metadata.labels?.["multicluster.kubernetes.io/service-name"] === service,
  ) as unknown as EndpointSlice[];
/** Polls `read` every 50 ms until `ok` holds; throws with the last value after `ms`. */
async function soon<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read().catch(() => undefined);
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}
const sources = (slices: EndpointSlice[]) =>
  [...new Set(slices.map((s) => s.metadata.labels["multicluster.kubernetes.io/source-cluster"]))].sort();
const readyAddresses = (slices: EndpointSlice[], source: string) =>
  slices
    .filter((s) => s.metadata.labels["multicluster.kubernetes.io/source-cluster"] === source)
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions.ready !== false).length;
const exportConditions = async (cluster: string, name = "web") =>
  (
    await kubectlJson<{ status?: { conditions?: Condition[] } }>(lab, cluster, [
      "get",
      "serviceexport",
      name,
      "-n",
      namespace,
    ])
  ).status?.conditions ?? [];
const writesOf = (cluster: string) => fleet.agents.get(cluster)!.services!.counters().apiWrites;
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(2)} s`;
const note = (text: string) => process.stderr.write(`[mcs] ${text}\n`);

beforeAll(async () => {
  fleet = await startLabFleet(lab, { prefix: "unitfleet-mcs-" });
  await Promise.all(
    [...frankfurt, ...singapore].map(async (cluster) => {
      await kubectl(lab, cluster, ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true"]);
      await kubectl(lab, cluster, ["create", "namespace", namespace]);
    }),
  );
  // Every agent has installed the CRDs.
  for (const cluster of [...frankfurt, ...singapore])
    await until(
      `the MCS CRDs in ${cluster}`,
      () => kubectl(lab, cluster, ["get", "crd", "serviceexports.multicluster.x-k8s.io", "-o", "name"]),
      (out) => out.includes("serviceexports"),
    );
});

afterAll(async () => {
  await fleet?.stop();
  await Promise.all(
    [...frankfurt, ...singapore].map((cluster) =>
      kubectl(lab, cluster, [
        "delete",
        "namespace",
        namespace,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=120s",
      ]).catch(() => {}),
    ),
  );
});

describe("multi-cluster services on the lab", () => {
  it("imports an export of fra-shop-dev into the other Frankfurt clusters, with a virtual IP and its endpoints", async () => {
    // The Service is up with 2 ready endpoints first: what is measured is the export alone.
    await apply(exporter, workload(2, { name: "http", port: 80 }));
    await until(
      `2 ready endpoints of web in ${exporter}`,
      () =>
        kubectlJson<{ items: EndpointSlice[] }>(lab, exporter, [
          "get",
          "endpointslices",
          "-n",
          namespace,
          "-l",
          "kubernetes.io/service-name=web",
        ]),
      (list) =>
        list.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions.ready !== false).length === 2,
    );
    // Straight to the API server (kubectl spends half a second starting): the clock starts with the request.
    const sentBefore = fleet.agents.get(exporter)!.services!.counters().exports.messages;
    const receivedBefore = new Map(
      consumers.map((c) => [c, fleet.agents.get(c)!.services!.counters().received]),
    );
    const exported = performance.now();
    await reader(exporter).apply(serviceExport as never, "e2e");
    const published = soon(
      "the exporter's message",
      async () => fleet.agents.get(exporter)!.services!.counters().exports.messages,
      (n) => n > sentBefore,
    ).then(() => performance.now() - exported);
    const received = consumers.map((c) =>
      soon(
        `${c} to receive it`,
        async () => fleet.agents.get(c)!.services!.counters().received,
        (n) => n > receivedBefore.get(c)!,
      ).then(() => performance.now() - exported),
    );
    const landed = await Promise.all(
      consumers.map(async (cluster) => {
        const found = await soon(
          `the import with an IP and 2 ready endpoints in ${cluster}`,
          async () => ({
            serviceImport: await serviceImport(cluster),
            slices: await importedSlices(cluster),
          }),
          ({ serviceImport, slices }) =>
            (serviceImport?.spec.ips?.length ?? 0) > 0 &&
            serviceImport?.status?.clusters?.[0]?.readyEndpoints === 2 &&
            readyAddresses(slices, exporter) === 2,
          60_000,
        );
        note(
          `${cluster}: import with IP and 2 ready endpoints ${seconds(exported)} after the export was applied`,
        );
        return { cluster, latency: performance.now() - exported, ...found };
      }),
    );
    note(
      `published after ${((await published) / 1000).toFixed(2)} s, received after ${(await Promise.all(received)).map((ms) => (ms / 1000).toFixed(2)).join(", ")} s`,
    );
    // Polls every 50 ms included; the target for the benchmark is 2 s.
    for (const { latency } of landed) expect(latency).toBeLessThan(5000);
    for (const { cluster, serviceImport, slices } of landed) {
      expect(serviceImport!.spec).toMatchObject({
        type: "ClusterSetIP",
        ports: [{ name: "http", port: 80 }],
      });
      const service = await kubectlJson<{ spec: { clusterIP: string; selector?: unknown } }>(lab, cluster, [
        "get",
        "service",
        derived,
        "-n",
        namespace,
      ]);
      expect(serviceImport!.spec.ips).toEqual([service.spec.clusterIP]);
      expect(service.spec.selector).toBeUndefined();
      expect(sources(slices)).toEqual([exporter]);
      expect(slices[0]!.metadata.labels).toMatchObject({
        "multicluster.kubernetes.io/service-name": "web",
        "kubernetes.io/service-name": derived,
        "app.kubernetes.io/managed-by": "mcs.unitfleet.io",
      });
      const tier = cluster === "fra-shop-prod" ? 1 : 2; // fra-shop-dev is in fra-north, with fra-shop-prod
      expect(serviceImport!.status?.clusters).toEqual([
        { cluster: exporter, region: "fra-north", tier, readyEndpoints: 2 },
      ]);
    }
    expect(await exportConditions(exporter)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "Valid", status: "True" }),
        expect.objectContaining({ type: "Conflict", status: "False", reason: "NoConflicts" }),
      ]),
    );
  });

  it("costs each consumer a few writes per endpoint change", async () => {
    const before = new Map(consumers.map((c) => [c, writesOf(c)]));
    await kubectl(lab, exporter, ["scale", "deployment", "web", "-n", namespace, "--replicas=3"]);
    const scaled = performance.now();
    for (const cluster of consumers)
      await soon(
        `3 ready endpoints in ${cluster}`,
        () => importedSlices(cluster),
        (slices) => readyAddresses(slices, exporter) === 3,
      );
    note(`scale 2 → 3 visible in every consumer ${seconds(scaled)} after kubectl scale`);
    // Let the pods' own churn (pending → running → ready) settle, then count.
    await new Promise((r) => setTimeout(r, 2000));
    const writes = consumers.map((c) => writesOf(c) - before.get(c)!);
    note(`writes per consumer for the change: ${consumers.map((c, i) => `${c}=${writes[i]}`).join(", ")}`);
    for (const w of writes) {
      expect(w).toBeGreaterThanOrEqual(2);
      expect(w).toBeLessThanOrEqual(8);
    }
  });

  it("never imports into Singapore (checked for 30 s)", async () => {
    const deadline = Date.now() + 30_000;
    let checks = 0;
    while (Date.now() < deadline) {
      for (const cluster of singapore) {
        expect(await serviceImport(cluster)).toBeUndefined();
        expect(await importedSlices(cluster)).toEqual([]);
        checks++;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(checks).toBeGreaterThan(20);
    for (const cluster of singapore)
      expect(fleet.agents.get(cluster)!.services!.location.clusters()).toEqual([]);
  }, 60_000);

  it("refuses an export of a Service that does not exist (Valid=False, NoService), then imports it once the Service exists", async () => {
    const owner = "fra-shop-prod";
    const name = "orders";
    await apply(owner, exportOf(name));
    const refused = await until(
      `the Valid condition on ${owner}'s export of ${name}`,
      () => exportConditions(owner, name),
      (conditions) => conditions.some((c) => c.type === "Valid"),
    );
    expect(refused.find((c) => c.type === "Valid")).toMatchObject({ status: "False", reason: "NoService" });
    // The record travels (the other Frankfurt agents hold it); the merge keeps it out of every import.
    for (const cluster of frankfurt.filter((c) => c !== owner))
      await soon(
        `${owner}'s record in ${cluster}`,
        async () =>
          fleet.agents
            .get(cluster)!
            .services!.location.records()
            .filter((r) => r.cluster === owner && r.name === name),
        (records) => records.length === 1 && records[0]!.serviceState === "NoService",
      );
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      for (const cluster of [...frankfurt, ...singapore]) {
        expect(await serviceImport(cluster, name)).toBeUndefined();
        expect(await importedSlices(cluster, name)).toEqual([]);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const cluster of frankfurt)
      expect(
        await kubectl(lab, cluster, [
          "get",
          "service",
          "-n",
          namespace,
          "-o",
          "name",
          derivedServiceName(namespace, name),
        ]).catch((e: Error) => e.message),
      ).toMatch(/NotFound|not found/);

    // The Service comes, with one ready endpoint: the export turns Valid and is imported in all of Frankfurt.
    await apply(owner, workload(1, { name: "http", port: 8080 }, name));
    const created = performance.now();
    await until(
      `Valid=True on ${owner}'s export of ${name}`,
      () => exportConditions(owner, name),
      (conditions) => conditions.some((c) => c.type === "Valid" && c.status === "True"),
    );
    for (const cluster of frankfurt) {
      const found = await soon(
        `the import of ${name} with an IP and 1 ready endpoint in ${cluster}`,
        async () => ({
          serviceImport: await serviceImport(cluster, name),
          slices: await importedSlices(cluster, name),
        }),
        ({ serviceImport, slices }) =>
          (serviceImport?.spec.ips?.length ?? 0) > 0 && readyAddresses(slices, owner) === 1,
        60_000,
      );
      expect(sources(found.slices)).toEqual([owner]);
      expect(found.serviceImport!.spec.ports).toEqual([{ name: "http", protocol: "TCP", port: 8080 }]);
    }
    note(
      `${name}: imported in every Frankfurt cluster ${seconds(created)} after its Service and pods were applied`,
    );
    for (const cluster of singapore) expect(await serviceImport(cluster, name)).toBeUndefined();

    // Leave nothing behind for the tests below.
    await kubectl(lab, owner, [
      "delete",
      "serviceexport,service,deployment",
      name,
      "-n",
      namespace,
      "--wait=true",
    ]);
    for (const cluster of frankfurt)
      await soon(
        `${name} to leave ${cluster}`,
        () => serviceImport(cluster, name).then((i) => i ?? null),
        (i) => i === null,
      );
  });

  it("partition: a whole exporting cluster stopped (lab stop) leaves the others' imports within the bound, nothing else changes, and comes back (lab start)", async () => {
    const stopped = "fra-search-staging";
    const observers = ["fra-shop-prod", "fra-payments-prod", exporter];
    // A second source of web, compatible with fra-shop-dev's (port 80): no conflict to resolve when it goes.
    await apply(stopped, workload(1, { name: "http", port: 80 }));
    await apply(stopped, serviceExport);
    for (const cluster of observers)
      await soon(
        `both sources in ${cluster}'s import`,
        () => importedSlices(cluster),
        (slices) => readyAddresses(slices, stopped) === 1 && readyAddresses(slices, exporter) === 3,
        60_000,
      );
    const settled = (conditions: Condition[]) =>
      conditions.some((c) => c.type === "Valid" && c.status === "True") &&
      conditions.some((c) => c.type === "Conflict" && c.status === "False");
    const conditionsBefore = new Map<string, Condition[]>();
    for (const cluster of [exporter, stopped])
      conditionsBefore.set(
        cluster,
        await until(
          `${cluster}'s export Valid and without conflict`,
          () => exportConditions(cluster),
          settled,
        ),
      );
    const before = new Map<string, ServiceImport>();
    for (const cluster of observers) {
      const held = await soon(
        `both sources in ${cluster}'s ServiceImport status`,
        () => serviceImport(cluster),
        (i) => (i?.status?.clusters?.length ?? 0) === 2 && (i?.spec.ips?.length ?? 0) === 1,
      );
      before.set(cluster, held!);
    }

    // The documented bound (docs/multi-cluster-services.md, "A source that goes unhealthy"): the agent's probe
    // interval and timeout, the relay's grace (three heartbeats, at least 5 s), the consumer's coalescing (100 ms)
    // and the write limiter's (250 ms). The margin covers the consumer's pass, its writes and this test's polling.
    const heartbeatMs = fleet.relays.get("frankfurt")!.client.heartbeatSeconds * 1000;
    const boundMs = 5000 + 4000 + Math.max(5000, 3 * heartbeatMs) + 100 + 250;
    const marginMs = 2000;

    // When the API server stops answering, and when it answers again: polled every 100 ms.
    const kc = new KubeConfig();
    kc.loadFromFile(lab.kubeconfig);
    kc.setCurrentContext(stopped);
    const version = kc.makeApiClient(VersionApi);
    let downAt: number | undefined;
    let upAt: number | undefined;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const answers = await version.getCode().then(
          () => true,
          () => false,
        );
        if (!answers) downAt ??= performance.now();
        else if (downAt !== undefined) upAt ??= performance.now();
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    /** Anything else that changed in an observer while the stopped cluster's endpoints were leaving. */
    const otherChanges: string[] = [];
    // The observers are watched from before the stop: what they show is timed, not when `lab stop` returns.
    const leaving = Promise.allSettled(
      observers.map(async (cluster) => {
        const ips = before.get(cluster)!.spec.ips;
        await soon(
          `${stopped}'s endpoints to leave ${cluster}'s import`,
          async () => ({
            slices: await importedSlices(cluster),
            serviceImport: await serviceImport(cluster),
          }),
          ({ slices, serviceImport }) => {
            if (readyAddresses(slices, exporter) !== 3)
              otherChanges.push(`${cluster}: ${readyAddresses(slices, exporter)} endpoints of ${exporter}`);
            if (JSON.stringify(serviceImport?.spec.ips) !== JSON.stringify(ips))
              otherChanges.push(`${cluster}: ServiceImport ips ${JSON.stringify(serviceImport?.spec.ips)}`);
            return !sources(slices).includes(stopped);
          },
          boundMs + marginMs + 15_000,
        );
        return performance.now();
      }),
    );
    let failure: unknown;
    const stopCalled = performance.now();
    try {
      const events: string[] = [];
      await labStopCluster(
        { ...lab.context, onEvent: (e) => events.push(`${seconds(stopCalled)} ${JSON.stringify(e)}`) },
        stopped,
      );
      await soon(
        "the stopped API server to refuse",
        async () => downAt,
        (at) => at !== undefined,
        10_000,
      );
      // kwok, the scheduler and the controller manager go first; the API server stops answering on SIGTERM at
      // once, but its process lingers until it is killed (10 s): `lab stop` returns then.
      note(
        `lab stop ${stopped}: its API server stopped answering ${((downAt! - stopCalled) / 1000).toFixed(2)} s ` +
          `after the call; ${events.join("; ")}`,
      );
      const gone = (await leaving).map((outcome, i) => {
        if (outcome.status === "rejected") throw outcome.reason;
        const ms = outcome.value - downAt!;
        note(
          `${observers[i]}: ${stopped}'s endpoints gone ${(ms / 1000).toFixed(2)} s after its API server stopped`,
        );
        return ms;
      });
      note(`the bound: ${(boundMs / 1000).toFixed(2)} s (+ ${marginMs / 1000} s margin)`);
      for (const ms of gone) expect(ms).toBeLessThan(boundMs + marginMs);
      expect(otherChanges).toEqual([]);
      // The import keeps its IP, ports and the other source; its status loses the stopped cluster and nothing else.
      for (const cluster of observers) {
        const was = before.get(cluster)!;
        const want = was.status!.clusters!.filter((c) => c.cluster !== stopped);
        const now = await soon(
          `${cluster}'s ServiceImport status without ${stopped}`,
          () => serviceImport(cluster),
          (i) => JSON.stringify(i?.status?.clusters) === JSON.stringify(want),
          3000,
        );
        expect(now!.spec).toEqual(was.spec);
        expect(readyAddresses(await importedSlices(cluster), exporter)).toBe(3);
      }
      expect(await exportConditions(exporter)).toEqual(conditionsBefore.get(exporter));
    } catch (error) {
      failure = error;
    }

    // Back, whatever happened above (the shared lab is left whole for the other test files): its endpoints return
    // to every observer's import, watched from before the start.
    const returning = Promise.allSettled(
      observers.map(async (cluster) => {
        await soon(
          `${stopped}'s endpoints back in ${cluster}'s import`,
          () => importedSlices(cluster),
          (slices) => readyAddresses(slices, stopped) === 1 && readyAddresses(slices, exporter) === 3,
          90_000,
        );
        return performance.now();
      }),
    );
    const startCalled = performance.now();
    try {
      await labStartCluster(lab.context, stopped);
      await soon(
        "the API server to answer again",
        async () => upAt,
        (at) => at !== undefined,
        10_000,
      );
    } finally {
      polling = false;
      await poller;
    }
    if (failure) throw failure;
    note(
      `lab start ${stopped}: its API server answered ${((upAt! - startCalled) / 1000).toFixed(2)} s after the call`,
    );
    const back = (await returning).map((outcome, i) => {
      if (outcome.status === "rejected") throw outcome.reason;
      const ms = outcome.value - upAt!;
      note(
        `${observers[i]}: ${stopped}'s endpoints back ${(ms / 1000).toFixed(2)} s after its API server answered`,
      );
      return ms;
    });
    // The probe finds the API server within its interval; the next heartbeat brings the cluster's records back.
    for (const ms of back) expect(ms).toBeLessThan(5000 + heartbeatMs + 100 + 250 + marginMs);
    for (const cluster of observers)
      expect(
        (await soon(
          `${cluster}'s ServiceImport as before`,
          () => serviceImport(cluster),
          (i) => JSON.stringify(i?.status) === JSON.stringify(before.get(cluster)!.status),
          3000,
        ))!.spec,
      ).toEqual(before.get(cluster)!.spec);
    for (const cluster of [exporter, stopped])
      expect(await exportConditions(cluster)).toEqual(conditionsBefore.get(cluster));

    // Leave fra-search-staging exporting nothing for the tests below.
    await kubectl(lab, stopped, [
      "delete",
      "serviceexport,service,deployment",
      "web",
      "-n",
      namespace,
      "--wait=true",
    ]);
    for (const cluster of observers)
      await soon(
        `${stopped} to leave ${cluster}'s import`,
        () => importedSlices(cluster),
        (slices) => !sources(slices).includes(stopped),
      );
  }, 300_000);

  it("sets Conflict=True on both exports when their ports disagree, the oldest winning", async () => {
    // fra-payments-prod exports web too, with its http port on 8080: the oldest export (fra-shop-dev's) wins.
    await apply("fra-payments-prod", workload(1, { name: "http", port: 8080 }));
    await apply("fra-payments-prod", serviceExport);
    for (const cluster of [exporter, "fra-payments-prod"])
      await until(
        `Conflict=True on ${cluster}'s export`,
        () => exportConditions(cluster),
        (conditions) => conditions.some((c) => c.type === "Conflict" && c.status === "True"),
      );
    for (const cluster of [exporter, "fra-payments-prod"]) {
      const conflict = (await exportConditions(cluster)).find((c) => c.type === "Conflict")!;
      expect(conflict).toMatchObject({ status: "True", reason: "PortConflict" });
      expect(Date.parse(conflict.lastTransitionTime)).toBeGreaterThan(Date.now() - 120_000);
    }
    const consumer = "fra-search-staging";
    const both = await until(
      `both sources in ${consumer}'s import`,
      () => importedSlices(consumer),
      (slices) => readyAddresses(slices, "fra-payments-prod") === 1 && readyAddresses(slices, exporter) === 3,
    );
    expect(sources(both)).toEqual(["fra-payments-prod", exporter]);
    expect((await serviceImport(consumer))!.spec.ports).toEqual([
      { name: "http", protocol: "TCP", port: 80 },
    ]);
  });

  it("takes a stopped agent's endpoints out of the others' imports within the relay's grace, nothing else", async () => {
    const stopped = "fra-payments-prod";
    await fleet.agents.get(stopped)!.stop();
    const at = performance.now();
    for (const cluster of ["fra-shop-prod", "fra-search-staging", exporter]) {
      const slices = await soon(
        `${stopped}'s endpoints to leave ${cluster}'s import`,
        () => importedSlices(cluster),
        (list) => !sources(list).includes(stopped),
        30_000,
      );
      note(`${cluster}: ${stopped}'s endpoints gone ${seconds(at)} after its agent stopped`);
      expect(readyAddresses(slices, exporter)).toBe(3);
      expect((await serviceImport(cluster))?.spec.ips?.length).toBe(1);
    }
    // The relay's grace is 5 s here (three heartbeats of 1 s, at least 5 s); the import follows within a second.
    expect(performance.now() - at).toBeLessThan(10_000);
    // The exporter's conflict is over.
    await until(
      `Conflict=False on ${exporter}'s export`,
      () => exportConditions(exporter),
      (conditions) => conditions.some((c) => c.type === "Conflict" && c.status === "False"),
    );
  });
});
