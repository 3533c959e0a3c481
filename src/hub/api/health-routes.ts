/** Health for probes (`/livez`, `/healthz`, `/readyz`: no token) and Prometheus metrics (any valid token). */
import type { ApiDependencies } from "./api-dependencies.ts";
import { type AnyRoute, route, text } from "./router.ts";

export function healthRoutes(deps: ApiDependencies): AnyRoute[] {
  const live = async () => text(200, "ok");
  return [
    route({ method: "GET", path: "/livez", access: "public", anyAccept: true, handle: live }),
    route({ method: "GET", path: "/healthz", access: "public", anyAccept: true, handle: live }),
    route({
      method: "GET",
      path: "/readyz",
      access: "public",
      anyAccept: true,
      handle: async () => ((await deps.ready()) ? text(200, "ok") : text(503, "not ready")),
    }),
    // Metrics name clusters and tokens' activity: any valid token may read them, no anonymous caller.
    route({
      method: "GET",
      path: "/metrics",
      access: "authenticated",
      anyAccept: true,
      handle: async () => text(200, deps.metrics.render(), "text/plain; version=0.0.4"),
    }),
  ];
}
