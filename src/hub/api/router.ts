/**
 * The hub API's route table (docs/adr/0018): each capability declares its routes — method, path template
 * (`/apis/unitfleet.io/v1alpha1/clusters/:name/status`), who may call it, the media types and zod schema of its
 * body, the zod schema of its query — and a handler that takes one context object and returns a reply. What
 * every request needs is done here once, in this order: match the path (404), authenticate (401, except public
 * routes), check `Accept` (406), match the method (405 with `Allow`), check the role (403), check the query (400),
 * read and check the body (400, 413, 415, 422), then call the handler. Errors become Kubernetes Status objects.
 *
 * `inject` runs a request through the same table without a socket (for tests), as Fastify's does.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { problemsFromZod } from "../../core/validation/zod-problems.ts";
import { UserError } from "../../errors/user-error.ts";
import { type Caller, hasRole, type Role } from "../registry/caller.ts";
import { type BodySpec, mediaType, parseBody, readBodyText } from "./request-body.ts";
import { statusFor } from "./status.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * Who may call a route: anyone (`public`: health, joining by bootstrap token), any valid API token
 * (`authenticated`: the registry checks roles and scopes itself), or a role, optionally unscoped only.
 */
export type Access =
  | "public"
  | "authenticated"
  | {
      role: Role;
      /** Refused to tokens scoped to businesses. */
      unscoped?: boolean;
      /** What the caller may not do without it, for the 403 message: "manage joining". */
      doing: string;
    };

/** What a handler gets: everything about the request, already checked. */
export interface RouteContext<Body = unknown, Query = Record<string, string>> {
  method: Method;
  /** The path without trailing slashes. */
  path: string;
  url: URL;
  /** The path template's `:name` segments, as sent (not percent-decoded). */
  params: Record<string, string>;
  query: Query;
  body: Body;
  /** The body's media type, lower case ("" without a body). */
  contentType: string;
  headers: IncomingHttpHeaders;
  /** The caller (an anonymous caller, scoped to no business, on public routes). */
  caller: Caller;
  /** The PEM of the client certificate of the connection, when it presented one. */
  peerCertificate: string | undefined;
}

/** What a handler answers: JSON, plain text, or a stream written to the connection (watches). */
export type Reply =
  | { status: number; json: unknown }
  | { status: number; text: string; contentType: string }
  | { stream: (req: IncomingMessage, res: ServerResponse) => Promise<void> };

export interface Route<Body = unknown, Query = Record<string, string>> {
  method: Method;
  /** Literal segments and `:name` parameters, e.g. `/unitfleet/v1alpha1/api-tokens/:name`. */
  path: string;
  access: Access;
  /** A parameter that does not match its pattern means the path is not found (404). */
  params?: Record<string, RegExp>;
  /** The query parameters the route reads (others are let through); a mismatch is a 400. */
  query?: z.ZodType<Query>;
  /** The body it takes; without one, a body is not read. */
  body?: BodySpec & {
    /** The body's schema; a mismatch is a 422 listing every problem. */
    schema?: z.ZodType<Body>;
    /** Names the body in the 422 message: "the join request". */
    what?: string;
  };
  /** Answers any `Accept` (the metrics text); otherwise `Accept` must allow JSON. */
  anyAccept?: boolean;
  /** The object an error is about, for the Status's details (kind and name). */
  errorTarget?: (context: Partial<RouteContext<unknown, unknown>>) => { kind?: string; name?: string };
  handle: (context: RouteContext<Body, Query>) => Promise<Reply>;
}

/** A route of any body and query, as the table holds them. */
// biome-ignore lint/suspicious/noExplicitAny: the table holds routes of every body and query type.
export type AnyRoute = Route<any, any>;

/** Declares a route, inferring its body and query types from its schemas. */
export function route<Body = unknown, Query = Record<string, string>>(
  definition: Route<Body, Query>,
): AnyRoute {
  return definition as AnyRoute;
}

/** A JSON reply. */
export function json(status: number, value: unknown): Reply {
  return { status, json: value };
}

/** A plain-text reply. */
export function text(status: number, body: string, contentType = "text/plain"): Reply {
  return { status, text: body, contentType };
}

/** A request as the table sees it: from node:http, or from `inject`. */
export interface ApiRequest {
  method: string;
  /** The request target as sent: path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
  peerCertificate?: string;
}

/** An answer in full, for `inject` and for writing to a connection. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RouterOptions {
  authenticate: (token: string | undefined) => Promise<Caller | undefined>;
  /** Errors that are not a user's mistake are logged here, with their stack. */
  log: (entry: Record<string, unknown>) => void;
}

const anonymous: Caller = { name: "system:anonymous", role: "viewer", businesses: [] };

interface CompiledRoute {
  route: AnyRoute;
  segments: string[];
}

/** The table: routes from every capability, matched by path then method. */
export class Router {
  private readonly routes: CompiledRoute[] = [];
  private readonly options: RouterOptions;

  constructor(options: RouterOptions, routes: readonly AnyRoute[] = []) {
    this.options = options;
    for (const r of routes) this.add(r);
  }

  /** Adds a route; the same method on the same path template twice is a programming error. */
  add(definition: AnyRoute): void {
    const segments = definition.path.split("/").slice(1);
    if (this.routes.some((r) => r.route.method === definition.method && r.route.path === definition.path))
      throw new Error(`route ${definition.method} ${definition.path} is declared twice`);
    this.routes.push({ route: definition, segments });
  }

  /** Every route, for documents that list them (and tests). */
  list(): readonly AnyRoute[] {
    return this.routes.map((r) => r.route);
  }

  /**
   * Answers a request. A JSON or text answer is returned whole; a stream (a watch) is handed the connection,
   * which only node:http has (`connection`), and the answer is then undefined.
   */
  async dispatch(
    request: ApiRequest,
    connection?: { req: IncomingMessage; res: ServerResponse },
  ): Promise<ApiResponse | undefined> {
    let target: { kind?: string; name?: string } | undefined;
    try {
      const reply = await this.answer(request, (t) => {
        target = t;
      });
      if ("stream" in reply) {
        if (!connection)
          throw new UserError("BadRequest", "a streamed answer (a watch) needs a real connection");
        await reply.stream(connection.req, connection.res);
        return undefined;
      }
      if ("json" in reply) return jsonResponse(reply.status, reply.json);
      return {
        status: reply.status,
        headers: {
          "content-type": reply.contentType,
          "content-length": String(Buffer.byteLength(reply.text)),
        },
        body: reply.text,
      };
    } catch (error) {
      if (!(error instanceof UserError))
        this.options.log({
          level: "error",
          msg: "request failed",
          error: String((error as Error)?.stack ?? error),
        });
      const status = statusFor(error, target);
      const response = jsonResponse(status.code, status);
      if (error instanceof MethodNotAllowed) response.headers.allow = error.allow.join(", ");
      if (connection?.res.headersSent) {
        connection.res.end();
        return undefined;
      }
      return response;
    }
  }

  /** Runs a request through the table without a socket: what tests of routes use. */
  async inject(request: {
    method: string;
    url: string;
    headers?: Record<string, string>;
    body?: unknown;
  }): Promise<{ status: number; headers: Record<string, string>; body: unknown }> {
    const headers: IncomingHttpHeaders = {};
    for (const [key, value] of Object.entries(request.headers ?? {})) headers[key.toLowerCase()] = value;
    const raw =
      request.body === undefined
        ? ""
        : typeof request.body === "string"
          ? request.body
          : JSON.stringify(request.body);
    if (request.body !== undefined && headers["content-type"] === undefined)
      headers["content-type"] = "application/json";
    const response = await this.dispatch({
      method: request.method,
      url: request.url,
      headers,
      body: [Buffer.from(raw)],
    });
    if (!response) throw new Error("inject: a streamed answer needs a real connection");
    let body: unknown = response.body;
    if (response.headers["content-type"] === "application/json") body = JSON.parse(response.body);
    return { status: response.status, headers: response.headers, body };
  }

  private async answer(
    request: ApiRequest,
    setTarget: (target: { kind?: string; name?: string } | undefined) => void,
  ): Promise<Reply> {
    const url = requestUrl(request.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = request.method.toUpperCase();
    const onPath = this.match(path);
    const found = onPath.find((m) => m.route.method === method);

    let caller = anonymous;
    if (found?.route.access !== "public") {
      const authenticated = await this.options.authenticate(bearer(request.headers));
      if (!authenticated)
        throw new UserError("Unauthorized", "a valid API token is required (Authorization: Bearer …)");
      caller = authenticated;
    }
    if (!found?.route.anyAccept && !acceptsJson(request.headers.accept))
      throw new UserError(
        "NotAcceptable",
        `the hub answers application/json only, not ${request.headers.accept} (Accept header)`,
      );
    if (onPath.length === 0)
      throw new UserError("NotFound", `the server could not find the requested resource (${path})`);
    if (!found) {
      const allowed = [...new Set(onPath.map((m) => m.route.method))].sort();
      throw new MethodNotAllowed(method, allowed);
    }

    const { route: r, params } = found;
    const context: Partial<RouteContext> = { method: r.method, path, url, params, caller };
    setTarget(r.errorTarget?.(context));
    if (typeof r.access === "object") {
      const { role, unscoped, doing } = r.access;
      if (!hasRole(caller, role) || (unscoped && caller.businesses))
        throw new UserError(
          "Forbidden",
          `token "${caller.name}" may not ${doing}: it needs role ${role}${unscoped ? ", unscoped" : ""}`,
        );
    }
    context.query = checkedQuery(r, url.searchParams);
    context.headers = request.headers;
    context.peerCertificate = request.peerCertificate;
    context.contentType = mediaType(request.headers["content-type"]);
    if (r.body) {
      const text = await readBodyText(request.body, request.headers["content-length"]);
      const value = parseBody(text, context.contentType, r.body);
      context.body = value;
      setTarget(r.errorTarget?.(context));
      if (r.body.schema && value !== undefined) {
        const parsed = r.body.schema.safeParse(value);
        if (!parsed.success)
          throw new UserError("InvalidInput", `${r.body.what ?? "the request"} is invalid`, {
            problems: problemsFromZod(parsed.error),
          });
        context.body = parsed.data;
      }
    }
    return r.handle(context as RouteContext);
  }

  private match(path: string): Array<{ route: AnyRoute; params: Record<string, string> }> {
    const segments = path.split("/").slice(1);
    const matches: Array<{ route: AnyRoute; params: Record<string, string> }> = [];
    for (const compiled of this.routes) {
      if (compiled.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (const [i, pattern] of compiled.segments.entries()) {
        const segment = segments[i]!;
        if (pattern.startsWith(":")) {
          const name = pattern.slice(1);
          const rule = compiled.route.params?.[name];
          if (segment === "" || (rule && !rule.test(segment))) ok = false;
          else params[name] = segment;
        } else if (pattern !== segment) ok = false;
        if (!ok) break;
      }
      if (ok) matches.push({ route: compiled.route, params });
    }
    return matches;
  }
}

/** A 405, with the methods the path does serve (the `Allow` header). */
class MethodNotAllowed extends UserError {
  readonly allow: readonly string[];
  constructor(method: string, allow: readonly string[]) {
    super("MethodNotAllowed", `method ${method} is not allowed here`);
    this.allow = allow;
  }
}

function jsonResponse(status: number, value: unknown): ApiResponse {
  const body = JSON.stringify(value);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  };
  return { status, headers, body };
}

/** The query's first value of each parameter, checked by the route's schema (400 listing every problem). */
function checkedQuery(r: AnyRoute, search: URLSearchParams): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of search) values[key] ??= value;
  if (!r.query) return values;
  const parsed = r.query.safeParse(values);
  if (parsed.success) return parsed.data as Record<string, string>;
  const problems = problemsFromZod(parsed.error);
  throw new UserError(
    "BadRequest",
    problems.length === 1
      ? `the query parameter ${problems[0]!.path} is invalid`
      : "the query parameters are invalid",
    { problems },
  );
}

/**
 * The request's URL. A path that starts with `//` is a path here, not a host: the base is prefixed, not
 * resolved against. A NUL in a query parameter is refused.
 */
function requestUrl(raw: string): URL {
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

function bearer(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  if (!header?.startsWith("Bearer ")) return undefined;
  return header.slice("Bearer ".length).trim();
}

function acceptsJson(accept: string | undefined): boolean {
  if (!accept?.trim()) return true;
  return accept.split(",").some((range) => {
    const type = range.split(";")[0]!.trim().toLowerCase();
    return type === "application/json" || type === "application/*" || type === "*/*" || type === "";
  });
}
