/**
 * The residency guard: user content (pod logs today; uploads, documents, volume data later) never leaves its
 * Location. Control and metadata may cross between Locations through the tunnel.
 */
import { classOf, type MessageType } from "./messages.ts";

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
