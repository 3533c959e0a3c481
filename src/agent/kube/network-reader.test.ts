/**
 * The agent's network reads against an HTTP server that answers as an API server does: pods in pages (finished
 * ones left out by the field selector), ServiceCIDRs, kubeadm's configuration; an API server without ServiceCIDRs
 * (404) and an agent that may not read kube-system (403) give "nothing to report", not a failure.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeadmPodSubnet, kubeNetworkReads, podAddresses } from "./network-reader.ts";

let server: Server;
let kc: KubeConfig;
const requests: string[] = [];
let serveServiceCIDRs = true;
let kubeSystemReadable = true;

const pod = (ip: string | undefined, hostNetwork = false) => ({
  metadata: { name: `p-${ip}` },
  spec: { hostNetwork },
  status: ip ? { podIP: ip, podIPs: [{ ip }] } : {},
});

function answer(req: IncomingMessage): { status: number; body: object } {
  const url = new URL(req.url ?? "/", "http://api");
  if (url.pathname === "/api/v1/pods") {
    const page = url.searchParams.get("continue");
    return page
      ? { status: 200, body: { kind: "PodList", metadata: {}, items: [pod("10.9.0.3"), pod(undefined)] } }
      : {
          status: 200,
          body: {
            kind: "PodList",
            metadata: { continue: "page-2" },
            items: [pod("10.244.0.5"), pod("192.168.0.2", true)],
          },
        };
  }
  if (url.pathname === "/apis/networking.k8s.io/v1/servicecidrs")
    return serveServiceCIDRs
      ? {
          status: 200,
          body: {
            kind: "ServiceCIDRList",
            metadata: {},
            items: [{ metadata: { name: "kubernetes" }, spec: { cidrs: ["10.96.0.0/16", "fd00:96::/112"] } }],
          },
        }
      : {
          status: 404,
          body: { kind: "Status", code: 404, message: "the server could not find the requested resource" },
        };
  if (url.pathname === "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    return kubeSystemReadable
      ? {
          status: 200,
          body: {
            kind: "ConfigMap",
            metadata: { name: "kubeadm-config" },
            data: {
              ClusterConfiguration:
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/16\n",
            },
          },
        }
      : { status: 403, body: { kind: "Status", code: 403, message: "forbidden" } };
  return { status: 404, body: { kind: "Status", code: 404, message: "not found" } };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const { status, body } = answer(req);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
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
  await new Promise((resolve) => server.close(resolve));
});

describe("kubeNetworkReads", () => {
  it("reads every page of pods (finished ones left out by the API server), with their addresses", async () => {
    const pods = await kubeNetworkReads(kc).pods();
    expect(pods).toEqual([
      { hostNetwork: false, ips: ["10.244.0.5"] },
      { hostNetwork: true, ips: ["192.168.0.2"] },
      { hostNetwork: false, ips: ["10.9.0.3"] },
      { hostNetwork: false, ips: [] },
    ]);
    const listed = requests.filter((r) => r.startsWith("/api/v1/pods"));
    expect(listed).toHaveLength(2);
    for (const r of listed) {
      const params = new URL(r, "http://api").searchParams;
      expect(params.get("fieldSelector")).toBe("status.phase!=Succeeded,status.phase!=Failed");
      expect(params.get("limit")).toBe("500");
    }
  });

  it("reads ServiceCIDRs, and nothing (not a failure) from an API server that does not serve them", async () => {
    expect(await kubeNetworkReads(kc).serviceCIDRs()).toEqual([["10.96.0.0/16", "fd00:96::/112"]]);
    serveServiceCIDRs = false;
    expect(await kubeNetworkReads(kc).serviceCIDRs()).toBeUndefined();
    serveServiceCIDRs = true;
  });

  it("reads kubeadm's pod subnet when it may, and nothing when it may not", async () => {
    expect(await kubeNetworkReads(kc).declaredPodSubnet()).toBe("10.244.0.0/16");
    kubeSystemReadable = false;
    expect(await kubeNetworkReads(kc).declaredPodSubnet()).toBeUndefined();
    kubeSystemReadable = true;
  });
});

describe("the pure parts", () => {
  it("reads podSubnet out of a ClusterConfiguration, quoted or dual-stack", () => {
    expect(kubeadmPodSubnet('networking:\n  podSubnet: "10.244.0.0/16,fd00:10:244::/56"\n')).toBe(
      "10.244.0.0/16,fd00:10:244::/56",
    );
    expect(kubeadmPodSubnet("networking:\n  serviceSubnet: 10.96.0.0/12\n")).toBeUndefined();
  });

  it("takes podIPs, or podIP from an older API server", () => {
    expect(podAddresses({ spec: { containers: [] }, status: { podIP: "10.1.0.4" } })).toEqual({
      hostNetwork: false,
      ips: ["10.1.0.4"],
    });
  });
});
