/**
 * The residency guard: user content (pod logs today; uploads, documents, volume data later) never leaves its
 * Location. Control and metadata may cross between Locations through the tunnel.
 */
import { classOf, type MessageBody, type MessageType } from "./messages.ts";

export type ResidencyVerdict = { allowed: true } | { allowed: false; rule: string; reason: string };

export const residencyRule = "user-content-stays-in-its-location";

/**
 * May a message of this type, about a cluster of `from` Location, be sent to a peer in `to` Location?
 */
export function residencyVerdict(type: MessageType, from: string, to: string): ResidencyVerdict {
  if (classOf(type) !== "user-content" || from === to) return { allowed: true };
  return {
    allowed: false,
    rule: residencyRule,
    reason: `${type} is user content of Location "${from}" and may not be sent to Location "${to}"`,
  };
}

/** The data class of what a command brings back: a pod's log is user content; a ping's answer is control. */
export function commandOutputClass(action: MessageBody<"command">["action"]): "control" | "user-content" {
  return action.type === "logs" ? "user-content" : "control";
}

/**
 * May this command be run for a hub in Location `to`, given that its output would leave Location `from`? A
 * relay asks before passing a command on, so that nothing is read that could not be sent.
 */
export function commandResidencyVerdict(
  action: MessageBody<"command">["action"],
  from: string,
  to: string,
): ResidencyVerdict {
  if (commandOutputClass(action) !== "user-content" || from === to) return { allowed: true };
  return {
    allowed: false,
    rule: residencyRule,
    reason: `${action.type} output is user content of Location "${from}" and may not be sent to the hub in Location "${to}"`,
  };
}
