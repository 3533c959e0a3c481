/**
 * Joining from the client side (an agent or a relay): a certificate request traded for a certificate, kept in
 * the joiner's folder. Only the hub is sent a token or a request: a server whose certificate is not the hub's
 * (from the hub CA, naming no relay or agent) is refused before anything is sent (docs/pki.md).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { UserError } from "../errors/user-error.ts";
import { createCertificateRequest, dueForRenewal } from "../pki/certificates.ts";
import { checkHubServerIdentity } from "../pki/server-identity.ts";

export interface Credentials {
  cert: string;
  key: string;
  /** The hub CA: trusted for the hub only. */
  ca: string;
  /**
   * The fleet CA, which signs relays and agents: an agent trusts it for its relay, a relay for its agents.
   * Missing in a folder joined before the CAs were split, until the certificate is renewed.
   */
  fleetCa?: string;
}

/**
 * What a relay or agent trusts for its peers (a relay for its agents, an agent for its relay): the fleet CA,
 * and the hub CA too, which signed them before the split (the hub's own certificate names no relay or agent,
 * so it is still refused as one).
 */
export function peerTrust(credentials: Credentials): string[] {
  // A list, not one PEM string: Node takes only part of a string holding several certificates.
  return credentials.fleetCa ? [credentials.fleetCa, credentials.ca] : [credentials.ca];
}

export interface JoinOptions {
  hub: string;
  hubCa: string;
  token: string;
  role: "relay" | "agent";
  cluster?: string;
  clusterSpec?: { region?: string; zones?: string[]; environment: string; business: string };
  /** Relays: where agents reach them (their certificate serves TLS there too). */
  serveAt?: string[];
  dir: string;
}

/** The credentials in `dir`, or new ones obtained with the bootstrap token (which is used up). */
export async function ensureCredentials(options: JoinOptions): Promise<Credentials> {
  const files = {
    cert: join(options.dir, "client.crt"),
    key: join(options.dir, "client.key"),
    ca: join(options.dir, "hub-ca.crt"),
    fleetCa: join(options.dir, "fleet-ca.crt"),
  };
  try {
    const fleetCa = await readFile(files.fleetCa, "utf8").catch(() => undefined);
    return {
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
      ca: await readFile(files.ca, "utf8"),
      ...(fleetCa ? { fleetCa } : {}),
    };
  } catch {
    // Not joined yet.
  }
  const { csr, key } = await createCertificateRequest(`${options.role}:${options.cluster ?? ""}`);
  const body = JSON.stringify({
    token: options.token,
    role: options.role,
    csr,
    ...(options.cluster ? { cluster: options.cluster } : {}),
    ...(options.clusterSpec ? { clusterSpec: options.clusterSpec } : {}),
    ...(options.serveAt ? { serveAt: options.serveAt } : {}),
  });
  const answer = await postJson(new URL("/unitfleet/v1alpha1/join", options.hub), body, {
    ca: options.hubCa,
  }).catch((e: Error) => {
    throw new UserError("ComponentFailed", `cannot reach the hub at ${options.hub}: ${e.message}`);
  });
  if (answer.status !== 201)
    throw new UserError(
      answer.status === 401 ? "Unauthorized" : "InvalidInput",
      `the hub refused to let this ${options.role} join: ${String(answer.body.message)}`,
      {
        hint: "create a new token with `unitfleet token create --location LOCATION`",
      },
    );
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  await writeFile(files.key, key, { mode: 0o600 });
  await writeFile(files.cert, String(answer.body.certificate));
  await writeFile(files.ca, String(answer.body.ca));
  await writeFile(files.fleetCa, String(answer.body.fleetCa));
  return {
    cert: String(answer.body.certificate),
    key,
    ca: String(answer.body.ca),
    fleetCa: String(answer.body.fleetCa),
  };
}

/**
 * Renews the certificate in `dir` when less than a third of its life is left, or when it was issued before
 * the hub's CAs were split (no fleet CA known yet), proving the identity with the current one. Returns the
 * credentials to use (new or unchanged).
 */
export async function renewIfDue(
  hub: string,
  dir: string,
  current: Credentials,
  now: Date,
): Promise<Credentials> {
  const due = dueForRenewal(current.cert, now);
  if (current.fleetCa && !due) return current;
  // Renewing only to learn the fleet CA: a hub out of reach now is tried again later (keepRenewed).
  if (!due) return renew(hub, dir, current).catch(() => current);
  return renew(hub, dir, current);
}

async function renew(hub: string, dir: string, current: Credentials): Promise<Credentials> {
  const { csr, key } = await createCertificateRequest("renewal");
  const body = JSON.stringify({ csr });
  const answer = await postJson(new URL("/unitfleet/v1alpha1/renew", hub), body, {
    ca: current.ca,
    cert: current.cert,
    key: current.key,
  });
  if (answer.status !== 201)
    throw new UserError(
      "Unauthorized",
      `the hub refused to renew the certificate: ${String(answer.body.message)}`,
    );
  const renewed = {
    cert: String(answer.body.certificate),
    key,
    ca: current.ca,
    fleetCa: String(answer.body.fleetCa),
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "client.key"), renewed.key, { mode: 0o600 });
  await writeFile(join(dir, "client.crt"), renewed.cert);
  await writeFile(join(dir, "fleet-ca.crt"), renewed.fleetCa);
  return renewed;
}

/**
 * Keeps a certificate fresh while a relay or agent runs: checks every hour and hands renewed credentials to
 * `use` (the tunnel client's next session, a relay's serving context). Returns a function that stops it.
 */
export function keepRenewed(
  hub: string,
  dir: string,
  initial: Credentials,
  use: (next: Credentials) => void,
  log: (entry: Record<string, unknown>) => void,
): () => void {
  let held = initial;
  const timer = setInterval(() => {
    void renewIfDue(hub, dir, held, new Date())
      .then((next) => {
        if (next !== held) use(next);
        held = next;
      })
      .catch((error: unknown) =>
        log({ level: "warn", msg: "certificate renewal failed", error: String(error) }),
      );
  }, 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** POSTs JSON over HTTPS to the hub (with a client certificate when given) and reads a JSON answer. */
function postJson(
  url: URL,
  body: string,
  tls: { ca: string; cert?: string; key?: string },
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ...tls,
        checkServerIdentity: checkHubServerIdentity,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: { message: text } });
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
