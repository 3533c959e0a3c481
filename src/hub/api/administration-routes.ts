/** Administration (role admin, unscoped): the audit log, read newest first and paged, and API tokens. */
import { z } from "zod";
import { dnsName } from "../../core/validation/zod-fields.ts";
import { UserError } from "../../errors/user-error.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { limitParameter } from "./query-parameters.ts";
import { jsonTypes } from "./request-body.ts";
import { type Access, type AnyRoute, json, route } from "./router.ts";

export const auditPath = "/unitfleet/v1alpha1/audit";
export const tokensPath = "/unitfleet/v1alpha1/api-tokens";

const auditQuery = z.looseObject({
  limit: limitParameter.optional(),
  continue: z.string().optional(),
  actor: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
});

const tokenRequest = z.looseObject({
  name: dnsName,
  role: z.enum(["viewer", "operator", "admin"], { error: 'must be one of "viewer", "operator", "admin"' }),
  businesses: z.array(z.string(), { error: "must be a list of business names" }).optional(),
  ttlSeconds: z
    .number({ error: "must be a positive number" })
    .gt(0, { error: "must be a positive number" })
    .optional(),
});

const administer: Access = {
  role: "admin",
  unscoped: true,
  doing: "read the audit log or manage tokens",
};

export function administrationRoutes(deps: ApiDependencies): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: auditPath,
      access: administer,
      query: auditQuery,
      handle: async ({ query: q }) =>
        json(
          200,
          await deps.admin.listAudit({
            ...(q.limit ? { limit: q.limit } : {}),
            ...(q.continue ? { before: q.continue } : {}),
            ...(q.actor ? { actor: q.actor } : {}),
            ...(q.kind ? { kind: q.kind } : {}),
            ...(q.name ? { name: q.name } : {}),
          }),
        ),
    }),
    route({
      method: "GET",
      path: tokensPath,
      access: administer,
      handle: async () => json(200, { items: await deps.admin.listTokens() }),
    }),
    route({
      method: "POST",
      path: tokensPath,
      access: administer,
      body: { types: jsonTypes, schema: tokenRequest, what: "the token request" },
      handle: async ({ body: spec }) => {
        const secret = await deps.admin.createToken({
          name: spec.name,
          role: spec.role,
          ...(spec.businesses ? { businesses: spec.businesses } : {}),
          ...(spec.ttlSeconds !== undefined
            ? { expiresAt: new Date(Date.now() + spec.ttlSeconds * 1000) }
            : {}),
        });
        return json(201, { name: spec.name, token: secret });
      },
    }),
    route({
      method: "DELETE",
      path: `${tokensPath}/:name`,
      access: administer,
      handle: async ({ params }) => {
        await deps.admin.revokeToken(decodedSegment(params.name!));
        return json(200, { revoked: true });
      },
    }),
  ];
}

/** A percent-encoded path segment, decoded; bad encoding is the caller's mistake. */
function decodedSegment(segment: string): string {
  try {
    const decoded = decodeURIComponent(segment);
    if (!decoded.includes("\u0000")) return decoded;
  } catch {
    // Bad percent-encoding: refused below.
  }
  throw new UserError(
    "BadRequest",
    `the path segment "${segment}" is not valid percent-encoding or has a NUL`,
  );
}
