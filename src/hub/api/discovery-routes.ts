/** The discovery and OpenAPI documents kubectl reads before anything else (any valid token). */
import { apiVersion } from "../../core/resources/meta.ts";
import { UserError } from "../../errors/user-error.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { apiGroup, coreVersions, groupList, resourceList, versionInfo } from "./discovery.ts";
import { type AnyRoute, json, route } from "./router.ts";

export function discoveryRoutes(deps: ApiDependencies): AnyRoute[] {
  const document = (path: string, value: () => unknown) =>
    route({ method: "GET", path, access: "authenticated", handle: async () => json(200, value()) });
  return [
    document("/version", () => versionInfo(deps.hubVersion)),
    document("/api", coreVersions),
    document("/apis", groupList),
    document("/apis/unitfleet.io", apiGroup),
    document(`/apis/${apiVersion}`, resourceList),
    route({
      method: "GET",
      path: "/openapi/v2",
      access: "authenticated",
      handle: async () => {
        throw new UserError("NotFound", "OpenAPI v2 is not served; use /openapi/v3");
      },
    }),
    document("/openapi/v3", () => ({
      paths: { [`apis/${apiVersion}`]: { serverRelativeURL: `/openapi/v3/apis/${apiVersion}` } },
    })),
    document(`/openapi/v3/apis/${apiVersion}`, deps.openapi),
  ];
}
