import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import { createCertificateAuthority, issueCertificate } from "./certificates.ts";
import { checkHubServerIdentity, relayServerIdentityCheck } from "./server-identity.ts";

const now = new Date("2026-12-03T10:00:00Z");

/** A certificate as TLS hands it to checkServerIdentity: subject fields and the alternative names. */
async function peer(subject: string): Promise<PeerCertificate> {
  const ca = await createCertificateAuthority("test-ca", now, 10);
  const { cert } = await issueCertificate(
    ca,
    { subject, usage: "server", names: [{ type: "ip", value: "127.0.0.1" }], validDays: 1 },
    now,
  );
  const x509 = new X509Certificate(cert);
  return {
    subject: Object.fromEntries(x509.subject.split("\n").map((kv) => kv.split("="))),
    subjectaltname: x509.subjectAltName,
  } as unknown as PeerCertificate;
}

describe("who may answer as the hub", () => {
  it("takes the hub's certificate, and refuses a relay's or agent's at the same address, naming it", async () => {
    expect(checkHubServerIdentity("127.0.0.1", await peer("CN=unitfleet-hub"))).toBeUndefined();
    expect(checkHubServerIdentity("127.0.0.1", await peer("CN=relay:frankfurt"))?.message).toBe(
      "the server at 127.0.0.1 presented the certificate of relay:frankfurt, not the hub's: refused",
    );
    expect(
      checkHubServerIdentity("127.0.0.1", await peer("CN=agent:frankfurt:fra-web, O=unitfleet:agent")),
    ).toBeInstanceOf(Error);
    expect(checkHubServerIdentity("10.0.0.1", await peer("CN=unitfleet-hub"))).toBeInstanceOf(Error);
  });

  it("lets an agent take only its own Location's relay", async () => {
    const check = relayServerIdentityCheck("frankfurt");
    expect(check("127.0.0.1", await peer("CN=relay:frankfurt"))).toBeUndefined();
    expect(check("127.0.0.1", await peer("CN=relay:singapore"))?.message).toContain(
      "not the relay of Location frankfurt",
    );
    expect(check("127.0.0.1", await peer("CN=unitfleet-hub"))).toBeInstanceOf(Error);
  });
});
