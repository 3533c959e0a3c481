/**
 * Malformed requests get a Kubernetes Status with a 4xx code, never a 500 (issue 12, finding 11): null bodies,
 * NUL characters, a fractional limit, deep nesting, bad percent-encoding, duplicate keys, content types the route
 * does not take, and `/metrics` without a token. A real hub on the embedded store, over real HTTP.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";

const api = "/apis/unitfleet.io/v1alpha1";
let home: string;
let hub: RunningHub;
let token: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-malformed-"));
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, insecure: true, log: () => {} });
  token = (await readFile(hub.adminTokenFile, "utf8")).trim();
  const created = await call("POST", `${api}/locations`, location("tokyo"));
  expect(created.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await hub?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

function location(name: string, spec: object = { displayName: "Tokyo" }): string {
  return JSON.stringify({ apiVersion: "unitfleet.io/v1alpha1", kind: "Location", metadata: { name }, spec });
}

interface Answer {
  status: number;
  body: { kind?: string; code?: number; reason?: string; message?: string; details?: { causes?: unknown[] } };
  text: string;
}

/** Sends the path as written (no normalisation), with a token unless `headers.authorization` is null. */
function call(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string | null> = {},
): Promise<Answer> {
  const url = new URL(hub.url);
  const sent: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) sent["content-type"] = "application/json";
  for (const [key, value] of Object.entries(headers))
    if (value === null) delete sent[key];
    else sent[key] = value;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: sent }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => {
        let parsed: Answer["body"] = {};
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON (metrics, health): the text is kept.
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

function expectStatus(answer: Answer, code: number) {
  expect({ status: answer.status, text: answer.text.slice(0, 300) }).toMatchObject({ status: code });
  expect(answer.body).toMatchObject({ kind: "Status", code });
  expect(answer.text).not.toMatch(/\n\s+at /);
}

describe("bodies", () => {
  it.each([
    ["POST", `${api}/locations`],
    ["PUT", `${api}/locations/tokyo`],
    ["PUT", `${api}/locations/tokyo/status`],
    ["PATCH", `${api}/locations/tokyo`],
    ["POST", "/unitfleet/v1alpha1/apply"],
    ["POST", "/unitfleet/v1alpha1/api-tokens"],
    ["POST", "/unitfleet/v1alpha1/bootstrap-tokens"],
    ["POST", "/unitfleet/v1alpha1/join"],
  ])("refuses a null body on %s %s with 400", async (method, path) => {
    const answer = await call(method, path, "null");
    expectStatus(answer, 400);
    expect(answer.body.message).toMatch(/must be a JSON object, not null/);
  });

  it("refuses a document list with null entries with 400", async () => {
    expectStatus(await call("POST", "/unitfleet/v1alpha1/apply", '{"documents":[null]}'), 400);
  });

  it("refuses a NUL character in a string with 400", async () => {
    const answer = await call("POST", `${api}/locations`, location("osaka", { displayName: "a\u0000b" }));
    expectStatus(answer, 400);
    expect(answer.body.message).toMatch(/NUL/);
  });

  it("refuses a deeply nested merge patch with 400", async () => {
    const deep = `{"spec":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`;
    const answer = await call("PATCH", `${api}/locations/tokyo`, deep, {
      "content-type": "application/merge-patch+json",
    });
    expectStatus(answer, 400);
    expect(answer.body.message).toMatch(/nested deeper than/);
  });

  it("refuses duplicate keys with 400, naming the key", async () => {
    const answer = await call(
      "POST",
      `${api}/locations`,
      '{"apiVersion":"unitfleet.io/v1alpha1","kind":"Location","metadata":{"name":"kobe","name":"nara"},"spec":{}}',
    );
    expectStatus(answer, 400);
    expect(answer.body.message).toMatch(/"metadata\.name" twice/);
    expect(answer.body.details?.causes).toEqual([
      { reason: "FieldValueInvalid", message: "duplicate key", field: "metadata.name" },
    ]);
    expectStatus(await call("GET", `${api}/locations/kobe`), 404);
  });

  it("refuses content types the route does not take with 415", async () => {
    for (const type of ["text/plain", "application/yaml", "application/x-www-form-urlencoded"])
      expectStatus(await call("POST", `${api}/locations`, location("kyoto"), { "content-type": type }), 415);
    expectStatus(await call("POST", `${api}/locations`, location("kyoto"), { "content-type": null }), 415);
    const patch = await call("PATCH", `${api}/locations/tokyo`, '{"spec":{"displayName":"T"}}', {
      "content-type": "application/strategic-merge-patch+json",
    });
    expectStatus(patch, 415);
    expect(patch.body.message).toMatch(/--type=merge/);
    expectStatus(await call("GET", `${api}/locations/kyoto`), 404);
  });

  it("refuses a body over the limit with 413", async () => {
    expectStatus(await call("POST", `${api}/locations`, `"${"x".repeat(5 * 1024 * 1024)}"`), 413);
  });
});

describe("paths and query parameters", () => {
  it.each(["0.5", "-1", "abc", "1e3"])("refuses limit=%s with 400", async (limit) => {
    expectStatus(await call("GET", `${api}/locations?limit=${limit}`), 400);
  });

  it("takes limit=0 as no limit", async () => {
    const answer = await call("GET", `${api}/locations?limit=0`);
    expect(answer.status).toBe(200);
  });

  it("refuses bad percent-encoding in a path segment with 400", async () => {
    expectStatus(await call("DELETE", "/unitfleet/v1alpha1/api-tokens/%E0%A4%A"), 400);
    expectStatus(await call("DELETE", "/unitfleet/v1alpha1/api-tokens/%"), 400);
  });

  it("refuses a NUL in a query parameter with 400", async () => {
    expectStatus(await call("GET", "/unitfleet/v1alpha1/audit?actor=%00"), 400);
    expectStatus(await call("GET", `${api}/locations?labelSelector=a%00`), 400);
  });

  it("answers a path that starts with // as a path, not a crash", async () => {
    expectStatus(await call("GET", "//"), 404);
    expectStatus(await call("GET", `/${api}/locations`), 404);
  });

  it("answers a method the route does not serve with 405", async () => {
    expectStatus(await call("PATCH", `${api}/locations`, "{}"), 405);
    expectStatus(await call("GET", "/unitfleet/v1alpha1/bootstrap-tokens"), 405);
  });

  it("answers an Accept it cannot serve with 406", async () => {
    expectStatus(await call("GET", `${api}/locations`, undefined, { accept: "application/yaml" }), 406);
    const table = await call("GET", `${api}/locations`, undefined, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    });
    expect(table.status).toBe(200);
  });
});

describe("/metrics", () => {
  it("needs a token", async () => {
    const anonymous = await call("GET", "/metrics", undefined, { authorization: null });
    expectStatus(anonymous, 401);
    const viewerToken = await call(
      "POST",
      "/unitfleet/v1alpha1/api-tokens",
      JSON.stringify({ name: "scraper", role: "viewer" }),
    );
    expect(viewerToken.status).toBe(201);
    const scraped = await call("GET", "/metrics", undefined, {
      authorization: `Bearer ${(viewerToken.body as { token?: string }).token}`,
      accept: "text/plain",
    });
    expect(scraped.status).toBe(200);
    expect(scraped.text).toMatch(/^unitfleet_api_requests_total\{/m);
  });
});
