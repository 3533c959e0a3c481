/** Joining on the embedded store: bootstrap tokens, certificate requests, revocation and identities. */
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { maySpeakFor } from "../../src/hub/joining/identity.ts";
import {
  checkPeerCertificate,
  createBootstrapToken,
  type JoiningAuthorities,
  join,
  renew,
  revokeBootstrapToken,
  revokeCertificate,
} from "../../src/hub/joining/joining.ts";
import {
  createCertificateAuthority,
  createCertificateRequest,
  issueCertificate,
  type PemPair,
} from "../../src/pki/certificates.ts";
import { openPglite } from "../../src/store/pglite-sql.ts";
import type { Sql } from "../../src/store/sql.ts";
import { freshSchema } from "../support/fresh-schema.ts";
import { refusal } from "../support/refusal.ts";

let sql: Sql;
/** The fleet CA: it signs relays and agents. */
let ca: PemPair;
let hubCa: PemPair;
let otherCa: PemPair;
let authorities: JoiningAuthorities;
const now = new Date("2026-11-25T18:00:00Z");
const hour = 60 * 60 * 1000;

beforeAll(async () => {
  [sql, ca, hubCa, otherCa] = await Promise.all([
    openPglite(undefined),
    createCertificateAuthority("unitfleet-fleet-ca", now, 3650),
    createCertificateAuthority("unitfleet-hub-ca", now, 3650),
    createCertificateAuthority("somebody-else", now, 3650),
  ]);
  authorities = {
    hub: hubCa,
    fleet: ca,
    peerCas: ca.cert,
    hubNames: ["127.0.0.1", "localhost", "hub.example.com"],
  };
}, 60_000);

afterAll(() => sql.close());
beforeEach(async () => {
  await freshSchema(sql);
});

describe("joining", () => {
  it("trades a bootstrap token for a certificate naming the token's Location, which then identifies the peer", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const { csr } = await createCertificateRequest("whatever the client asks for");
    const joined = await join(sql, authorities, { token, role: "relay", csr }, now);
    expect(joined.identity).toEqual({ role: "relay", location: "frankfurt" });
    const check = await checkPeerCertificate(sql, ca.cert, joined.certificate, now);
    expect(check).toEqual({
      ok: true,
      identity: { role: "relay", location: "frankfurt" },
      serial: joined.serial,
    });
  });

  it("refuses a replayed token", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    await join(
      sql,
      authorities,
      { token, role: "relay", csr: (await createCertificateRequest("r")).csr },
      now,
    );
    const error = await refusal(
      join(sql, authorities, { token, role: "relay", csr: (await createCertificateRequest("r")).csr }, now),
    );
    expect(error.code).toBe("Unauthorized");
    expect(error.message).toContain("already used");
  });

  it("uses a token once even when two requests race for it", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const requests = await Promise.all([createCertificateRequest("a"), createCertificateRequest("b")]);
    const outcomes = await Promise.allSettled(
      requests.map((r) => join(sql, authorities, { token, role: "relay", csr: r.csr }, now)),
    );
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
  });

  it("refuses an expired token, a revoked token and a forged one", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const later = new Date(now.getTime() + 2 * hour);
    const { csr } = await createCertificateRequest("r");
    expect((await refusal(join(sql, authorities, { token, role: "relay", csr }, later))).message).toContain(
      "expired",
    );
    const revoked = await createBootstrapToken(sql, "frankfurt", hour, now);
    await revokeBootstrapToken(sql, revoked.id, now);
    expect(
      (await refusal(join(sql, authorities, { token: revoked.token, role: "relay", csr }, now))).message,
    ).toContain("revoked");
    const forged = `${token.slice(0, 17)}${"x".repeat(32)}`;
    expect(
      (await refusal(join(sql, authorities, { token: forged, role: "relay", csr }, now))).message,
    ).toContain("not one this hub issued");
  });

  it("does not use up a token on a bad certificate request", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const error = await refusal(
      join(
        sql,
        authorities,
        {
          token,
          role: "relay",
          csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        },
        now,
      ),
    );
    expect(error.problems[0]?.path).toBe("csr");
    const joined = await join(
      sql,
      authorities,
      { token, role: "relay", csr: (await createCertificateRequest("r")).csr },
      now,
    );
    expect(joined.identity.location).toBe("frankfurt");
  });

  it("refuses a client certificate from another CA, and a revoked one", async () => {
    const foreign = await issueCertificate(
      otherCa,
      { subject: "CN=relay:frankfurt", usage: "client", validDays: 30 },
      now,
    );
    expect(await checkPeerCertificate(sql, ca.cert, foreign.cert, now)).toEqual({
      ok: false,
      reason: "the client certificate was not signed by this hub's fleet CA",
    });
    const { token } = await createBootstrapToken(sql, "singapore", hour, now);
    const joined = await join(
      sql,
      authorities,
      { token, role: "agent", cluster: "sgp-shop-dev", csr: (await createCertificateRequest("a")).csr },
      now,
    );
    await revokeCertificate(sql, joined.serial, now);
    const check = await checkPeerCertificate(sql, ca.cert, joined.certificate, now);
    expect(check.ok).toBe(false);
    expect(check.ok ? "" : check.reason).toContain("was revoked");
  });

  it("lets a relay speak only for clusters of its own Location, and an agent only for its cluster", () => {
    const relay = { role: "relay", location: "frankfurt" } as const;
    expect(maySpeakFor(relay, { name: "fra-shop-prod", location: "frankfurt" })).toEqual({ allowed: true });
    expect(maySpeakFor(relay, { name: "sgp-shop-dev", location: "singapore" })).toEqual({
      allowed: false,
      reason:
        'the relay of Location "frankfurt" may not speak for cluster "sgp-shop-dev" of Location "singapore"',
    });
    const agent = { role: "agent", location: "singapore", cluster: "sgp-shop-dev" } as const;
    expect(maySpeakFor(agent, { name: "sgp-shop-prod", location: "singapore" }).allowed).toBe(false);
  });
});

describe("separate trust for separate roles", () => {
  it("signs relays with the fleet CA, never the hub CA, and hands back both CAs", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const joined = await join(
      sql,
      authorities,
      { token, role: "relay", csr: (await createCertificateRequest("r")).csr },
      now,
    );
    const cert = new X509Certificate(joined.certificate);
    expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(cert.checkIssued(new X509Certificate(hubCa.cert))).toBe(false);
    expect({ ca: joined.ca, fleetCa: joined.fleetCa }).toEqual({ ca: hubCa.cert, fleetCa: ca.cert });
    expect(cert.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
  });

  it("refuses a relay's wildcard, malformed and hub names at their paths, and keeps the token", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const { csr } = await createCertificateRequest("r");
    const error = await refusal(
      join(
        sql,
        authorities,
        {
          token,
          role: "relay",
          csr,
          serveAt: ["relay.fra.example.com", "*.example.com", "hub.example.com", "a b", "10.1.2.3"],
        },
        now,
      ),
    );
    expect(error.code).toBe("InvalidInput");
    expect(error.problems).toEqual([
      { path: "serveAt[1]", message: '"*.example.com" is a wildcard: a relay serves at exact names only' },
      { path: "serveAt[2]", message: '"hub.example.com" is the hub\'s name: a relay may not serve at it' },
      { path: "serveAt[3]", message: '"a b" is not an IP address or a DNS host name' },
    ]);
    expect(error.message).toContain("serveAt[1]");
    const tooMany = await refusal(
      join(
        sql,
        authorities,
        { token, role: "relay", csr, serveAt: Array.from({ length: 17 }, (_, i) => `r${i}.example.com`) },
        now,
      ),
    );
    expect(tooMany.problems[0]?.path).toBe("serveAt");
    // Refusals used nothing up: the same token joins with exact names of its own (loopback is anyone's).
    const joined = await join(
      sql,
      authorities,
      { token, role: "relay", csr, serveAt: ["relay.fra.example.com", "10.1.2.3", "localhost"] },
      now,
    );
    expect(new X509Certificate(joined.certificate).subjectAltName).toBe(
      "DNS:relay.fra.example.com, IP Address:10.1.2.3, DNS:localhost",
    );
  });

  it("accepts and renews a certificate the hub CA signed before the split, renewing it from the fleet CA", async () => {
    // A hub folder from before: its one CA signed this relay; after the split it is listed as a legacy peer CA.
    const legacy = { ...authorities, fleet: hubCa };
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const old = await join(
      sql,
      legacy,
      { token, role: "relay", csr: (await createCertificateRequest("r")).csr },
      now,
    );
    const migrated = { ...authorities, peerCas: `${ca.cert}${hubCa.cert}` };
    expect((await checkPeerCertificate(sql, migrated.peerCas, old.certificate, now)).ok).toBe(true);
    expect((await checkPeerCertificate(sql, authorities.peerCas, old.certificate, now)).ok).toBe(false);
    const renewed = await renew(
      sql,
      migrated,
      old.certificate,
      (await createCertificateRequest("r")).csr,
      now,
    );
    expect(new X509Certificate(renewed.certificate).checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(renewed.fleetCa).toBe(ca.cert);
  });
});
