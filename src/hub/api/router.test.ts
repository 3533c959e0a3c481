/** The route table on its own, in process (`inject`, no port): matching, the checks it does once, and errors. */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { Caller } from "../registry/caller.ts";
import { limitParameter } from "./query-parameters.ts";
import { jsonTypes } from "./request-body.ts";
import { json, Router, route, text } from "./router.ts";

const callers: Record<string, Caller> = {
  "viewer-token": { name: "v", role: "viewer" },
  "admin-token": { name: "a", role: "admin" },
  "scoped-admin-token": { name: "s", role: "admin", businesses: ["shop"] },
};

function router(log: Array<Record<string, unknown>> = []) {
  return new Router(
    { authenticate: async (token) => (token ? callers[token] : undefined), log: (e) => log.push(e) },
    [
      route({
        method: "GET",
        path: "/livez",
        access: "public",
        anyAccept: true,
        handle: async () => text(200, "ok"),
      }),
      route({
        method: "GET",
        path: "/things",
        access: "authenticated",
        query: z.looseObject({ limit: limitParameter.optional() }),
        handle: async ({ query, caller }) => json(200, { limit: query.limit ?? null, caller: caller.name }),
      }),
      route({
        method: "POST",
        path: "/things",
        access: { role: "admin", unscoped: true, doing: "make things" },
        body: {
          types: jsonTypes,
          what: "the thing",
          schema: z.strictObject({ name: z.string(), size: z.number().int().min(1) }),
        },
        handle: async ({ body }) => json(201, { made: body.name, size: body.size }),
      }),
      route({
        method: "DELETE",
        path: "/things/:name",
        access: "authenticated",
        params: { name: /^[a-z]+$/ },
        errorTarget: ({ params }) => ({ kind: "Thing", ...(params?.name ? { name: params.name } : {}) }),
        handle: async ({ params }) => {
          if (params.name === "broken") throw new Error("a bug");
          return json(200, { deleted: params.name });
        },
      }),
    ],
  );
}

const as = (token: string) => ({ authorization: `Bearer ${token}` });

describe("the route table", () => {
  it("answers a public route without a token, and nothing else", async () => {
    const r = router();
    expect(await r.inject({ method: "GET", url: "/livez" })).toMatchObject({ status: 200, body: "ok" });
    const refused = await r.inject({ method: "GET", url: "/things" });
    expect(refused).toMatchObject({
      status: 401,
      body: { kind: "Status", reason: "Unauthorized", code: 401 },
    });
    // An unknown path is not told apart from a known one without a token.
    expect((await r.inject({ method: "GET", url: "/nowhere" })).status).toBe(401);
  });

  it("matches path templates and parameters, ignoring a trailing slash", async () => {
    const r = router();
    const deleted = await r.inject({ method: "DELETE", url: "/things/lamp/", headers: as("viewer-token") });
    expect(deleted).toMatchObject({ status: 200, body: { deleted: "lamp" } });
    // A parameter that breaks its pattern is a path the hub does not have.
    const bad = await r.inject({ method: "DELETE", url: "/things/Lamp", headers: as("viewer-token") });
    expect(bad).toMatchObject({ status: 404, body: { reason: "NotFound" } });
    expect((await r.inject({ method: "GET", url: "//things", headers: as("viewer-token") })).status).toBe(
      404,
    );
  });

  it("answers 405 with Allow for a method the path does not serve", async () => {
    const answer = await router().inject({ method: "PUT", url: "/things", headers: as("viewer-token") });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe("GET, POST");
    expect(answer.body).toMatchObject({
      reason: "MethodNotAllowed",
      message: "method PUT is not allowed here",
    });
  });

  it("checks the role, and refuses scoped tokens where the route says unscoped", async () => {
    const r = router();
    const body = { name: "lamp", size: 2 };
    const viewer = await r.inject({ method: "POST", url: "/things", headers: as("viewer-token"), body });
    expect(viewer).toMatchObject({
      status: 403,
      body: { message: 'token "v" may not make things: it needs role admin, unscoped' },
    });
    expect(
      (await r.inject({ method: "POST", url: "/things", headers: as("scoped-admin-token"), body })).status,
    ).toBe(403);
    expect(
      await r.inject({ method: "POST", url: "/things", headers: as("admin-token"), body }),
    ).toMatchObject({
      status: 201,
      body: { made: "lamp", size: 2 },
    });
  });

  it("checks the body's schema and lists every problem with its path (422)", async () => {
    const answer = await router().inject({
      method: "POST",
      url: "/things",
      headers: as("admin-token"),
      body: { size: 0, colour: "red" },
    });
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({
      reason: "Invalid",
      message: expect.stringMatching(/^the thing is invalid: /),
    });
    const causes = (answer.body as { details: { causes: Array<{ field: string }> } }).details.causes;
    expect(causes.map((c) => c.field).sort()).toEqual(["colour", "name", "size"]);
  });

  it("refuses bodies that are not JSON objects of a type the route takes (400, 415)", async () => {
    const r = router();
    const post = (body: string, type = "application/json") =>
      r.inject({
        method: "POST",
        url: "/things",
        headers: { ...as("admin-token"), "content-type": type },
        body,
      });
    expect((await post("[1]")).body).toMatchObject({
      code: 400,
      message: "the body must be a JSON object, not a list",
    });
    expect((await post('{"name":"a","name":"b","size":1}')).body).toMatchObject({ code: 400 });
    expect((await post('{"name":"a"}', "text/plain")).body).toMatchObject({ code: 415 });
  });

  it("checks the query's schema (400 naming the parameter)", async () => {
    const r = router();
    const bad = await r.inject({ method: "GET", url: "/things?limit=1.5", headers: as("viewer-token") });
    expect(bad).toMatchObject({
      status: 400,
      body: { message: 'the query parameter limit is invalid: limit: must be a whole number, not "1.5"' },
    });
    const good = await r.inject({
      method: "GET",
      url: "/things?limit=5&other=x",
      headers: as("viewer-token"),
    });
    expect(good).toMatchObject({ status: 200, body: { limit: 5, caller: "v" } });
  });

  it("refuses an Accept without JSON (406), except on routes that answer any", async () => {
    const r = router();
    const headers = { ...as("viewer-token"), accept: "application/yaml" };
    expect((await r.inject({ method: "GET", url: "/things", headers })).status).toBe(406);
    expect((await r.inject({ method: "GET", url: "/livez", headers })).status).toBe(200);
  });

  it("answers a bug with a 500 Status and logs its stack, naming the object", async () => {
    const log: Array<Record<string, unknown>> = [];
    const answer = await router(log).inject({
      method: "DELETE",
      url: "/things/broken",
      headers: as("viewer-token"),
    });
    expect(answer).toMatchObject({ status: 500, body: { reason: "InternalError" } });
    expect(JSON.stringify(answer.body)).not.toMatch(/a bug/);
    expect(String(log[0]?.error)).toMatch(/Error: a bug\n\s+at /);
  });

  it("refuses a route declared twice", () => {
    const r = router();
    expect(() =>
      r.add(route({ method: "GET", path: "/livez", access: "public", handle: async () => text(200, "") })),
    ).toThrow(/declared twice/);
  });
});
