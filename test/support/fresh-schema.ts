/** Empties a test database and migrates it again: one PGlite instance (slow to start) serves a whole file. */
import { migrate } from "../../src/store/migrations.ts";
import type { Sql } from "../../src/store/sql.ts";

export async function freshSchema(sql: Sql): Promise<void> {
  await sql.query("drop schema public cascade");
  await sql.query("create schema public");
  await migrate(sql);
}
