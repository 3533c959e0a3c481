/**
 * The unitfleet command line: parses arguments, runs one command, turns user errors into short messages.
 *
 * The command tree (names, flags, help) is declared here, cheaply: a command's modules import only commander
 * and small helpers, and each action `await import()`s what it needs (the hub, the lab, the planner, the hub's
 * client, the resource schemas) when it runs. `--version` and `--help` load about 45 modules, not 1,400;
 * test/integration/cli-startup.test.ts holds that line.
 */
import { Command, CommanderError } from "commander";
import { type Environment, readEnvironment } from "../config/environment.ts";
import { UserError } from "../errors/user-error.ts";
import { agentCommand } from "./agent/agent-command.ts";
import { logsCommand, pingCommand } from "./cluster/cluster-commands.ts";
import { explainCommand, rolloutCommand } from "./delivery/delivery-commands.ts";
import { hubCommand } from "./hub/hub-command.ts";
import { labCommand } from "./lab/lab-command.ts";
import { costCommand } from "./metering/cost-command.ts";
import { networkCommand } from "./network/network-command.ts";
import { planCommand } from "./planning/plan-commands.ts";
import { relayCommand } from "./relay/relay-command.ts";
import {
  apiTokenCommand,
  auditCommand,
  bootstrapTokenCommand,
  certificateCommand,
} from "./resources/admin-commands.ts";
import { loginCommand } from "./resources/login-command.ts";
import { applyCommand, deleteCommand, describeCommand, getCommand } from "./resources/resource-commands.ts";
import { snapshotCommand } from "./snapshot/snapshot-command.ts";
import { upCommand } from "./up/up-command.ts";

export function program(env: Environment): Command {
  const unitfleet = new Command("unitfleet")
    .description(
      "A control plane for a fleet of Kubernetes clusters spread over Locations, Regions and units.",
    )
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .addCommand(upCommand(env))
    .addCommand(getCommand(env))
    .addCommand(describeCommand(env))
    .addCommand(applyCommand(env))
    .addCommand(explainCommand(env))
    .addCommand(rolloutCommand(env))
    .addCommand(snapshotCommand(env))
    .addCommand(planCommand(env))
    .addCommand(costCommand(env))
    .addCommand(networkCommand(env))
    .addCommand(deleteCommand(env))
    .addCommand(logsCommand(env))
    .addCommand(pingCommand(env))
    .addCommand(loginCommand(env))
    .addCommand(apiTokenCommand(env))
    .addCommand(auditCommand(env))
    .addCommand(bootstrapTokenCommand(env))
    .addCommand(certificateCommand(env))
    .addCommand(hubCommand(env))
    .addCommand(relayCommand(env))
    .addCommand(agentCommand(env))
    .addCommand(labCommand(env));
  return returningErrors(unitfleet);
}

/** Commander's own endings (a bad flag, --help) become main's return value, not process.exit, in every command. */
function returningErrors(command: Command): Command {
  command.exitOverride();
  for (const subcommand of command.commands) returningErrors(subcommand);
  return command;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], env: Environment = readEnvironment()): Promise<number> {
  try {
    await program(env).parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof UserError) {
      process.stderr.write(`${error.render()}\n`);
      return 1;
    }
    const file = fileSystemError(error);
    if (file) {
      process.stderr.write(`${file.render()}\n`);
      return 1;
    }
    throw error;
  }
}

/** Codes of file-system errors a user causes or fixes (permissions, a read-only or full disk, a file in the way). */
const fileSystemCodes: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "it is a folder, not a file",
};

/** A file-system error as a one-line UserError naming the path (UNITFLEET_HOME read-only, a full disk), or undefined. */
function fileSystemError(error: unknown): UserError | undefined {
  const { code, path, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  if (!code || !path || !(code in fileSystemCodes)) return undefined;
  return new UserError(
    "BadRequest",
    `cannot ${syscall ?? "use"} ${path}: ${fileSystemCodes[code]} (${code})`,
    {
      hint: "check the path's permissions and free space; UNITFLEET_HOME chooses where unitfleet keeps its files",
    },
  );
}
