/** Joining on the embedded store: bootstrap tokens, certificate requests, revocation and identities. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { maySpeakFor } from "../../src/hub/joining/identity.ts";
import {
  checkPeerCertificate,
  createBootstrapToken,
  join,
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
let ca: PemPair;
let otherCa: PemPair;
const now = new Date("2026-11-25T18:00:00Z");
const hour = 60 * 60 * 1000;

beforeAll(async () => {
  [sql, ca, otherCa] = await Promise.all([
    openPglite(undefined),
    createCertificateAuthority("unitfleet-hub-ca", now, 3650),
    createCertificateAuthority("somebody-else", now, 3650),
  ]);
}, 60_000);
afterAll(() => sql.close());
beforeEach(async () => {
  await freshSchema(sql);
});

describe("joining", () => {
  it("trades a bootstrap token for a certificate naming the token's Location, which then identifies the peer", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const { csr } = await createCertificateRequest("whatever the client asks for");
    const joined = await join(sql, ca, { token, role: "relay", csr }, now);
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
    await join(sql, ca, { token, role: "relay", csr: (await createCertificateRequest("r")).csr }, now);
    const error = await refusal(
      join(sql, ca, { token, role: "relay", csr: (await createCertificateRequest("r")).csr }, now),
    );
    expect(error.code).toBe("Unauthorized");
    expect(error.message).toContain("already used");
  });

  it("uses a token once even when two requests race for it", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const requests = await Promise.all([createCertificateRequest("a"), createCertificateRequest("b")]);
    const outcomes = await Promise.allSettled(
      requests.map((r) => join(sql, ca, { token, role: "relay", csr: r.csr }, now)),
    );
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
  });

  it("refuses an expired token, a revoked token and a forged one", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const later = new Date(now.getTime() + 2 * hour);
    const { csr } = await createCertificateRequest("r");
    expect((await refusal(join(sql, ca, { token, role: "relay", csr }, later))).message).toContain("expired");
    const revoked = await createBootstrapToken(sql, "frankfurt", hour, now);
    await revokeBootstrapToken(sql, revoked.id, now);
    expect(
      (await refusal(join(sql, ca, { token: revoked.token, role: "relay", csr }, now))).message,
    ).toContain("revoked");
    const forged = `${token.slice(0, 17)}${"x".repeat(32)}`;
    expect((await refusal(join(sql, ca, { token: forged, role: "relay", csr }, now))).message).toContain(
      "not one this hub issued",
    );
  });

  it("does not use up a token on a bad certificate request", async () => {
    const { token } = await createBootstrapToken(sql, "frankfurt", hour, now);
    const error = await refusal(
      join(
        sql,
        ca,
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
      ca,
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
      reason: "the client certificate was not signed by this hub's CA",
    });
    const { token } = await createBootstrapToken(sql, "singapore", hour, now);
    const joined = await join(
      sql,
      ca,
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
