/**
 * The hub's API on node:http (docs/adr/0004): Kubernetes paths for Locations, Regions and Clusters, discovery,
 * Table printing, watches, Status errors, bearer tokens, health and metrics.
 */

import { X509Certificate } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { z } from "zod";
import type { InventoryItem } from "../../core/inventory/inventory.ts";
import type { FleetSnapshot } from "../../core/planning/fleet-snapshot.ts";
import { snapshotFromInventory } from "../../core/planning/snapshot-from-inventory.ts";
import {
  type Cluster,
  type KindInfo,
  kindByName,
  kinds,
  type Location,
  type Region,
} from "../../core/resources/kinds.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import { problemsFromZod } from "../../core/validation/zod-problems.ts";
import { UserError } from "../../errors/user-error.ts";
import { messageTypes } from "../../protocol/messages.ts";
import type { StoredObject } from "../../store/resource-store.ts";
import type { AuditPage, AuditQuery } from "../audit/audit-log.ts";
import type { TokenInfo, TokenSpec } from "../auth/tokens.ts";
import type { CommandBus, CommandRequest } from "../commands/command-bus.ts";
import type { Joined, JoinRequest } from "../joining/joining.ts";
import { type Caller, hasRole } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";
import { apiGroup, coreVersions, groupList, resourceList, versionInfo } from "./discovery.ts";
import type { Metrics } from "./metrics.ts";
import { statusFor } from "./status.ts";
import { table, wantsTable } from "./table.ts";
import { serveWatch, type WatchSource } from "./watch.ts";

export interface ApiDependencies {
  registry: Registry;
  authenticate: (token: string | undefined) => Promise<Caller | undefined>;
  /** The changes watches are served from: read once per change for all of them (the hub's change feed). */
  watches: WatchSource;
  metrics: Metrics;
  /** Commands to clusters through the tunnel (ping, logs). */
  commands: CommandBus;
  ready: () => Promise<boolean>;
  log: (entry: Record<string, unknown>) => void;
  hubVersion: string;
  openapi: () => unknown;
  /** The inventory items clusters last reported (those of the clusters named that have reported). */
  inventories: (
    clusters: readonly string[],
  ) => Promise<ReadonlyMap<string, ReadonlyMap<string, InventoryItem>>>;
  /** Administration: tokens and the audit log (admin role only). */
  admin: AdminOperations;
  tls?: { cert: string; key: string; clientCa: string };
}

export interface AdminOperations {
  createBootstrapToken(
    location: string,
    ttlSeconds: number,
  ): Promise<{ id: string; token: string; expiresAt: Date }>;
  revokeBootstrapToken(id: string): Promise<void>;
  revokeCertificate(serial: string): Promise<void>;
  /** Unauthenticated: the bootstrap token in the body is the credential. */
  join(request: JoinRequest): Promise<Joined>;
  /** Authenticated by the client certificate of the connection. */
  renew(currentCertPem: string, csr: string): Promise<Joined>;
  listAudit(query: AuditQuery): Promise<AuditPage>;
  listTokens(): Promise<TokenInfo[]>;
  createToken(spec: TokenSpec): Promise<string>;
  revokeToken(name: string): Promise<void>;
}

export const auditPath = "/unitfleet/v1alpha1/audit";
export const joinPath = "/unitfleet/v1alpha1/join";
export const renewPath = "/unitfleet/v1alpha1/renew";
export const bootstrapTokensPath = "/unitfleet/v1alpha1/bootstrap-tokens";
export const certificatesPath = "/unitfleet/v1alpha1/certificates";
export const tokensPath = "/unitfleet/v1alpha1/api-tokens";
/** Sends a command to a cluster and answers with its outcome (and output, for logs). */
export const commandsPath = "/unitfleet/v1alpha1/commands";

/** The live fleet as a fleet snapshot (docs/fleet-snapshot.md): what `unitfleet snapshot` and the planner read. */
export const fleetSnapshotPath = "/unitfleet/v1alpha1/fleet-snapshot";

const maxBody = 4 * 1024 * 1024;
/** Applies several documents in one transaction (what `unitfleet apply -f` uses): all or nothing. */
export const applyPath = "/unitfleet/v1alpha1/apply";
const base = `/apis/${apiVersion}`;

export function createApiServer(deps: ApiDependencies): Server {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    handle(deps, req, res)
      .catch((error: unknown) => {
        if (!(error instanceof UserError))
          deps.log({
            level: "error",
            msg: "request failed",
            error: String((error as Error)?.stack ?? error),
          });
        const status = statusFor(error);
        if (!res.headersSent) send(res, status.code, status);
        else res.end();
      })
      .finally(() => {
        deps.metrics.observeRequest(
          req.method ?? "GET",
          res.statusCode,
          (performance.now() - started) / 1000,
        );
      });
  };
  return deps.tls
    ? // Client certificates are asked for (relays and agents present one on the tunnel) but not required:
      // API clients authenticate with tokens. The tunnel checks the certificate itself.
      createHttpsServer(
        {
          cert: deps.tls.cert,
          key: deps.tls.key,
          ca: deps.tls.clientCa,
          requestCert: true,
          rejectUnauthorized: false,
        },
        handler,
      )
    : createHttpServer(handler);
}

async function handle(deps: ApiDependencies, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = requestUrl(req);
  const path = url.pathname.replace(/\/+$/, "") || "/";
  if (path === "/livez" || path === "/healthz") return sendText(res, 200, "ok");
  if (path === "/readyz")
    return (await deps.ready()) ? sendText(res, 200, "ok") : sendText(res, 503, "not ready");

  if (path === joinPath && req.method === "POST") {
    const request = await objectBody(req);
    const problems = [];
    if (typeof request.token !== "string")
      problems.push({ path: "token", message: "required field is missing" });
    if (request.role !== "relay" && request.role !== "agent")
      problems.push({ path: "role", message: 'must be "relay" or "agent"' });
    if (
      request.cluster !== undefined &&
      (typeof request.cluster !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(request.cluster))
    )
      problems.push({ path: "cluster", message: "must be a cluster name" });
    if (typeof request.csr !== "string") problems.push({ path: "csr", message: "required field is missing" });
    if (
      request.clusterSpec !== undefined &&
      (request.clusterSpec === null || typeof request.clusterSpec !== "object")
    )
      problems.push({ path: "clusterSpec", message: "must be a mapping" });
    if (problems.length > 0) throw new UserError("InvalidInput", "the join request is invalid", { problems });
    const joined = await deps.admin.join(request as unknown as JoinRequest);
    return send(res, 201, {
      identity: joined.identity,
      certificate: joined.certificate,
      serial: joined.serial,
      notAfter: joined.notAfter,
      ca: joined.ca,
      fleetCa: joined.fleetCa,
    });
  }

  if (path === renewPath && req.method === "POST") {
    const peer = (req.socket as TLSSocket).getPeerCertificate?.(false);
    if (!peer?.raw)
      throw new UserError("Unauthorized", "renewal needs the client certificate that is being renewed");
    const request = (await objectBody(req)) as { csr?: unknown };
    if (typeof request.csr !== "string")
      throw new UserError("InvalidInput", "the renewal request is invalid", {
        problems: [{ path: "csr", message: "required field is missing" }],
      });
    const renewed = await deps.admin.renew(new X509Certificate(peer.raw).toString(), request.csr);
    return send(res, 201, {
      identity: renewed.identity,
      certificate: renewed.certificate,
      serial: renewed.serial,
      notAfter: renewed.notAfter,
      ca: renewed.ca,
      fleetCa: renewed.fleetCa,
    });
  }

  const caller = await deps.authenticate(bearer(req));
  if (!caller) throw new UserError("Unauthorized", "a valid API token is required (Authorization: Bearer …)");
  // Metrics name clusters and tokens' activity: any valid token may read them, no anonymous caller.
  if (path === "/metrics") return sendText(res, 200, deps.metrics.render(), "text/plain; version=0.0.4");
  if (!acceptsJson(req.headers.accept))
    throw new UserError(
      "NotAcceptable",
      `the hub answers application/json only, not ${req.headers.accept} (Accept header)`,
    );

  if (req.method === "GET") {
    if (path === "/version") return send(res, 200, versionInfo(deps.hubVersion));
    if (path === "/api") return send(res, 200, coreVersions());
    if (path === "/apis") return send(res, 200, groupList());
    if (path === "/apis/unitfleet.io") return send(res, 200, apiGroup());
    if (path === base) return send(res, 200, resourceList());
    if (path === "/openapi/v2") throw new UserError("NotFound", "OpenAPI v2 is not served; use /openapi/v3");
    if (path === "/openapi/v3")
      return send(res, 200, {
        paths: { [`apis/${apiVersion}`]: { serverRelativeURL: `/openapi/v3${base}` } },
      });
    if (path === `/openapi/v3${base}`) return send(res, 200, deps.openapi());
  }

  if (
    path === bootstrapTokensPath ||
    path.startsWith(`${bootstrapTokensPath}/`) ||
    path.startsWith(`${certificatesPath}/`)
  ) {
    if (!hasRole(caller, "operator") || caller.businesses)
      throw new UserError(
        "Forbidden",
        `token "${caller.name}" may not manage joining: it needs role operator, unscoped`,
      );
    if (path === bootstrapTokensPath && req.method === "POST") {
      const spec = (await objectBody(req)) as { location?: unknown; ttlSeconds?: unknown };
      const problems = [];
      if (typeof spec.location !== "string")
        problems.push({ path: "location", message: "required field is missing" });
      const ttl = spec.ttlSeconds ?? 3600;
      if (typeof ttl !== "number" || ttl <= 0 || ttl > 7 * 86400)
        problems.push({ path: "ttlSeconds", message: "must be between 1 s and 7 days" });
      if (problems.length > 0)
        throw new UserError("InvalidInput", "the bootstrap token request is invalid", { problems });
      return send(res, 201, await deps.admin.createBootstrapToken(spec.location as string, ttl as number));
    }
    const revokeToken = new RegExp(`^${bootstrapTokensPath}/([0-9a-f]+)$`).exec(path);
    if (revokeToken && req.method === "DELETE") {
      await deps.admin.revokeBootstrapToken(revokeToken[1]!);
      return send(res, 200, { revoked: true });
    }
    const revokeCert = new RegExp(`^${certificatesPath}/([0-9a-fA-F]+)$`).exec(path);
    if (revokeCert && req.method === "DELETE") {
      await deps.admin.revokeCertificate(revokeCert[1]!);
      return send(res, 200, { revoked: true });
    }
    throw methodNotAllowed(req.method ?? "GET");
  }

  if (path === auditPath || path === tokensPath || path.startsWith(`${tokensPath}/`)) {
    if (!hasRole(caller, "admin") || caller.businesses)
      throw new UserError(
        "Forbidden",
        `token "${caller.name}" may not read the audit log or manage tokens: it needs role admin`,
      );
    if (path === auditPath && req.method === "GET") {
      const q = url.searchParams;
      return send(
        res,
        200,
        await deps.admin.listAudit({
          ...(q.get("limit") ? { limit: limitParameter(q.get("limit")!) } : {}),
          ...(q.get("continue") ? { before: q.get("continue")! } : {}),
          ...(q.get("actor") ? { actor: q.get("actor")! } : {}),
          ...(q.get("kind") ? { kind: q.get("kind")! } : {}),
          ...(q.get("name") ? { name: q.get("name")! } : {}),
        }),
      );
    }
    if (path === tokensPath && req.method === "GET")
      return send(res, 200, { items: await deps.admin.listTokens() });
    if (path === tokensPath && req.method === "POST") {
      const spec = (await objectBody(req)) as {
        name?: unknown;
        role?: unknown;
        businesses?: unknown;
        ttlSeconds?: unknown;
      };
      const problems = [];
      if (typeof spec.name !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(spec.name))
        problems.push({ path: "name", message: "must be a DNS label" });
      if (spec.role !== "viewer" && spec.role !== "operator" && spec.role !== "admin")
        problems.push({ path: "role", message: 'must be one of "viewer", "operator", "admin"' });
      if (
        spec.businesses !== undefined &&
        !(Array.isArray(spec.businesses) && spec.businesses.every((b) => typeof b === "string"))
      )
        problems.push({ path: "businesses", message: "must be a list of business names" });
      if (spec.ttlSeconds !== undefined && !(typeof spec.ttlSeconds === "number" && spec.ttlSeconds > 0))
        problems.push({ path: "ttlSeconds", message: "must be a positive number" });
      if (problems.length > 0)
        throw new UserError("InvalidInput", "the token request is invalid", { problems });
      const secret = await deps.admin.createToken({
        name: spec.name as string,
        role: spec.role as TokenSpec["role"],
        ...(Array.isArray(spec.businesses) ? { businesses: spec.businesses as string[] } : {}),
        ...(typeof spec.ttlSeconds === "number"
          ? { expiresAt: new Date(Date.now() + spec.ttlSeconds * 1000) }
          : {}),
      });
      return send(res, 201, { name: spec.name, token: secret });
    }
    if (path.startsWith(`${tokensPath}/`) && req.method === "DELETE") {
      await deps.admin.revokeToken(decodedSegment(path.slice(tokensPath.length + 1)));
      return send(res, 200, { revoked: true });
    }
    throw methodNotAllowed(req.method ?? "GET");
  }

  if (path === fleetSnapshotPath) {
    if (req.method !== "GET") throw methodNotAllowed(req.method ?? "GET");
    return send(res, 200, await fleetSnapshot(deps, caller));
  }

  if (req.method === "POST" && path === commandsPath)
    return send(res, 200, await deps.commands.submit(caller, commandRequest(await objectBody(req))));

  if (req.method === "POST" && path === applyPath) {
    const request = (await objectBody(req)) as { documents?: unknown[]; dryRun?: boolean };
    if (!Array.isArray(request.documents))
      throw new UserError("BadRequest", "the body needs a documents list");
    const documents = request.documents.map((d, i) => {
      if (d === null || typeof d !== "object" || Array.isArray(d))
        throw new UserError("BadRequest", `documents[${i}] must be a mapping with an object`);
      const { source, object } = d as { source?: unknown; object?: unknown };
      return { source: typeof source === "string" ? source : `document ${i + 1}`, body: object };
    });
    const results = await deps.registry.applyAll(documents, caller, request.dryRun === true);
    return send(res, 200, {
      results: results.map((r) => ({ kind: r.object.kind, name: r.object.metadata.name, action: r.action })),
    });
  }

  const match = new RegExp(`^${base}/([a-z]+)(?:/([a-z0-9-]+))?(?:/(status))?$`).exec(path);
  const kind = match ? kindByName(match[1]!) : undefined;
  if (!match || !kind || kind.plural !== match[1])
    throw new UserError("NotFound", `the server could not find the requested resource (${path})`);
  const name = match[2];
  const sub = match[3];
  const dryRun = url.searchParams.get("dryRun") === "All";
  const target = { kind: kind.kind, ...(name ? { name } : {}) };
  try {
    await route(deps, req, res, url, kind, name, sub, dryRun, caller);
  } catch (error) {
    if (error instanceof UserError) {
      const status = statusFor(error, target);
      return send(res, status.code, status);
    }
    throw error;
  }
}

/**
 * The fleet the caller may see (a token scoped to businesses sees their clusters only) with the inventory items
 * each cluster last reported, from the store: any replica answers. Clusters that have not reported an inventory
 * yet are left out (the CLI names them, comparing with the list of clusters).
 */
async function fleetSnapshot(deps: ApiDependencies, caller: Caller): Promise<FleetSnapshot> {
  const list = async <T>(kind: KindInfo) =>
    (await deps.registry.list(kind, {}, caller)).items as unknown as T[];
  const [locations, regions, clusters] = await Promise.all([
    list<Location>(kinds.Location),
    list<Region>(kinds.Region),
    list<Cluster>(kinds.Cluster),
  ]);
  const inventories = await deps.inventories(clusters.map((c) => c.metadata.name));
  return snapshotFromInventory({
    locations,
    regions,
    clusters,
    inventories,
    takenAt: new Date().toISOString(),
  }).snapshot;
}

async function route(
  deps: ApiDependencies,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  kind: KindInfo,
  name: string | undefined,
  sub: string | undefined,
  dryRun: boolean,
  caller: Caller,
): Promise<void> {
  const method = req.method ?? "GET";
  const accept = req.headers.accept;
  if (!name) {
    if (
      method === "GET" &&
      (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1")
    )
      return serveWatch(deps, req, res, url, kind, caller);
    if (method === "GET") {
      const list = await deps.registry.list(
        kind,
        {
          labelSelector: url.searchParams.get("labelSelector") ?? "",
          ...(url.searchParams.get("limit") ? { limit: limitParameter(url.searchParams.get("limit")!) } : {}),
          ...(url.searchParams.get("continue") ? { continue: url.searchParams.get("continue")! } : {}),
        },
        caller,
      );
      const items = fieldFiltered(list.items, url.searchParams.get("fieldSelector"));
      const meta = {
        resourceVersion: list.resourceVersion,
        ...(list.continue ? { continue: list.continue } : {}),
      };
      if (wantsTable(accept)) return send(res, 200, table(kind, items, meta));
      return send(res, 200, { kind: `${kind.kind}List`, apiVersion, metadata: meta, items });
    }
    if (method === "POST") {
      const doc = await objectBody(req);
      const named = (doc as { metadata?: { name?: unknown } })?.metadata?.name;
      try {
        return send(res, 201, await deps.registry.create(doc, caller, { kind, dryRun }));
      } catch (error) {
        if (!(error instanceof UserError) || typeof named !== "string") throw error;
        const status = statusFor(error, { kind: kind.kind, name: named });
        return send(res, status.code, status);
      }
    }
    throw methodNotAllowed(method);
  }
  if (sub === "status") {
    if (method === "GET") return respond(res, accept, kind, await deps.registry.get(kind, name, caller));
    if (method === "PUT")
      return send(res, 200, await deps.registry.replaceStatus(kind, name, await objectBody(req), caller));
    throw methodNotAllowed(method);
  }
  switch (method) {
    case "GET":
      return respond(res, accept, kind, await deps.registry.get(kind, name, caller));
    case "PUT":
      return send(res, 200, await deps.registry.replace(kind, name, await objectBody(req), caller, dryRun));
    case "PATCH": {
      const patch = await objectBody(req, mergePatchTypes);
      return send(res, 200, await deps.registry.patch(kind, name, patch, caller, dryRun));
    }
    case "DELETE": {
      const options = (await objectBody(req, jsonTypes, true)) as { preconditions?: unknown } | undefined;
      const gone = await deps.registry.delete(
        kind,
        name,
        caller,
        preconditionVersion(options?.preconditions),
      );
      return send(res, 200, gone);
    }
    default:
      throw methodNotAllowed(method);
  }
}

function respond(res: ServerResponse, accept: string | undefined, kind: KindInfo, object: StoredObject) {
  if (wantsTable(accept))
    return send(res, 200, table(kind, [object], { resourceVersion: object.metadata.resourceVersion }));
  return send(res, 200, object);
}

function fieldFiltered(items: StoredObject[], fieldSelector: string | null): StoredObject[] {
  if (!fieldSelector) return items;
  const match = /^metadata\.name=(.+)$/.exec(fieldSelector);
  if (!match)
    throw new UserError(
      "BadRequest",
      `field selector "${fieldSelector}" is not supported (only metadata.name=…)`,
    );
  return items.filter((i) => i.metadata.name === match[1]);
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith("Bearer ")) return undefined;
  return header.slice("Bearer ".length).trim();
}

const jsonTypes = ["application/json"];
/** A JSON merge patch; a plain JSON body is taken as one too (what older clients send). */
const mergePatchTypes = ["application/merge-patch+json", "application/json"];
/** Deeper than any object the hub stores: refused before it reaches a recursive merge or the store. */
const maxBodyDepth = 64;

/**
 * The request's URL. A path that starts with `//` is a path here, not a host: the base is prefixed, not
 * resolved against.
 */
function requestUrl(req: IncomingMessage): URL {
  const raw = req.url ?? "/";
  let url: URL;
  try {
    url = new URL(`http://hub${raw.startsWith("/") ? raw : `/${raw}`}`);
  } catch {
    throw new UserError("BadRequest", "the request path is not a valid URL");
  }
  for (const [name, value] of url.searchParams)
    if (value.includes("\u0000"))
      throw new UserError("BadRequest", `the query parameter ${name} has a NUL character`, {
        problems: [{ path: name, message: "must not contain a NUL character" }],
      });
  return url;
}

/** A percent-encoded path segment, decoded; bad encoding is the caller's mistake. */
function decodedSegment(segment: string): string {
  try {
    const decoded = decodeURIComponent(segment);
    if (!decoded.includes("\u0000")) return decoded;
  } catch {
    // Bad percent-encoding: refused below.
  }
  throw new UserError(
    "BadRequest",
    `the path segment "${segment}" is not valid percent-encoding or has a NUL`,
  );
}

/** `limit` as Kubernetes takes it: a whole number, 0 meaning no limit. */
function limitParameter(value: string): number | undefined {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(limit))
    throw new UserError("BadRequest", "the query parameter limit is invalid", {
      problems: [{ path: "limit", message: `must be a whole number, not "${value}"` }],
    });
  return limit === 0 ? undefined : limit;
}

function preconditionVersion(preconditions: unknown): string | undefined {
  if (preconditions === undefined || preconditions === null) return undefined;
  const version = (preconditions as { resourceVersion?: unknown }).resourceVersion;
  if (typeof preconditions !== "object" || (version !== undefined && typeof version !== "string"))
    throw new UserError("InvalidInput", "the delete options are invalid", {
      problems: [{ path: "preconditions.resourceVersion", message: "must be a string" }],
    });
  return version;
}

function acceptsJson(accept: string | undefined): boolean {
  if (!accept?.trim()) return true;
  return accept.split(",").some((range) => {
    const type = range.split(";")[0]!.trim().toLowerCase();
    return type === "application/json" || type === "application/*" || type === "*/*" || type === "";
  });
}

/**
 * The body as a JSON object, of one of the media types the route takes (415 otherwise, as kube-apiserver);
 * `optional` lets an empty body through as undefined. Refused with 400: invalid JSON, anything but an object,
 * a duplicate key, a NUL character (the store cannot keep one), nesting deeper than {@link maxBodyDepth}.
 */
async function objectBody(
  req: IncomingMessage,
  types: readonly string[] = jsonTypes,
  optional = false,
): Promise<Record<string, unknown>> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBody) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBody) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") {
    if (optional) return undefined as unknown as Record<string, unknown>;
    throw new UserError("BadRequest", "the request needs a JSON body");
  }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (!types.includes(type))
    throw new UserError(
      "UnsupportedMediaType",
      `the content type "${type}" is not supported here: send ${types.join(" or ")}` +
        (types === mergePatchTypes ? " (kubectl patch --type=merge)" : ""),
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UserError("BadRequest", `the body is not valid JSON: ${(error as Error).message}`);
  }
  checkJsonText(text);
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new UserError("BadRequest", `the body must be a JSON object, not ${jsonKind(value)}`);
  return value as Record<string, unknown>;
}

function tooLarge(): UserError {
  return new UserError("PayloadTooLarge", `the request body is larger than ${maxBody} bytes`);
}

function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}

/**
 * Scans valid JSON text for what JSON.parse lets through silently: a key given twice in one object (the
 * last would win), a NUL character in a string, and nesting deeper than {@link maxBodyDepth}.
 */
function checkJsonText(text: string): void {
  // One entry per open container: its field path, and the keys seen so far when it is an object.
  const open: Array<{ keys: Set<string> | undefined; path: string }> = [];
  let expectingKey = false;
  let keyPath = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") {
      if (open.length >= maxBodyDepth)
        throw new UserError("BadRequest", `the body is nested deeper than ${maxBodyDepth} levels`);
      const parent = open.at(-1);
      const path = parent?.keys ? keyPath : `${parent?.path ?? ""}${parent ? "[]" : ""}`;
      open.push({ keys: c === "{" ? new Set() : undefined, path });
      expectingKey = c === "{";
    } else if (c === "}" || c === "]") {
      open.pop();
      expectingKey = false;
    } else if (c === ",") {
      expectingKey = open.at(-1)?.keys !== undefined;
    } else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) {
        if (text[i] !== "\\") continue;
        i++;
        if (text[i] === "u" && text.slice(i + 1, i + 5) === "0000")
          throw new UserError("BadRequest", "the body has a NUL character (\\u0000) in a string");
      }
      const object = open.at(-1);
      if (expectingKey && object?.keys) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        keyPath = object.path ? `${object.path}.${key}` : key;
        if (object.keys.has(key))
          throw new UserError("BadRequest", `the body has the key "${keyPath}" twice`, {
            problems: [{ path: keyPath, message: "duplicate key" }],
          });
        object.keys.add(key);
        expectingKey = false;
      }
    }
  }
}

function methodNotAllowed(method: string): UserError {
  return new UserError("MethodNotAllowed", `method ${method} is not allowed here`);
}

function send(res: ServerResponse, code: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, code: number, text: string, type = "text/plain"): void {
  res.writeHead(code, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const commandRequestSchema = z.strictObject({
  cluster: messageTypes.command.body.shape.cluster,
  action: messageTypes.command.body.shape.action,
  idempotencyKey: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, "must be 1 to 128 letters, digits or . _ : -")
    .optional(),
  timeoutSeconds: z.number().int().min(1).max(300).optional(),
});

/** Checks a command request's shape (the protocol's own schema for the action); every problem listed. */
function commandRequest(input: unknown): CommandRequest {
  const parsed = commandRequestSchema.safeParse(input);
  if (!parsed.success)
    throw new UserError("InvalidInput", "the command request is invalid", {
      problems: problemsFromZod(parsed.error),
    });
  return parsed.data as CommandRequest;
}
