/**
 * How a long-running command (hub, relay, agent) waits: until Ctrl-C or SIGTERM, or until its parts stop by
 * themselves because one failed — then the command must end too, with exit code 1, rather than sit there with
 * nothing running.
 */
import type { ManagerOutcome } from "../../runtime/manager.ts";

/** Resolves on SIGINT or SIGTERM, or when `stopped` resolves with a failure (then `process.exitCode` is 1). */
export async function untilStopped(stopped: Promise<ManagerOutcome>): Promise<void> {
  let onSignal = () => {};
  const signalled = new Promise<void>((resolve) => {
    onSignal = resolve;
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  const failed = stopped.then((outcome) => {
    if (outcome.failure) {
      process.stderr.write(
        `error: ${outcome.failure.runnable} failed, so everything stopped: ${String(outcome.failure.error)}\n`,
      );
      process.exitCode = 1;
    }
  });
  await Promise.race([signalled, failed]);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
