/** The embedded driver: PostgreSQL compiled to WASM, in this process, in a data directory. */
import { mkdir } from "node:fs/promises";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { Sql } from "./sql.ts";

/** Opens (or creates) a PGlite database; `dataDir` undefined means in memory (tests). */
export async function openPglite(dataDir: string | undefined): Promise<Sql> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir ? { dataDir } : {});
  const wrap = (runner: PGlite | Transaction): Sql => ({
    driver: "pglite",
    async query<T>(text: string, params: readonly unknown[] = []) {
      const result = await runner.query<T>(text, params as unknown[]);
      return result.rows;
    },
    transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
      // PGlite runs one statement at a time; a transaction inside a transaction is the same transaction.
      if (runner !== db) return work(wrap(runner));
      return db.transaction((tx) => work(wrap(tx)));
    },
    async listen(channel, onNotify) {
      const unlisten = await db.listen(channel, onNotify);
      return () => unlisten();
    },
    close: () => db.close(),
  });
  return wrap(db);
}
