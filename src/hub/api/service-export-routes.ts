/**
 * The fleet's multi-cluster service exports as their relays summarised them (issue 15, docs/multi-cluster-services.md
 * "What the hub sees"): `GET /unitfleet/v1alpha1/service-exports?location=&cluster=&namespace=`, from the store, so
 * any replica answers. Any token reads it; a token scoped to businesses sees the exports of its businesses' clusters
 * only, as it sees only those Clusters (docs/authorization.md).
 */
import { z } from "zod";
import { kinds } from "../../core/resources/kinds.ts";
import { dns1123Label } from "../../core/validation/names.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { type AnyRoute, json, route } from "./router.ts";

export const serviceExportsPath = "/unitfleet/v1alpha1/service-exports";

const label = z.string().max(63).regex(dns1123Label, "must be a DNS label (lower-case letters, digits, -)");
const serviceExportsQuery = z.looseObject({
  location: label.optional(),
  cluster: label.optional(),
  namespace: label.optional(),
});

export function serviceExportRoutes(deps: ApiDependencies): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: serviceExportsPath,
      access: "authenticated",
      query: serviceExportsQuery,
      handle: async ({ query, caller }) => {
        const filter = {
          ...(query.location ? { location: query.location } : {}),
          ...(query.cluster ? { cluster: query.cluster } : {}),
          ...(query.namespace ? { namespace: query.namespace } : {}),
        };
        let items = await deps.serviceExports(filter);
        if (caller.businesses) {
          const visible = new Set(
            (await deps.registry.list(kinds.Cluster, {}, caller)).items.map((c) => c.metadata.name),
          );
          items = items.filter((e) => visible.has(e.cluster));
        }
        return json(200, { apiVersion: "unitfleet.io/v1alpha1", kind: "ServiceExportSummaryList", items });
      },
    }),
  ];
}
