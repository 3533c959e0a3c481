/**
 * The hub API's commands to clusters (`POST /unitfleet/v1alpha1/commands`, `unitfleet ping|logs`): the request
 * a client sends and the report it gets back. The hub's command bus and the CLI both speak these shapes, so
 * they live here, outside both: the CLI never imports the hub (docs/adr/0002).
 */
import type { MessageBody } from "../protocol/messages.ts";

/** What to run in the cluster: the tunnel protocol's own action (ping, or logs of one pod). */
export type CommandAction = MessageBody<"command">["action"];

/** How a command ended: the tunnel protocol's outcome (succeeded, failed, expired or refused). */
export type CommandOutcome = MessageBody<"command.result">["outcome"];

/** The body of a command request. */
export interface CommandRequest {
  cluster: string;
  action: CommandAction;
  /** The caller's key: sending the same request again (after a timeout or a hub restart) does not run it twice. */
  idempotencyKey?: string;
  timeoutSeconds?: number;
}

/** The answer to a command request: its state and, once done, its outcome. */
export interface CommandReport {
  key: string;
  cluster: string;
  state: "pending" | "done";
  outcome?: CommandOutcome;
  message?: string;
  rule?: string;
  /** The command's output (pod logs), returned once. */
  output?: string;
}
