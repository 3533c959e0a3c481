/**
 * The fleet's cost for a billing month as a file (issue 14):
 * `GET /unitfleet/v1alpha1/cost/export?format=focus&month=2026-11[&idle=share]` answers FOCUS 1.3 CSV
 * (`text/csv`, docs/metering.md "FOCUS export"). The same access as the cost query: any unscoped token, since idle
 * and shared costs cross businesses (docs/authorization.md). Bad input is a 400 naming each field.
 */
import { z } from "zod";
import type { ApiDependencies } from "./api-dependencies.ts";
import { type Access, type AnyRoute, route, text } from "./router.ts";

export const costExportPath = "/unitfleet/v1alpha1/cost/export";

const exportQuery = z.looseObject({
  format: z.string().optional(),
  month: z.string().optional(),
  idle: z.string().optional(),
});

const readCost: Access = { role: "viewer", unscoped: true, doing: "read the fleet's cost" };

export function costExportRoutes(deps: ApiDependencies): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: costExportPath,
      access: readCost,
      query: exportQuery,
      // A CSV download: `Accept: text/csv` (or anything) is fine; errors still answer JSON Status objects.
      anyAccept: true,
      handle: async ({ query }) => {
        const answer = await deps.costExport({
          format: query.format ?? "focus",
          month: query.month ?? "",
          ...(query.idle !== undefined ? { idle: query.idle } : {}),
        });
        return text(200, answer.body, answer.contentType);
      },
    }),
  ];
}
