/**
 * The CLI's client of the hub API. Connection settings come from `~/.unitfleet/config.yaml` (written by
 * `unitfleet login`), or, when there is none, from the local hub's kubeconfig (`~/.unitfleet/hub/kubeconfig`).
 */
import { readFile } from "node:fs/promises";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { parse } from "yaml";
import { UserError } from "../../errors/user-error.ts";
import { checkHubServerIdentity } from "../../pki/server-identity.ts";

export interface HubConnection {
  server: string;
  token: string;
  caCert?: string;
  insecureSkipTlsVerify?: boolean;
}

export interface CliConfig {
  server: string;
  token: string;
  certificateAuthorityData?: string;
  insecureSkipTlsVerify?: boolean;
}

export function configFile(home: string): string {
  return join(home, "config.yaml");
}

/** Finds how to reach the hub: the login config first, then the local hub's kubeconfig. */
export async function resolveConnection(home: string): Promise<HubConnection> {
  const config = await readFile(configFile(home), "utf8").then(
    (t) => parse(t) as CliConfig,
    () => undefined,
  );
  if (config?.server && config.token) {
    return {
      server: config.server,
      token: config.token,
      ...(config.certificateAuthorityData
        ? { caCert: Buffer.from(config.certificateAuthorityData, "base64").toString("utf8") }
        : {}),
      ...(config.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
    };
  }
  const kubeconfigPath = join(home, "hub", "kubeconfig");
  const kubeconfig = await readFile(kubeconfigPath, "utf8").then(
    (t) =>
      parse(t) as {
        clusters?: Array<{ cluster: { server: string; "certificate-authority-data"?: string } }>;
        users?: Array<{ user: { token?: string } }>;
      },
    () => undefined,
  );
  const cluster = kubeconfig?.clusters?.[0]?.cluster;
  const token = kubeconfig?.users?.[0]?.user.token;
  if (cluster && token) {
    return {
      server: cluster.server,
      token,
      ...(cluster["certificate-authority-data"]
        ? { caCert: Buffer.from(cluster["certificate-authority-data"], "base64").toString("utf8") }
        : {}),
    };
  }
  throw new UserError("NotFound", "no hub to talk to", {
    hint: "run `unitfleet login --server URL --token TOKEN`, or start a local hub with `unitfleet hub`",
  });
}

export interface HubResponse<T> {
  status: number;
  body: T;
}

export class HubClient {
  private readonly connection: HubConnection;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(connection: HubConnection) {
    this.connection = connection;
    this.agent = connection.server.startsWith("https:")
      ? new HttpsAgent({
          keepAlive: true,
          ...(connection.caCert ? { ca: connection.caCert } : {}),
          rejectUnauthorized: !connection.insecureSkipTlsVerify,
          // The hub's certificate only: a relay's or agent's is refused, even from a CA the CLI trusts.
          checkServerIdentity: checkHubServerIdentity,
        })
      : new HttpAgent({ keepAlive: true });
  }

  /** Sends a request; a Status error body becomes a UserError with the hub's message and field causes. */
  async send<T>(method: string, path: string, body?: unknown, accept = "application/json"): Promise<T> {
    const res = await this.raw<T | KubeStatusBody>(method, path, body, accept);
    if (res.status >= 400) throw fromStatus(res.status, res.body as KubeStatusBody);
    return res.body as T;
  }

  raw<T>(method: string, path: string, body?: unknown, accept = "application/json"): Promise<HubResponse<T>> {
    const url = new URL(path, this.connection.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.connection.token}`,
            accept,
            ...(payload
              ? {
                  "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
                  "content-length": Buffer.byteLength(payload),
                }
              : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () => {
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // Plain text.
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on("error", (error) =>
        reject(
          new UserError(
            "ComponentFailed",
            `cannot reach the hub at ${this.connection.server}: ${error.message}`,
            {
              hint: "is `unitfleet hub` running? `unitfleet login` sets where the CLI looks for it",
            },
          ),
        ),
      );
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Streams newline-delimited JSON events from a watch until the stream ends or `signal` aborts. */
  async watch(
    path: string,
    onEvent: (event: { type: string; object: Record<string, unknown> }) => void,
    signal: AbortSignal,
  ) {
    const url = new URL(path, this.connection.server);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        {
          method: "GET",
          agent: this.agent,
          headers: { authorization: `Bearer ${this.connection.token}`, accept: "application/json" },
          signal,
        },
        (res) => {
          let buffer = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffer += chunk;
            let newline = buffer.indexOf("\n");
            while (newline >= 0) {
              const line = buffer.slice(0, newline).trim();
              buffer = buffer.slice(newline + 1);
              if (line) onEvent(JSON.parse(line) as { type: string; object: Record<string, unknown> });
              newline = buffer.indexOf("\n");
            }
          });
          res.on("end", () => resolve());
          res.on("error", () => resolve());
        },
      );
      req.on("error", (error) => (signal.aborted ? resolve() : reject(error)));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

interface KubeStatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { causes?: Array<{ field: string; message: string }> };
}

function fromStatus(code: number, status: KubeStatusBody): UserError {
  const codeName =
    code === 401
      ? "Unauthorized"
      : code === 403
        ? "Forbidden"
        : code === 404
          ? "NotFound"
          : code === 409
            ? status.reason === "AlreadyExists"
              ? "AlreadyExists"
              : "Conflict"
            : code === 410
              ? "Expired"
              : code === 422
                ? "InvalidInput"
                : "BadRequest";
  const causes = status.details?.causes ?? [];
  const message =
    causes.length > 0 ? (status.message ?? "").split(": ")[0]! : (status.message ?? `HTTP ${code}`);
  return new UserError(codeName, message, {
    problems: causes.map((c) => ({ path: c.field, message: c.message })),
  });
}

/** Runs `work` with a client for the hub the CLI is logged in to, and closes it. */
export async function withHub<T>(env: { home: string }, work: (hub: HubClient) => Promise<T>): Promise<T> {
  const hub = new HubClient(await resolveConnection(env.home));
  try {
    return await work(hub);
  } finally {
    hub.close();
  }
}
