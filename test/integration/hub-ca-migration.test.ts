/**
 * A hub folder from before the CAs were split (one CA signed the hub and its relays and agents) keeps working:
 * the old CA stays the hub CA (clients keep trusting the hub), a fleet CA is added for relays and agents, the
 * certificates they hold stay accepted, and a relay renews to the fleet CA at its next start.
 */
import { randomUUID, X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken, join as joinHub } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { ensureHubAuthorities } from "../../src/pki/authorities.ts";
import {
  createCertificateAuthority,
  createCertificateRequest,
  type PemPair,
} from "../../src/pki/certificates.ts";
import { encodeFrame, message } from "../../src/protocol/codec.ts";
import { type RunningRelay, startRelay } from "../../src/relay/relay.ts";

let dir: string;
let oldCa: PemPair;
let hub: RunningHub;
let relay: RunningRelay | undefined;

/** Joins a peer as a hub from before the split did: its certificate is signed by the one old CA. */
async function joinAsBefore(role: "relay" | "agent", cluster?: string) {
  const authorities = await ensureHubAuthorities(join(dir, "hub"), new Date(), () => {});
  const { token } = await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date());
  const { csr, key } = await createCertificateRequest(role);
  const joined = await joinHub(
    hub.sql,
    { ...authorities, fleet: oldCa },
    { token, role, csr, ...(cluster ? { cluster } : {}) },
    new Date(),
  );
  return { cert: joined.certificate, key };
}

/** Opens a tunnel as an agent: "welcome" when it is taken, else how it was refused. */
function hello(url: string, credentials: { cert: string; key: string; ca: string[] }): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^https/, "wss")}/unitfleet/v1alpha1/tunnel`, credentials);
    ws.on("open", () =>
      ws.send(
        encodeFrame(
          message(
            "hello",
            { role: "agent", location: "frankfurt", cluster: "fra-web", versions: [1], resumeFrom: 0 },
            { id: randomUUID(), seq: 1 },
          ),
        ),
      ),
    );
    ws.on("message", (data: Buffer) => {
      if (JSON.parse(data.toString()).type !== "welcome") return;
      resolve("welcome");
      ws.close();
    });
    ws.on("close", () => resolve("closed"));
    ws.on("unexpected-response", (_req, res) => resolve(`refused ${res.statusCode}`));
    ws.on("error", (error) => resolve(`error ${error.message}`));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-ca-migration-"));
  oldCa = await createCertificateAuthority("unitfleet-hub-ca", new Date(), 3650);
  await mkdir(join(dir, "hub"), { recursive: true });
  await writeFile(join(dir, "hub", "ca.crt"), oldCa.cert);
  await writeFile(join(dir, "hub", "ca.key"), oldCa.key, { mode: 0o600 });
  hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
  const doc = (kind: string, name: string, spec: object) => ({
    source: "test",
    body: { apiVersion: "unitfleet.io/v1alpha1", kind, metadata: { name }, spec },
  });
  await hub.registry.applyAll(
    [
      doc("Location", "frankfurt", {}),
      doc("Cluster", "fra-web", { location: "frankfurt", environment: "prod", business: "web" }),
    ],
    systemCaller,
  );
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a hub folder from before the CAs were split", () => {
  it("keeps its CA as the hub CA, and adds a fleet CA beside it", async () => {
    expect(await readFile(hub.caFile, "utf8")).toBe(oldCa.cert);
    const fleet = await readFile(join(dir, "hub", "fleet-ca.crt"), "utf8");
    expect(fleet).not.toBe(oldCa.cert);
    expect((await stat(join(dir, "hub", "fleet-ca.key"))).mode & 0o077).toBe(0);
    expect(await readFile(hub.kubeconfigFile, "utf8")).toContain(Buffer.from(oldCa.cert).toString("base64"));
  });

  it("still takes the tunnel of an agent joined before, and a relay renews to the fleet CA at its start", async () => {
    const agent = await joinAsBefore("agent", "fra-web");
    const fleetCa = await readFile(join(dir, "hub", "fleet-ca.crt"), "utf8");
    expect(await hello(hub.url, { ...agent, ca: [oldCa.cert] })).toBe("welcome");

    // A relay folder as joining wrote it before: no fleet CA.
    const relayDir = join(dir, "relay");
    const before = await joinAsBefore("relay");
    await mkdir(relayDir, { recursive: true });
    await writeFile(join(relayDir, "client.crt"), before.cert);
    await writeFile(join(relayDir, "client.key"), before.key, { mode: 0o600 });
    await writeFile(join(relayDir, "hub-ca.crt"), oldCa.cert);
    relay = await startRelay({
      hub: hub.url,
      hubCa: oldCa.cert,
      token: "joined before",
      location: "frankfurt",
      host: "127.0.0.1",
      port: 0,
      dir: relayDir,
      log: () => {},
    });
    expect(await readFile(join(relayDir, "fleet-ca.crt"), "utf8")).toBe(fleetCa);
    const renewed = new X509Certificate(await readFile(join(relayDir, "client.crt"), "utf8"));
    expect(renewed.checkIssued(new X509Certificate(fleetCa))).toBe(true);
    expect(renewed.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
    // The agent joined before still gets through the renewed relay, which serves a fleet CA certificate.
    expect(await hello(relay.url, { ...agent, ca: [fleetCa] })).toBe("welcome");
  }, 30_000);
});
