/**
 * Joining: a relay or agent trades a single-use, expiring bootstrap token for a client certificate signed by
 * the hub's CA (through a certificate request), and from then on is known by that certificate only. Tokens and
 * certificates can be revoked; every check of a peer's certificate consults the revocations.
 */
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { UserError } from "../../errors/user-error.ts";
import {
  normaliseSerial,
  type PemPair,
  type SignedRequest,
  signCertificateRequest,
} from "../../pki/certificates.ts";
import type { Sql } from "../../store/sql.ts";
import { identityFromSubject, type PeerIdentity, subjectFor } from "./identity.ts";

const prefix = "ufb_";
/** How long a joined client's certificate lives; clients renew it when a third of it is left. */
export const clientCertificateDays = 30;

function hash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export async function createBootstrapToken(
  sql: Sql,
  location: string,
  ttlMs: number,
  now: Date,
): Promise<{ id: string; token: string; expiresAt: Date }> {
  const id = randomBytes(6).toString("hex");
  const secret = randomBytes(24).toString("base64url");
  const expiresAt = new Date(now.getTime() + ttlMs);
  await sql.query(
    "insert into bootstrap_tokens (id, secret_hash, location, expires_at) values ($1, $2, $3, $4)",
    [id, hash(secret), location, expiresAt.toISOString()],
  );
  return { id, token: `${prefix}${id}.${secret}`, expiresAt };
}

export async function revokeBootstrapToken(sql: Sql, id: string, now: Date): Promise<void> {
  const rows = await sql.query(
    "update bootstrap_tokens set revoked_at = $2 where id = $1 and revoked_at is null returning 1",
    [id, now.toISOString()],
  );
  if (rows.length === 0) throw new UserError("NotFound", `no active bootstrap token with id ${id}`);
}

export interface JoinRequest {
  token: string;
  role: "relay" | "agent";
  /** For agents: the cluster it speaks for. */
  cluster?: string;
  /** For agents: the cluster's place and owner, to register it when it is not registered yet. */
  clusterSpec?: { region?: string; zones?: string[]; environment: string; business: string };
  /** For relays: the addresses agents reach it at; its certificate also serves TLS there. */
  serveAt?: string[];
  csr: string;
}

/** The Location a bootstrap token is for, without using it (undefined for a token this hub did not issue). */
export async function bootstrapTokenLocation(sql: Sql, token: string): Promise<string | undefined> {
  const id = /^ufb_([0-9a-f]{12})\./.exec(token)?.[1];
  if (!id) return undefined;
  const rows = await sql.query<{ location: string }>("select location from bootstrap_tokens where id = $1", [
    id,
  ]);
  return rows[0]?.location;
}

export interface Joined {
  identity: PeerIdentity;
  certificate: string;
  serial: string;
  notAfter: Date;
  ca: string;
}

/**
 * Redeems a bootstrap token and signs the request's key for the identity the token allows. A token is used at
 * most once, even by two concurrent requests; a bad request does not use it up.
 */
export async function join(sql: Sql, ca: PemPair, request: JoinRequest, now: Date): Promise<Joined> {
  const parsed = /^ufb_([0-9a-f]{12})\.([A-Za-z0-9_-]+)$/.exec(request.token);
  if (!parsed) throw new UserError("Unauthorized", "the bootstrap token is not one this hub issued");
  const [, id, secret] = parsed;
  const found = await sql.query<{
    location: string;
    secret_hash: string;
    expires_at: string;
    used_at: string | null;
    revoked_at: string | null;
  }>(
    "select location, secret_hash, expires_at::text, used_at::text, revoked_at::text from bootstrap_tokens where id = $1",
    [id],
  );
  const token = found[0];
  if (!token || token.secret_hash !== hash(secret!))
    throw new UserError("Unauthorized", "the bootstrap token is not one this hub issued");
  if (token.revoked_at) throw new UserError("Unauthorized", "the bootstrap token was revoked");
  if (token.used_at)
    throw new UserError(
      "Unauthorized",
      `the bootstrap token was already used (at ${token.used_at}); tokens are single-use`,
    );
  if (new Date(token.expires_at) <= now)
    throw new UserError("Unauthorized", `the bootstrap token expired at ${token.expires_at}`);
  if (request.role === "agent" && !request.cluster)
    throw new UserError("InvalidInput", "an agent must say which cluster it speaks for", {
      problems: [{ path: "cluster", message: "required for agents" }],
    });
  const identity: PeerIdentity =
    request.role === "relay"
      ? { role: "relay", location: token.location }
      : { role: "agent", location: token.location, cluster: request.cluster! };
  // A relay's certificate also serves TLS to its agents, at the addresses it gave.
  const serving =
    identity.role === "relay"
      ? {
          names: (request.serveAt ?? ["127.0.0.1", "localhost"]).map((a) =>
            /^[\d.]+$|:/.test(a) ? { type: "ip" as const, value: a } : { type: "dns" as const, value: a },
          ),
        }
      : undefined;
  const signed = await sign(ca, request.csr, identity, now, serving);
  await sql.transaction(async (tx) => {
    const used = await tx.query(
      "update bootstrap_tokens set used_at = $2, used_by = $3 where id = $1 and used_at is null and revoked_at is null and expires_at > $2 returning 1",
      [id, now.toISOString(), subjectFor(identity)],
    );
    if (used.length === 0)
      throw new UserError("Unauthorized", "the bootstrap token was already used; tokens are single-use");
    await record(tx, identity, signed);
  });
  return joined(identity, signed, ca);
}

/** Where revocations are announced (payload: the Location), so that each replica tells its relays. */
export const revocationsChannel = "unitfleet_revocations";

export async function revokeCertificate(sql: Sql, serial: string, now: Date): Promise<void> {
  const rows = await sql.query<{ location: string }>(
    "update issued_certificates set revoked_at = $2 where serial = $1 and revoked_at is null returning location",
    [normaliseSerial(serial), now.toISOString()],
  );
  if (rows.length === 0) throw new UserError("NotFound", `no active certificate with serial ${serial}`);
  await sql.query("select pg_notify($1, $2)", [revocationsChannel, rows[0]!.location]);
}

/** Serials of a Location's revoked certificates that have not expired yet: what its relay must refuse. */
export async function revokedSerials(sql: Sql, location: string, now: Date): Promise<string[]> {
  const rows = await sql.query<{ serial: string }>(
    `select serial from issued_certificates
     where location = $1 and revoked_at is not null and not_after > $2 order by serial`,
    [location, now.toISOString()],
  );
  return rows.map((r) => r.serial);
}

export type PeerCheck = { ok: true; identity: PeerIdentity; serial: string } | { ok: false; reason: string };

/**
 * Checks a peer's client certificate: signed by this hub's CA, within its validity, issued by this hub (so
 * it is on record) and not revoked; returns the identity it carries.
 */
export async function checkPeerCertificate(
  sql: Sql,
  caPem: string,
  certPem: string,
  now: Date,
): Promise<PeerCheck> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return { ok: false, reason: "the client certificate cannot be read" };
  }
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    return { ok: false, reason: "the client certificate was not signed by this hub's CA" };
  if (new Date(cert.validFrom) > now || new Date(cert.validTo) <= now)
    return {
      ok: false,
      reason: `the client certificate is not valid now (valid ${cert.validFrom} – ${cert.validTo})`,
    };
  const identity = identityFromSubject(cert.subject);
  if (!identity)
    return {
      ok: false,
      reason: `the client certificate names no relay or agent (${cert.subject.replace(/\n/g, ", ")})`,
    };
  const serial = normaliseSerial(cert.serialNumber);
  const record = await sql.query<{ revoked_at: string | null }>(
    "select revoked_at::text from issued_certificates where serial = $1",
    [serial],
  );
  if (record.length === 0) return { ok: false, reason: "the client certificate is not on this hub's record" };
  if (record[0]!.revoked_at)
    return { ok: false, reason: `the client certificate was revoked at ${record[0]!.revoked_at}` };
  return { ok: true, identity, serial };
}

/**
 * Renews a peer's certificate: the peer proves who it is with its current certificate (checked as on the
 * tunnel: this CA, valid, on record, not revoked) and gets a new one for the same identity.
 */
export async function renew(
  sql: Sql,
  ca: PemPair,
  currentCertPem: string,
  csr: string,
  now: Date,
): Promise<Joined> {
  const check = await checkPeerCertificate(sql, ca.cert, currentCertPem, now);
  if (!check.ok) throw new UserError("Unauthorized", `cannot renew: ${check.reason}`);
  const identity = check.identity;
  const serving = identity.role === "relay" ? { names: servingNames(currentCertPem) } : undefined;
  const signed = await sign(ca, csr, identity, now, serving);
  await record(sql, identity, signed);
  return joined(identity, signed, ca);
}

/** Signs a request's key for an identity; a request that does not verify is refused at `csr`. */
async function sign(
  ca: PemPair,
  csr: string,
  identity: PeerIdentity,
  now: Date,
  serving: { names: Array<{ type: "ip" | "dns"; value: string }> } | undefined,
): Promise<SignedRequest> {
  const signed = await signCertificateRequest(
    ca,
    csr,
    subjectFor(identity),
    now,
    clientCertificateDays,
    serving,
  );
  if ("refused" in signed)
    throw new UserError("InvalidInput", signed.refused, {
      problems: [{ path: "csr", message: signed.refused }],
    });
  return signed;
}

/** Puts an issued certificate on record: only recorded certificates open a tunnel. */
async function record(sql: Sql, identity: PeerIdentity, signed: SignedRequest): Promise<void> {
  await sql.query(
    "insert into issued_certificates (serial, role, location, cluster, not_after) values ($1, $2, $3, $4, $5)",
    [
      normaliseSerial(signed.serial),
      identity.role,
      identity.location,
      identity.role === "agent" ? identity.cluster : null,
      signed.notAfter.toISOString(),
    ],
  );
}

function joined(identity: PeerIdentity, signed: SignedRequest, ca: PemPair): Joined {
  return {
    identity,
    certificate: signed.cert,
    serial: normaliseSerial(signed.serial),
    notAfter: signed.notAfter,
    ca: ca.cert,
  };
}

/** The subject alternative names of a certificate, to keep a relay's serving addresses across renewals. */
function servingNames(pem: string): Array<{ type: "ip" | "dns"; value: string }> {
  const san = new X509Certificate(pem).subjectAltName ?? "";
  return san
    .split(", ")
    .map((entry) => /^(DNS|IP Address):(.+)$/.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ type: m[1] === "DNS" ? ("dns" as const) : ("ip" as const), value: m[2]! }));
}
