/**
 * docs/errors.md and the code agree, as Fastify checks its errors document: every code of the catalogue is in the
 * table with its HTTP status and Status reason, nothing else is; and the codes marked "API" are exactly those the
 * hub's code (src/hub, src/store, src/yaml) can throw, plus InternalError for bugs.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { errorCodes, UserError } from "../../src/errors/user-error.ts";
import { statusFor, statusReasons } from "../../src/hub/api/status.ts";

const root = new URL("../../", import.meta.url).pathname;

interface Row {
  code: string;
  http: number;
  reason: string;
  answeredBy: string;
  when: string;
}

async function documented(): Promise<Row[]> {
  const text = await readFile(join(root, "docs/errors.md"), "utf8");
  const table = text.slice(text.indexOf("## The catalogue"));
  return table
    .split("\n")
    .filter((line) => /^\| [A-Z]\w+ +\|/.test(line))
    .map((line) => {
      const [code, http, reason, answeredBy, when] = line
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
      return { code: code!, http: Number(http), reason: reason!, answeredBy: answeredBy!, when: when! };
    });
}

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** The codes a folder's code throws: `new UserError("Code"` and `super("Code"` in UserError subclasses. */
async function thrownIn(dirs: string[]): Promise<Set<string>> {
  const codes = new Set<string>();
  for (const dir of dirs)
    for (const file of await sources(dir)) {
      const text = await readFile(file, "utf8");
      for (const match of text.matchAll(/(?:new UserError|super)\(\s*"(\w+)"/g)) codes.add(match[1]!);
    }
  return codes;
}

describe("docs/errors.md", () => {
  it("lists every code of the catalogue once, with its HTTP status and Status reason, and nothing else", async () => {
    const rows = await documented();
    expect(rows.map((r) => r.code).sort()).toEqual([...Object.keys(errorCodes), "InternalError"].sort());
    for (const row of rows) {
      expect(row.when.length, row.code).toBeGreaterThan(10);
      if (row.code === "InternalError") {
        expect([row.http, row.reason]).toEqual([500, statusFor(new Error("bug")).reason]);
        continue;
      }
      const code = row.code as keyof typeof errorCodes;
      expect({ code, http: row.http, reason: row.reason }).toEqual({
        code,
        http: errorCodes[code],
        reason: statusReasons[code],
      });
      // What the API answers is what the row says.
      expect(statusFor(new UserError(code, "x"))).toMatchObject({ code: row.http, reason: row.reason });
    }
  });

  it('marks "API" exactly the codes the hub can answer', async () => {
    const rows = await documented();
    const thrown = await thrownIn(["src/hub", "src/store", "src/yaml"]);
    thrown.add("InternalError");
    const marked = new Set(rows.filter((r) => r.answeredBy === "API").map((r) => r.code));
    expect(rows.every((r) => r.answeredBy === "API" || r.answeredBy === "CLI")).toBe(true);
    expect([...marked].sort()).toEqual([...thrown].sort());
  });
});
