/** What the hub hands its API (hub.ts fills it): the registry, authentication, watches, commands, administration. */

import type { InventoryItem } from "../../core/inventory/inventory.ts";
import type { AuditPage, AuditQuery } from "../audit/audit-log.ts";
import type { TokenInfo, TokenSpec } from "../auth/tokens.ts";
import type { CommandBus } from "../commands/command-bus.ts";
import type { Joined, JoinRequest } from "../joining/joining.ts";
import type { CostExport, CostExportQuery } from "../metering/cost-export.ts";
import type { CostQuery, CostReport } from "../metering/cost-query.ts";
import type { Caller } from "../registry/caller.ts";
import type { Registry } from "../registry/registry.ts";
import type { ServiceExportFilter, ServiceExportRow } from "../services/service-export-summaries.ts";
import type { Metrics } from "./metrics.ts";
import type { WatchSource } from "./watch.ts";

export interface ApiDependencies {
  registry: Registry;
  authenticate: (token: string | undefined) => Promise<Caller | undefined>;
  /** The changes watches are served from: read once per change for all of them (the hub's change feed). */
  watches: WatchSource;
  metrics: Metrics;
  /** Commands to clusters through the tunnel (ping, logs). */
  commands: CommandBus;
  ready: () => Promise<boolean>;
  log: (entry: Record<string, unknown>) => void;
  hubVersion: string;
  openapi: () => unknown;
  /** The inventory items clusters last reported (those of the clusters named that have reported). */
  inventories: (
    clusters: readonly string[],
  ) => Promise<ReadonlyMap<string, ReadonlyMap<string, InventoryItem>>>;
  /** What the fleet cost over a window (src/hub/metering/cost-query.ts); bad input throws a UserError. */
  cost: (query: CostQuery) => Promise<CostReport>;
  /** The fleet's cost for a billing month as FOCUS CSV (src/hub/metering/cost-export.ts); bad input throws a UserError. */
  costExport: (query: CostExportQuery) => Promise<CostExport>;
  /** The multi-cluster service exports relays summarised (src/hub/services/service-export-summaries.ts). */
  serviceExports: (filter: ServiceExportFilter) => Promise<ServiceExportRow[]>;
  /** Administration: tokens and the audit log (admin role only). */
  admin: AdminOperations;
  tls?: { cert: string; key: string; clientCa: string };
}

export interface AdminOperations {
  createBootstrapToken(
    location: string,
    ttlSeconds: number,
  ): Promise<{ id: string; token: string; expiresAt: Date }>;
  revokeBootstrapToken(id: string): Promise<void>;
  revokeCertificate(serial: string): Promise<void>;
  /** Unauthenticated: the bootstrap token in the body is the credential. */
  join(request: JoinRequest): Promise<Joined>;
  /** Authenticated by the client certificate of the connection. */
  renew(currentCertPem: string, csr: string): Promise<Joined>;
  listAudit(query: AuditQuery): Promise<AuditPage>;
  listTokens(): Promise<TokenInfo[]>;
  createToken(spec: TokenSpec): Promise<string>;
  revokeToken(name: string): Promise<void>;
}
