/**
 * Who may answer as the hub, and who as a relay. TLS already checks the chain (the hub's CA for the hub, the
 * fleet CA for relays: docs/pki.md) and the address; these checks add the certificate's identity, so that a
 * relay's or agent's certificate is refused as the hub's even if it chains to a CA the client trusts (one
 * issued before the CAs were split, or a client given both CAs).
 */
import { checkServerIdentity, type PeerCertificate } from "node:tls";

/** A certificate subject that names a relay or an agent of the fleet. */
const fleetSubject = /^(relay|agent):/;

function commonName(cert: PeerCertificate): string {
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn.join(",") : (cn ?? "");
}

/**
 * `checkServerIdentity` for connections to the hub: the address must match, and the certificate must not be a
 * relay's or an agent's.
 */
export function checkHubServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const mismatch = checkServerIdentity(host, cert);
  if (mismatch) return mismatch;
  const name = commonName(cert);
  if (fleetSubject.test(name))
    return new Error(`the server at ${host} presented the certificate of ${name}, not the hub's: refused`);
  return undefined;
}

/** `checkServerIdentity` for an agent dialling its relay: the address must match, and it must be that Location's relay. */
export function relayServerIdentityCheck(
  location: string,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const mismatch = checkServerIdentity(host, cert);
    if (mismatch) return mismatch;
    const name = commonName(cert);
    if (name !== `relay:${location}`)
      return new Error(
        `the server at ${host} presented the certificate of ${name || "(no name)"}, not the relay of Location ${location}: refused`,
      );
    return undefined;
  };
}
