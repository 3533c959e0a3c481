/**
 * One valid example of every message type. Written to test/fixtures/protocol/ as golden frames; hub, relay
 * and agent tests decode the same files, so that a change to the contract shows up on both sides.
 */
import { message } from "./codec.ts";
import type { Envelope, MessageType } from "./messages.ts";

export const goldenMessages: { [T in MessageType]: Envelope<T> } = {
  hello: message(
    "hello",
    { role: "relay", location: "frankfurt", versions: [1], resumeFrom: 41 },
    { id: "r-1", seq: 1 },
  ),
  welcome: message(
    "welcome",
    { version: 1, session: "s-7f3a", resumeFrom: 12, heartbeatSeconds: 10 },
    { id: "h-1", seq: 1, replyTo: "r-1" },
  ),
  goaway: message("goaway", { reason: "hub restarting", retryAfterMs: 4200 }, { id: "h-2", seq: 2 }),
  ack: message("ack", { upTo: 40 }, { id: "r-2", seq: 2 }),
  credit: message("credit", { cluster: "fra-shop-prod", messages: 64 }, { id: "h-3", seq: 3 }),
  heartbeat: message(
    "heartbeat",
    { clusters: [{ cluster: "fra-shop-prod", at: "2026-11-25T18:00:00Z" }] },
    { id: "r-3", seq: 3 },
  ),
  "inventory.delta": message(
    "inventory.delta",
    {
      cluster: "fra-shop-prod",
      baseVersion: 6,
      version: 7,
      changes: [
        {
          op: "upsert",
          key: "node/fra-shop-prod-general-0",
          value: {
            name: "fra-shop-prod-general-0",
            zone: "fra-north-1",
            ready: true,
            capacity: { cpu: "16", memory: "64Gi", pods: "110" },
            allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
            kubeletVersion: "v1.36.3",
            kernelVersion: "6.12.48+deb13-amd64",
            containerRuntimeVersion: "containerd://2.1.4",
          },
        },
        { op: "delete", key: "workload/shop/Deployment/old-frontend" },
      ],
    },
    { id: "r-4", seq: 4 },
  ),
  "inventory.snapshot": message(
    "inventory.snapshot",
    {
      cluster: "sgp-shop-dev",
      version: 1,
      items: [{ key: "cluster", value: { kubernetesVersion: "v1.36.3" } }],
    },
    { id: "r-5", seq: 5 },
  ),
  "inventory.resync": message("inventory.resync", { cluster: "sgp-shop-dev" }, { id: "h-4", seq: 4 }),
  command: message(
    "command",
    {
      cluster: "fra-shop-prod",
      idempotencyKey: "cmd-2026-11-25-0001",
      deadline: 1795000000000,
      action: { type: "logs", namespace: "shop", pod: "storefront-6d9f-x2", tailLines: 100 },
    },
    { id: "h-5", seq: 5 },
  ),
  "command.result": message(
    "command.result",
    { idempotencyKey: "cmd-2026-11-25-0001", outcome: "succeeded" },
    { id: "r-6", seq: 6, replyTo: "h-5" },
  ),
  "logs.chunk": message(
    "logs.chunk",
    { cluster: "fra-shop-prod", command: "cmd-2026-11-25-0001", data: "GET /cart 200 12ms\n", last: true },
    { id: "r-7", seq: 7, replyTo: "h-5" },
  ),
  revocations: message("revocations", { serials: ["3f9a1c0e5b7d2461", "7e01"] }, { id: "h-6", seq: 6 }),
  "work.apply": message(
    "work.apply",
    {
      cluster: "fra-shop-prod",
      application: "storefront",
      generation: 3,
      manifests: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "storefront", namespace: "shop" },
          spec: { replicas: 7 },
        },
      ],
    },
    { id: "h-7", seq: 7 },
  ),
  "work.remove": message(
    "work.remove",
    { cluster: "fra-shop-dev", application: "storefront" },
    { id: "h-8", seq: 8 },
  ),
  "work.sync": message(
    "work.sync",
    { cluster: "fra-shop-prod", works: [{ application: "storefront", generation: 2 }] },
    { id: "r-9", seq: 9 },
  ),
  "work.status": message(
    "work.status",
    {
      cluster: "fra-shop-prod",
      application: "storefront",
      generation: 3,
      objects: [
        { apiVersion: "v1", kind: "Namespace", name: "shop", state: "Applied", healthy: true },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          namespace: "shop",
          name: "storefront",
          state: "Applied",
          replicas: { desired: 7, ready: 5, updated: 7, available: 5 },
          conditions: [{ type: "Available", status: "True", reason: "MinimumReplicasAvailable" }],
          healthy: false,
        },
      ],
      drift: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          namespace: "shop",
          name: "storefront",
          at: "2026-11-25T18:03:00Z",
          message: "deleted outside unitfleet; recreated",
        },
      ],
      appliedAt: "2026-11-25T18:03:01Z",
    },
    { id: "r-10", seq: 10 },
  ),
  "services.exports": message(
    "services.exports",
    {
      cluster: "fra-shop-prod",
      region: "fra-north",
      records: [
        {
          cluster: "fra-shop-prod",
          namespace: "shop",
          name: "cart",
          exportCreatedAt: "2026-12-03T09:00:00Z",
          serviceState: "Found",
          type: "ClusterSetIP",
          ports: [{ name: "http", protocol: "TCP", port: 80 }],
          sessionAffinity: "None",
          ipFamilies: ["IPv4"],
          endpointGroups: [
            {
              addressType: "IPv4",
              ports: [{ name: "http", protocol: "TCP", port: 8080 }],
              endpoints: [
                { address: "10.4.1.7", ready: true, serving: true, terminating: false, zone: "fra-north-1" },
              ],
            },
          ],
          endpointsOmitted: 0,
        },
      ],
      removed: [{ namespace: "shop", name: "legacy" }],
      present: [{ namespace: "shop", name: "cart" }],
    },
    { id: "a-13", seq: 13 },
  ),
  "services.summary": message(
    "services.summary",
    {
      location: "frankfurt",
      summary: "5f0c2a7e:42",
      page: 0,
      pages: 1,
      exports: [
        {
          cluster: "fra-shop-prod",
          namespace: "shop",
          name: "cart",
          region: "fra-north",
          type: "ClusterSetIP",
          ports: [{ name: "http", protocol: "TCP", port: 80 }],
          endpoints: { ready: 2, total: 3 },
          valid: {
            status: "True",
            reason: "Valid",
            message: 'exported to the clusters of Location "frankfurt"',
          },
          conflict: { status: "False", reason: "NoConflicts", message: "all exports agree" },
          exportedSince: "2026-12-03T09:00:00Z",
        },
      ],
      exportsOmitted: 0,
    },
    { id: "r-12", seq: 12 },
  ),
  "usage.ack": message(
    "usage.ack",
    {
      cluster: "fra-shop-prod",
      hour: "2026-12-03T14:00:00Z",
      first: "fra-shop-prod/2026-12-03T14:00:00Z/workload/shop/Deployment/storefront",
      records: 1,
    },
    { id: "h-12", seq: 12 },
  ),
  "usage.hours": message(
    "usage.hours",
    {
      cluster: "fra-shop-prod",
      source: "kubelet",
      workloads: [
        {
          cluster: "fra-shop-prod",
          hour: "2026-12-03T14:00:00Z",
          namespace: "shop",
          workload: "Deployment/storefront",
          labels: { team: "checkout" },
          samples: 60,
          cpu: { request: 30_000, usage: 18_000, allocated: 31_200 },
          memory: { request: 32_212_254_720, usage: 25_769_803_776, allocated: 32_212_254_720 },
          gpu: { request: 0, usage: 0, allocated: 0 },
          storage: { standard: 644_245_094_400 },
          loadBalancers: 60,
        },
      ],
      nodes: [
        {
          cluster: "fra-shop-prod",
          hour: "2026-12-03T14:00:00Z",
          node: "fra-shop-prod-general-0",
          instanceType: "m6.4xlarge",
          samples: 60,
          allocatable: { cpu: 960_000, memory: 4_123_168_604_160, gpu: 0 },
        },
      ],
    },
    { id: "r-11", seq: 11 },
  ),
  error: message(
    "error",
    { code: "residency", message: "logs.chunk may not leave Location frankfurt" },
    { id: "r-8", seq: 8 },
  ),
};
