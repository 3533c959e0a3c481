/**
 * Sends works to agents, on every hub replica. The delivery controller (one replica, under a lease) writes
 * `works` rows and NOTIFYs `unitfleet_works` with the cluster's name; the replica holding a session that
 * reaches that cluster (its Location's relay, or the agent itself) sends `work.apply` / `work.remove`. When an
 * agent's session opens it sends `work.sync` with what it holds, and gets what is missing, newer or gone.
 * Agents' `work.status` reports are stored on the row for the controller to sum up.
 */
import type { MessageBody, MessageType } from "../../protocol/messages.ts";
import type { Sql } from "../../store/sql.ts";
import type { PeerIdentity } from "../joining/identity.ts";

export const worksChannel = "unitfleet_works";
/** Where agents' reports are announced, with the Application's name (the delivery controller listens). */
export const workReportsChannel = "unitfleet_work_reports";

/** A tunnel session works can be sent through. */
export interface WorkRoute {
  identity: PeerIdentity;
  send<T extends MessageType>(type: T, body: MessageBody<T>): void;
}

interface WorkRow {
  application: string;
  cluster: string;
  location: string;
  generation: number;
  manifests: unknown;
  removed: boolean;
}

const maxDrift = 20;

export class WorkDispatcher {
  private readonly sql: Sql;
  private readonly log: (entry: Record<string, unknown>) => void;
  /** Per route: the generation last sent for each `cluster/application` (0: a removal). */
  private readonly routes = new Map<WorkRoute, Map<string, number>>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(deps: { sql: Sql; log: (entry: Record<string, unknown>) => void }) {
    this.sql = deps.sql;
    this.log = deps.log;
  }

  async start(): Promise<void> {
    this.unlisten = await this.sql.listen(worksChannel, (clusters) => void this.changed(clusters.split(",")));
  }

  async close(): Promise<void> {
    await this.unlisten?.();
  }

  /**
   * A session opened: it gets the works of every cluster it reaches (after a hub restart or a relay's
   * reconnection its agents hold what they had; a work they already hold at that generation changes nothing).
   */
  attach(route: WorkRoute): () => void {
    const sent = new Map<string, number>();
    this.routes.set(route, sent);
    void (async () => {
      const id = route.identity;
      const rows = await this.sql.query<WorkRow>(
        `select application, cluster, location, generation, manifests, removed from works
         where location = $1 ${id.role === "agent" ? "and cluster = $2" : ""} order by cluster, application`,
        id.role === "agent" ? [id.location, id.cluster] : [id.location],
      );
      for (const row of rows) {
        if (!this.routes.has(route)) return;
        this.send(route, row);
        sent.set(`${row.cluster}/${row.application}`, row.removed ? 0 : row.generation);
      }
    })().catch((error: unknown) =>
      this.log({ level: "error", msg: "work dispatch on session open failed", error: String(error) }),
    );
    return () => this.routes.delete(route);
  }

  /** The works of these clusters changed: send what changed through the routes that reach them. */
  private async changed(clusters: string[]): Promise<void> {
    if (this.routes.size === 0) return;
    try {
      const rows = await this.sql.query<WorkRow>(
        `select application, cluster, location, generation, manifests, removed from works
         where cluster = any($1::text[]) order by cluster, application`,
        [clusters],
      );
      for (const [route, sent] of this.routes) {
        for (const row of rows) {
          if (!reaches(route.identity, row)) continue;
          const key = `${row.cluster}/${row.application}`;
          const generation = row.removed ? 0 : row.generation;
          if (sent.get(key) === generation) continue;
          this.send(route, row);
          sent.set(key, generation);
        }
      }
    } catch (error) {
      this.log({
        level: "error",
        msg: "work dispatch failed",
        clusters: clusters.length,
        error: String(error),
      });
    }
  }

  /** An agent said what it holds: send what is missing or newer, remove what should not be there. */
  async sync(route: WorkRoute, body: MessageBody<"work.sync">): Promise<void> {
    const rows = await this.rows(body.cluster);
    const held = new Map(body.works.map((w) => [w.application, w.generation]));
    const sent = this.routes.get(route) ?? new Map<string, number>();
    for (const row of rows) {
      const key = `${row.cluster}/${row.application}`;
      if (row.removed) {
        if (held.has(row.application)) {
          this.send(route, row);
          sent.set(key, 0);
        } else
          await this.sql.query("delete from works where application = $1 and cluster = $2 and removed", [
            row.application,
            row.cluster,
          ]);
        continue;
      }
      if (held.get(row.application) !== row.generation) this.send(route, row);
      sent.set(key, row.generation);
    }
    const known = new Set(rows.map((r) => r.application));
    for (const application of held.keys())
      if (!known.has(application)) route.send("work.remove", { cluster: body.cluster, application });
  }

  /**
   * Keeps an agent's report on the work's row and tells the delivery controller (whichever replica leads),
   * which sums the rows up into the Application's status.
   */
  async report(body: MessageBody<"work.status">): Promise<void> {
    await this.sql.query(
      `update works set status = $3::jsonb, status_at = now(),
         drift = (select coalesce(jsonb_agg(e), '[]'::jsonb) from (
           select e from jsonb_array_elements(drift || $4::jsonb) with ordinality as t(e, n)
           order by n desc limit ${maxDrift}) as kept)
       where application = $1 and cluster = $2`,
      [body.application, body.cluster, JSON.stringify(body), JSON.stringify(body.drift)],
    );
    await this.sql.query("select pg_notify($1, $2)", [workReportsChannel, body.application]);
  }

  private send(route: WorkRoute, row: WorkRow): void {
    if (row.removed) route.send("work.remove", { cluster: row.cluster, application: row.application });
    else
      route.send("work.apply", {
        cluster: row.cluster,
        application: row.application,
        generation: row.generation,
        manifests: (typeof row.manifests === "string" ? JSON.parse(row.manifests) : row.manifests) as Array<
          Record<string, unknown>
        >,
      });
  }

  private rows(cluster: string): Promise<WorkRow[]> {
    return this.sql.query<WorkRow>(
      "select application, cluster, location, generation, manifests, removed from works where cluster = $1 order by application",
      [cluster],
    );
  }
}

function reaches(identity: PeerIdentity, row: { location: string; cluster: string }): boolean {
  return (
    identity.location === row.location && (identity.role === "relay" || identity.cluster === row.cluster)
  );
}
