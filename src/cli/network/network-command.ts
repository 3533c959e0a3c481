/**
 * `unitfleet network plan|allocate|check`: the command tree of the network plan (issue 15, docs/network-plan.md).
 * Declaring it loads only commander and small helpers; each action loads ./network-plan.ts and the hub's client
 * when it runs.
 */
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import type { HubClient } from "../client/hub-client.ts";
import { wholeNumberFlag } from "../flag-values.ts";
import { outputOption } from "../output/format.ts";

/** maxNodes of a Cluster that states none: a /16 of pods at /24 per node, the common default. */
const defaultMaxNodes = 256;

const maxNodesHelp = `maxNodes of a cluster whose spec.network states none (the larger of this and its nodes now)`;

async function withHub<T>(env: Environment, work: (hub: HubClient) => Promise<T>): Promise<T> {
  return (await import("../client/hub-client.ts")).withHub(env, work);
}

function planSubcommand(env: Environment): Command {
  return new Command("plan")
    .description(
      "the ranges and cluster IDs the NetworkPools give every cluster without an allocation (writes nothing)",
    )
    .option(
      "-f, --filename <file>",
      "also plan the clusters of this file: a lab topology, or a list of {name, location, region, maxNodes}",
    )
    .option("-l, --selector <selector>", "plan only the clusters this label selector selects")
    .option("--max-nodes <n>", maxNodesHelp, wholeNumberFlag("--max-nodes", 1), defaultMaxNodes)
    .addOption(outputOption())
    .action(async (flags: { filename?: string; selector?: string; maxNodes: number; output: string }) => {
      const { printPlan } = await import("./network-plan.ts");
      const planned = flags.filename
        ? await (await import("./planned-clusters-file.ts")).readPlannedClusters(
            flags.filename,
            flags.maxNodes,
          )
        : undefined;
      await withHub(env, (hub) =>
        printPlan(hub, {
          maxNodes: flags.maxNodes,
          output: flags.output,
          ...(flags.selector ? { selector: flags.selector } : {}),
          ...(planned ? { planned } : {}),
        }),
      );
    });
}

function allocateSubcommand(env: Environment): Command {
  return new Command("allocate")
    .description("writes the plan into the clusters' spec.network, all or nothing; again, it changes nothing")
    .option("--cluster <names...>", "allocate only these clusters")
    .option("-l, --selector <selector>", "allocate only the clusters this label selector selects")
    .option("--max-nodes <n>", maxNodesHelp, wholeNumberFlag("--max-nodes", 1), defaultMaxNodes)
    .option("--dry-run", "check the writes on the hub, store nothing")
    .addOption(outputOption())
    .action(
      async (flags: {
        cluster?: string[];
        selector?: string;
        maxNodes: number;
        dryRun?: boolean;
        output: string;
      }) => {
        const { allocate } = await import("./network-plan.ts");
        await withHub(env, (hub) =>
          allocate(hub, {
            maxNodes: flags.maxNodes,
            output: flags.output,
            dryRun: flags.dryRun === true,
            ...(flags.selector ? { selector: flags.selector } : {}),
            ...(flags.cluster ? { clusters: flags.cluster } : {}),
          }),
        );
      },
    );
}

function checkSubcommand(env: Environment): Command {
  return new Command("check")
    .description("overlapping ranges inside each Location, naming both clusters (exit 1 on any)")
    .option("-l, --selector <selector>", "check only the clusters this label selector selects")
    .addOption(outputOption())
    .action(async (flags: { selector?: string; output: string }) => {
      const { check } = await import("./network-plan.ts");
      await withHub(env, (hub) =>
        check(hub, { output: flags.output, ...(flags.selector ? { selector: flags.selector } : {}) }),
      );
    });
}

export function networkCommand(env: Environment): Command {
  return new Command("network")
    .description("the network plan: pod, service and node ranges and cluster IDs from NetworkPools")
    .addCommand(planSubcommand(env))
    .addCommand(allocateSubcommand(env))
    .addCommand(checkSubcommand(env));
}
