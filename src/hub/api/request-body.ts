/**
 * Reading a request body as kube-apiserver does: bounded in size, of a media type the route takes (415
 * otherwise), and refused with 400 when it is not JSON, is JSON that `JSON.parse` would let through silently (a
 * key given twice, a NUL character, nesting deeper than {@link maxBodyDepth}), or is not the shape the route
 * wants. Server-side apply bodies may also be YAML (`application/apply-patch+yaml`), read with the bounded reader.
 */

import { UserError } from "../../errors/user-error.ts";
import { readYaml } from "../../yaml/bounded-yaml.ts";

/** The largest body the hub reads (413 above it). */
export const maxBody = 4 * 1024 * 1024;
/** Deeper than any object the hub stores: refused before it reaches a recursive merge or the store. */
export const maxBodyDepth = 64;

/** A plain JSON body. */
export const jsonTypes: readonly string[] = ["application/json"];
/** A JSON merge patch (`kubectl patch --type=merge`, client-side `kubectl apply`). */
export const mergePatchType = "application/merge-patch+json";
/** An RFC 6902 JSON patch (`kubectl patch --type=json`). */
export const jsonPatchType = "application/json-patch+json";
/** Server-side apply (`kubectl apply --server-side`): kubectl sends JSON in it, other clients may send YAML. */
export const applyPatchType = "application/apply-patch+yaml";

/** What a route takes as its body. */
export interface BodySpec {
  /** The media types it takes (the parameters after `;` are ignored). */
  types: readonly string[];
  /** The media types among `types` whose body is a JSON list (a JSON patch); the others take an object. */
  listTypes?: readonly string[];
  /** An empty body is let through as undefined (DELETE's optional options). */
  optional?: boolean;
  /** Said after the list of types on a 415, e.g. which kubectl flag sends a type it takes. */
  hint?: string;
}

/** The media type of a request, lower case, without parameters ("" when absent). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Reads the whole body, refusing more than {@link maxBody} bytes (declared or sent). */
export async function readBodyText(
  chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  declaredLength: string | undefined,
): Promise<string> {
  if (declaredLength !== undefined && Number(declaredLength) > maxBody) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > maxBody) throw tooLarge();
    parts.push(buffer);
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * The body's value for a route, from its text and media type: undefined for an empty optional body; otherwise
 * the parsed JSON (or YAML, for server-side apply), checked as described at the top of this module.
 */
export function parseBody(text: string, type: string, spec: BodySpec): unknown {
  if (text.trim() === "") {
    if (spec.optional) return undefined;
    throw new UserError("BadRequest", "the request needs a JSON body");
  }
  if (!spec.types.includes(type))
    throw new UserError(
      "UnsupportedMediaType",
      `the content type "${type}" is not supported here: send ${spec.types.join(" or ")}` +
        (spec.hint ? ` (${spec.hint})` : ""),
    );
  const value = type === applyPatchType && !/^\s*[{[]/.test(text) ? yamlBody(text) : jsonBody(text);
  const wantsList = spec.listTypes?.includes(type) === true;
  if (wantsList && !Array.isArray(value))
    throw new UserError("BadRequest", `the body must be a JSON list, not ${jsonKind(value)}`);
  if (!wantsList && (value === null || typeof value !== "object" || Array.isArray(value)))
    throw new UserError("BadRequest", `the body must be a JSON object, not ${jsonKind(value)}`);
  return value;
}

function jsonBody(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UserError("BadRequest", `the body is not valid JSON: ${(error as Error).message}`);
  }
  checkJsonText(text);
  return value;
}

/** A YAML apply body: duplicate keys and alias bombs are refused by the reader, NULs and depth here. */
function yamlBody(text: string): unknown {
  let value: unknown;
  try {
    value = readYaml(text, "the body");
  } catch (error) {
    if (error instanceof UserError) throw new UserError("BadRequest", error.message);
    throw error;
  }
  checkValue(value, 0);
  return value;
}

function checkValue(value: unknown, depth: number): void {
  if (typeof value === "string" && value.includes("\u0000"))
    throw new UserError("BadRequest", "the body has a NUL character in a string");
  if (value === null || typeof value !== "object") return;
  if (depth >= maxBodyDepth)
    throw new UserError("BadRequest", `the body is nested deeper than ${maxBodyDepth} levels`);
  for (const [key, item] of Object.entries(value)) {
    checkValue(key, depth + 1);
    checkValue(item, depth + 1);
  }
}

function tooLarge(): UserError {
  return new UserError("PayloadTooLarge", `the request body is larger than ${maxBody} bytes`);
}

function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * Scans valid JSON text for what JSON.parse lets through silently: a key given twice in one object (the
 * last would win), a NUL character in a string, and nesting deeper than {@link maxBodyDepth}.
 */
function checkJsonText(text: string): void {
  // One entry per open container: its field path, and the keys seen so far when it is an object.
  const open: Array<{ keys: Set<string> | undefined; path: string }> = [];
  let expectingKey = false;
  let keyPath = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") {
      if (open.length >= maxBodyDepth)
        throw new UserError("BadRequest", `the body is nested deeper than ${maxBodyDepth} levels`);
      const parent = open.at(-1);
      const path = parent?.keys ? keyPath : `${parent?.path ?? ""}${parent ? "[]" : ""}`;
      open.push({ keys: c === "{" ? new Set() : undefined, path });
      expectingKey = c === "{";
    } else if (c === "}" || c === "]") {
      open.pop();
      expectingKey = false;
    } else if (c === ",") {
      expectingKey = open.at(-1)?.keys !== undefined;
    } else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) {
        if (text[i] !== "\\") continue;
        i++;
        if (text[i] === "u" && text.slice(i + 1, i + 5) === "0000")
          throw new UserError("BadRequest", "the body has a NUL character (\\u0000) in a string");
      }
      const object = open.at(-1);
      if (expectingKey && object?.keys) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        keyPath = object.path ? `${object.path}.${key}` : key;
        if (object.keys.has(key))
          throw new UserError("BadRequest", `the body has the key "${keyPath}" twice`, {
            problems: [{ path: keyPath, message: "duplicate key" }],
          });
        object.keys.add(key);
        expectingKey = false;
      }
    }
  }
}
