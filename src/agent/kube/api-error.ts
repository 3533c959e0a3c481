/** What the API server said when a request failed, read out of client-node's `ApiException`. */

/** The API server's own message (e.g. `pods "x" not found`) rather than client-node's wrapping. */
export function apiErrorMessage(error: unknown): string {
  const e = error as { body?: unknown; message?: string };
  const status = typeof e.body === "string" ? parseJson(e.body) : e.body;
  const message = (status as { message?: unknown } | undefined)?.message;
  if (typeof message === "string" && message !== "") return message.slice(0, 2000);
  return (e.message ?? String(error)).split("\n")[0]!.slice(0, 500);
}

/** The HTTP status of a failed request, if the API server answered. */
export function apiErrorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
