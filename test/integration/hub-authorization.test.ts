/**
 * Authorization and the audit log on a real hub over HTTP: the matrix of docs/authorization.md (every route × verb
 * × kind × role × scope, each cell 2xx or 403), scoped deletes, the audit log's order and paging, and the bounds
 * on what a refused caller can make the hub store.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";

const api = "/apis/unitfleet.io/v1alpha1";
const columns = ["viewer", "operator", "admin", "viewer, shop", "operator, shop", "admin, shop"] as const;
type Column = (typeof columns)[number];

let dir: string;
let hub: RunningHub;
let ca: string;
const tokens = new Map<Column, string>();

interface Answer {
  status: number;
  body: string;
}

/** One HTTP request to the hub; a watch answers as soon as its headers arrive. */
function call(method: string, path: string, token: string, body?: unknown, watch = false): Promise<Answer> {
  const url = new URL(path, hub.url);
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload === undefined
            ? {}
            : {
                "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
                "content-length": Buffer.byteLength(payload),
              }),
        },
      },
      (res) => {
        if (watch) {
          resolve({ status: res.statusCode ?? 0, body: "" });
          res.destroy();
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", (error) => (watch ? undefined : reject(error)));
    req.end(payload);
  });
}

const adminToken = () => tokens.get("admin")!;
const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: "unitfleet.io/v1alpha1",
  kind,
  metadata: { name },
  spec,
});

/** A valid object of a matrix row's kind. */
function objectFor(row: string, name: string) {
  switch (row) {
    case "Location":
      return doc("Location", name, {});
    case "Region":
      return doc("Region", name, { location: "base", zones: [`${name}-1`] });
    case "Cluster (business shop)":
      return doc("Cluster", name, { location: "base", environment: "dev", business: "shop" });
    case "Cluster (business ads)":
      return doc("Cluster", name, { location: "base", environment: "dev", business: "ads" });
    case "Application":
      return doc("Application", name, {
        manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: {} }],
        placement: { locations: ["base"], replicas: { mode: "Divided", count: 1 } },
      });
    case "Placement":
      return doc("Placement", name, { locations: ["base"], replicas: { mode: "Divided", count: 1 } });
    case "Override":
      return doc("Override", name, {
        applications: ["any"],
        rules: [{ clusters: { clusterNames: ["elsewhere"] }, imageRegistry: "registry.example" }],
      });
    case "ConsolidationPolicy":
      return doc("ConsolidationPolicy", name, {});
    case "PriceBook":
      // An instance type of its own: books of one Location may not price one thing twice.
      return doc("PriceBook", name, {
        location: "base",
        currency: "EUR",
        prices: [{ from: "2026-01-01", nodes: [{ instanceType: name, perHour: "0.25" }] }],
      });
    case "NetworkPool": {
      // A Location of its own: one pool per Location (made before it by `cell`).
      return doc("NetworkPool", name, { location: name, pods: ["10.0.0.0/12"], services: ["10.96.0.0/16"] });
    }
    default:
      throw new Error(`no object for row kind "${row}"`);
  }
}

async function created(object: { kind: string; metadata: { name: string } }): Promise<void> {
  const plural = pluralOf(object.kind);
  const answer = await call("POST", `${api}/${plural}`, adminToken(), object);
  if (answer.status !== 201) throw new Error(`setup: ${object.kind} ${answer.status} ${answer.body}`);
}

function pluralOf(kind: string): string {
  return kind === "ConsolidationPolicy" ? "consolidationpolicies" : `${kind.toLowerCase()}s`;
}

interface MatrixRow {
  method: string;
  route: string;
  verb: string;
  kind: string;
  expected: Record<Column, "allow" | "deny">;
}

/** The rows of the matrix table in docs/authorization.md. */
async function matrix(): Promise<MatrixRow[]> {
  const text = await readFile(new URL("../../docs/authorization.md", import.meta.url), "utf8");
  const lines = text.split("\n").filter((l) => /^\| (GET|POST|PUT|PATCH|DELETE) `/.test(l));
  return lines.map((line) => {
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    const [method, route] = cells[0]!.split(" ") as [string, string];
    const expected = Object.fromEntries(
      columns.map((c, i) => {
        const cell = cells[3 + i];
        if (cell !== "allow" && cell !== "deny") throw new Error(`bad cell "${cell}" in: ${line}`);
        return [c, cell];
      }),
    ) as Record<Column, "allow" | "deny">;
    return { method, route: route.replaceAll("`", ""), verb: cells[1]!, kind: cells[2]!, expected };
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "unitfleet-authorization-"));
  hub = await startHub({ dir, host: "127.0.0.1", port: 0, log: () => {} });
  ca = await readFile(hub.caFile, "utf8");
  tokens.set("admin", (await readFile(hub.adminTokenFile, "utf8")).trim());
  for (const column of columns) {
    if (column === "admin") continue;
    const [role, scope] = column.split(", ") as [string, string | undefined];
    const answer = await call("POST", "/unitfleet/v1alpha1/api-tokens", adminToken(), {
      name: `${role}${scope ? `-${scope}` : ""}`,
      role,
      ...(scope ? { businesses: [scope] } : {}),
    });
    tokens.set(column, (JSON.parse(answer.body) as { token: string }).token);
  }
  await created(doc("Location", "base", {}));
}, 60_000);

afterAll(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

let serial = 0;
const fresh = () => `o${++serial}`;

describe("the authorization matrix of docs/authorization.md", () => {
  it("answers every route × verb × kind × role × scope with 2xx when allowed and 403 when not", async () => {
    const rows = await matrix();
    expect(rows.length).toBeGreaterThan(70);
    const wrong: string[] = [];
    for (const row of rows) {
      for (const column of columns) {
        const token = tokens.get(column)!;
        const answer = await cell(row, token);
        const ok =
          row.expected[column] === "allow"
            ? answer.status >= 200 && answer.status < 300
            : answer.status === 403;
        if (!ok)
          wrong.push(
            `${row.method} ${row.route} (${row.verb} ${row.kind}) as ${column}: expected ${row.expected[column]}, got ${answer.status} ${answer.body.slice(0, 160)}`,
          );
      }
    }
    expect(wrong).toEqual([]);
  }, 240_000);
});

/** Runs one cell: makes the object the row needs (as admin), then the row's request with `token`. */
async function cell(row: MatrixRow, token: string): Promise<Answer> {
  if (!row.route.startsWith(api) && row.route !== "/unitfleet/v1alpha1/apply") {
    const body =
      row.route === "/unitfleet/v1alpha1/api-tokens"
        ? { name: fresh(), role: "viewer" }
        : row.route === "/unitfleet/v1alpha1/bootstrap-tokens"
          ? { location: "base", ttlSeconds: 60 }
          : undefined;
    return call(row.method, row.route, token, row.method === "POST" ? body : undefined);
  }
  const name = fresh();
  const object = objectFor(row.kind, name);
  // A NetworkPool names its Location, which must exist.
  if (row.kind === "NetworkPool") await created(objectFor("Location", name));
  if (row.verb === "apply")
    return call("POST", row.route, token, { documents: [{ source: "matrix.yaml", object }] });
  if (row.verb === "create") return call("POST", row.route, token, object);
  if (row.verb !== "list" && row.verb !== "watch") await created(object);
  const path = row.route.replace("NAME", name);
  switch (row.verb) {
    case "list":
      return call("GET", path, token);
    case "watch":
      return call("GET", path, token, undefined, true);
    case "get":
    case "delete":
      return call(row.method, path, token);
    case "update":
      return call("PUT", path, token, {
        ...object,
        metadata: { name, annotations: { "example.com/note": "replaced" } },
      });
    case "patch":
      return call("PATCH", path, token, { metadata: { annotations: { "example.com/note": "patched" } } });
    case "update-status":
      return call("PUT", path, token, { ...object, status: { note: "set" } });
    default:
      throw new Error(`unknown verb "${row.verb}"`);
  }
}

describe("a business-scoped operator", () => {
  it("cannot delete another business's Application, nor a Location, and they stay", async () => {
    const scoped = tokens.get("operator, shop")!;
    await created(objectFor("Application", "ads-web"));
    await created(objectFor("Location", "lonely"));
    const application = await call("DELETE", `${api}/applications/ads-web`, scoped);
    const location = await call("DELETE", `${api}/locations/lonely`, scoped);
    expect([application.status, location.status]).toEqual([403, 403]);
    expect(JSON.parse(location.body).message).toMatch(/scoped to businesses and may not delete locations/);
    expect((await call("GET", `${api}/applications/ads-web`, adminToken())).status).toBe(200);
    expect((await call("GET", `${api}/locations/lonely`, adminToken())).status).toBe(200);
  });

  it("cannot move its cluster to another business", async () => {
    const scoped = tokens.get("operator, shop")!;
    await created(objectFor("Cluster (business shop)", "shop-moving"));
    const moved = await call("PATCH", `${api}/clusters/shop-moving`, scoped, { spec: { business: "ads" } });
    expect(moved.status).toBe(403);
  });
});

interface AuditAnswer {
  items: Array<{ id: string; name: string; verb: string; result: string; reason: string | null }>;
  continue?: string;
}

describe("the audit log", () => {
  it("records a refused apply, with who, what and why", async () => {
    // A token of its own: the matrix's tokens are past the 30 recorded refusals a minute.
    const minted = await call("POST", "/unitfleet/v1alpha1/api-tokens", adminToken(), {
      name: "viewer-applying",
      role: "viewer",
    });
    const viewer = (JSON.parse(minted.body) as { token: string }).token;
    const refused = await call("POST", "/unitfleet/v1alpha1/apply", viewer, {
      documents: [{ source: "viewer.yaml", object: doc("Location", "not-by-a-viewer", {}) }],
    });
    expect(refused.status).toBe(403);
    const read = JSON.parse(
      (await call("GET", "/unitfleet/v1alpha1/audit?limit=5&kind=Location", adminToken())).body,
    ) as AuditAnswer;
    const entry = read.items.find((e) => e.name === "not-by-a-viewer");
    expect(entry).toMatchObject({ verb: "apply", result: "refused" });
    expect(entry?.reason).toMatch(/^Forbidden: .*may not apply/);
  });

  it("shows the newest entries first past 100, and pages through all of them in order", async () => {
    await created(doc("Location", "counted", {}));
    for (let i = 1; i <= 110; i++) {
      const answer = await call("PATCH", `${api}/locations/counted`, adminToken(), {
        metadata: { annotations: { "example.com/step": String(i) } },
      });
      expect(answer.status).toBe(200);
    }
    await created(doc("Location", "newest", {}));
    const first = JSON.parse(
      (await call("GET", "/unitfleet/v1alpha1/audit?limit=3&kind=Location", adminToken())).body,
    ) as AuditAnswer;
    expect(first.items.map((e) => e.name)).toEqual(["newest", "counted", "counted"]);
    const ids: number[] = [];
    let next: string | undefined;
    do {
      const page = JSON.parse(
        (
          await call(
            "GET",
            `/unitfleet/v1alpha1/audit?kind=Location&limit=40${next ? `&continue=${next}` : ""}`,
            adminToken(),
          )
        ).body,
      ) as AuditAnswer;
      expect(page.items.length).toBeLessThanOrEqual(40);
      ids.push(...page.items.map((e) => Number(e.id)));
      next = page.continue;
    } while (next);
    const total = (
      await hub.sql.query<{ n: number }>("select count(*)::int as n from audit_log where kind = 'Location'")
    )[0]!.n;
    expect(ids.length).toBe(total);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  }, 60_000);
});

describe("what a refused caller can make the hub store", () => {
  // What the flooder's entries take in the store (the hub's own status writes are audited meanwhile).
  const auditBytes = async () =>
    Number(
      (
        await hub.sql.query<{ n: string }>(
          "select coalesce(sum(pg_column_size(audit_log.*)), 0)::text as n from audit_log where actor = 'flooder'",
        )
      )[0]!.n,
    );

  it("refuses a 4 MB name quickly and records a bounded entry, at most 30 a minute per token", async () => {
    const minted = await call("POST", "/unitfleet/v1alpha1/api-tokens", adminToken(), {
      name: "flooder",
      role: "viewer",
    });
    const viewer = (JSON.parse(minted.body) as { token: string }).token;
    const before = await auditBytes();
    const started = performance.now();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      // Random, so that compression does not hide what is stored.
      const name = randomBytes(2 * 1024 * 1024 - 200).toString("hex");
      statuses.push((await call("POST", `${api}/locations`, viewer, doc("Location", name, {}))).status);
    }
    const elapsed = performance.now() - started;
    expect(new Set(statuses)).toEqual(new Set([403]));
    expect(elapsed / 20).toBeLessThan(1000);
    expect((await auditBytes()) - before).toBeLessThan(64 * 1024);
    const read = await call("GET", "/unitfleet/v1alpha1/audit?limit=100&actor=flooder", adminToken());
    expect(read.body.length).toBeLessThan(200 * 1024);
    const entries = (JSON.parse(read.body) as AuditAnswer).items;
    expect(entries.every((e) => e.name.length < 300)).toBe(true);

    for (let i = 0; i < 40; i++) await call("DELETE", `${api}/locations/base`, viewer);
    const recorded = await hub.sql.query<{ n: number }>(
      "select count(*)::int as n from audit_log where actor = 'flooder' and result = 'refused'",
    );
    expect(recorded[0]!.n).toBeLessThanOrEqual(30);
  }, 120_000);

  it("refuses an operator's over-long name and over-large annotations with their field paths", async () => {
    const operator = tokens.get("operator")!;
    const longName = await call("POST", `${api}/locations`, operator, doc("Location", "a".repeat(300), {}));
    expect(longName.status).toBe(422);
    expect(longName.body).toContain("metadata.name");
    expect(longName.body.length).toBeLessThan(4096);
    const big = {
      ...doc("Location", "annotated", {}),
      metadata: { name: "annotated", annotations: { "example.com/blob": "x".repeat(262_145) } },
    };
    const annotated = await call("POST", `${api}/locations`, operator, big);
    expect(annotated.status).toBe(422);
    expect(annotated.body).toContain("metadata.annotations");
    expect(annotated.body).toContain("262144 bytes");
    expect((await call("GET", `${api}/locations/annotated`, operator)).status).toBe(404);
  });
});
