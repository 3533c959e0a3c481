/**
 * Frames on the wire are JSON text. `decodeFrame` never throws: a frame that is too large, not JSON, of an
 * unknown type or version, mislabelled, or with an invalid body comes back as a typed rejection that the
 * receiver answers with an `error` message — and the session (and every other cluster on it) goes on.
 */
import { fieldPath } from "../core/validation/problems.ts";
import {
  classOf,
  type Envelope,
  type Message,
  type MessageBody,
  type MessageType,
  maxFrameBytes,
  messageTypes,
  protocolVersions,
} from "./messages.ts";

export type Rejection = {
  code: "too-large" | "malformed" | "unsupported-version" | "unknown-type";
  message: string;
  /**
   * The frame's sequence number, when its envelope had a valid one: the receiver counts the refused message as
   * handled, so that one bad or unknown message (a newer peer's type, a record out of bounds) does not stop the
   * session's later ones as out of order.
   */
  seq?: number;
};
export type Decoded = { ok: true; message: Message } | { ok: false; rejection: Rejection };

export function decodeFrame(frame: string | Uint8Array, limit = maxFrameBytes): Decoded {
  const size = typeof frame === "string" ? Buffer.byteLength(frame) : frame.byteLength;
  if (size > limit) return reject("too-large", `frame of ${size} bytes is larger than ${limit}`);
  let raw: unknown;
  try {
    raw = JSON.parse(typeof frame === "string" ? frame : Buffer.from(frame).toString("utf8"));
  } catch {
    return reject("malformed", "frame is not JSON");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    return reject("malformed", "frame is not an object");
  const e = raw as Record<string, unknown>;
  const seq = Number.isSafeInteger(e.seq) && (e.seq as number) >= 1 ? (e.seq as number) : undefined;
  const refuse = (code: Rejection["code"], text: string): Decoded => ({
    ok: false,
    rejection: { code, message: text, ...(seq !== undefined ? { seq } : {}) },
  });
  if (!protocolVersions.includes(e.v as 1))
    return refuse("unsupported-version", `protocol version ${JSON.stringify(e.v)} is not spoken here`);
  if (typeof e.type !== "string" || !Object.hasOwn(messageTypes, e.type))
    return refuse("unknown-type", `unknown message type ${JSON.stringify(e.type)}`);
  const type = e.type as MessageType;
  if (typeof e.id !== "string" || e.id.length === 0 || e.id.length > 64)
    return refuse("malformed", "id: must be a string of 1 to 64 characters");
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1)
    return refuse("malformed", "seq: must be a positive integer");
  if (e.class !== classOf(type))
    return refuse(
      "malformed",
      `class: a ${type} message is ${classOf(type)}, not ${JSON.stringify(e.class)}`,
    );
  if (e.replyTo !== undefined && (typeof e.replyTo !== "string" || e.replyTo.length > 64))
    return refuse("malformed", "replyTo: must be a message id");
  const extra = Object.keys(e).filter(
    (k) => !["v", "id", "seq", "type", "class", "replyTo", "body"].includes(k),
  );
  if (extra.length > 0) return refuse("malformed", `unknown envelope fields: ${extra.join(", ")}`);
  const body = messageTypes[type].body.safeParse(e.body);
  if (!body.success) {
    const issue = body.error.issues[0]!;
    return refuse("malformed", `body.${fieldPath(issue.path as Array<string | number>)}: ${issue.message}`);
  }
  return { ok: true, message: { ...(e as unknown as Envelope), body: body.data } as Message };
}

/** Builds a message with its type's data class. */
export function message<T extends MessageType>(
  type: T,
  body: MessageBody<T>,
  meta: { id: string; seq: number; replyTo?: string },
): Envelope<T> {
  return {
    v: 1,
    id: meta.id,
    seq: meta.seq,
    type,
    class: classOf(type),
    ...(meta.replyTo ? { replyTo: meta.replyTo } : {}),
    body,
  };
}

export function encodeFrame(message: Message | Envelope): string {
  return JSON.stringify(message);
}

/** A rejection before the envelope could be read: no sequence number. */
function reject(code: Rejection["code"], text: string): Decoded {
  return { ok: false, rejection: { code, message: text } };
}
