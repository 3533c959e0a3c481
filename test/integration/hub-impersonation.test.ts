/**
 * A relay's certificate must not pass for the hub's (issue 12, finding 5). A real hub lets a relay join; a fake
 * hub then serves that relay's certificate and key on a loopback address the certificate names. The CLI's hub
 * client (with the login config or the kubeconfig the hub writes), the join and renewal client, and the tunnel
 * clients of a relay and of an agent all refuse it before sending anything: the fake never sees a request, so
 * never a bearer token or a bootstrap token.
 */
import { X509Certificate } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startAgent } from "../../src/agent/agent.ts";
import { HubClient, resolveConnection } from "../../src/cli/client/hub-client.ts";
import { ensureCredentials, renewIfDue } from "../../src/dial-out/join-client.ts";
import { UserError } from "../../src/errors/user-error.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { issueCertificate } from "../../src/pki/certificates.ts";
import { startRelay } from "../../src/relay/relay.ts";

let dir: string;
let hub: RunningHub;
let hubCa: string;
let adminToken: string;
let admin: HubClient;
/** A relay joined to the real hub: its folder, certificate and key. */
let relayDir: string;
let relayCert: string;
/** An agent joined to the real hub (directly, no relay). */
let agentDir: string;
let fake: { server: Server; url: string; requests: string[]; refusedHandshakes: number };

async function bootstrapToken(): Promise<string> {
  const { token } = await admin.send<{ token: string }>("POST", "/unitfleet/v1alpha1/bootstrap-tokens", {
    location: "frankfurt",
    ttlSeconds: 600,
  });
  return token;
}

/** Waits until the fake hub has refused at least one TLS handshake (a client tried and gave up). */
async function untilRefused(timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (fake.refusedHandshakes === 0 && Date.now() - started < timeoutMs)
    await new Promise((r) => setTimeout(r, 50));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-impersonation-"));
  hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  hubCa = await readFile(hub.caFile, "utf8");
  adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
  admin = new HubClient({ server: hub.url, token: adminToken, caCert: hubCa });
  await admin.send("POST", "/apis/unitfleet.io/v1alpha1/locations", {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "Location",
    metadata: { name: "frankfurt" },
    spec: {},
  });
  relayDir = join(dir, "relay");
  const relay = await ensureCredentials({
    hub: hub.url,
    hubCa,
    token: await bootstrapToken(),
    role: "relay",
    serveAt: ["127.0.0.1", "localhost"],
    dir: relayDir,
  });
  relayCert = relay.cert;
  agentDir = join(dir, "agent");
  await ensureCredentials({
    hub: hub.url,
    hubCa,
    token: await bootstrapToken(),
    role: "agent",
    cluster: "fra-web",
    clusterSpec: { environment: "prod", business: "web" },
    dir: agentDir,
  });

  const requests: string[] = [];
  const server = createServer({ cert: relay.cert, key: relay.key });
  fake = { server, url: "", requests, refusedHandshakes: 0 };
  server.on("request", (req, res) => {
    requests.push(`${req.method} ${req.url} authorization=${req.headers.authorization ?? "-"}`);
    res.writeHead(500).end();
  });
  server.on("upgrade", (req, socket) => {
    requests.push(`upgrade ${req.url}`);
    socket.destroy();
  });
  server.on("tlsClientError", () => {
    fake.refusedHandshakes += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  admin?.close();
  fake?.server.close();
  fake?.server.closeAllConnections();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a fake hub serving a relay's certificate", () => {
  it("is not vouched for by the CA in the kubeconfig the hub writes, which does vouch for the hub", async () => {
    const kubeconfig = parse(await readFile(hub.kubeconfigFile, "utf8")) as {
      clusters: Array<{ cluster: { "certificate-authority-data": string } }>;
    };
    const trusted = new X509Certificate(
      Buffer.from(kubeconfig.clusters[0]!.cluster["certificate-authority-data"], "base64").toString(),
    );
    expect(new X509Certificate(relayCert).checkIssued(trusted)).toBe(false);
    // The real hub still passes with that kubeconfig.
    const home = join(dir, "home-real");
    await mkdir(join(home, "hub"), { recursive: true });
    await cp(hub.kubeconfigFile, join(home, "hub", "kubeconfig"));
    const client = new HubClient(await resolveConnection(home));
    await expect(client.send("GET", "/version")).resolves.toMatchObject({ gitVersion: expect.any(String) });
    client.close();
  });

  it("is refused by the CLI's hub client, with the login config or the hub's kubeconfig, and gets no token", async () => {
    const home = join(dir, "home-fake");
    await mkdir(join(home, "hub"), { recursive: true });
    const kubeconfig = parse(await readFile(hub.kubeconfigFile, "utf8")) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    kubeconfig.clusters[0]!.cluster.server = fake.url;
    await writeFile(join(home, "hub", "kubeconfig"), stringify(kubeconfig));
    const fromKubeconfig = new HubClient(await resolveConnection(home));
    const fromLogin = new HubClient({ server: fake.url, token: adminToken, caCert: hubCa });
    for (const client of [fromKubeconfig, fromLogin]) {
      const error = await client.send("GET", "/apis/unitfleet.io/v1alpha1/clusters").catch((e: unknown) => e);
      client.close();
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).message).toContain(`cannot reach the hub at ${fake.url}`);
    }
    expect(fake.requests).toEqual([]);
  });

  it("is refused by the join client, which keeps its bootstrap token unsent", async () => {
    const token = await bootstrapToken();
    const folder = join(dir, "joining-agent");
    const joining = ensureCredentials({
      hub: fake.url,
      hubCa,
      token,
      role: "agent",
      cluster: "fra-api",
      dir: folder,
    });
    await expect(joining).rejects.toThrow(`cannot reach the hub at ${fake.url}`);
    expect(fake.requests).toEqual([]);
    // The token was never sent, so it still works on the real hub.
    const joined = await ensureCredentials({
      hub: hub.url,
      hubCa,
      token,
      role: "agent",
      cluster: "fra-api",
      dir: folder,
    });
    expect(new X509Certificate(joined.cert).subject).toContain("CN=agent:frankfurt:fra-api");
  });

  it("is refused by the renewal client", async () => {
    const current = {
      cert: await readFile(join(agentDir, "client.crt"), "utf8"),
      key: await readFile(join(agentDir, "client.key"), "utf8"),
      ca: hubCa,
      fleetCa: await readFile(join(agentDir, "fleet-ca.crt"), "utf8"),
    };
    // Asked to renew as if the certificate were in the last third of its life.
    const late = new Date(Date.parse(new X509Certificate(current.cert).validTo) - 24 * 3600 * 1000);
    await expect(renewIfDue(fake.url, join(dir, "renewing"), current, late)).rejects.toThrow();
    expect(fake.requests).toEqual([]);
  });

  it("is refused by a relay's tunnel client", async () => {
    fake.refusedHandshakes = 0;
    const relay = await startRelay({
      hub: fake.url,
      hubCa,
      token: "joined already",
      location: "frankfurt",
      host: "127.0.0.1",
      port: 0,
      dir: relayDir,
      log: () => {},
    });
    await untilRefused(10_000);
    await relay.stop();
    expect(fake.refusedHandshakes).toBeGreaterThan(0);
    expect(relay.client.sessions).toBe(0);
    expect(fake.requests).toEqual([]);
  }, 20_000);

  it("is refused by an agent's tunnel client", async () => {
    fake.refusedHandshakes = 0;
    const kubeconfig = join(dir, "unreachable-kubeconfig");
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:9" } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
        "current-context": "c",
      }),
    );
    const agent = await startAgent({
      hub: fake.url,
      hubCa,
      token: "joined already",
      kubeconfig,
      cluster: "fra-web",
      location: "frankfurt",
      environment: "prod",
      business: "web",
      dir: agentDir,
      log: () => {},
    });
    await untilRefused(10_000);
    await agent.stop();
    expect(fake.refusedHandshakes).toBeGreaterThan(0);
    expect(agent.client.sessions).toBe(0);
    expect(fake.requests).toEqual([]);
  }, 20_000);
});

describe("a fake hub serving a relay certificate from the hub CA (one issued before the CAs were split)", () => {
  it("is refused for the relay's name by the CLI's hub client, the join client and a relay's tunnel client", async () => {
    const legacy = await issueCertificate(
      { cert: hubCa, key: await readFile(join(dir, "hub", "ca.key"), "utf8") },
      {
        subject: "CN=relay:frankfurt",
        usage: "server",
        names: [{ type: "ip", value: "127.0.0.1" }],
        validDays: 30,
      },
      new Date(),
    );
    const seen: string[] = [];
    let refused = 0;
    const server = createServer({ cert: legacy.cert, key: legacy.key }, (req, res) => {
      seen.push(`${req.method} ${req.url} authorization=${req.headers.authorization ?? "-"}`);
      res.writeHead(500).end();
    });
    server.on("upgrade", (req, socket) => {
      seen.push(`upgrade ${req.url}`);
      socket.destroy();
    });
    server.on("tlsClientError", () => {
      refused += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = new HubClient({ server: url, token: adminToken, caCert: hubCa });
      const error = await client.send("GET", "/version").catch((e: unknown) => e);
      client.close();
      expect((error as UserError).message).toContain("not the hub's");
      await expect(
        ensureCredentials({
          hub: url,
          hubCa,
          token: await bootstrapToken(),
          role: "agent",
          cluster: "fra-api",
          dir: join(dir, "legacy-joining"),
        }),
      ).rejects.toThrow("not the hub's");
      refused = 0;
      const relay = await startRelay({
        hub: url,
        hubCa,
        token: "joined already",
        location: "frankfurt",
        host: "127.0.0.1",
        port: 0,
        dir: relayDir,
        log: () => {},
      });
      const started = Date.now();
      while (refused === 0 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
      await relay.stop();
      expect(refused).toBeGreaterThan(0);
      expect(relay.client.sessions).toBe(0);
      expect(seen).toEqual([]);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  }, 20_000);
});
