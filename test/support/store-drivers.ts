/**
 * Both store drivers for one test file: a PGlite instance emptied for each `open()`, and a throwaway PostgreSQL
 * server giving each `open()` a database of its own. Call `storeDrivers` at the top of the file: it registers the
 * start and stop hooks, and returns the `[name, open]` pairs for `describe.each`.
 */
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { openPglite } from "../../src/store/pglite-sql.ts";
import { openPostgres } from "../../src/store/postgres-sql.ts";
import type { Sql } from "../../src/store/sql.ts";
import { type PostgresServer, startPostgres } from "./postgres-server.ts";

export function storeDrivers(prefix: string): Array<[string, () => Promise<Sql>]> {
  let server: PostgresServer;
  let embedded: Sql;
  let databases = 0;
  beforeAll(async () => {
    [server, embedded] = await Promise.all([startPostgres(), openPglite(undefined)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([server?.stop(), embedded?.close()]);
  });
  return [
    [
      "PGlite",
      async () => {
        await embedded.query("drop schema public cascade");
        await embedded.query("create schema public");
        return { ...embedded, close: async () => {} };
      },
    ],
    [
      "PostgreSQL",
      async () => {
        const name = `${prefix}_${process.pid}_${++databases}`;
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        await admin.query(`create database ${name}`);
        await admin.end();
        return openPostgres(server.url.replace(/\/postgres$/, `/${name}`));
      },
    ],
  ];
}
