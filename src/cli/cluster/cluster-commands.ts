/**
 * Commands that reach into a cluster through the tunnel: `unitfleet ping CLUSTER` (is the path hub → relay →
 * agent → API server alive?) and `unitfleet logs CLUSTER NAMESPACE/POD`. Each request carries one idempotency
 * key; if the hub cannot be reached (restarting, or a replica going away) the CLI sends the same request again
 * until the timeout, and the command still runs once.
 */
import { randomUUID } from "node:crypto";
import { Command } from "commander";
import type { CommandReport } from "../../api-contract/commands.ts";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { durationFlag, wholeNumberFlag } from "../flag-values.ts";

const commandsPath = "/unitfleet/v1alpha1/commands";

/** Runs `work` with a client of the hub; the client (TLS, YAML) loads when a command runs, not for --help. */
async function withHub<T>(env: Environment, work: (hub: HubClient) => Promise<T>): Promise<T> {
  return (await import("../client/hub-client.ts")).withHub(env, work);
}

/** Sends a command, again with the same key while the hub is unreachable, until it has an outcome. */
export async function sendCommand(
  hub: HubClient,
  request: { cluster: string; action: Record<string, unknown> },
  timeoutSeconds: number,
): Promise<CommandReport> {
  const idempotencyKey = randomUUID();
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    try {
      return await hub.send<CommandReport>("POST", commandsPath, {
        ...request,
        idempotencyKey,
        timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
      });
    } catch (error) {
      const retriable = error instanceof UserError && error.code === "ComponentFailed";
      if (!retriable || Date.now() + 1000 > deadline) throw error;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Turns an outcome other than success into the CLI's error (exit 1), naming the rule of a refusal. */
function failure(report: CommandReport, what: string): UserError {
  if (report.outcome === "refused")
    return new UserError(
      "Forbidden",
      `${what} was refused: ${report.message ?? report.rule ?? "no reason given"}`,
      {
        hint: report.rule
          ? `rule ${report.rule}; every refusal is in \`unitfleet audit --name ${report.cluster}\``
          : undefined,
      },
    );
  if (report.outcome === "expired")
    return new UserError(
      "Timeout",
      `${what} got no answer in time: is the cluster's relay and agent connected?`,
    );
  return new UserError("ComponentFailed", `${what} failed: ${report.message ?? "no reason given"}`);
}

export function pingCommand(env: Environment): Command {
  return new Command("ping")
    .description("check the path hub → relay → agent → API server of a cluster")
    .argument("<cluster>")
    .option(
      "--timeout <duration>",
      "how long to wait (30s, 2m, or seconds)",
      durationFlag("--timeout"),
      30_000,
    )
    .action(async (cluster: string, options: { timeout: number }) => {
      const started = performance.now();
      const report = await withHub(env, (hub) =>
        sendCommand(hub, { cluster, action: { type: "ping" } }, options.timeout / 1000),
      );
      if (report.outcome !== "succeeded") throw failure(report, `ping of ${cluster}`);
      process.stdout.write(`${report.message} (round trip ${Math.round(performance.now() - started)} ms)\n`);
    });
}

export function logsCommand(env: Environment): Command {
  return new Command("logs")
    .description("print a pod's log, read by the cluster's agent (only from a hub in the cluster's Location)")
    .argument("<cluster>")
    .argument("<namespace/pod>")
    .option("-c, --container <name>", "the container, when the pod has several")
    .option("--tail <lines>", "only the last lines", wholeNumberFlag("--tail", 1))
    .option(
      "--timeout <duration>",
      "how long to wait (30s, 2m, or seconds)",
      durationFlag("--timeout"),
      30_000,
    )
    .action(
      async (
        cluster: string,
        target: string,
        options: { container?: string; tail?: number; timeout: number },
      ) => {
        const match = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(target);
        if (!match)
          throw new UserError(
            "BadRequest",
            `"${target}" is not NAMESPACE/POD (example: shop/storefront-6d9f-x2)`,
          );
        const report = await withHub(env, (hub) =>
          sendCommand(
            hub,
            {
              cluster,
              action: {
                type: "logs",
                namespace: match[1],
                pod: match[2],
                ...(options.container ? { container: options.container } : {}),
                ...(options.tail ? { tailLines: options.tail } : {}),
              },
            },
            options.timeout / 1000,
          ),
        );
        if (report.outcome !== "succeeded") throw failure(report, `logs of ${cluster} ${target}`);
        process.stdout.write(report.output ?? "");
      },
    );
}
