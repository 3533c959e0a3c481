/**
 * The hub's API on node:http (docs/adr/0004, 0018): the route table of every capability — health and metrics,
 * discovery and OpenAPI, joining, administration, commands, fleet snapshots, and the registry's kinds as
 * Kubernetes resources — served over HTTP or HTTPS, with a request counter and duration per answer.
 */
import { X509Certificate } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { administrationRoutes } from "./administration-routes.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { commandRoutes } from "./command-routes.ts";
import { costExportRoutes } from "./cost-export-routes.ts";
import { costRoutes } from "./cost-routes.ts";
import { discoveryRoutes } from "./discovery-routes.ts";
import { fleetSnapshotRoutes } from "./fleet-snapshot-routes.ts";
import { healthRoutes } from "./health-routes.ts";
import { joiningRoutes } from "./joining-routes.ts";
import { resourceRoutes } from "./resource-routes.ts";
import { Router } from "./router.ts";
import { serviceExportRoutes } from "./service-export-routes.ts";

export type { AdminOperations, ApiDependencies } from "./api-dependencies.ts";

/** The route table of the hub's API: every capability's routes. */
export function apiRouter(deps: ApiDependencies): Router {
  return new Router({ authenticate: deps.authenticate, log: deps.log }, [
    ...healthRoutes(deps),
    ...discoveryRoutes(deps),
    ...joiningRoutes(deps),
    ...administrationRoutes(deps),
    ...commandRoutes(deps),
    ...fleetSnapshotRoutes(deps),
    ...costRoutes(deps),
    ...costExportRoutes(deps),
    ...serviceExportRoutes(deps),
    ...resourceRoutes(deps),
  ]);
}

export function createApiServer(deps: ApiDependencies): Server {
  const router = apiRouter(deps);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const peer = (req.socket as TLSSocket).getPeerCertificate?.(false);
    router
      .dispatch(
        {
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers,
          body: req,
          ...(peer?.raw ? { peerCertificate: new X509Certificate(peer.raw).toString() } : {}),
        },
        { req, res },
      )
      .then((response) => {
        if (!response) return;
        res.writeHead(response.status, response.headers);
        res.end(response.body);
      })
      .catch((error: unknown) => {
        deps.log({ level: "error", msg: "request failed", error: String((error as Error)?.stack ?? error) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      })
      .finally(() => {
        deps.metrics.observeRequest(
          req.method ?? "GET",
          res.statusCode,
          (performance.now() - started) / 1000,
        );
      });
  };
  return deps.tls
    ? // Client certificates are asked for (relays and agents present one on the tunnel) but not required:
      // API clients authenticate with tokens. The tunnel checks the certificate itself.
      createHttpsServer(
        {
          cert: deps.tls.cert,
          key: deps.tls.key,
          ca: deps.tls.clientCa,
          requestCert: true,
          rejectUnauthorized: false,
        },
        handler,
      )
    : createHttpServer(handler);
}
