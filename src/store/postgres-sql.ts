/** The server driver: a pool of connections to PostgreSQL, for production and for hub replicas. */
import pg from "pg";
import type { Sql } from "./sql.ts";

export async function openPostgres(url: string): Promise<Sql> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // Fail fast with a clear error if the server is not there.
  await pool.query("select 1");
  const wrap = (runner: pg.Pool | pg.PoolClient): Sql => ({
    driver: "postgres",
    async query<T>(text: string, params: readonly unknown[] = []) {
      const result = await runner.query(text, params as unknown[]);
      return result.rows as T[];
    },
    async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
      if (runner !== pool) return work(wrap(runner));
      const client = await pool.connect();
      try {
        await client.query("begin");
        const result = await work(wrap(client));
        await client.query("commit");
        return result;
      } catch (error) {
        await client.query("rollback").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async listen(channel, onNotify) {
      const client = await pool.connect();
      const handler = (message: pg.Notification) => {
        if (message.channel === channel) onNotify(message.payload ?? "");
      };
      client.on("notification", handler);
      await client.query(`listen ${pg.escapeIdentifier(channel)}`);
      return async () => {
        client.off("notification", handler);
        await client.query(`unlisten ${pg.escapeIdentifier(channel)}`).catch(() => {});
        client.release();
      };
    },
    close: () => pool.end(),
  });
  return wrap(pool);
}
