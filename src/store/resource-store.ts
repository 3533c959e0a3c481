/**
 * Resources and their change events in PostgreSQL. Writes are serialised by one transaction-scoped advisory
 * lock, so resourceVersions are assigned in commit order: a watcher that has seen resourceVersion N has seen
 * every change up to N. Each write notifies `unitfleet_resources`, so watches on other hub replicas wake up.
 */
import type { Sql } from "./sql.ts";

export const changeChannel = "unitfleet_resources";
const writeLock = 7_314_002;

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

/** A stored document with its metadata.resourceVersion set by the store. */
export type StoredObject = Record<string, unknown> & { metadata: Record<string, unknown> & { name: string } };

export interface ChangeEvent {
  type: EventType;
  kind: string;
  resourceVersion: string;
  object: StoredObject;
  /** For MODIFIED, when asked for and still retained: the object as it was before this change. */
  previous?: StoredObject;
}

/** A label requirement, already parsed (see core/resources/label-selector). */
export type LabelRequirement =
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "doesnotexist" };

export interface ListOptions {
  requirements?: readonly LabelRequirement[];
  /** Only objects whose `label` has one of these values (token scopes). */
  restrictTo?: { label: string; values: readonly string[] };
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: StoredObject[];
  /** The resourceVersion the list is consistent with: watch from here to miss nothing. */
  resourceVersion: string;
  continue?: string;
}

/** Writes inside one serialised transaction. */
export interface WriteTransaction {
  get(kind: string, name: string): Promise<StoredObject | undefined>;
  list(kind: string): Promise<StoredObject[]>;
  /** Stores the object (ADDED when new, MODIFIED otherwise) and returns it with its new resourceVersion. */
  put(kind: string, object: StoredObject, labels: Record<string, string>): Promise<StoredObject>;
  /** Deletes and returns the last state, or undefined when it did not exist. */
  remove(kind: string, name: string): Promise<StoredObject | undefined>;
  /** Records an audit entry in the same transaction. */
  audit(entry: AuditEntry): Promise<void>;
}

export interface AuditEntry {
  actor: string;
  verb: string;
  kind: string;
  name: string;
  result: "allowed" | "refused";
  reason: string | undefined;
  before: StoredObject | undefined;
  after: StoredObject | undefined;
}

/** A watch asked to start where the store cannot serve it from: compacted away, or not a resourceVersion at all. */
export class WatchExpiredError extends Error {
  /** Events after this resourceVersion are retained. */
  readonly oldest: string;
  constructor(requested: string, oldest: string | undefined) {
    super(
      oldest === undefined
        ? `resourceVersion "${requested}" is not one this hub issued: list again and watch from the list's resourceVersion`
        : `resourceVersion ${requested} is too old: events are retained after ${oldest} only; list again`,
    );
    this.name = "WatchExpiredError";
    this.oldest = oldest ?? "0";
  }
}

/** A watch asked to start after the newest change: no such resourceVersion exists yet. */
export class ResourceVersionTooLargeError extends Error {
  readonly latest: string;
  constructor(requested: string, latest: string) {
    super(`Too large resource version: ${requested}, current: ${latest}`);
    this.name = "ResourceVersionTooLargeError";
    this.latest = latest;
  }
}

export class ResourceStore {
  readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async get(kind: string, name: string): Promise<StoredObject | undefined> {
    const rows = await this.sql.query<{ object: StoredObject }>(
      "select object from resources where kind = $1 and name = $2",
      [kind, name],
    );
    return rows[0]?.object;
  }

  /** Lists in name order, filtered in SQL by label requirements, `limit` per page with a continue token. */
  async list(kind: string, options: ListOptions = {}): Promise<ListResult> {
    const token = options.continue ? decodeContinue(options.continue) : undefined;
    return this.sql.transaction(async (tx) => {
      if (tx.driver === "postgres") await tx.query("set transaction isolation level repeatable read");
      const rv = token?.rv ?? (await currentVersion(tx));
      const params: unknown[] = [kind];
      const where = ["kind = $1"];
      if (token) {
        params.push(token.after);
        where.push(`name > $${params.length}`);
      }
      for (const r of options.requirements ?? []) where.push(requirementSql(r, params));
      if (options.restrictTo) {
        params.push(options.restrictTo.label, [...options.restrictTo.values]);
        where.push(`labels ->> $${params.length - 1} = any($${params.length}::text[])`);
      }
      let limitSql = "";
      if (options.limit && options.limit > 0) {
        params.push(options.limit + 1);
        limitSql = ` limit $${params.length}`;
      }
      const rows = await tx.query<{ object: StoredObject; name: string }>(
        `select name, object from resources where ${where.join(" and ")} order by name${limitSql}`,
        params,
      );
      const more = options.limit !== undefined && options.limit > 0 && rows.length > options.limit;
      const items = (more ? rows.slice(0, options.limit) : rows).map((r) => r.object);
      const result: ListResult = { items, resourceVersion: rv };
      if (more) result.continue = encodeContinue({ rv, after: items.at(-1)!.metadata.name });
      return result;
    });
  }

  /** Runs writes in one transaction holding the store's write lock; every put and remove records an event. */
  write<T>(work: (tx: WriteTransaction) => Promise<T>): Promise<T> {
    return this.sql.transaction(async (sql) => {
      await sql.query("select pg_advisory_xact_lock($1)", [writeLock]);
      let lastVersion: string | undefined;
      const next = async () =>
        (await sql.query<{ rv: string }>("select nextval('resource_version_seq')::text as rv"))[0]!.rv;
      const record = async (
        type: EventType,
        kind: string,
        name: string,
        object: StoredObject,
        rv: string,
      ) => {
        await sql.query(
          "insert into resource_events (resource_version, kind, name, type, object) values ($1, $2, $3, $4, $5::jsonb)",
          [rv, kind, name, type, JSON.stringify(object)],
        );
        lastVersion = rv;
      };
      const tx: WriteTransaction = {
        get: async (kind, name) =>
          (
            await sql.query<{ object: StoredObject }>(
              "select object from resources where kind = $1 and name = $2",
              [kind, name],
            )
          )[0]?.object,
        list: async (kind) =>
          (
            await sql.query<{ object: StoredObject }>(
              "select object from resources where kind = $1 order by name",
              [kind],
            )
          ).map((r) => r.object),
        put: async (kind, object, labels) => {
          const rv = await next();
          const stored = { ...object, metadata: { ...object.metadata, resourceVersion: rv } } as StoredObject;
          const existed = await sql.query(
            `insert into resources (kind, name, resource_version, labels, object) values ($1, $2, $3, $4::jsonb, $5::jsonb)
             on conflict (kind, name) do update set resource_version = excluded.resource_version,
               labels = excluded.labels, object = excluded.object
             returning (xmax <> 0) as updated`,
            [kind, stored.metadata.name, rv, JSON.stringify(labels ?? {}), JSON.stringify(stored)],
          );
          const updated = (existed[0] as { updated: boolean } | undefined)?.updated ?? false;
          await record(updated ? "MODIFIED" : "ADDED", kind, stored.metadata.name, stored, rv);
          return stored;
        },
        remove: async (kind, name) => {
          const rows = await sql.query<{ object: StoredObject }>(
            "delete from resources where kind = $1 and name = $2 returning object",
            [kind, name],
          );
          const last = rows[0]?.object;
          if (!last) return undefined;
          const rv = await next();
          const gone = { ...last, metadata: { ...last.metadata, resourceVersion: rv } } as StoredObject;
          await record("DELETED", kind, name, gone, rv);
          return gone;
        },
        audit: async (e) => {
          await sql.query(
            "insert into audit_log (actor, verb, kind, name, result, reason, before, after) values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)",
            [e.actor, e.verb, e.kind, e.name, e.result, e.reason ?? null, json(e.before), json(e.after)],
          );
        },
      };
      const result = await work(tx);
      if (lastVersion) await sql.query("select pg_notify($1, $2)", [changeChannel, lastVersion]);
      return result;
    });
  }

  /**
   * Events after `resourceVersion` (of one kind, or all), oldest first, at most `limit`; with `through`, none
   * newer than it. With `previous`, each MODIFIED event carries the object's state before it, while the event
   * that recorded that state is retained (watches with a selector need it to tell entering from leaving).
   */
  async eventsSince(
    resourceVersion: string,
    kind?: string,
    limit = 1000,
    options: { through?: string; previous?: boolean } = {},
  ): Promise<ChangeEvent[]> {
    const requested = parseResourceVersion(resourceVersion);
    const floor = await compactedThrough(this.sql);
    if (requested < floor) throw new WatchExpiredError(resourceVersion, String(floor));
    const params: unknown[] = [resourceVersion, limit];
    const where = ["e.resource_version > $1"];
    if (kind) {
      params.push(kind);
      where.push(`e.kind = $${params.length}`);
    }
    if (options.through !== undefined) {
      params.push(options.through);
      where.push(`e.resource_version <= $${params.length}`);
    }
    const previous = options.previous
      ? `left join lateral (
           select b.object from resource_events b
           where b.kind = e.kind and b.name = e.name and b.resource_version < e.resource_version
           order by b.resource_version desc limit 1
         ) p on e.type = 'MODIFIED'`
      : "";
    const rows = await this.sql.query<{
      type: EventType;
      kind: string;
      rv: string;
      object: StoredObject;
      previous?: StoredObject | null;
    }>(
      `select e.type, e.kind, e.resource_version::text as rv, e.object${options.previous ? ", p.object as previous" : ""}
       from resource_events e ${previous}
       where ${where.join(" and ")} order by e.resource_version limit $2`,
      params,
    );
    return rows.map((r) => ({
      type: r.type,
      kind: r.kind,
      resourceVersion: r.rv,
      object: r.object,
      ...(r.previous ? { previous: r.previous } : {}),
    }));
  }

  /**
   * Checks that a watch may start at `resourceVersion`: a number this store issued, not compacted away
   * (WatchExpiredError) and not newer than the newest change (ResourceVersionTooLargeError).
   */
  async checkWatchable(resourceVersion: string): Promise<void> {
    const requested = parseResourceVersion(resourceVersion);
    const floor = await compactedThrough(this.sql);
    if (requested < floor) throw new WatchExpiredError(resourceVersion, String(floor));
    const latest = BigInt(await currentVersion(this.sql));
    if (requested > latest) throw new ResourceVersionTooLargeError(resourceVersion, String(latest));
  }

  /** The resourceVersion of the newest change (what a list made now would return). */
  latestVersion(): Promise<string> {
    return currentVersion(this.sql);
  }

  /** Calls `onChange` (with the newest resourceVersion) whenever any process commits a write. */
  subscribe(onChange: (resourceVersion: string) => void): Promise<() => Promise<void>> {
    return this.sql.listen(changeChannel, onChange);
  }

  /** Drops events older than `keep` most recent ones; watches from before them get "expired". */
  async compact(keep: number): Promise<number> {
    return this.sql.transaction(async (tx) => {
      const rows = await tx.query<{ rv: string | null }>(
        "select resource_version::text as rv from resource_events order by resource_version desc offset $1 limit 1",
        [keep],
      );
      const through = rows[0]?.rv;
      if (!through) return 0;
      const deleted = await tx.query("delete from resource_events where resource_version <= $1 returning 1", [
        through,
      ]);
      await tx.query(
        `insert into store_settings (key, value) values ('compacted_through', $1)
         on conflict (key) do update set value = excluded.value`,
        [through],
      );
      return deleted.length;
    });
  }
}

/** A resourceVersion as a number; anything else was not issued by this store. */
function parseResourceVersion(resourceVersion: string): bigint {
  if (!/^\d{1,19}$/.test(resourceVersion)) throw new WatchExpiredError(resourceVersion, undefined);
  return BigInt(resourceVersion);
}

async function compactedThrough(sql: Sql): Promise<bigint> {
  const rows = await sql.query<{ value: string }>(
    "select value from store_settings where key = 'compacted_through'",
  );
  return BigInt(rows[0]?.value ?? "0");
}

async function currentVersion(sql: Sql): Promise<string> {
  const rows = await sql.query<{ rv: string | null }>(
    "select max(resource_version)::text as rv from resource_events",
  );
  const fromEvents = rows[0]?.rv;
  if (fromEvents) return fromEvents;
  const floor = await sql.query<{ value: string }>(
    "select value from store_settings where key = 'compacted_through'",
  );
  return floor[0]?.value ?? "0";
}

function requirementSql(r: LabelRequirement, params: unknown[]): string {
  params.push(r.key);
  const key = `$${params.length}`;
  switch (r.op) {
    case "exists":
      return `labels ? ${key}`;
    case "doesnotexist":
      return `not (labels ? ${key})`;
    case "in":
      params.push(r.values);
      return `labels ->> ${key} = any($${params.length}::text[])`;
    case "notin":
      params.push(r.values);
      return `(labels ->> ${key} is null or not (labels ->> ${key} = any($${params.length}::text[])))`;
  }
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function encodeContinue(token: { rv: string; after: string }): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeContinue(text: string): { rv: string; after: string } {
  try {
    const token = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as {
      rv?: unknown;
      after?: unknown;
    };
    if (typeof token.rv === "string" && typeof token.after === "string")
      return { rv: token.rv, after: token.after };
  } catch {
    // Fall through.
  }
  throw new InvalidContinueError();
}

export class InvalidContinueError extends Error {
  constructor() {
    super("the continue token is not one this hub issued");
    this.name = "InvalidContinueError";
  }
}
