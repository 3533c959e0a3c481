/**
 * The server driver: a pool of connections to PostgreSQL, for production and for hub replicas, and one
 * connection of its own for LISTEN. Both ride through the server going away (a restart, a failover, an idle
 * timeout, `pg_terminate_backend`): a lost pooled connection is dropped and the next query opens a new one; a
 * query that cannot reach the server fails with a 503 `UserError`; the LISTEN connection comes back with
 * backoff, listens again, and tells every listener to look again (see `Sql.listen`).
 */
import pg from "pg";
import { UserError } from "../errors/user-error.ts";
import { type BackoffPolicy, reconnectDelay } from "../protocol/backoff.ts";
import type { Sql } from "./sql.ts";

export interface PostgresOptions {
  /** Where connection losses and reconnections are reported. */
  log?: (entry: Record<string, unknown>) => void;
  /** Delays between attempts to bring the LISTEN connection back (default 250 ms doubling to 5 s, jittered). */
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How often the LISTEN connection is checked with a query, to find a connection that died silently. */
  listenCheckMs?: number;
}

/** SQLSTATE classes and socket errors that mean "the server is not there (now)", not "the query is wrong". */
const unavailableStates = /^(08|57P0[1-3]|53300)/;
const unavailableMessages =
  /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|timeout exceeded when trying to connect|Client has encountered a connection error/;

/** True when `error` says the database could not be reached, rather than that a statement failed. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (typeof code === "string" && (unavailableStates.test(code) || unavailableMessages.test(code))) ||
    (typeof message === "string" && unavailableMessages.test(message))
  );
}

function unavailable(error: unknown): UserError {
  return new UserError(
    "ComponentFailed",
    `the hub's database is unavailable (${(error as Error).message}); retry in a moment`,
  );
}

/** Opens a pool on `url`; fails at once with a clear error when the server is not there. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Sql> {
  const log = options.log ?? (() => {});
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    application_name: "unitfleet-hub",
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  // An idle pooled connection that the server closes is dropped by the pool, which then emits this: without a
  // listener, the process would exit ("Unhandled 'error' event").
  pool.on("error", (error) =>
    log({ level: "warn", msg: "a pooled database connection was lost", error: error.message }),
  );
  await pool.query("select 1");
  const notifications = new Listener(url, options, log);

  const wrap = (runner: pg.Pool | pg.PoolClient): Sql => ({
    driver: "postgres",
    async query<T>(text: string, params: readonly unknown[] = []) {
      try {
        const result = await runner.query(text, params as unknown[]);
        return result.rows as T[];
      } catch (error) {
        throw isDatabaseUnavailable(error) ? unavailable(error) : error;
      }
    },
    async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
      if (runner !== pool) return work(wrap(runner));
      const client = await pool.connect().catch((error: unknown) => {
        throw isDatabaseUnavailable(error) ? unavailable(error) : error;
      });
      // A checked-out connection has no listener of the pool's: one of ours, while we hold it.
      let lost: Error | undefined;
      const onError = (error: Error) => {
        lost = error;
      };
      client.on("error", onError);
      try {
        await client.query("begin");
        const result = await work(wrap(client));
        await client.query("commit");
        return result;
      } catch (error) {
        if (!lost) await client.query("rollback").catch(() => {});
        throw isDatabaseUnavailable(error) ? unavailable(error) : error;
      } finally {
        client.off("error", onError);
        // A connection that failed is closed rather than handed to the next caller.
        client.release(lost ?? undefined);
      }
    },
    listen: (channel, onNotify) => notifications.listen(channel, onNotify),
    async close() {
      await notifications.close();
      await pool.end();
    },
  });
  return wrap(pool);
}

/**
 * The one LISTEN connection of a process, shared by every channel. When it is lost it comes back with backoff,
 * listens on every channel again, and calls every listener with an empty payload: notifications sent while it
 * was away are lost, so listeners look at the database again.
 */
class Listener {
  private client: pg.Client | undefined;
  private readonly channels = new Map<string, Set<(payload: string) => void>>();
  private connecting: Promise<void> | undefined;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private check: NodeJS.Timeout | undefined;
  private closed = false;
  private connectedOnce = false;

  private readonly url: string;
  private readonly options: PostgresOptions;
  private readonly log: (entry: Record<string, unknown>) => void;

  constructor(url: string, options: PostgresOptions, log: (entry: Record<string, unknown>) => void) {
    this.url = url;
    this.options = options;
    this.log = log;
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    // The first connection fails loudly (the hub is starting); later losses are ridden through, and a channel
    // added meanwhile is listened on when the connection is back.
    if (!this.connectedOnce) {
      this.connecting ??= this.connect().finally(() => {
        this.connecting = undefined;
      });
      await this.connecting;
    }
    let handlers = this.channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.channels.set(channel, handlers);
      await this.client?.query(`listen ${pg.escapeIdentifier(channel)}`);
    }
    handlers.add(onNotify);
    return async () => {
      const set = this.channels.get(channel);
      if (!set?.delete(onNotify) || set.size > 0) return;
      this.channels.delete(channel);
      await this.client?.query(`unlisten ${pg.escapeIdentifier(channel)}`).catch(() => {});
    };
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: "unitfleet-hub-listen",
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
      query_timeout: 10_000,
    });
    let gone = false;
    const lost = (error?: Error) => {
      if (gone) return;
      gone = true;
      if (this.client === client) this.client = undefined;
      clearInterval(this.check);
      client.end().catch(() => {});
      if (this.closed) return;
      this.log({
        level: "warn",
        msg: "the database connection for notifications was lost; reconnecting",
        error: error?.message ?? "connection ended",
      });
      this.reconnectLater();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", (message) => this.deliver(message.channel, message.payload ?? ""));
    try {
      await client.connect();
      for (const channel of this.channels.keys())
        await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      gone = true;
      client.removeAllListeners();
      client.on("error", () => {});
      await client.end().catch(() => {});
      throw error;
    }
    this.client = client;
    this.connectedOnce = true;
    // A connection can die without a word (a failover behind a load balancer): ask it something now and then.
    this.check = setInterval(() => {
      client.query("select 1").catch((error: Error) => lost(error));
    }, this.options.listenCheckMs ?? 10_000);
    this.check.unref();
  }

  /** Hands a notification to the channel's listeners; one that throws does not take the connection down. */
  private deliver(channel: string, payload: string): void {
    for (const handler of this.channels.get(channel) ?? []) {
      try {
        handler(payload);
      } catch (error) {
        this.log({ level: "error", msg: "a notification listener failed", channel, error: String(error) });
      }
    }
  }

  private reconnectLater(): void {
    const delay = reconnectDelay(
      this.attempt++,
      this.options.random ?? Math.random,
      this.options.backoff ?? { baseMs: 250, maxMs: 5000 },
    );
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.closed) return;
      this.connect().then(
        () => {
          this.log({
            level: "info",
            msg: "the database connection for notifications is back",
            attempts: this.attempt,
          });
          this.attempt = 0;
          // Anything may have changed while nobody listened.
          for (const channel of this.channels.keys()) this.deliver(channel, "");
        },
        () => this.reconnectLater(),
      );
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.check);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
