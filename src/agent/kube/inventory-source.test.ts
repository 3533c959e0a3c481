/**
 * The inventory source against an HTTP server that answers as an API server does (lists, then watches held open):
 * the first inventory holds the `network` item, made of the nodes' podCIDRs from the node informer and the network
 * reads (ServiceCIDRs, pods outside the podCIDRs, host-network pods left out).
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InventoryItem } from "../../core/inventory/inventory.ts";
import { kubeInventorySource } from "./inventory-source.ts";

const held = new Set<ServerResponse>();
const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://api");
  const json = (body: object, status = 200) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (url.searchParams.get("watch") === "true") {
    // A watch with nothing to say: held open until the source stops.
    res.writeHead(200, { "content-type": "application/json" });
    held.add(res);
    return;
  }
  const list = (kind: string, items: object[]) => json({ kind, metadata: { resourceVersion: "1" }, items });
  switch (url.pathname) {
    case "/version":
      return json({ gitVersion: "v1.36.3" });
    case "/api/v1/nodes":
      return list("NodeList", [
        { metadata: { name: "n0" }, spec: { podCIDRs: ["10.244.0.0/24"] }, status: {} },
        { metadata: { name: "n1" }, spec: { podCIDR: "10.244.1.0/24" }, status: {} },
      ]);
    case "/apis/apps/v1/deployments":
    case "/apis/apps/v1/statefulsets":
    case "/apis/apps/v1/daemonsets":
      return list("List", []);
    case "/api/v1/pods":
      return list("PodList", [
        { metadata: { name: "a" }, spec: { containers: [] }, status: { podIPs: [{ ip: "10.244.1.7" }] } },
        { metadata: { name: "b" }, spec: { containers: [] }, status: { podIPs: [{ ip: "10.100.0.4" }] } },
        {
          metadata: { name: "c" },
          spec: { containers: [], hostNetwork: true },
          status: { podIPs: [{ ip: "127.0.0.1" }] },
        },
      ]);
    case "/apis/networking.k8s.io/v1/servicecidrs":
      return list("ServiceCIDRList", [
        { metadata: { name: "kubernetes" }, spec: { cidrs: ["10.96.0.0/16"] } },
      ]);
    default:
      return json({ kind: "Status", code: 404, message: "not found" }, 404);
  }
});

let kc: KubeConfig;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
});

afterAll(async () => {
  for (const res of held) res.end();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("kubeInventorySource", () => {
  it("reports the network item with the rest of the inventory", async () => {
    const source = kubeInventorySource(kc, 50);
    const withNetwork = new Promise<Map<string, InventoryItem>>((resolve) => {
      void source.start((items) => {
        if (items.has("network")) resolve(items);
      });
    });
    const items = await withNetwork;
    await source.stop();
    expect([...items.keys()].sort()).toEqual(["cluster", "network", "node/n0", "node/n1"]);
    expect(items.get("network")).toEqual({
      podCIDRs: ["10.244.0.0/23"],
      serviceCIDRs: ["10.96.0.0/16"],
      podIPs: ["10.100.0.4/32"],
      podsOutsidePodCIDRs: 1,
      nodeMask: { ipv4: 24 },
    });
  });
});
