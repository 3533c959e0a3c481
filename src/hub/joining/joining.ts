/**
 * Joining: a relay or agent trades a single-use, expiring bootstrap token for a client certificate signed by
 * the fleet CA (through a certificate request), and from then on is known by that certificate only. Tokens and
 * certificates can be revoked; every check of a peer's certificate consults the revocations. The hub's own CA
 * never signs a relay or agent (docs/pki.md).
 */
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { UserError } from "../../errors/user-error.ts";
import type { HubAuthorities } from "../../pki/authorities.ts";
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
  /** The hub CA: what the peer trusts for the hub. */
  ca: string;
  /** The fleet CA: what signed the certificate; agents trust it for their relay, relays for their agents. */
  fleetCa: string;
}

/** What joining needs of the hub's CAs, and the names only the hub may serve at. */
export interface JoiningAuthorities extends HubAuthorities {
  /** Names a relay may not ask for (the hub's own, but loopback, which every machine has). */
  hubNames?: string[];
}

/** How many names a relay may serve at. */
export const maxServingNames = 16;
const dnsHostname =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const loopback = (name: string) => name === "localhost" || name === "::1" || /^127\./.test(name);

/**
 * The names a relay's serving certificate may carry: IP addresses and DNS host names, no wildcards, none of
 * the hub's names (loopback aside), at most 16. Every bad one is reported at its index of `serveAt`.
 */
export function relayServingNames(
  serveAt: unknown,
  hubNames: readonly string[],
): Array<{ type: "ip" | "dns"; value: string }> {
  const asked = serveAt ?? ["127.0.0.1", "localhost"];
  const refuse = (problems: Array<{ path: string; message: string }>) =>
    new UserError(
      "InvalidInput",
      `the relay may not serve at the names it asked for (${problems.map((p) => `${p.path}: ${p.message}`).join("; ")})`,
      { problems },
    );
  if (!Array.isArray(asked) || asked.length === 0 || asked.length > maxServingNames)
    throw refuse([
      { path: "serveAt", message: `must be a list of 1 to ${maxServingNames} IP addresses or DNS names` },
    ]);
  const hub = new Set(hubNames.map((n) => n.toLowerCase()).filter((n) => !loopback(n)));
  const problems: Array<{ path: string; message: string }> = [];
  const names: Array<{ type: "ip" | "dns"; value: string }> = [];
  asked.forEach((entry: unknown, i) => {
    const path = `serveAt[${i}]`;
    const name = typeof entry === "string" ? entry.toLowerCase() : "";
    if (typeof entry !== "string" || (isIP(name) === 0 && !dnsHostname.test(name)))
      problems.push({
        path,
        message: name.includes("*")
          ? `"${String(entry)}" is a wildcard: a relay serves at exact names only`
          : `"${String(entry)}" is not an IP address or a DNS host name`,
      });
    else if (hub.has(name))
      problems.push({ path, message: `"${entry}" is the hub's name: a relay may not serve at it` });
    else names.push({ type: isIP(name) === 0 ? "dns" : "ip", value: name });
  });
  if (problems.length > 0) throw refuse(problems);
  return names;
}

/**
 * Redeems a bootstrap token and signs the request's key for the identity the token allows. A token is used at
 * most once, even by two concurrent requests; a bad request does not use it up.
 */
export async function join(
  sql: Sql,
  authorities: JoiningAuthorities,
  request: JoinRequest,
  now: Date,
): Promise<Joined> {
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
  // A relay's certificate also serves TLS to its agents, at the addresses it gave (if it may).
  const serving =
    identity.role === "relay"
      ? { names: relayServingNames(request.serveAt, authorities.hubNames ?? []) }
      : undefined;
  const signed = await sign(authorities.fleet, request.csr, identity, now, serving);
  await sql.transaction(async (tx) => {
    const used = await tx.query(
      "update bootstrap_tokens set used_at = $2, used_by = $3 where id = $1 and used_at is null and revoked_at is null and expires_at > $2 returning 1",
      [id, now.toISOString(), subjectFor(identity)],
    );
    if (used.length === 0)
      throw new UserError("Unauthorized", "the bootstrap token was already used; tokens are single-use");
    await record(tx, identity, signed);
  });
  return joined(identity, signed, authorities);
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
 * Checks a peer's client certificate: signed by one of `peerCas` (a PEM bundle: the fleet CA, and for a while
 * after the split the CA that signed relays and agents before it), within its validity, issued by this hub (so
 * it is on record) and not revoked; returns the identity it carries.
 */
export async function checkPeerCertificate(
  sql: Sql,
  peerCas: string,
  certPem: string,
  now: Date,
): Promise<PeerCheck> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return { ok: false, reason: "the client certificate cannot be read" };
  }
  const signedByOne = (peerCas.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [])
    .map((pem) => new X509Certificate(pem))
    .some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!signedByOne)
    return { ok: false, reason: "the client certificate was not signed by this hub's fleet CA" };
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
 * tunnel: the fleet CA, valid, on record, not revoked) and gets a new one for the same identity.
 */
export async function renew(
  sql: Sql,
  authorities: JoiningAuthorities,
  currentCertPem: string,
  csr: string,
  now: Date,
): Promise<Joined> {
  const check = await checkPeerCertificate(sql, authorities.peerCas, currentCertPem, now);
  if (!check.ok) throw new UserError("Unauthorized", `cannot renew: ${check.reason}`);
  const identity = check.identity;
  // The names a relay had are checked again: one that a relay may no longer serve at is refused.
  const serving =
    identity.role === "relay"
      ? {
          names: relayServingNames(
            servingNames(currentCertPem).map((n) => n.value),
            authorities.hubNames ?? [],
          ),
        }
      : undefined;
  const signed = await sign(authorities.fleet, csr, identity, now, serving);
  await record(sql, identity, signed);
  return joined(identity, signed, authorities);
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

function joined(identity: PeerIdentity, signed: SignedRequest, authorities: HubAuthorities): Joined {
  return {
    identity,
    certificate: signed.cert,
    serial: normaliseSerial(signed.serial),
    notAfter: signed.notAfter,
    ca: authorities.hub.cert,
    fleetCa: authorities.fleet.cert,
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
