/** Joining through the hub's API (hub in this process, embedded store, HTTPS). */
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubClient } from "../../src/cli/client/hub-client.ts";
import { UserError } from "../../src/errors/user-error.ts";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { checkPeerCertificate } from "../../src/hub/joining/joining.ts";
import { createCertificateRequest } from "../../src/pki/certificates.ts";

let dir: string;
let hub: RunningHub;
let admin: HubClient;
let anonymous: HubClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-join-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {} });
  const caCert = await readFile(hub.caFile, "utf8");
  admin = new HubClient({
    server: hub.url,
    token: (await readFile(hub.adminTokenFile, "utf8")).trim(),
    caCert,
  });
  anonymous = new HubClient({ server: hub.url, token: "none", caCert });
  await admin.send("POST", "/apis/unitfleet.io/v1alpha1/locations", {
    apiVersion: "unitfleet.io/v1alpha1",
    kind: "Location",
    metadata: { name: "frankfurt" },
    spec: {},
  });
}, 60_000);

afterAll(async () => {
  admin?.close();
  anonymous?.close();
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("joining through the API", () => {
  it("issues a token for an existing Location, trades it once for a certificate, and refuses the replay", async () => {
    const missing = await admin
      .send("POST", "/unitfleet/v1alpha1/bootstrap-tokens", { location: "mars" })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UserError);
    const { token } = await admin.send<{ token: string }>("POST", "/unitfleet/v1alpha1/bootstrap-tokens", {
      location: "frankfurt",
      ttlSeconds: 600,
    });
    const { csr } = await createCertificateRequest("relay");
    const joined = await anonymous.send<{ certificate: string; identity: unknown }>(
      "POST",
      "/unitfleet/v1alpha1/join",
      {
        token,
        role: "relay",
        csr,
      },
    );
    expect(joined.identity).toEqual({ role: "relay", location: "frankfurt" });
    const check = await checkPeerCertificate(
      hub.sql,
      await readFile(join(dir, "fleet-ca.crt"), "utf8"),
      joined.certificate,
      new Date(),
    );
    expect(check.ok).toBe(true);
    const replay = await anonymous
      .send("POST", "/unitfleet/v1alpha1/join", { token, role: "relay", csr })
      .catch((e: unknown) => e);
    expect(replay).toMatchObject({ code: "Unauthorized", message: expect.stringContaining("already used") });
  });

  it("refuses a relay asking to serve at a wildcard or at the hub's name, naming each, and keeps the token", async () => {
    const { token } = await admin.send<{ token: string }>("POST", "/unitfleet/v1alpha1/bootstrap-tokens", {
      location: "frankfurt",
      ttlSeconds: 600,
    });
    const { csr } = await createCertificateRequest("relay");
    const refused = await anonymous
      .send("POST", "/unitfleet/v1alpha1/join", {
        token,
        role: "relay",
        csr,
        serveAt: ["*.example.com", hostname()],
      })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).code).toBe("InvalidInput");
    expect((refused as UserError).problems.map((p) => p.path)).toEqual(["serveAt[0]", "serveAt[1]"]);
    const joined = await anonymous.send<{ certificate: string }>("POST", "/unitfleet/v1alpha1/join", {
      token,
      role: "relay",
      csr,
      serveAt: ["relay.frankfurt.example.com"],
    });
    expect(new X509Certificate(joined.certificate).subjectAltName).toBe("DNS:relay.frankfurt.example.com");
  });

  it("lets only operators create bootstrap tokens", async () => {
    const { token: viewerToken } = await admin.send<{ token: string }>(
      "POST",
      "/unitfleet/v1alpha1/api-tokens",
      {
        name: "viewer",
        role: "viewer",
      },
    );
    const viewer = new HubClient({
      server: hub.url,
      token: viewerToken,
      caCert: await readFile(hub.caFile, "utf8"),
    });
    const refused = await viewer
      .send("POST", "/unitfleet/v1alpha1/bootstrap-tokens", { location: "frankfurt" })
      .catch((e: unknown) => e);
    viewer.close();
    expect(refused).toMatchObject({ code: "Forbidden" });
  });
});

describe("certificate renewal", () => {
  it("renews a certificate in the last third of its life for the same identity, and refuses a revoked one", async () => {
    const { renewIfDue } = await import("../../src/dial-out/join-client.ts");
    const { join: joinHub, revokeCertificate } = await import("../../src/hub/joining/joining.ts");
    const { createBootstrapToken } = await import("../../src/hub/joining/joining.ts");
    const { ensureHubAuthorities } = await import("../../src/pki/authorities.ts");
    const authorities = await ensureHubAuthorities(dir, new Date(), () => {});
    // Joined 25 days ago: 5 of its 30 days are left.
    const past = new Date(Date.now() - 25 * 24 * 3600 * 1000);
    const { token } = await createBootstrapToken(hub.sql, "frankfurt", 3_600_000, past);
    const { csr, key } = await createCertificateRequest("agent");
    const old = await joinHub(hub.sql, authorities, { token, role: "agent", cluster: "fra-x", csr }, past);
    const credentials = {
      cert: old.certificate,
      key,
      ca: authorities.hub.cert,
      fleetCa: authorities.fleet.cert,
    };
    const folder = await mkdtemp(join(tmpdir(), "unitfleet-renew-"));
    try {
      const renewed = await renewIfDue(hub.url, folder, credentials, new Date());
      expect(renewed).not.toBe(credentials);
      const before = new X509Certificate(old.certificate);
      const after = new X509Certificate(renewed.cert);
      expect(after.subject).toBe(before.subject);
      expect(Date.parse(after.validTo)).toBeGreaterThan(Date.parse(before.validTo));
      // A fresh certificate is not due again.
      expect(await renewIfDue(hub.url, folder, renewed, new Date())).toBe(renewed);
      // A revoked certificate cannot renew itself.
      await revokeCertificate(hub.sql, old.serial, new Date());
      await expect(renewIfDue(hub.url, folder, credentials, new Date())).rejects.toThrow(/was revoked/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
