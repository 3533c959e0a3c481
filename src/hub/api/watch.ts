/**
 * Watches as kube-apiserver serves them: headers at once; from a list (no resourceVersion, "0", or
 * sendInitialEvents=true) the current objects as ADDED first; then the changes the change feed hands out, which
 * moves every watch forward on every change it reads, of its kind or not. An object that starts matching the
 * label selector, field selector or the caller's business scope comes as ADDED, one that stops matching as
 * DELETED. A starting point compacted away or not issued by this hub is answered 410 Expired, one from the future
 * 504 "Too large resource version". With allowWatchBookmarks=true, BOOKMARK events carry the position every minute
 * and when the watch times out.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { KindInfo } from "../../core/resources/kinds.ts";
import { matchesSelector, parseLabelSelector } from "../../core/resources/label-selector.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import { UserError } from "../../errors/user-error.ts";
import type { ChangeEvent, StoredObject } from "../../store/resource-store.ts";
import type { Caller } from "../registry/caller.ts";
import { type Registry, watchError } from "../registry/registry.ts";
import type { ChangeListener, FeedSubscription } from "../replicas/change-feed.ts";
import type { Metrics } from "./metrics.ts";
import { statusFor } from "./status.ts";
import { table, wantsTable } from "./table.ts";

/** Where watches get their changes from (the hub's change feed). */
export interface WatchSource {
  watch(kind: string, resourceVersion: string, listener: ChangeListener): Promise<FeedSubscription>;
}

export interface WatchDependencies {
  registry: Registry;
  watches: WatchSource;
  metrics: Metrics;
  /** How often a watch that allows bookmarks gets one (default 60 s, as kube-apiserver). */
  bookmarkEveryMs?: number;
}

/** A client that has not read this much of its stream is too slow: its watch is closed (it will watch again). */
const maxUnread = 16 * 1024 * 1024;
const defaultTimeoutSeconds = 1800;
const maxTimeoutSeconds = 3600;

/** Serves `GET …?watch=true` on a collection until the client leaves, the timeout passes or the hub stops. */
export async function serveWatch(
  deps: WatchDependencies,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  kind: KindInfo,
  caller: Caller,
): Promise<void> {
  const query = url.searchParams;
  const asTable = wantsTable(req.headers.accept);
  const matches = watchMatcher(deps.registry, kind, caller, query);
  const timeoutSeconds = watchTimeout(query.get("timeoutSeconds"));
  const bookmarks = query.get("allowWatchBookmarks") === "true";
  const requested = query.get("resourceVersion") ?? "";
  const initialEvents = query.get("sendInitialEvents") === "true";

  // Everything that can be refused is refused before the stream starts, with a Status and its HTTP code.
  let position: string;
  let initial: StoredObject[] = [];
  if (requested === "" || requested === "0" || initialEvents) {
    const list = await deps.registry.list(kind, { labelSelector: query.get("labelSelector") ?? "" }, caller);
    position = list.resourceVersion;
    initial = list.items.filter(matches);
  } else {
    await deps.registry.checkWatchable(requested);
    position = requested;
  }
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private" });
  res.flushHeaders();
  deps.metrics.watchers(+1);

  let finish = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let subscription: FeedSubscription | undefined;
  let ended = false;
  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    clearTimeout(timeout);
    clearInterval(bookmarking);
    subscription?.close();
    deps.metrics.watchers(-1);
    if (error !== undefined && !res.destroyed)
      res.write(`${JSON.stringify({ type: "ERROR", object: statusFor(watchError(error)) })}\n`);
    res.end();
    finish();
  };
  const bookmark = (annotations?: Record<string, string>) =>
    res.write(`${JSON.stringify(bookmarkEvent(kind, position, asTable, annotations))}\n`);
  const timeout = setTimeout(() => {
    if (bookmarks) bookmark();
    end();
  }, timeoutSeconds * 1000);
  const bookmarking = bookmarks ? setInterval(() => bookmark(), deps.bookmarkEveryMs ?? 60_000) : undefined;
  res.on("close", () => end());

  for (const object of initial) res.write(line(kind, "ADDED", object, asTable));
  if (initialEvents && bookmarks) bookmark({ "k8s.io/initial-events-end": "true" });

  const listener: ChangeListener = {
    deliver(events, scannedThrough) {
      if (ended) return;
      for (const event of events) {
        const text = eventLine(kind, event, matches, asTable);
        if (text) res.write(text);
      }
      position = scannedThrough;
      // kube-apiserver closes a watch whose client does not keep up; the client watches again from its position.
      if (res.writableLength > maxUnread) {
        end();
        res.destroy();
      }
    },
    end,
  };
  try {
    subscription = await deps.watches.watch(kind.kind, position, listener);
    if (ended) subscription.close();
  } catch (error) {
    end(error);
  }
  await finished;
}

/** What the watch shows: what the caller may see, matching the label and field selectors. */
function watchMatcher(
  registry: Registry,
  kind: KindInfo,
  caller: Caller,
  query: URLSearchParams,
): (object: StoredObject) => boolean {
  const selector = parseLabelSelector(query.get("labelSelector") ?? "");
  if (!selector.ok)
    throw new UserError("BadRequest", "invalid label selector", { problems: [selector.problem] });
  const fieldSelector = query.get("fieldSelector");
  let name: string | undefined;
  if (fieldSelector) {
    const match = /^metadata\.name==?(.+)$/.exec(fieldSelector);
    if (!match)
      throw new UserError(
        "BadRequest",
        `field selector "${fieldSelector}" is not supported (only metadata.name=…)`,
      );
    name = match[1];
  }
  const visible = registry.visibility(kind, caller);
  return (object) =>
    (name === undefined || object.metadata.name === name) &&
    visible(object) &&
    matchesSelector(selector.requirements, (object.metadata.labels ?? {}) as Record<string, string>);
}

function watchTimeout(text: string | null): number {
  if (text === null || text === "") return defaultTimeoutSeconds;
  if (!/^\d+$/.test(text))
    throw new UserError("BadRequest", `timeoutSeconds must be a whole number of seconds, got "${text}"`);
  const seconds = Number(text);
  return seconds === 0 ? defaultTimeoutSeconds : Math.min(seconds, maxTimeoutSeconds);
}

/** Lines already encoded for an event, shared by every watch it goes to. */
const encoded = new WeakMap<ChangeEvent, Map<string, string>>();

/**
 * The line a watch sends for a stored event, or none: ADDED/MODIFIED/DELETED as stored while the object matches
 * before and after; ADDED when it starts matching; DELETED (its last matching state, at the event's position)
 * when it stops. Without the previous state (compacted away), a MODIFIED that matches is sent as such.
 */
function eventLine(
  kind: KindInfo,
  event: ChangeEvent,
  matches: (object: StoredObject) => boolean,
  asTable: boolean,
): string | undefined {
  let type: "ADDED" | "MODIFIED" | "DELETED";
  let object = event.object;
  if (event.type !== "MODIFIED") {
    if (!matches(event.object)) return undefined;
    type = event.type;
  } else {
    const now = matches(event.object);
    const before = event.previous ? matches(event.previous) : now;
    if (!now && !before) return undefined;
    if (now && before) type = "MODIFIED";
    else if (now) type = "ADDED";
    else {
      type = "DELETED";
      const previous = event.previous!;
      object = { ...previous, metadata: { ...previous.metadata, resourceVersion: event.resourceVersion } };
    }
  }
  const key = `${type}|${asTable}`;
  const lines = encoded.get(event);
  const known = lines?.get(key);
  if (known) return known;
  const text = line(kind, type, object, asTable);
  if (lines) lines.set(key, text);
  else encoded.set(event, new Map([[key, text]]));
  return text;
}

function line(kind: KindInfo, type: string, object: StoredObject, asTable: boolean): string {
  const shown = asTable
    ? table(kind, [object], { resourceVersion: object.metadata.resourceVersion })
    : object;
  return `${JSON.stringify({ type, object: shown })}\n`;
}

/** A BOOKMARK: only the position (as a Table with no rows when the client asked for Tables). */
function bookmarkEvent(
  kind: KindInfo,
  resourceVersion: string,
  asTable: boolean,
  annotations?: Record<string, string>,
) {
  const metadata = { resourceVersion, ...(annotations ? { annotations } : {}) };
  return {
    type: "BOOKMARK",
    object: asTable
      ? { kind: "Table", apiVersion: "meta.k8s.io/v1", metadata, columnDefinitions: [], rows: [] }
      : { kind: kind.kind, apiVersion, metadata },
  };
}
