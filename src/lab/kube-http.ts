/**
 * A very small Kubernetes API client for the lab's own needs (health, version, nodes, creating the baseline
 * objects) with the lab's admin certificate. The lab needs a handful of calls while clusters start; loading the
 * full client library for them would slow every `lab status`.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import type { LabPki } from "./pki.ts";

export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
}

export class KubeHttp {
  private readonly agent: Agent;
  readonly baseUrl: string;

  constructor(baseUrl: string, pki: LabPki) {
    this.baseUrl = baseUrl;
    this.agent = new Agent({
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
      keepAlive: true,
      maxSockets: 4,
    });
  }

  /**
   * Sends one request; network errors reject, HTTP errors resolve with their status. A patch names its type in
   * `contentType` (for example `application/merge-patch+json`).
   */
  send<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 5000,
    contentType = "application/json",
  ): Promise<KubeResponse<T>> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        new URL(path, this.baseUrl),
        {
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => {
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // Plain-text endpoints such as /readyz answer "ok".
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  get<T = unknown>(path: string, timeoutMs?: number): Promise<KubeResponse<T>> {
    return this.send<T>("GET", path, undefined, timeoutMs);
  }

  /** Creates an object; an object that already exists counts as created (the lab's steps are idempotent). */
  async create(path: string, body: unknown): Promise<void> {
    const res = await this.send<{ message?: string }>("POST", path, body);
    if (res.status !== 201 && res.status !== 200 && res.status !== 409)
      throw new Error(`POST ${path}: HTTP ${res.status} ${res.body?.message ?? ""}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface NodeList {
  items: Array<{
    metadata: { name: string; labels?: Record<string, string> };
    status?: { conditions?: Array<{ type: string; status: string }> };
  }>;
}

/** Counts nodes whose Ready condition is True. */
export function readyNodes(list: NodeList): number {
  return list.items.filter((n) =>
    n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}
