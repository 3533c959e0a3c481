/** Commands to clusters through the tunnel (`unitfleet ping|logs`): sent, then answered with their outcome. */
import { z } from "zod";
import type { CommandRequest } from "../../api-contract/commands.ts";
import { messageTypes } from "../../protocol/messages.ts";
import type { ApiDependencies } from "./api-dependencies.ts";
import { jsonTypes } from "./request-body.ts";
import { type AnyRoute, json, route } from "./router.ts";

/** Sends a command to a cluster and answers with its outcome (and output, for logs). */
export const commandsPath = "/unitfleet/v1alpha1/commands";

/** A command request's shape, with the protocol's own schema for the action. */
const commandRequest = z.strictObject({
  cluster: messageTypes.command.body.shape.cluster,
  action: messageTypes.command.body.shape.action,
  idempotencyKey: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, "must be 1 to 128 letters, digits or . _ : -")
    .optional(),
  timeoutSeconds: z.number().int().min(1).max(300).optional(),
});

export function commandRoutes(deps: ApiDependencies): AnyRoute[] {
  return [
    route({
      method: "POST",
      path: commandsPath,
      access: "authenticated",
      body: { types: jsonTypes, schema: commandRequest, what: "the command request" },
      handle: async ({ body, caller }) =>
        json(200, await deps.commands.submit(caller, body as CommandRequest)),
    }),
  ];
}
