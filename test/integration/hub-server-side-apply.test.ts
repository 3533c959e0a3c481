/**
 * Server-side apply and JSON patch on a real hub over HTTP (issue 13, item 7): create by apply, field managers
 * recorded in metadata.managedFields, a conflict with another manager refused as Kubernetes words it, force taking
 * the field, fields a manager drops removed, a repeated apply writing nothing; RFC 6902 patches with a failed
 * `test` and a bad path answered 422, malformed ones 400; both through the registry, so that validation, business
 * scopes and the audit log apply.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";

const api = "/apis/unitfleet.io/v1alpha1";
const applyType = "application/apply-patch+yaml";
const jsonPatchType = "application/json-patch+json";
let home: string;
let hub: RunningHub;
let admin: string;

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in the assertions.
  body: any;
}

function call(
  method: string,
  path: string,
  body?: unknown,
  type = "application/json",
  token = admin,
): Promise<Answer> {
  const url = new URL(hub.url);
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${token}`,
          "user-agent": "kubectl/v1.36.3 (linux/amd64)",
          ...(payload === undefined ? {} : { "content-type": type }),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const location = (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind: "Location",
  metadata: { name, ...(labels ? { labels } : {}) },
  spec,
});
const apply = (name: string, body: unknown, manager: string, extra = "") =>
  call("PATCH", `${api}/locations/${name}?fieldManager=${manager}${extra}`, body, applyType);
const managers = (object: {
  metadata: { managedFields?: Array<{ manager: string; operation: string; fieldsV1: unknown }> };
}) =>
  Object.fromEntries(
    (object.metadata.managedFields ?? []).map((e) => [`${e.manager}/${e.operation}`, e.fieldsV1]),
  );

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "unitfleet-ssa-"));
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, insecure: true, log: () => {} });
  admin = (await readFile(hub.adminTokenFile, "utf8")).trim();
}, 60_000);

afterAll(async () => {
  await hub?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("server-side apply", () => {
  it("creates the object, recording the manager's fields in FieldsV1", async () => {
    const created = await apply(
      "tokyo",
      location("tokyo", { displayName: "Tokyo" }, { tier: "gold" }),
      "gitops",
    );
    expect(created.status).toBe(201);
    expect(created.body.spec).toEqual({ displayName: "Tokyo" });
    expect(created.body.metadata.managedFields).toEqual([
      {
        manager: "gitops",
        operation: "Apply",
        apiVersion: "unitfleet.io/v1alpha1",
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        fieldsType: "FieldsV1",
        fieldsV1: { "f:metadata": { "f:labels": { "f:tier": {} } }, "f:spec": { "f:displayName": {} } },
      },
    ]);
    expect((await call("GET", `${api}/locations/tokyo`)).body.metadata.managedFields).toHaveLength(1);
  });

  it("writes nothing when the same configuration is applied again", async () => {
    const before = await call("GET", `${api}/locations/tokyo`);
    const again = await apply(
      "tokyo",
      location("tokyo", { displayName: "Tokyo" }, { tier: "gold" }),
      "gitops",
    );
    expect(again.status).toBe(200);
    expect(again.body.metadata.resourceVersion).toBe(before.body.metadata.resourceVersion);
  });

  it("refuses another manager's different value with a 409 naming the field and the manager", async () => {
    const refused = await apply("tokyo", location("tokyo", { displayName: "Edo" }), "console");
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      kind: "Status",
      reason: "Conflict",
      code: 409,
      message: 'Apply failed with 1 conflict: conflict with "gitops": .spec.displayName',
      details: {
        causes: [
          { reason: "FieldManagerConflict", field: ".spec.displayName", message: 'conflict with "gitops"' },
        ],
      },
    });
    expect((await call("GET", `${api}/locations/tokyo`)).body.spec.displayName).toBe("Tokyo");
  });

  it("with force=true takes the field from the other manager", async () => {
    const forced = await apply("tokyo", location("tokyo", { displayName: "Edo" }), "console", "&force=true");
    expect(forced.status).toBe(200);
    expect(forced.body.spec.displayName).toBe("Edo");
    expect(managers(forced.body)).toEqual({
      "gitops/Apply": { "f:metadata": { "f:labels": { "f:tier": {} } } },
      "console/Apply": { "f:spec": { "f:displayName": {} } },
    });
  });

  it("removes fields a manager no longer applies when nobody else owns them", async () => {
    const next = await apply("tokyo", location("tokyo", { description: "east" }), "gitops");
    expect(next.status).toBe(200);
    // The label gitops dropped is gone; the displayName console owns stays.
    expect(next.body.metadata.labels).toBeUndefined();
    expect(next.body.spec).toEqual({ displayName: "Edo", description: "east" });
  });

  it("records other writers as Update managers once an object is applied, so a later apply conflicts with them", async () => {
    const patched = await call(
      "PATCH",
      `${api}/locations/tokyo?fieldManager=kubectl-edit`,
      { spec: { description: "west" } },
      "application/merge-patch+json",
    );
    expect(patched.status).toBe(200);
    expect(managers(patched.body)["kubectl-edit/Update"]).toEqual({ "f:spec": { "f:description": {} } });
    const refused = await apply("tokyo", location("tokyo", { description: "east" }), "gitops");
    expect(refused.status).toBe(409);
    expect(refused.body.message).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-edit" using unitfleet.io/v1alpha1: .spec.description',
    );
  });

  it("takes YAML as well as JSON, and validates the result with field paths", async () => {
    const yaml =
      "apiVersion: unitfleet.io/v1alpha1\nkind: Location\nmetadata:\n  name: osaka\nspec:\n  displayName: Osaka\n";
    expect((await apply("osaka", yaml, "gitops")).status).toBe(201);
    const invalid = await apply("osaka", location("osaka", { colour: "red" }), "gitops");
    expect(invalid.status).toBe(422);
    expect(invalid.body.details.causes).toEqual([
      { reason: "FieldValueInvalid", field: "spec.colour", message: "unknown field" },
    ]);
    const misnamed = await apply("osaka", location("kyoto", {}), "gitops");
    expect(misnamed.status).toBe(422);
    expect(misnamed.body.message).toMatch(/metadata\.name: must be "osaka", the name in the path/);
  });

  it("needs a field manager, and a dry run stores nothing", async () => {
    const missing = await call("PATCH", `${api}/locations/nara`, location("nara", {}), applyType);
    expect(missing.status).toBe(422);
    expect(missing.body.details.causes[0]).toMatchObject({
      field: "fieldManager",
      message: "is required for apply patch",
    });
    const dry = await apply("nara", location("nara", {}), "gitops", "&dryRun=All");
    expect(dry.status).toBe(201);
    expect((await call("GET", `${api}/locations/nara`)).status).toBe(404);
  });

  it("keeps business scopes: a scoped operator cannot apply a Location nor another business's Cluster", async () => {
    const token = await call("POST", "/unitfleet/v1alpha1/api-tokens", {
      name: "shop-op",
      role: "operator",
      businesses: ["shop"],
    });
    const shop = token.body.token as string;
    const asShop = (path: string, body: unknown) => call("PATCH", path, body, applyType, shop);
    expect((await asShop(`${api}/locations/kobe?fieldManager=x`, location("kobe", {}))).status).toBe(403);
    const cluster = (business: string) => ({
      apiVersion: "unitfleet.io/v1alpha1",
      kind: "Cluster",
      metadata: { name: `c-${business}` },
      spec: { location: "tokyo", environment: "dev", business },
    });
    expect((await asShop(`${api}/clusters/c-ads?fieldManager=x`, cluster("ads"))).status).toBe(403);
    expect((await asShop(`${api}/clusters/c-shop?fieldManager=x`, cluster("shop"))).status).toBe(201);
    const audit = await call("GET", "/unitfleet/v1alpha1/audit?actor=shop-op");
    expect(audit.body.items.map((e: { name: string; result: string }) => `${e.name} ${e.result}`)).toEqual([
      "c-shop allowed",
      "c-ads refused",
      "kobe refused",
    ]);
  });
});

describe("JSON patch", () => {
  const patch = (name: string, operations: unknown) =>
    call("PATCH", `${api}/locations/${name}`, operations, jsonPatchType);

  it("applies the operations through the registry's rules", async () => {
    await call("POST", `${api}/locations`, location("sapporo", { displayName: "Sapporo" }));
    const answer = await patch("sapporo", [
      { op: "test", path: "/spec/displayName", value: "Sapporo" },
      { op: "copy", from: "/spec/displayName", path: "/spec/description" },
      { op: "replace", path: "/spec/displayName", value: "North" },
      { op: "add", path: "/metadata/labels", value: { tier: "silver" } },
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.spec).toEqual({ displayName: "North", description: "Sapporo" });
    expect(answer.body.metadata.labels).toEqual({ tier: "silver" });
    expect(answer.body.metadata.generation).toBe(2);
  });

  it("answers a failed test with 422 and changes nothing", async () => {
    const answer = await patch("sapporo", [
      { op: "replace", path: "/spec/displayName", value: "South" },
      { op: "test", path: "/spec/displayName", value: "North" },
    ]);
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ reason: "Invalid", details: { causes: [{ field: "[1]" }] } });
    expect(answer.body.message).toMatch(/test failed: "\/spec\/displayName" is "South", not "North"/);
    expect((await call("GET", `${api}/locations/sapporo`)).body.spec.displayName).toBe("North");
  });

  it("answers a bad path with 422 naming it, a malformed patch with 400, an invalid result with 422", async () => {
    const missing = await patch("sapporo", [{ op: "remove", path: "/spec/nothing/here" }]);
    expect(missing.status).toBe(422);
    expect(missing.body.message).toMatch(/"\/spec\/nothing\/here" does not exist/);
    const malformed = await patch("sapporo", [{ op: "jump", path: "/spec" }]);
    expect(malformed.status).toBe(400);
    expect(malformed.body.details.causes[0]).toMatchObject({ field: "[0].op" });
    expect((await patch("sapporo", { op: "add" })).status).toBe(400);
    const invalid = await patch("sapporo", [{ op: "add", path: "/spec/colour", value: "red" }]);
    expect(invalid.status).toBe(422);
    expect(invalid.body.details.causes).toEqual([
      { reason: "FieldValueInvalid", field: "spec.colour", message: "unknown field" },
    ]);
  });

  it("takes a test of the resourceVersion as a precondition", async () => {
    const current = await call("GET", `${api}/locations/sapporo`);
    const stale = await patch("sapporo", [
      { op: "test", path: "/metadata/resourceVersion", value: "1" },
      { op: "replace", path: "/spec/displayName", value: "X" },
    ]);
    expect(stale.status).toBe(422);
    const fresh = await patch("sapporo", [
      { op: "test", path: "/metadata/resourceVersion", value: current.body.metadata.resourceVersion },
      { op: "replace", path: "/spec/displayName", value: "X" },
    ]);
    expect(fresh.status).toBe(200);
  });
});
