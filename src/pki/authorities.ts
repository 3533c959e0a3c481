/**
 * The hub's two certificate authorities, kept in its folder (docs/pki.md, ADR 0016):
 *
 * - the hub CA (`ca.crt`, `ca.key`) signs the hub's serving certificate and nothing else; it is what the CLI,
 *   kubectl, relays and agents trust for the hub;
 * - the fleet CA (`fleet-ca.crt`, `fleet-ca.key`) signs the certificates of relays and agents (their client
 *   certificates, and a relay's serving certificate for its agents).
 *
 * A folder from before the split holds only `ca.*`, which then also signed relays and agents. It keeps being
 * the hub CA (so every client keeps trusting the hub), a fleet CA is added, and the old CA is accepted for
 * relay and agent certificates (`legacy-peer-ca.json`) until the last one it signed has expired.
 */

import { readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { createCertificateAuthority, issueCertificate, type PemPair } from "./certificates.ts";

const day = 24 * 60 * 60 * 1000;
/** How long the CA that signed relays and agents before the split is still accepted for them: their certificates' life, and a day. */
export const legacyPeerTrustDays = 31;

export interface HubAuthorities {
  /** Signs the hub's serving certificate only. */
  hub: PemPair;
  /** Signs relay and agent certificates. */
  fleet: PemPair;
  /** The CA certificates (one PEM bundle) whose relay and agent certificates the hub accepts. */
  peerCas: string;
}

interface LegacyPeerTrust {
  /** When the folder was migrated: the old CA signed no relay or agent certificate after this. */
  migratedAt: string;
  cert: string;
}

/**
 * Loads the hub's CAs from `dir`, creating what is missing: both on a first start, the fleet CA (and the
 * legacy record) on the first start of a folder from before the split. Replicas share them by sharing the
 * folder; two starting at once agree on one CA (the first written wins).
 */
export async function ensureHubAuthorities(
  dir: string,
  now: Date,
  log: (entry: Record<string, unknown>) => void,
): Promise<HubAuthorities> {
  const existingHub = await readPair(dir, "ca");
  const hub = existingHub ?? (await createPair(dir, "ca", "unitfleet-hub-ca", now));
  let fleet = await readPair(dir, "fleet-ca");
  if (!fleet) {
    if (existingHub) {
      // A folder from before the split: its CA signed relays and agents, whose certificates stay good.
      const record: LegacyPeerTrust = { migratedAt: now.toISOString(), cert: existingHub.cert };
      await writeFile(join(dir, "legacy-peer-ca.json"), `${JSON.stringify(record)}\n`, { flag: "wx" }).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code !== "EEXIST") throw error;
        },
      );
      log({
        level: "warn",
        msg: "split the hub's CA: ca.crt now signs only the hub's serving certificate, fleet-ca.crt signs relays and agents; certificates they hold stay accepted until renewed (at their next start) or expired",
      });
    }
    fleet = await createPair(dir, "fleet-ca", "unitfleet-fleet-ca", now);
  }
  const peerCas = [fleet.cert];
  const legacy = await readFile(join(dir, "legacy-peer-ca.json"), "utf8").then(
    (text) => JSON.parse(text) as LegacyPeerTrust,
    () => undefined,
  );
  if (legacy && now.getTime() < Date.parse(legacy.migratedAt) + legacyPeerTrustDays * day)
    peerCas.push(legacy.cert);
  return { hub, fleet, peerCas: peerCas.join("") };
}

async function readPair(dir: string, name: string): Promise<PemPair | undefined> {
  try {
    return {
      cert: await readFile(join(dir, `${name}.crt`), "utf8"),
      key: await readFile(join(dir, `${name}.key`), "utf8"),
    };
  } catch {
    return undefined;
  }
}

/** Creates a CA; if another replica created it first (its key exists), waits for its certificate and uses it. */
async function createPair(dir: string, name: string, commonName: string, now: Date): Promise<PemPair> {
  const ca = await createCertificateAuthority(commonName, now, 3650);
  try {
    await writeFile(join(dir, `${name}.key`), ca.key, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const theirs = await readPair(dir, name);
      if (theirs) return theirs;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${join(dir, `${name}.key`)} exists without ${name}.crt beside it`);
  }
  await writeFile(join(dir, `${name}.crt`), ca.cert);
  return ca;
}

/** The names the hub serves at: loopback, this machine's name, and the address it listens on. */
export function hubServingNames(host: string): Array<{ type: "ip" | "dns"; value: string }> {
  const names: Array<{ type: "ip" | "dns"; value: string }> = [
    { type: "ip", value: "127.0.0.1" },
    { type: "dns", value: "localhost" },
    { type: "dns", value: hostname() },
  ];
  if (isIP(host) === 4 && host !== "127.0.0.1" && host !== "0.0.0.0") names.push({ type: "ip", value: host });
  else if (isIP(host) === 0 && host !== "localhost") names.push({ type: "dns", value: host });
  return names;
}

/** The hub's serving certificate, signed by the hub CA, for the names it serves at. */
export function hubServingCertificate(hubCa: PemPair, host: string, now: Date): Promise<PemPair> {
  return issueCertificate(
    hubCa,
    { subject: "CN=unitfleet-hub", usage: "server", names: hubServingNames(host), validDays: 365 },
    now,
  );
}
