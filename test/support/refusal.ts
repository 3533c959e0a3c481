/** Awaits a promise that must be refused with a UserError, and returns that error (anything else fails). */
import { UserError } from "../../src/errors/user-error.ts";

export async function refusal(promise: Promise<unknown>): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof UserError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}
