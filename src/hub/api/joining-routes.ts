/**
 * Joining the fleet (docs/pki.md): relays and agents join with a bootstrap token (no API token: the token in the
 * body is the credential) and renew with the certificate being renewed; operators (unscoped) create and revoke
 * bootstrap tokens and revoke certificates.
 */
import { z } from "zod";
import { dnsName } from "../../core/validation/zod-fields.ts";
import { problemsFromZod } from "../../core/validation/zod-problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type { JoinRequest } from "../joining/joining.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { jsonTypes } from "./request-body.ts";
import { type Access, type AnyRoute, json, route } from "./router.ts";

export const joinPath = "/unitfleet/v1alpha1/join";
export const renewPath = "/unitfleet/v1alpha1/renew";
export const bootstrapTokensPath = "/unitfleet/v1alpha1/bootstrap-tokens";
export const certificatesPath = "/unitfleet/v1alpha1/certificates";

const joinRequest = z.looseObject({
  token: z.string(),
  role: z.enum(["relay", "agent"], { error: 'must be "relay" or "agent"' }),
  cluster: dnsName.optional(),
  csr: z.string(),
  clusterSpec: z.record(z.string(), z.unknown(), { error: "must be a mapping" }).optional(),
});

const renewRequest = z.looseObject({ csr: z.string() });

const bootstrapTokenRequest = z.looseObject({
  location: z.string(),
  ttlSeconds: z
    .number({ error: "must be between 1 s and 7 days" })
    .gt(0, { error: "must be between 1 s and 7 days" })
    .max(7 * 86400, { error: "must be between 1 s and 7 days" })
    .default(3600),
});

const manageJoining: Access = { role: "operator", unscoped: true, doing: "manage joining" };

export function joiningRoutes(deps: ApiDependencies): AnyRoute[] {
  const issued = (joined: Awaited<ReturnType<typeof deps.admin.join>>) =>
    json(201, {
      identity: joined.identity,
      certificate: joined.certificate,
      serial: joined.serial,
      notAfter: joined.notAfter,
      ca: joined.ca,
      fleetCa: joined.fleetCa,
    });
  return [
    route({
      method: "POST",
      path: joinPath,
      access: "public",
      body: { types: jsonTypes, schema: joinRequest, what: "the join request" },
      handle: async ({ body }) => issued(await deps.admin.join(body as unknown as JoinRequest)),
    }),
    route({
      method: "POST",
      path: renewPath,
      access: "public",
      body: { types: jsonTypes },
      handle: async ({ body, peerCertificate }) => {
        if (!peerCertificate)
          throw new UserError("Unauthorized", "renewal needs the client certificate that is being renewed");
        const request = renewRequest.safeParse(body);
        if (!request.success)
          throw new UserError("InvalidInput", "the renewal request is invalid", {
            problems: problemsFromZod(request.error),
          });
        return issued(await deps.admin.renew(peerCertificate, request.data.csr));
      },
    }),
    route({
      method: "POST",
      path: bootstrapTokensPath,
      access: manageJoining,
      body: { types: jsonTypes, schema: bootstrapTokenRequest, what: "the bootstrap token request" },
      handle: async ({ body }) =>
        json(201, await deps.admin.createBootstrapToken(body.location, body.ttlSeconds)),
    }),
    route({
      method: "DELETE",
      path: `${bootstrapTokensPath}/:id`,
      access: manageJoining,
      params: { id: /^[0-9a-f]+$/ },
      handle: async ({ params }) => {
        await deps.admin.revokeBootstrapToken(params.id!);
        return json(200, { revoked: true });
      },
    }),
    route({
      method: "DELETE",
      path: `${certificatesPath}/:serial`,
      access: manageJoining,
      params: { serial: /^[0-9a-fA-F]+$/ },
      handle: async ({ params }) => {
        await deps.admin.revokeCertificate(params.serial!);
        return json(200, { revoked: true });
      },
    }),
  ];
}
