/**
 * What the fleet cost (issue 14): `GET /unitfleet/v1alpha1/cost?window=7d&by=business,environment&idle=share`.
 * Any unscoped token may read it; a token scoped to businesses may not, since idle and shared costs cross
 * businesses (docs/authorization.md). Money is in integer micro-units of each group's currency.
 */
import { z } from "zod";
import type { ApiDependencies } from "./api-dependencies.ts";
import { type Access, type AnyRoute, json, route } from "./router.ts";

export const costPath = "/unitfleet/v1alpha1/cost";

const costQuery = z.looseObject({
  window: z.string().optional(),
  by: z.string().optional(),
  idle: z.string().optional(),
  cluster: z.string().optional(),
});

const readCost: Access = { role: "viewer", unscoped: true, doing: "read the fleet's cost" };

export function costRoutes(deps: ApiDependencies): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: costPath,
      access: readCost,
      query: costQuery,
      handle: async ({ query }) =>
        json(
          200,
          await deps.cost({
            window: query.window ?? "24h",
            aggregate: query.by ? query.by.split(",").map((d) => d.trim()) : [],
            ...(query.idle !== undefined ? { idle: query.idle } : {}),
            ...(query.cluster ? { clusters: query.cluster.split(",") } : {}),
          }),
        ),
    }),
  ];
}
