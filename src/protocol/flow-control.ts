/**
 * Flow control on the tunnel (docs/protocol.md, Flow control; ADR 0014). A relay may have at most a window of
 * metadata messages per cluster in flight to the hub; the hub gives one credit back for each one it receives,
 * whatever becomes of it. Heartbeats take no credit: they travel in their own lane, one per cluster at most
 * waiting, so a cluster is never reported dead because its inventory is slow.
 */
import { type MessageBody, type MessageType, messageTypes } from "./messages.ts";

/** How many metadata messages per cluster may be in flight when a session opens (its window). */
export const initialCredit = 64;

/** The lanes of a relay's outbound queue, sent in this order. */
export type Lane = "control" | "heartbeat" | "metadata";

/**
 * The lane a message travels in from a relay to the hub: heartbeats alone (no credit, the newest per cluster);
 * other metadata within the cluster's credit; everything else (control, and user content, which goes with the
 * command it answers) first.
 */
export function laneOf(type: MessageType): Lane {
  if (type === "heartbeat") return "heartbeat";
  return messageTypes[type].class === "metadata" ? "metadata" : "control";
}

/** Whether sending a message of this type uses one of its cluster's credit. */
export function takesCredit(type: MessageType): boolean {
  return laneOf(type) === "metadata";
}

/**
 * The credit the hub gives back for a message it received: one for every message that took credit and names
 * a cluster (a `services.summary` names its Location instead, whose window it takes) — handled, refused, answered with a resync or failed alike — nothing for the others. It also takes
 * a frame the hub could not decode (`{ type, body }` as parsed), so that a refused frame does not keep its
 * credit either.
 */
export function creditReturned(received: {
  type?: unknown;
  body?: unknown;
}): MessageBody<"credit"> | undefined {
  const type = received.type;
  if (typeof type !== "string" || !Object.hasOwn(messageTypes, type)) return undefined;
  if (!takesCredit(type as MessageType)) return undefined;
  // A relay's own summary of its Location's services is the Location's to pace, not a cluster's.
  const body = received.body as { cluster?: unknown; location?: unknown } | null | undefined;
  const cluster = type === "services.summary" ? body?.location : body?.cluster;
  const credit = messageTypes.credit.body.safeParse({ cluster, messages: 1 });
  return credit.success ? credit.data : undefined;
}

/**
 * The credit given back for a frame the receiver refused before it could read it as a message (an invalid
 * body, say): if it parses as JSON naming a type that takes credit and a cluster, one credit; otherwise none.
 */
export function creditReturnedForFrame(frame: string | Uint8Array): MessageBody<"credit"> | undefined {
  try {
    const parsed: unknown = JSON.parse(
      typeof frame === "string" ? frame : Buffer.from(frame).toString("utf8"),
    );
    return parsed !== null && typeof parsed === "object" ? creditReturned(parsed) : undefined;
  } catch {
    return undefined;
  }
}
