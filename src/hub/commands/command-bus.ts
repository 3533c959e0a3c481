/**
 * Commands to clusters (`unitfleet ping`, `unitfleet logs`) over the tunnel, across hub replicas and restarts.
 *
 * A command is a row in `commands`. Whichever replica takes the API request writes the row and announces it
 * (NOTIFY); the replica that holds a tunnel session able to reach the cluster — the relay of its Location, or
 * the agent itself when it dials the hub directly — delivers it. A session that opens (a relay coming back
 * after a hub restart) is handed every pending command of its Location. The first result recorded moves the
 * row from `pending` to `done`; later copies of it are ignored, and the agent runs each idempotency key once,
 * so a command that is delivered twice (resent after a reconnect, or by two replicas) still runs and
 * completes exactly once. The caller waits on the row, woken by NOTIFY, until it is done or its deadline.
 */
import { randomUUID } from "node:crypto";
import type {
  CommandAction,
  CommandOutcome,
  CommandReport,
  CommandRequest,
} from "../../api-contract/commands.ts";
import { kinds } from "../../core/resources/kinds.ts";
import { UserError } from "../../errors/user-error.ts";
import type { MessageBody } from "../../protocol/messages.ts";
import type { ResourceStore } from "../../store/resource-store.ts";
import type { Sql } from "../../store/sql.ts";
import type { Metrics } from "../api/metrics.ts";
import { recordAudit } from "../audit/audit-log.ts";
import type { PeerIdentity } from "../joining/identity.ts";
import { type Caller, hasRole } from "../registry/caller.ts";

/** A tunnel session the bus can hand commands to. */
export interface CommandRoute {
  identity: PeerIdentity;
  deliver(command: MessageBody<"command">): void;
}

interface CommandRow {
  key: string;
  cluster: string;
  location: string;
  action: CommandAction;
  requested_by: string;
  state: "pending" | "done";
  outcome: CommandOutcome | null;
  message: string | null;
  rule: string | null;
  output: string | null;
  deadline: string;
}

const channel = "unitfleet_commands";
/** The most output (pod logs) one command may bring back. */
export const maxOutputBytes = 4 * 1024 * 1024;
const maxTimeoutSeconds = 300;

export class CommandBus {
  private readonly sql: Sql;
  private readonly store: ResourceStore;
  private readonly metrics: Metrics;
  private readonly log: (entry: Record<string, unknown>) => void;
  private readonly routes = new Set<CommandRoute>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(deps: {
    sql: Sql;
    store: ResourceStore;
    metrics: Metrics;
    log: (entry: Record<string, unknown>) => void;
  }) {
    this.sql = deps.sql;
    this.store = deps.store;
    this.metrics = deps.metrics;
    this.log = deps.log;
  }

  async start(): Promise<void> {
    this.unlisten = await this.sql.listen(channel, (payload) => void this.notified(payload));
  }

  async close(): Promise<void> {
    for (const wake of [...this.waiters.values()].flatMap((s) => [...s])) wake();
    await this.unlisten?.();
  }

  /** A tunnel session opened: it gets the pending commands it can deliver, and new ones from now on. */
  async attach(route: CommandRoute): Promise<() => void> {
    this.routes.add(route);
    const id = route.identity;
    const rows = await this.sql.query<CommandRow>(
      `select * from commands where state = 'pending' and location = $1 ${id.role === "agent" ? "and cluster = $2" : ""}
       order by created_at`,
      id.role === "agent" ? [id.location, id.cluster] : [id.location],
    );
    for (const row of rows) await this.deliver(route, row);
    return () => this.routes.delete(route);
  }

  /** Sends a command and waits for its outcome (or its deadline). */
  async submit(caller: Caller, request: CommandRequest): Promise<CommandReport> {
    const cluster = await this.store.get("Cluster", request.cluster);
    const spec = cluster?.spec as { location?: string; business?: string } | undefined;
    if (
      !cluster ||
      !spec?.location ||
      (caller.businesses && !caller.businesses.includes(spec.business ?? ""))
    )
      throw new UserError("NotFound", `clusters.unitfleet.io "${request.cluster}" not found`);
    // Reading a pod's log is reading user content: it takes an operator; a ping, a viewer.
    const needed = request.action.type === "logs" ? "operator" : "viewer";
    if (!hasRole(caller, needed)) {
      await recordAudit(this.sql, {
        actor: caller.name,
        verb: request.action.type,
        kind: kinds.Cluster.kind,
        name: request.cluster,
        result: "refused",
        reason: `needs role ${needed}`,
      });
      throw new UserError(
        "Forbidden",
        `token "${caller.name}" may not run ${request.action.type} on clusters: it needs role ${needed}`,
      );
    }
    const timeout = Math.min(Math.max(request.timeoutSeconds ?? 30, 1), maxTimeoutSeconds);
    const key = request.idempotencyKey ?? randomUUID();
    const inserted = await this.sql.query<{ key: string }>(
      `insert into commands (key, cluster, location, action, requested_by, deadline)
       values ($1, $2, $3, $4::jsonb, $5, $6) on conflict (key) do nothing returning key`,
      [
        key,
        request.cluster,
        spec.location,
        JSON.stringify(request.action),
        caller.name,
        new Date(Date.now() + timeout * 1000).toISOString(),
      ],
    );
    if (inserted.length === 0) {
      const existing = await this.row(key);
      if (
        existing &&
        (existing.cluster !== request.cluster ||
          JSON.stringify(existing.action) !== JSON.stringify(request.action))
      )
        throw new UserError(
          "Conflict",
          `idempotency key "${key}" was used for another command (${existing.action.type} on ${existing.cluster})`,
        );
    } else await this.sql.query("select pg_notify($1, $2)", [channel, `new:${key}`]);
    return this.await(key);
  }

  /** A result arrived from a session: the first one for a pending command completes it. */
  async complete(from: PeerIdentity, result: MessageBody<"command.result">): Promise<void> {
    const row = await this.row(result.idempotencyKey);
    if (!row || !reaches(from, row)) return;
    const done = await this.sql.query<{ key: string }>(
      `update commands set state = 'done', outcome = $2, message = $3, rule = $4, completed_at = now()
       where key = $1 and state = 'pending' returning key`,
      [row.key, result.outcome, result.message ?? null, result.rule ?? null],
    );
    if (done.length === 0) return; // a copy of a result already recorded: exactly once
    await this.finished(row, result.outcome, result.message, result.rule);
  }

  /** Output (pod logs) for a pending command, from a session that may speak for its cluster. */
  async appendOutput(from: PeerIdentity, chunk: MessageBody<"logs.chunk">): Promise<void> {
    const row = await this.row(chunk.command);
    if (!row || row.cluster !== chunk.cluster || !reaches(from, row)) return;
    await this.sql.query(
      `update commands set output = coalesce(output, '') || $2
       where key = $1 and state = 'pending' and coalesce(length(output), 0) + length($2) <= $3`,
      [row.key, chunk.data, maxOutputBytes],
    );
  }

  private async finished(
    row: CommandRow,
    outcome: CommandOutcome,
    message: string | undefined,
    rule: string | undefined,
  ): Promise<void> {
    this.metrics.count("unitfleet_commands_total", "Commands sent to clusters, by action and outcome.", {
      action: row.action.type,
      outcome,
    });
    if (outcome === "refused" && rule)
      this.metrics.count(
        "unitfleet_residency_refusals_total",
        "Commands refused because their output may not leave its Location, by Location and rule.",
        { location: row.location, rule },
      );
    await recordAudit(this.sql, {
      actor: row.requested_by,
      verb: row.action.type,
      kind: kinds.Cluster.kind,
      name: row.cluster,
      result: outcome === "refused" ? "refused" : "allowed",
      ...(outcome === "succeeded"
        ? {}
        : { reason: `${outcome}${rule ? ` by rule ${rule}` : ""}${message ? `: ${message}` : ""}` }),
    });
    this.log({
      level: outcome === "succeeded" ? "info" : "warn",
      msg: "command completed",
      key: row.key,
      cluster: row.cluster,
      action: row.action.type,
      outcome,
      ...(rule ? { rule } : {}),
    });
    await this.sql.query("select pg_notify($1, $2)", [channel, `done:${row.key}`]);
  }

  /** Waits until the command is done or past its deadline; returns its report (and output, once). */
  private async await(key: string): Promise<CommandReport> {
    for (;;) {
      const row = await this.row(key);
      if (!row) throw new UserError("NotFound", `command "${key}" not found`);
      if (row.state === "done") {
        if (row.output !== null)
          await this.sql.query("update commands set output = null where key = $1", [key]);
        return report(row);
      }
      const left = Date.parse(row.deadline) - Date.now();
      if (left <= 0) {
        const expired = await this.sql.query<{ key: string }>(
          `update commands set state = 'done', outcome = 'expired', completed_at = now(),
             message = 'no result before the deadline' where key = $1 and state = 'pending' returning key`,
          [key],
        );
        if (expired.length > 0)
          await this.finished(row, "expired", "no result before the deadline", undefined);
        continue;
      }
      // Woken by NOTIFY; the timer covers a notification lost while a connection was re-established.
      await new Promise<void>((resolve) => {
        const set = this.waiters.get(key) ?? new Set();
        this.waiters.set(key, set);
        const wake = () => {
          clearTimeout(timer);
          set.delete(wake);
          if (set.size === 0) this.waiters.delete(key);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 1000));
        set.add(wake);
      });
    }
  }

  private async notified(payload: string): Promise<void> {
    const [what, key] = [payload.slice(0, payload.indexOf(":")), payload.slice(payload.indexOf(":") + 1)];
    if (what === "done") {
      for (const wake of [...(this.waiters.get(key) ?? [])]) wake();
      return;
    }
    if (what !== "new" || this.routes.size === 0) return;
    try {
      const row = await this.row(key);
      if (row?.state !== "pending") return;
      for (const route of this.routes) if (reaches(route.identity, row)) await this.deliver(route, row);
    } catch (error) {
      this.log({ level: "error", msg: "command delivery failed", key, error: String(error) });
    }
  }

  private async deliver(route: CommandRoute, row: CommandRow): Promise<void> {
    const deadline = Date.parse(row.deadline);
    if (deadline <= Date.now()) return;
    route.deliver({ cluster: row.cluster, idempotencyKey: row.key, deadline, action: row.action });
    await this.sql.query("update commands set deliveries = deliveries + 1 where key = $1", [row.key]);
  }

  private async row(key: string): Promise<CommandRow | undefined> {
    const rows = await this.sql.query<CommandRow>(
      `select key, cluster, location, action, requested_by, state, outcome, message, rule, output,
              to_char(deadline at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as deadline
       from commands where key = $1`,
      [key],
    );
    const row = rows[0];
    if (row && typeof row.action === "string") row.action = JSON.parse(row.action);
    return row;
  }
}

/** May this session carry the command (deliver it, or bring back its result)? */
function reaches(identity: PeerIdentity, row: { location: string; cluster: string }): boolean {
  return (
    identity.location === row.location && (identity.role === "relay" || identity.cluster === row.cluster)
  );
}

function report(row: CommandRow): CommandReport {
  return {
    key: row.key,
    cluster: row.cluster,
    state: row.state,
    ...(row.outcome ? { outcome: row.outcome } : {}),
    ...(row.message ? { message: row.message } : {}),
    ...(row.rule ? { rule: row.rule } : {}),
    ...(row.output !== null ? { output: row.output } : {}),
  };
}
