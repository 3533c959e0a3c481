/** Joining from the client side: a certificate request traded for a certificate, kept in the agent's folder. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { UserError } from "../../errors/user-error.ts";
import { createCertificateRequest, dueForRenewal } from "../../pki/certificates.ts";

export interface Credentials {
  cert: string;
  key: string;
  ca: string;
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
  };
  try {
    return {
      cert: await readFile(files.cert, "utf8"),
      key: await readFile(files.key, "utf8"),
      ca: await readFile(files.ca, "utf8"),
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
  return { cert: String(answer.body.certificate), key, ca: String(answer.body.ca) };
}

/**
 * Renews the certificate in `dir` when less than a third of its life is left, proving the identity with the
 * current one. Returns the credentials to use (new or unchanged).
 */
export async function renewIfDue(
  hub: string,
  dir: string,
  current: Credentials,
  now: Date,
): Promise<Credentials> {
  if (!dueForRenewal(current.cert, now)) return current;
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
  const renewed = { cert: String(answer.body.certificate), key, ca: String(answer.body.ca) };
  await writeFile(join(dir, "client.key"), renewed.key, { mode: 0o600 });
  await writeFile(join(dir, "client.crt"), renewed.cert);
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

/** POSTs JSON over HTTPS (with a client certificate when given) and reads a JSON answer. */
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
