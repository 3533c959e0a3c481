/**
 * The hub process: the store (PGlite in a data directory, or a PostgreSQL server), the registry, the API
 * (HTTPS with the hub's own CA), the change feed for watches, work under a lease, and graceful shutdown.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { defaultGraceMs } from "../core/health/cluster-conditions.ts";
import type { PriceBookLike } from "../core/metering/price-book.ts";
import { UserError } from "../errors/user-error.ts";
import { ensureHubAuthorities, hubServingCertificate, hubServingNames } from "../pki/authorities.ts";
import { Manager, type ManagerOutcome } from "../runtime/manager.ts";
import { periodic } from "../runtime/periodic.ts";
import type { Log, Runnable } from "../runtime/runnable.ts";
import { WorkQueue } from "../runtime/work-queue.ts";
import { migrate } from "../store/migrations.ts";
import { openPglite } from "../store/pglite-sql.ts";
import { openPostgres } from "../store/postgres-sql.ts";
import { ResourceStore } from "../store/resource-store.ts";
import type { Sql } from "../store/sql.ts";
import { Metrics } from "./api/metrics.ts";
import { openapiDocument } from "./api/openapi.ts";
import { createApiServer } from "./api/server.ts";
import { listAudit } from "./audit/audit-log.ts";
import { authenticate, createToken, hasAdminToken, listTokens, revokeToken } from "./auth/tokens.ts";
import { CommandBus } from "./commands/command-bus.ts";
import { DeliveryController } from "./delivery/delivery-controller.ts";
import { WorkDispatcher } from "./delivery/work-dispatcher.ts";
import {
  bootstrapTokenLocation,
  createBootstrapToken,
  join as joinFleet,
  renew as renewCertificate,
  revokeBootstrapToken,
  revokeCertificate,
} from "./joining/joining.ts";
import { exportCost } from "./metering/cost-export.ts";
import { costPricing } from "./metering/cost-ledger.ts";
import { queryCost } from "./metering/cost-query.ts";
import { usageRollup } from "./metering/usage-rollup.ts";
import { networkConditionsPass } from "./network/network-conditions-pass.ts";
import { Registry } from "./registry/registry.ts";
import { ChangeFeed } from "./replicas/change-feed.ts";
import { leaseElector } from "./replicas/lease-elector.ts";
import { listServiceExports, ServiceExportSummaries } from "./services/service-export-summaries.ts";
import { updateClusterHealth } from "./tunnel/cluster-health.ts";
import { loadInventories } from "./tunnel/cluster-inventories.ts";
import { defaultHeartbeatSeconds, TunnelServer } from "./tunnel/tunnel-server.ts";

export const hubVersion = "0.1.0";

export interface HubOptions {
  /** Folder for the hub's own files: CA, admin token, kubeconfig; and the PGlite data unless a URL is given. */
  dir: string;
  databaseUrl?: string;
  host: string;
  port: number;
  /** Serve plain HTTP (tests, or behind a TLS-terminating proxy). */
  insecure?: boolean;
  /** This replica's name in leases and logs. */
  replica?: string;
  log?: (entry: Record<string, unknown>) => void;
  /** How often singleton work runs, and the lease's time to live. */
  leaseTtlMs?: number;
  compactEveryMs?: number;
  keepEvents?: number;
  /** How often relays and agents send heartbeats, in seconds (default 10; fractions from 0.05 compress time). */
  heartbeatSeconds?: number;
  /** How long a cluster may be silent before it is Unreachable (default 40 s: four heartbeats). */
  healthGraceMs?: number;
  /** How often the health loop turns heartbeats into conditions (default 2 s). */
  healthEveryMs?: number;
  /** How stale a Cluster's `status.lastHeartbeatTime` may get while heartbeats arrive (default 60 s). */
  heartbeatReportMs?: number;
  /** Over how long a stopping hub spreads its clients' reconnections. */
  reconnectWindowMs?: number;
  /** The Location the hub runs in: pod logs of that Location's clusters may be read through it, no others. */
  location?: string;
  /** How often the leader publishes the last hour's cost as metrics (default 5 minutes). */
  costMetricsEveryMs?: number;
  /** How often the leader prices newly reported usage hours into the cost ledger (default 10 s). */
  costPricingEveryMs?: number;
  /** Called when this replica gains or loses the leader lease (`hub-singleton`). */
  onLeader?: (held: boolean) => void;
  /** How often the leader sets Clusters' NetworkOverlap and NetworkDrift conditions (default 15 s). */
  networkConditionsEveryMs?: number;
}

export interface RunningHub {
  url: string;
  replica: string;
  /** Files a first start writes: the admin token and a kubeconfig that uses it. */
  adminTokenFile: string;
  kubeconfigFile: string;
  caFile: string;
  sql: Sql;
  store: ResourceStore;
  registry: Registry;
  commands: CommandBus;
  works: WorkDispatcher;
  delivery: DeliveryController;
  metrics: Metrics;
  /** Resolves when the hub's parts have all stopped: after `close`, or when one failed (`failure` says which). */
  stopped: Promise<ManagerOutcome>;
  /** Heartbeats this replica received since it started, per cluster (a snapshot counts as one). */
  heartbeatsReceived(): ReadonlyMap<string, number>;
  close(): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<RunningHub> {
  const log =
    options.log ??
    ((entry) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`));
  const replica = options.replica ?? `${hostname()}-${process.pid}`;
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const sql = options.databaseUrl
    ? await openPostgres(options.databaseUrl, { log })
    : await openPglite(join(options.dir, "data"), { log });
  const applied = await migrate(sql);
  if (applied.length > 0) log({ level: "info", msg: "migrations applied", migrations: applied });
  const store = new ResourceStore(sql);
  const registry = new Registry({ store, now: () => new Date(), newUid: randomUUID });
  const feed = new ChangeFeed({ log });
  const metrics = new Metrics();
  const commands = new CommandBus({ sql, store, metrics, log });
  const works = new WorkDispatcher({ sql, log });
  const delivery = new DeliveryController({ sql, store, registry, feed, log });
  // Multi-cluster services as each Location's relay summarises them (issue 15): kept in the store, audited.
  const serviceExports = new ServiceExportSummaries({
    sql,
    log,
    clustersOf: async (location) =>
      new Set(
        (await store.list("Cluster", {})).items
          .filter((c) => (c.spec as { location?: string } | undefined)?.location === location)
          .map((c) => c.metadata.name),
      ),
  });

  // Two CAs (docs/pki.md): the hub CA signs only the hub's serving certificate; the fleet CA signs relays and
  // agents. The hub's names are kept from relays' serving certificates.
  const authorities = {
    ...(await ensureHubAuthorities(options.dir, new Date(), log)),
    hubNames: hubServingNames(options.host).map((n) => n.value),
  };
  const tls = options.insecure
    ? undefined
    : { serving: await hubServingCertificate(authorities.hub, options.host, new Date()) };
  const server = createApiServer({
    registry,
    authenticate: (token) => authenticate(sql, token, new Date()),
    watches: feed,
    metrics,
    commands,
    inventories: (clusters) => loadInventories(sql, clusters),
    cost: (query) => queryCost(sql, query, new Date()),
    costExport: (query) => exportCost(sql, query, new Date()),
    serviceExports: (filter) => listServiceExports(sql, filter),
    ready: async () => {
      try {
        await sql.query("select 1");
        return true;
      } catch {
        return false;
      }
    },
    log,
    hubVersion,
    openapi: openapiDocument,
    admin: {
      createBootstrapToken: async (location, ttlSeconds) => {
        if (!(await store.get("Location", location)))
          throw new UserError("InvalidInput", `Location "${location}" does not exist`, {
            problems: [{ path: "location", message: `Location "${location}" does not exist` }],
          });
        return createBootstrapToken(sql, location, ttlSeconds * 1000, new Date());
      },
      revokeBootstrapToken: (id) => revokeBootstrapToken(sql, id, new Date()),
      revokeCertificate: (serial) => revokeCertificate(sql, serial, new Date()),
      join: async (request) => {
        // An agent may register its cluster as it joins: checked first, so that a bad spec uses up no token.
        const location = await bootstrapTokenLocation(sql, request.token);
        const registration =
          request.role === "agent" && request.clusterSpec && request.cluster && location
            ? [
                {
                  source: "join request",
                  body: {
                    apiVersion: "unitfleet.io/v1alpha1",
                    kind: "Cluster",
                    metadata: { name: request.cluster },
                    spec: { location, ...request.clusterSpec },
                  },
                },
              ]
            : undefined;
        const joiner = { name: `join:${request.cluster ?? location ?? "?"}`, role: "operator" as const };
        if (registration && !(await store.get("Cluster", request.cluster!)))
          await registry.applyAll(registration, joiner, true);
        const joined = await joinFleet(sql, authorities, request, new Date());
        if (registration && !(await store.get("Cluster", request.cluster!)))
          await registry.applyAll(registration, joiner);
        return joined;
      },
      renew: (current, csr) => renewCertificate(sql, authorities, current, csr, new Date()),
      listAudit: (query) => listAudit(sql, query),
      listTokens: () => listTokens(sql),
      createToken: (spec) => createToken(sql, spec),
      revokeToken: (name) => revokeToken(sql, name, new Date()),
    },
    ...(tls ? { tls: { cert: tls.serving.cert, key: tls.serving.key, clientCa: authorities.peerCas } } : {}),
  });
  const tunnel = tls
    ? new TunnelServer({
        sql,
        store,
        registry,
        caCert: authorities.peerCas,
        metrics,
        replica,
        log,
        heartbeatSeconds: options.heartbeatSeconds ?? defaultHeartbeatSeconds,
        commands,
        works,
        serviceExports,
        ...(options.location ? { location: options.location } : {}),
      })
    : undefined;
  tunnel?.attach(server);

  // The long-lived parts, started in dependency order and stopped in reverse (docs/adr/0017). Leader-only ones
  // run on one replica at a time, under the one lease `hub-singleton`.
  const leaseTtlMs = options.leaseTtlMs ?? 15_000;
  const elector = leaseElector(sql, {
    name: "hub-singleton",
    holder: replica,
    ttlMs: leaseTtlMs,
    now: () => new Date(),
  });
  const manager = new Manager({
    log,
    elector: {
      run: (signal, onChange) =>
        elector.run(signal, (held) => {
          log({ level: "info", msg: held ? "this replica now leads" : "leader lease lost", replica });
          onChange(held);
          options.onLeader?.(held);
        }),
    },
  });
  manager.add(
    service(
      "change-feed",
      () => feed.start(store),
      () => feed.close(),
    ),
  );
  manager.add(
    service(
      "command-bus",
      () => commands.start(),
      () => commands.close(),
    ),
  );
  manager.add(
    service(
      "work-dispatcher",
      () => works.start(),
      () => works.close(),
    ),
  );
  manager.add({
    name: "api",
    dependsOn: ["change-feed", "command-bus", "work-dispatcher"],
    reportsReady: true,
    async start(signal, ready) {
      await tunnel?.start();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port, options.host, () => resolve());
      });
      ready();
      await aborted(signal);
      // Relays and agents are told when to come back, spread over a window: no reconnect storm.
      await tunnel?.goAway(options.reconnectWindowMs ?? 10_000);
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  });
  manager.add(
    periodic({
      name: "event-compaction",
      leaderOnly: true,
      everyMs: options.compactEveryMs ?? 60_000,
      log,
      work: async () => {
        const dropped = await store.compact(options.keepEvents ?? 100_000);
        if (dropped > 0) log({ level: "info", msg: "compacted resource events", dropped });
      },
    }),
  );
  manager.add(
    periodic({
      name: "cluster-health",
      leaderOnly: true,
      everyMs: options.healthEveryMs ?? 2000,
      log,
      work: async () => {
        await updateClusterHealth(
          sql,
          store,
          registry,
          new Date(),
          options.healthGraceMs ?? defaultGraceMs,
          options.heartbeatReportMs,
        );
      },
    }),
  );
  manager.add(deliveryRunnable(delivery, log));
  manager.add(
    networkConditionsPass({
      store,
      registry,
      log,
      ...(options.networkConditionsEveryMs ? { everyMs: options.networkConditionsEveryMs } : {}),
    }),
  );
  // Metering: agents' usage hours are recorded as they arrive (tunnel-server.ts); the leader rolls them up daily,
  // prices them into the cost ledger, and publishes the last complete hour's cost per Location and business.
  manager.add(usageRollup({ sql, log }));
  manager.add(
    costPricing({
      sql,
      books: async () => (await store.list("PriceBook")).items as unknown as PriceBookLike[],
      log,
      ...(options.costPricingEveryMs !== undefined ? { everyMs: options.costPricingEveryMs } : {}),
    }),
  );
  manager.add(
    periodic({
      name: "cost-metrics",
      leaderOnly: true,
      everyMs: options.costMetricsEveryMs ?? 300_000,
      log,
      work: async () => {
        const report = await queryCost(
          sql,
          { window: "1h", aggregate: ["location", "business", "namespace"] },
          new Date(),
        );
        // Idle rows (namespace __idle__) are their own "business": the cost nobody used.
        const series = new Map<string, { labels: Record<string, string>; value: number }>();
        for (const g of report.groups) {
          const business = g.keys.namespace === "__idle__" ? "__idle__" : (g.keys.business ?? "");
          const labels = { location: g.keys.location ?? "", business, currency: g.currency };
          const key = JSON.stringify(labels);
          const entry = series.get(key) ?? { labels, value: 0 };
          entry.value += g.cost.total;
          series.set(key, entry);
        }
        metrics.setGauges(
          "unitfleet_cost_last_hour",
          "What the last complete hour cost, per Location and business (idle as business __idle__), in currency units.",
          [...series.values()].map((s) => ({ labels: s.labels, value: s.value / 1_000_000 })),
        );
      },
    }),
  );
  const stopped = manager.done.then((outcome) => {
    if (outcome.failure)
      log({
        level: "error",
        msg: "the hub stops: a part failed",
        part: outcome.failure.runnable,
        error: String(outcome.failure.error),
      });
    if (outcome.stuck.length > 0)
      log({ level: "warn", msg: "parts did not stop in time", parts: outcome.stuck });
    return outcome;
  });
  try {
    await manager.start();
  } catch (error) {
    await manager.stop();
    await sql.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? "https" : "http"}://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;

  const files = {
    adminTokenFile: join(options.dir, "admin-token"),
    kubeconfigFile: join(options.dir, "kubeconfig"),
    caFile: join(options.dir, "ca.crt"),
  };
  if (!(await hasAdminToken(sql))) {
    const secret = await createToken(sql, { name: "admin", role: "admin" });
    await writeFile(files.adminTokenFile, `${secret}\n`, { mode: 0o600 });
    log({ level: "info", msg: "created the admin token", file: files.adminTokenFile });
  }
  const adminSecret = (await readFile(files.adminTokenFile, "utf8").catch(() => "")).trim();
  if (adminSecret)
    await writeFile(
      files.kubeconfigFile,
      stringify(kubeconfig(url, adminSecret, tls ? authorities.hub.cert : undefined)),
      { mode: 0o600 },
    );
  // A kubeconfig with an empty token would only give "Unauthorized": say how to get a token instead.
  else
    log({
      level: "warn",
      msg:
        `the admin token file ${files.adminTokenFile} is missing or empty, so the kubeconfig was not written: ` +
        `stop the hub and run "unitfleet hub admin-token --dir ${options.dir}"` +
        (options.databaseUrl ? " --database-url <url>" : "") +
        " to mint a new admin token",
    });

  log({ level: "info", msg: "hub serving", url, replica, store: sql.driver });

  let closed = false;
  return {
    url,
    replica,
    ...files,
    sql,
    store,
    registry,
    commands,
    works,
    delivery,
    metrics,
    stopped,
    heartbeatsReceived: () => new Map(tunnel?.heartbeatsReceived ?? []),
    async close() {
      if (closed) return;
      closed = true;
      await manager.stop();
      await sql.close();
      log({ level: "info", msg: "hub stopped", replica });
    },
  };
}

/** A part with a start and a close and nothing to do in between (a feed, a bus, a dispatcher listening). */
function service(name: string, open: () => Promise<void>, close: () => Promise<void>): Runnable {
  return {
    name,
    reportsReady: true,
    async start(signal, ready) {
      await open();
      ready();
      await aborted(signal);
      await close();
    },
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** How often every Application is enqueued again, in case a notification was lost. */
const deliveryResyncMs = 60_000;

/**
 * Delivery on the leader: one reconcile per Application key (src/hub/delivery/delivery-controller.ts) through a
 * keyed queue, fed by the controller's informers; every Application enqueued at start and once a minute. The
 * caches are filled again each time this replica becomes the leader (retried while the database is away).
 */
function deliveryRunnable(delivery: DeliveryController, log: Log): Runnable {
  return {
    name: "delivery",
    leaderOnly: true,
    dependsOn: ["change-feed", "work-dispatcher"],
    async start(signal) {
      const queue = new WorkQueue<string>({
        name: "delivery",
        log,
        reconcile: async (application) => {
          const { requeueAfterMs } = await delivery.reconcile(application);
          return requeueAfterMs === undefined ? { done: true } : { requeueAfter: requeueAfterMs };
        },
      });
      const running = queue.start(signal);
      for (let delayMs = 500; !signal.aborted; delayMs = Math.min(delayMs * 2, 30_000)) {
        try {
          await delivery.start((application, afterMs) =>
            afterMs ? queue.addAfter(application, afterMs) : queue.add(application),
          );
          break;
        } catch (error) {
          await delivery.stop();
          log({ level: "warn", msg: "delivery could not start", error: String(error), retryInMs: delayMs });
          await new Promise((resolve) => {
            const pause = AbortSignal.any([signal, AbortSignal.timeout(delayMs)]);
            pause.addEventListener("abort", resolve, { once: true });
          });
        }
      }
      const resync = setInterval(
        () =>
          void delivery
            .resync()
            .catch((error: unknown) =>
              log({ level: "warn", msg: "delivery resync failed", error: String(error) }),
            ),
        deliveryResyncMs,
      );
      await running;
      clearInterval(resync);
      await delivery.stop();
    },
  };
}

function kubeconfig(url: string, token: string, caCert: string | undefined) {
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "unitfleet",
        cluster: {
          server: url,
          ...(caCert ? { "certificate-authority-data": Buffer.from(caCert).toString("base64") } : {}),
        },
      },
    ],
    users: [{ name: "unitfleet-admin", user: { token } }],
    contexts: [{ name: "unitfleet", context: { cluster: "unitfleet", user: "unitfleet-admin" } }],
    "current-context": "unitfleet",
  };
}
