/**
 * The embedded driver: PostgreSQL compiled to WASM, in this process, in a data directory.
 *
 * A full disk must not hang it. PGlite runs synchronously in this thread: when PostgreSQL cannot write its log
 * (a new 16 MiB WAL segment on a full disk), the next statement spins forever, with the event loop blocked
 * (no log, no SIGTERM). So the driver watches the free space of the data directory's filesystem: below a
 * reserve, writes are refused with a clear error and reads go on; when space returns, writes resume. If the
 * disk fills anyway (another program filled it) and the log could not be written, the instance is given up:
 * no statement reaches it, every one is refused, and a fresh instance is opened on the same directory
 * (PostgreSQL's crash recovery, from the log on disk) once the reserve is free again.
 */
import { statfsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { UserError } from "../errors/user-error.ts";
import { lockDataDirectory } from "./data-directory-lock.ts";
import type { Sql } from "./sql.ts";

const mib = 1024 * 1024;

export interface PgliteOptions {
  /** Writes are refused while the data directory's filesystem has less free space than this (default 64 MiB). */
  reserveBytes?: number;
  /** Free bytes on the data directory's filesystem (injected by tests). */
  freeBytes?: (dataDir: string) => number;
  log?: (entry: Record<string, unknown>) => void;
}

/** Free space kept for PostgreSQL's log (a new WAL segment takes 16 MiB) and the write under way. */
export const defaultDiskReserveBytes = 64 * mib;
/** What PGlite needs free to start at all: it may create a WAL segment. */
const startBytes = 24 * mib;
const writeStatement = /^\s*(insert|update|delete|merge|truncate|copy)\b/i;

function statfsFree(dataDir: string): number {
  const stats = statfsSync(dataDir);
  return stats.bavail * stats.bsize;
}

const megabytes = (bytes: number) => `${Math.floor(bytes / mib)} MiB`;

/**
 * Opens (or creates) a PGlite database; `dataDir` undefined means in memory (tests). A data directory is
 * locked for this process until `close` (one hub per directory: a second one is refused with a clear error).
 */
export async function openPglite(dataDir: string | undefined, options: PgliteOptions = {}): Promise<Sql> {
  if (!dataDir) return wrapInstance(await PGlite.create({}));
  await mkdir(dataDir, { recursive: true });
  const unlock = await lockDataDirectory(dataDir);
  try {
    return await openGuarded(dataDir, options, unlock);
  } catch (error) {
    await unlock();
    throw error;
  }
}

/** An in-memory instance: no disk to watch. */
function wrapInstance(db: PGlite): Sql {
  const wrap = (runner: PGlite | Transaction): Sql => ({
    driver: "pglite",
    async query<T>(text: string, params: readonly unknown[] = []) {
      return (await runner.query<T>(text, params as unknown[])).rows;
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

async function openGuarded(
  dataDir: string,
  options: PgliteOptions,
  unlock: () => Promise<void>,
): Promise<Sql> {
  const reserve = options.reserveBytes ?? defaultDiskReserveBytes;
  const free = () => (options.freeBytes ?? statfsFree)(dataDir);
  const log = options.log ?? (() => {});
  const atStart = free();
  if (atStart < startBytes)
    throw new UserError(
      "ComponentFailed",
      `the disk of ${dataDir} is full: ${megabytes(atStart)} free, the embedded database needs ${megabytes(startBytes)} to start`,
      { hint: "free some space on that disk and start the hub again; the data is intact" },
    );
  let db = await PGlite.create({ dataDir });
  /** Set when the instance could not write its log: no statement may reach it again. */
  let givenUp: Error | undefined;
  let reopening: Promise<void> | undefined;
  let refusing = false;
  const subscriptions = new Set<{
    channel: string;
    onNotify: (payload: string) => void;
    unlisten: () => Promise<void>;
  }>();

  const diskFull = (available: number, detail?: string) =>
    new UserError(
      "ComponentFailed",
      `the hub's disk is full: ${megabytes(available)} free in ${dataDir}, writes need ${megabytes(reserve)}; reads are served${detail ? ` (${detail})` : ""}`,
      { hint: "free some space on that disk: writes resume by themselves" },
    );

  const stopped = (available: number) =>
    new UserError(
      "ComponentFailed",
      `the hub's embedded database stopped when the disk filled up: ${megabytes(available)} free in ${dataDir}, it starts again by itself at ${megabytes(reserve)}`,
      { hint: "free some space on that disk; the data on disk is intact" },
    );

  /** Opens a fresh instance in place of one given up on, once there is room again. */
  const reopen = async () => {
    const available = free();
    if (available < reserve) throw stopped(available);
    reopening ??= (async () => {
      // The old instance is left as it is: any statement, even a close, may spin in it.
      db = await PGlite.create({ dataDir });
      givenUp = undefined;
      for (const subscription of subscriptions) {
        subscription.unlisten = await db.listen(subscription.channel, subscription.onNotify);
        subscription.onNotify(""); // What was notified meanwhile is lost: listeners look again.
      }
      log({ level: "info", msg: "the embedded database is open again: the disk has room", dataDir });
    })().finally(() => {
      reopening = undefined;
    });
    await reopening;
  };

  /** Refuses a write while the disk is short of the reserve; logs the change both ways, once. */
  const checkRoom = (text: string) => {
    if (!writeStatement.test(text)) return;
    const available = free();
    const short = available < reserve;
    if (short !== refusing) {
      refusing = short;
      log(
        short
          ? { level: "error", msg: "the disk is full: writes are refused", dataDir, free: available, reserve }
          : { level: "info", msg: "the disk has room again: writes are taken", dataDir, free: available },
      );
    }
    if (short) throw diskFull(available);
  };

  const failed = (error: unknown): unknown => {
    const message = (error as Error)?.message ?? "";
    if (error instanceof UserError || !/No space left on device/i.test(message)) return error;
    if (/pg_wal|xlog/i.test(message)) {
      givenUp = error as Error;
      log({
        level: "error",
        msg: "the embedded database could not write its log: the disk is full",
        error: message,
      });
    }
    return diskFull(free(), message);
  };

  // Statements and transactions enter PGlite one at a time, in order, as PGlite would run them anyway; queued
  // here rather than inside PGlite, so that none is already queued in an instance that has just been given up.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(run: () => Promise<T>): Promise<T> => {
    const turn = queue.then(run, run);
    queue = turn.catch(() => {});
    return turn;
  };

  const statement = async <T>(runner: PGlite | Transaction, text: string, params: readonly unknown[]) => {
    checkRoom(text);
    try {
      return (await runner.query<T>(text, params as unknown[])).rows;
    } catch (error) {
      throw failed(error);
    }
  };

  /** Inside a transaction: the statements go straight to it. */
  const inTransaction = (tx: Transaction): Sql => ({
    driver: "pglite",
    query: async <T>(text: string, params: readonly unknown[] = []) => {
      if (givenUp) throw stopped(free()); // The instance under this transaction was given up.
      return statement<T>(tx, text, params);
    },
    // A transaction inside a transaction is the same transaction.
    transaction: (work) => work(inTransaction(tx)),
    listen: () => Promise.reject(new Error("listen outside a transaction")),
    close: async () => {},
  });

  return {
    driver: "pglite",
    query: <T>(text: string, params: readonly unknown[] = []) =>
      exclusive(async () => {
        if (givenUp) await reopen();
        return statement<T>(db, text, params);
      }),
    transaction: <T>(work: (tx: Sql) => Promise<T>) =>
      exclusive(async () => {
        if (givenUp) await reopen();
        try {
          return await db.transaction((tx) => work(inTransaction(tx)));
        } catch (error) {
          throw failed(error);
        }
      }),
    listen: (channel, onNotify) =>
      exclusive(async () => {
        if (givenUp) await reopen();
        const subscription = { channel, onNotify, unlisten: await db.listen(channel, onNotify) };
        subscriptions.add(subscription);
        return async () => {
          subscriptions.delete(subscription);
          if (!givenUp) await exclusive(() => subscription.unlisten());
        };
      }),
    close: () =>
      exclusive(async () => {
        if (!givenUp) await db.close();
        await unlock();
      }),
  };
}
