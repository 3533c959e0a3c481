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
