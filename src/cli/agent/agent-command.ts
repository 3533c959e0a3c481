/** `unitfleet agent`: runs the agent of one cluster until interrupted. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import type { AgentOptions } from "../../agent/agent.ts";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";

/** The flags are the agent's options, with files instead of contents and an optional folder. */
type AgentFlags = Omit<AgentOptions, "hubCa" | "dir" | "log" | "resyncSeconds" | "meteringClock"> & {
  hubCa: string;
  dir?: string;
  resyncSeconds: string;
  /** Commander's name for `--no-multicluster-services`. */
  multiclusterServices?: boolean;
};

export function agentCommand(env: Environment): Command {
  return new Command("agent")
    .description("run the agent of one cluster: join the hub, then report inventory and heartbeats")
    .requiredOption("--hub <url>", "the hub's URL")
    .option("--relay <url>", "the relay of the cluster's Location (default: straight to the hub)")
    .requiredOption("--hub-ca <file>", "the hub's CA certificate (the hub writes it as ca.crt in its folder)")
    .requiredOption("--token <token>", "a bootstrap token (`unitfleet token create --location L`), used once")
    .requiredOption("--kubeconfig <file>", "kubeconfig of the cluster")
    .option("--context <name>", "context in the kubeconfig (default: its current context)")
    .requiredOption("--cluster <name>", "the cluster's name in the fleet")
    .requiredOption("--location <location>")
    .option("--region <region>")
    .requiredOption("--environment <environment>", "prod, staging, dev…")
    .requiredOption("--business <business>")
    .option("--dir <folder>", "where the agent keeps its credentials (default: ~/.unitfleet/agents/CLUSTER)")
    .option(
      "--resync-seconds <seconds>",
      "how often delivered works are applied again, putting back drift",
      "30",
    )
    .option("--no-metering", "do not meter the cluster's usage (issue 14; docs/metering.md)")
    .option(
      "--no-multicluster-services",
      "do not install the MCS API nor export or import services (issue 15; docs/multi-cluster-services.md)",
    )
    .action(async (flags: AgentFlags) => {
      const resyncSeconds = Number(flags.resyncSeconds);
      if (!Number.isFinite(resyncSeconds) || resyncSeconds < 1)
        throw new UserError("BadRequest", "invalid flags", {
          problems: [
            {
              path: "--resync-seconds",
              message: `must be a number of seconds, at least 1, got "${flags.resyncSeconds}"`,
            },
          ],
        });
      const hubCa = await readFile(flags.hubCa, "utf8").catch(() => {
        throw new UserError("NotFound", `cannot read the hub's CA certificate ${flags.hubCa}`);
      });
      const log = (entry: Record<string, unknown>) =>
        process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
      const [{ startAgent }, { scaledClock }] = await Promise.all([
        import("../../agent/agent.ts"),
        import("../../runtime/clock.ts"),
      ]);
      const agent = await startAgent({
        hub: flags.hub,
        ...(flags.relay ? { relay: flags.relay } : {}),
        hubCa,
        token: flags.token,
        kubeconfig: flags.kubeconfig,
        ...(flags.context ? { context: flags.context } : {}),
        cluster: flags.cluster,
        location: flags.location,
        ...(flags.region ? { region: flags.region } : {}),
        environment: flags.environment,
        business: flags.business,
        dir: flags.dir ?? join(env.home, "agents", flags.cluster),
        resyncSeconds,
        metering: flags.metering !== false,
        multiClusterServices: flags.multiclusterServices !== false,
        ...(env.meteringTimeScale !== 1 ? { meteringClock: scaledClock(env.meteringTimeScale) } : {}),
        log,
      });
      process.stdout.write(`agent of ${flags.cluster} running\n`);
      const { untilStopped } = await import("../process/until-stopped.ts");
      await untilStopped(agent.stopped);
      await agent.stop();
    });
}
