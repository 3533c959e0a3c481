/**
 * Errors as Kubernetes `Status` objects, so that kubectl prints them well: a reason kubectl knows, an HTTP
 * code, and the field causes of an invalid object.
 */
import { errorCodes, UserError } from "../../errors/user-error.ts";

/** The Status reason of each error code (docs/errors.md lists them all, and a test keeps the two in step). */
export const statusReasons: Record<keyof typeof errorCodes, string> = {
  BadRequest: "BadRequest",
  Unauthorized: "Unauthorized",
  Forbidden: "Forbidden",
  NotFound: "NotFound",
  MethodNotAllowed: "MethodNotAllowed",
  NotAcceptable: "NotAcceptable",
  PayloadTooLarge: "RequestEntityTooLarge",
  UnsupportedMediaType: "UnsupportedMediaType",
  AlreadyExists: "AlreadyExists",
  Conflict: "Conflict",
  Expired: "Expired",
  InvalidInput: "Invalid",
  PortInUse: "Conflict",
  ToolchainMissing: "InternalError",
  BuildFailed: "InternalError",
  ComponentFailed: "ServiceUnavailable",
  LabNotRunning: "Conflict",
  LabAlreadyRunning: "Conflict",
  Timeout: "Timeout",
};

export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure";
  message: string;
  reason: string;
  code: number;
  details?: {
    name?: string;
    kind?: string;
    group?: string;
    causes?: Array<{ reason: string; message: string; field: string }>;
  };
}

/** The Status body and HTTP code for an error; anything that is not a UserError is an internal error. */
export function statusFor(error: unknown, target?: { kind?: string; name?: string }): KubeStatus {
  if (!(error instanceof UserError)) {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "internal error: the hub's log has the details",
      reason: "InternalError",
      code: 500,
    };
  }
  const problems = error.problems.map((p) => `${p.path}: ${p.message}`);
  // A Conflict's problems are the fields that conflict, which its message already names (as Kubernetes words it).
  const conflict = error.code === "Conflict";
  const message =
    error.code === "InvalidInput" && problems.length > 0 && target?.name
      ? `${target.kind ?? "object"} "${target.name}" is invalid: ${problems.join(", ")}`
      : problems.length > 0 && !conflict
        ? `${error.message}: ${problems.join(", ")}`
        : error.message;
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: statusReasons[error.code],
    code: errorCodes[error.code],
    ...(target || error.problems.length > 0
      ? {
          details: {
            ...(target?.name ? { name: target.name } : {}),
            ...(target?.kind ? { kind: target.kind } : {}),
            group: "unitfleet.io",
            ...(error.problems.length > 0
              ? {
                  causes: error.problems.map((p) => ({
                    reason: conflict ? "FieldManagerConflict" : "FieldValueInvalid",
                    message: p.message,
                    field: p.path,
                  })),
                }
              : {}),
          },
        }
      : {}),
  };
}
