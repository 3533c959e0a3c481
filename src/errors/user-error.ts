/**
 * The catalogue of errors a user can cause or fix: bad input, a port in use, a missing toolchain, a component
 * that did not come up. Each has a code, a one-line message saying what happened, optional problems with
 * field paths, and a hint saying what to do. The CLI prints them without a stack trace; the hub's API maps
 * the same codes to HTTP statuses. Anything else that is thrown is a bug and is printed with its stack.
 */
import { formatProblems, type Problem } from "../core/validation/problems.ts";

/** Every code a user-facing error can carry, with the HTTP status the API answers it with. */
export const errorCodes = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Expired: 410,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InvalidInput: 422,
  PortInUse: 409,
  ToolchainMissing: 412,
  BuildFailed: 500,
  ComponentFailed: 503,
  LabNotRunning: 409,
  LabAlreadyRunning: 409,
  Timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export interface UserErrorDetails {
  problems?: Problem[];
  hint?: string;
  /** Lines of a log that explain a failure, such as the tail of a component's log. */
  logTail?: string[];
  logFile?: string;
}

/** An error whose message is meant for the user, not a developer: no stack trace is shown. */
export class UserError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  readonly hint: string | undefined;
  readonly logTail: string[];
  readonly logFile: string | undefined;

  constructor(code: ErrorCode, message: string, details: UserErrorDetails = {}) {
    super(message);
    this.name = "UserError";
    this.code = code;
    this.problems = details.problems ?? [];
    this.hint = details.hint;
    this.logTail = details.logTail ?? [];
    this.logFile = details.logFile;
  }

  /** The whole error as a terminal shows it. */
  render(): string {
    const lines = [`error: ${this.message}`];
    if (this.problems.length > 0) lines.push(formatProblems(this.problems));
    if (this.logTail.length > 0) {
      lines.push(`last lines of ${this.logFile ?? "the log"}:`);
      lines.push(...this.logTail.map((l) => `  | ${l}`));
    }
    if (this.hint) lines.push(`hint: ${this.hint}`);
    return lines.join("\n");
  }
}
