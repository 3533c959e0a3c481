/**
 * Schema migrations: numbered `.sql` files in `migrations/`, each applied once, in order, in a transaction,
 * and recorded in `schema_migrations`. A lock keeps two hub replicas that start together from racing.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "./sql.ts";

const folder = join(import.meta.dirname, "migrations");
const migrationLock = 7_314_001;

export async function migrate(sql: Sql): Promise<string[]> {
  const files = (await readdir(folder)).filter((f) => /^\d{4}-.*\.sql$/.test(f)).sort();
  return sql.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1)", [migrationLock]);
    await tx.query(
      "create table if not exists schema_migrations (version int primary key, name text not null, applied_at timestamptz not null default now())",
    );
    const done = new Set(
      (await tx.query<{ version: number }>("select version from schema_migrations")).map((r) => r.version),
    );
    const applied: string[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      if (done.has(version)) continue;
      const text = await readFile(join(folder, file), "utf8");
      for (const statement of splitStatements(text)) await tx.query(statement);
      await tx.query("insert into schema_migrations (version, name) values ($1, $2)", [version, file]);
      applied.push(file);
    }
    return applied;
  });
}

// Migrations hold plain statements separated by semicolons at line ends (no functions with bodies yet).
function splitStatements(text: string): string[] {
  return text
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
    .filter((s) => s.length > 0);
}
