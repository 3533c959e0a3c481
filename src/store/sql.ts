/**
 * The one interface the store speaks to a database through, with two drivers: PGlite (embedded, the default)
 * and a PostgreSQL server (pg). Both take `$1` parameters and return rows as plain objects, so every query and
 * migration is written once (docs/adr/0005).
 */

export interface Sql {
  /** Runs one statement and returns its rows. */
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs `work` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotify` for every NOTIFY on `channel` (from any process on the same database). When the
   * connection that listens was lost and is back, `onNotify` is called once with an empty payload: what was
   * sent meanwhile is lost, so a listener should look at the database again.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /** `pglite` or `postgres`, for logs and metrics. */
  readonly driver: "pglite" | "postgres";
}
