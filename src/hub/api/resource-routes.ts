/**
 * The registry's kinds as kube-apiserver serves resources, one set of routes per kind: list (Table printing,
 * label and field selectors, paging) and watch, create, get, replace, patch (JSON merge patch, RFC 6902 JSON
 * patch, server-side apply with field managers), delete with preconditions, the status subresource; and the
 * hub's all-or-nothing multi-document apply (`unitfleet apply -f`).
 */
import { z } from "zod";
import { type KindInfo, kinds } from "../../core/resources/kinds.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import { UserError } from "../../errors/user-error.ts";
import type { StoredObject } from "../../store/resource-store.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { dryRunParameter, limitParameter } from "./query-parameters.ts";
import { applyPatchType, jsonPatchType, jsonTypes, mergePatchType } from "./request-body.ts";
import { type AnyRoute, json, type Reply, type RouteContext, route } from "./router.ts";
import { table, wantsTable } from "./table.ts";
import { serveWatch } from "./watch.ts";

/** Applies several documents in one transaction (what `unitfleet apply -f` uses): all or nothing. */
export const applyPath = "/unitfleet/v1alpha1/apply";

const base = `/apis/${apiVersion}`;
/** What a name segment of a resource path may be; anything else is not a resource the hub has (404). */
const nameSegment = /^[a-z0-9-]+$/;

const listQuery = z.looseObject({
  limit: limitParameter.optional(),
  continue: z.string().optional(),
  labelSelector: z.string().optional(),
  fieldSelector: z.string().optional(),
  watch: z.string().optional(),
});

/** A field manager's name, as Kubernetes allows it: at most 128 printable characters. */
const fieldManager = z
  .string()
  .max(128)
  .regex(/^[\x20-\x7e]+$/, "must be printable characters")
  .optional();

const writeQuery = z.looseObject({ dryRun: dryRunParameter, fieldManager });

const patchQuery = z.looseObject({
  dryRun: dryRunParameter,
  fieldManager,
  force: z.enum(["true", "false"], { error: 'must be "true" or "false"' }).optional(),
});

const deleteOptions = z.looseObject({
  preconditions: z
    .looseObject({ resourceVersion: z.string({ error: "must be a string" }).optional() })
    .nullable()
    .optional(),
});

/** The media types PATCH takes, and which kubectl flags send them. */
const patchTypes = [mergePatchType, "application/json", jsonPatchType, applyPatchType];
const patchHint = "kubectl patch --type=merge or --type=json, kubectl apply --server-side";

export function resourceRoutes(deps: ApiDependencies): AnyRoute[] {
  return [...Object.values(kinds).flatMap((k) => kindRoutes(deps, k)), applyRoute(deps)];
}

function kindRoutes(deps: ApiDependencies, kind: KindInfo): AnyRoute[] {
  const collection = `${base}/${kind.plural}`;
  const one = `${collection}/:name`;
  const params = { name: nameSegment };
  const about = ({ params: p }: { params?: Record<string, string> }) => ({
    kind: kind.kind,
    ...(p?.name ? { name: p.name } : {}),
  });
  const get = async ({ params: p, caller, headers }: RouteContext) =>
    respond(headers.accept, kind, await deps.registry.get(kind, p.name!, caller));
  return [
    route({
      method: "GET",
      path: collection,
      access: "authenticated",
      query: listQuery,
      errorTarget: about,
      handle: async ({ query, caller, headers, url }): Promise<Reply> => {
        if (query.watch === "true" || query.watch === "1")
          return { stream: (req, res) => serveWatch(deps, req, res, url, kind, caller) };
        const list = await deps.registry.list(
          kind,
          {
            labelSelector: query.labelSelector ?? "",
            ...(query.limit ? { limit: query.limit } : {}),
            ...(query.continue ? { continue: query.continue } : {}),
          },
          caller,
        );
        const items = fieldFiltered(list.items, query.fieldSelector);
        const meta = {
          resourceVersion: list.resourceVersion,
          ...(list.continue ? { continue: list.continue } : {}),
        };
        if (wantsTable(headers.accept)) return json(200, table(kind, items, meta));
        return json(200, { kind: `${kind.kind}List`, apiVersion, metadata: meta, items });
      },
    }),
    route({
      method: "POST",
      path: collection,
      access: "authenticated",
      query: writeQuery,
      body: { types: jsonTypes },
      errorTarget: ({ body }) => {
        const named = (body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
        return { kind: kind.kind, ...(typeof named === "string" ? { name: named } : {}) };
      },
      handle: async ({ body, caller, query }) =>
        json(201, await deps.registry.create(body, caller, { kind, dryRun: query.dryRun })),
    }),
    route({
      method: "GET",
      path: one,
      access: "authenticated",
      params,
      errorTarget: about,
      handle: get,
    }),
    route({
      method: "PUT",
      path: one,
      access: "authenticated",
      params,
      query: writeQuery,
      body: { types: jsonTypes },
      errorTarget: about,
      handle: async ({ params: p, body, caller, query, headers }) =>
        json(
          200,
          await deps.registry.replace(
            kind,
            p.name!,
            body,
            caller,
            query.dryRun,
            manager(query.fieldManager, headers["user-agent"]),
          ),
        ),
    }),
    route({
      method: "PATCH",
      path: one,
      access: "authenticated",
      params,
      query: patchQuery,
      body: { types: patchTypes, listTypes: [jsonPatchType], hint: patchHint },
      errorTarget: about,
      handle: (context) => patch(deps, kind, context),
    }),
    route({
      method: "DELETE",
      path: one,
      access: "authenticated",
      params,
      body: { types: jsonTypes, optional: true, schema: deleteOptions, what: "the delete options" },
      errorTarget: about,
      handle: async ({ params: p, body, caller }) =>
        json(
          200,
          await deps.registry.delete(
            kind,
            p.name!,
            caller,
            body?.preconditions?.resourceVersion ?? undefined,
          ),
        ),
    }),
    route({
      method: "GET",
      path: `${one}/status`,
      access: "authenticated",
      params,
      errorTarget: about,
      handle: get,
    }),
    route({
      method: "PUT",
      path: `${one}/status`,
      access: "authenticated",
      params,
      body: { types: jsonTypes },
      errorTarget: about,
      handle: async ({ params: p, body, caller }) =>
        json(200, await deps.registry.replaceStatus(kind, p.name!, body, caller)),
    }),
  ];
}

/** PATCH by media type: a merge patch, a JSON patch, or a server-side apply. */
async function patch(
  deps: ApiDependencies,
  kind: KindInfo,
  { params, body, caller, query, headers, contentType }: RouteContext<unknown, z.infer<typeof patchQuery>>,
): Promise<Reply> {
  const name = params.name!;
  const fieldManagerName = manager(query.fieldManager, headers["user-agent"]);
  if (contentType === applyPatchType) {
    if (!query.fieldManager)
      throw new UserError("InvalidInput", "the patch options are invalid", {
        problems: [{ path: "fieldManager", message: "is required for apply patch" }],
      });
    const applied = await deps.registry.apply(kind, name, body, caller, {
      fieldManager: query.fieldManager,
      force: query.force === "true",
      dryRun: query.dryRun,
    });
    return json(applied.created ? 201 : 200, applied.object);
  }
  if (query.force !== undefined)
    throw new UserError("InvalidInput", "the patch options are invalid", {
      problems: [{ path: "force", message: "may not be specified for non-apply patch" }],
    });
  if (contentType === jsonPatchType)
    return json(
      200,
      await deps.registry.jsonPatch(kind, name, body, caller, {
        dryRun: query.dryRun,
        fieldManager: fieldManagerName,
      }),
    );
  return json(200, await deps.registry.patch(kind, name, body, caller, query.dryRun, fieldManagerName));
}

function applyRoute(deps: ApiDependencies): AnyRoute {
  return route({
    method: "POST",
    path: applyPath,
    access: "authenticated",
    body: { types: jsonTypes },
    handle: async ({ body, caller }) => {
      const request = body as { documents?: unknown; dryRun?: unknown };
      if (!Array.isArray(request.documents))
        throw new UserError("BadRequest", "the body needs a documents list");
      const documents = request.documents.map((d, i) => {
        if (d === null || typeof d !== "object" || Array.isArray(d))
          throw new UserError("BadRequest", `documents[${i}] must be a mapping with an object`);
        const { source, object } = d as { source?: unknown; object?: unknown };
        return { source: typeof source === "string" ? source : `document ${i + 1}`, body: object };
      });
      const results = await deps.registry.applyAll(documents, caller, request.dryRun === true);
      return json(200, {
        results: results.map((r) => ({
          kind: r.object.kind,
          name: r.object.metadata.name,
          action: r.action,
        })),
      });
    },
  });
}

/** Who makes a change: the `fieldManager` parameter, else the client's name from its User-Agent, as Kubernetes. */
function manager(fieldManagerParameter: string | undefined, userAgent: string | undefined): string {
  if (fieldManagerParameter) return fieldManagerParameter;
  const prefix = (userAgent ?? "").split("/")[0]!.trim();
  return prefix.length > 0 && prefix.length <= 128 ? prefix : "unknown";
}

function respond(accept: string | undefined, kind: KindInfo, object: StoredObject): Reply {
  if (wantsTable(accept))
    return json(200, table(kind, [object], { resourceVersion: object.metadata.resourceVersion }));
  return json(200, object);
}

function fieldFiltered(items: StoredObject[], fieldSelector: string | undefined): StoredObject[] {
  if (!fieldSelector) return items;
  const match = /^metadata\.name=(.+)$/.exec(fieldSelector);
  if (!match)
    throw new UserError(
      "BadRequest",
      `field selector "${fieldSelector}" is not supported (only metadata.name=…)`,
    );
  return items.filter((i) => i.metadata.name === match[1]);
}
