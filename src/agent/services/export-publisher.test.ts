import { beforeEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import type { ExportRecord } from "../../core/multicluster-services/export-record.ts";
import { foundExport, readyEndpoints } from "../../core/multicluster-services/sample-exports.ts";
import { decodeFrame, encodeFrame, message } from "../../protocol/codec.ts";
import { ManualClock } from "../../runtime/clock.ts";
import { ExportPublisher, packExports, type ServicesExportsBody } from "./export-publisher.ts";
import { InMemoryServicesCluster } from "./in-memory-services-cluster.ts";

const serviceExport = (name: string, namespace = "shop"): KubeObject => ({
  apiVersion: "multicluster.x-k8s.io/v1beta1",
  kind: "ServiceExport",
  metadata: { name, namespace, creationTimestamp: "2026-12-03T09:00:00Z" },
});
const service = (name: string, ports = [{ name: "http", port: 80 }], namespace = "shop"): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace },
  spec: { type: "ClusterIP", clusterIP: "10.96.1.1", ports, ipFamilies: ["IPv4"] },
});
const slice = (service: string, addresses: string[], namespace = "shop"): KubeObject => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `${service}-abc`, namespace, labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true }, zone: "z1" })),
});

let clock: ManualClock;
let cluster: InMemoryServicesCluster;
let sent: ServicesExportsBody[];
let own: ExportRecord[][];
let connected: boolean;
let publisher: ExportPublisher;

beforeEach(() => {
  clock = new ManualClock(0);
  cluster = new InMemoryServicesCluster();
  sent = [];
  own = [];
  connected = true;
  publisher = new ExportPublisher({
    cluster: "fra-shop-prod",
    region: "fra-north",
    view: cluster,
    send: (body) => sent.push(structuredClone(body)),
    connected: () => connected,
    onRecords: (records) => own.push([...records]),
    clock,
    log: () => {},
  });
  cluster.put(serviceExport("cart"));
  cluster.put(service("cart"));
  cluster.put(slice("cart", ["10.1.0.1"]));
});

describe("ExportPublisher", () => {
  it("sends the whole set with present when a session opens, once the watches have listed", async () => {
    publisher.sessionOpened();
    expect(sent).toEqual([]);
    publisher.synced();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      cluster: "fra-shop-prod",
      region: "fra-north",
      removed: [],
      present: [{ namespace: "shop", name: "cart" }],
    });
    expect(sent[0]!.records).toEqual([
      expect.objectContaining({
        cluster: "fra-shop-prod",
        namespace: "shop",
        name: "cart",
        serviceState: "Found",
      }),
    ]);
    expect(own.at(-1)).toEqual(sent[0]!.records);
  });

  it("coalesces the changes of 100 ms into one message with only what changed", async () => {
    publisher.synced();
    publisher.sessionOpened();
    sent.length = 0;
    cluster.put(serviceExport("checkout"));
    cluster.put(service("checkout"));
    for (let i = 2; i < 12; i++) {
      cluster.put(
        slice(
          "cart",
          Array.from({ length: i }, (_, j) => `10.1.0.${j + 1}`),
        ),
      );
      publisher.changed();
      await clock.advance(5);
    }
    expect(sent).toEqual([]);
    await clock.advance(100);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.present).toBeUndefined();
    expect(sent[0]!.records.map((r) => r.name)).toEqual(["cart", "checkout"]);
    const cart = sent[0]!.records[0] as Extract<ExportRecord, { serviceState: "Found" }>;
    expect(cart.endpointGroups[0]!.endpoints).toHaveLength(11);
    // Nothing changed: nothing sent. A removal: only the name.
    publisher.changed();
    await clock.advance(200);
    expect(sent).toHaveLength(1);
    cluster.remove({
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceExport",
      namespace: "shop",
      name: "checkout",
    });
    publisher.changed();
    await clock.advance(200);
    expect(sent[1]).toEqual({
      cluster: "fra-shop-prod",
      region: "fra-north",
      records: [],
      removed: [{ namespace: "shop", name: "checkout" }],
    });
  });

  it("sends nothing while cut off, keeps its own records current, and says it all on the next session", async () => {
    publisher.synced();
    publisher.sessionOpened();
    connected = false;
    sent.length = 0;
    cluster.remove({
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceExport",
      namespace: "shop",
      name: "cart",
    });
    cluster.put(serviceExport("checkout"));
    publisher.changed();
    await clock.advance(200);
    expect(sent).toEqual([]);
    expect(own.at(-1)!.map((r) => r.name)).toEqual(["checkout"]);
    connected = true;
    publisher.sessionOpened();
    expect(sent).toEqual([
      expect.objectContaining({ removed: [], present: [{ namespace: "shop", name: "checkout" }] }),
    ]);
    expect(publisher.counters.wholeSets).toBe(2);
  });

  it("reports a Service that does not exist as NoService, and a headless one as Headless", async () => {
    cluster.put(serviceExport("ghost"));
    cluster.put({ ...service("db"), spec: { clusterIP: "None", ports: [{ name: "pg", port: 5432 }] } });
    cluster.put(serviceExport("db"));
    publisher.synced();
    const byName = new Map(own.at(-1)!.map((r) => [r.name, r]));
    expect(byName.get("ghost")!.serviceState).toBe("NoService");
    expect(byName.get("db")).toMatchObject({ serviceState: "Found", type: "Headless" });
  });
});

describe("packExports", () => {
  const records = (count: number, endpoints = 1) =>
    Array.from({ length: count }, (_, i) => ({
      ...foundExport("fra-shop-prod", "2026-12-03T09:00:00Z", readyEndpoints(1, endpoints)),
      name: `svc-${i}`,
    }));

  it("puts at most the record bound in a body, present in the first", () => {
    const bodies = packExports({
      cluster: "fra-shop-prod",
      region: "fra-north",
      records: records(250),
      removed: [],
      present: records(250).map(({ namespace, name }) => ({ namespace, name })),
    });
    expect(bodies.map((b) => b.records.length)).toEqual([100, 100, 50]);
    expect(bodies.map((b) => b.present?.length)).toEqual([250, undefined, undefined]);
  });

  it("keeps every frame under the byte bound, and each decodes", () => {
    // 20 records of 1,000 endpoints: some 60 KB each; frames of at most 200 KB.
    const bodies = packExports(
      { cluster: "fra-shop-prod", region: "fra-north", records: records(20, 1000), removed: [] },
      { records: 100, bytes: 200_000 },
    );
    expect(bodies.length).toBeGreaterThan(5);
    expect(bodies.flatMap((b) => b.records)).toHaveLength(20);
    for (const [i, body] of bodies.entries()) {
      const frame = encodeFrame(message("services.exports", body, { id: `m-${i}`, seq: i + 1 }));
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(200_000);
      expect(decodeFrame(frame, 200_000).ok).toBe(true);
    }
  });

  it("sends an empty change with present as one body", () => {
    expect(packExports({ cluster: "a", region: "", records: [], removed: [], present: [] })).toEqual([
      { cluster: "a", region: "", records: [], removed: [], present: [] },
    ]);
  });
});
