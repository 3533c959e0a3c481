/** Joining through the hub's API (hub in this process, embedded store, HTTPS). */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
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
      await readFile(hub.caFile, "utf8"),
      joined.certificate,
      new Date(),
    );
    expect(check.ok).toBe(true);
    const replay = await anonymous
      .send("POST", "/unitfleet/v1alpha1/join", { token, role: "relay", csr })
      .catch((e: unknown) => e);
    expect(replay).toMatchObject({ code: "Unauthorized", message: expect.stringContaining("already used") });
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
    const { renewIfDue } = await import("../../src/agent/connection/join-client.ts");
    const { join: joinHub, revokeCertificate } = await import("../../src/hub/joining/joining.ts");
    const { createBootstrapToken } = await import("../../src/hub/joining/joining.ts");
    const { X509Certificate } = await import("node:crypto");
    const caPair = {
      cert: await readFile(hub.caFile, "utf8"),
      key: await readFile(join(dir, "ca.key"), "utf8"),
    };
    // Joined 25 days ago: 5 of its 30 days are left.
    const past = new Date(Date.now() - 25 * 24 * 3600 * 1000);
    const { token } = await createBootstrapToken(hub.sql, "frankfurt", 3_600_000, past);
    const { csr, key } = await createCertificateRequest("agent");
    const old = await joinHub(hub.sql, caPair, { token, role: "agent", cluster: "fra-x", csr }, past);
    const credentials = { cert: old.certificate, key, ca: caPair.cert };
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
