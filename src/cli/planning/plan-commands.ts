/**
 * `unitfleet plan consolidation|units|waves|generate` and `unitfleet explain plan [CLUSTER]`: plans computed here,
 * by the pure planner, on the fleet the hub reports (or a snapshot file) under a ConsolidationPolicy.
 */
import { Command, Option } from "commander";
import type { Environment } from "../../config/environment.ts";
import type { ConsolidationPlan } from "../../core/planning/consolidation-planner.ts";
import { UserError } from "../../errors/user-error.ts";
import { progressLine } from "../output/progress.ts";
import { planGenerateCommand } from "./generate-command.ts";
import type { TableStyle } from "./plan-output.ts";
import type { PlanningInput, PlanningSources } from "./planning-input.ts";

const planFormats = ["table", "json", "yaml", "markdown"] as const;
type PlanFormat = (typeof planFormats)[number];

interface PlanOptions extends PlanningSources {
  output: PlanFormat;
}

const out = (text: string) => process.stdout.write(text);

function withInputs(command: Command): Command {
  return command
    .option(
      "-f, --filename <file>",
      "a ConsolidationPolicy (default: the hub's policy named default, else the defaults)",
    )
    .option(
      "--from <file>",
      "plan a fleet snapshot file instead of the hub's live fleet (unitfleet snapshot -o fleet.json)",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(planFormats).default("table"));
}

/** The planner, its inputs and its printing load when a plan is asked for, not on every call of the CLI. */
async function planning() {
  const [consolidation, waves, units, showback, output, input] = await Promise.all([
    import("../../core/planning/consolidation-planner.ts"),
    import("../../core/planning/migration-waves.ts"),
    import("../../core/planning/unit-planner.ts"),
    import("../../core/planning/showback.ts"),
    import("./plan-output.ts"),
    import("./planning-input.ts"),
  ]);
  return { ...consolidation, ...waves, ...units, ...showback, ...output, ...input };
}

async function print(format: PlanFormat, value: unknown, text: (style: TableStyle) => string): Promise<void> {
  if (format === "json") out(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === "yaml") out((await import("yaml")).stringify(value));
  else out(text(format));
}

function describeInput(input: PlanningInput): string {
  const pods = input.fleet.clusters.reduce((n, c) => n + c.workloads.reduce((m, w) => m + w.replicas, 0), 0);
  const nodes = input.fleet.clusters.reduce((n, c) => n + c.nodes.length, 0);
  return `Fleet: ${input.fleetSource} (${input.fleet.clusters.length} clusters, ${nodes} nodes, ${pods} pods). Policy: ${input.policySource}; headroom ${input.policy.headroomPercent}%, at most ${input.policy.maxClusterSize.nodes} nodes and ${input.policy.maxClusterSize.pods} pods per cluster.`;
}

/** Plans with progress on stderr: planning a big fleet takes seconds. */
function consolidate(
  input: PlanningInput,
  { planConsolidation }: Awaited<ReturnType<typeof planning>>,
): ConsolidationPlan {
  const progress = progressLine(process.stderr);
  const started = performance.now();
  try {
    return planConsolidation(input.fleet, input.policy, {
      onProgress: (packed, total) => {
        // Small fleets plan in milliseconds: show progress only for plans that take a while.
        if (performance.now() - started > 1000) progress.update(`packing targets: ${packed}/${total}`);
      },
    });
  } finally {
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    if (seconds > 2) process.stderr.write(`planned in ${seconds.toFixed(1)} s\n`);
  }
}

export function planCommand(env: Environment): Command {
  const plan = new Command("plan").description(
    "plan the fleet's next stage: merge small clusters (consolidation), carve Regions of units, migration waves",
  );
  plan.addCommand(
    withInputs(new Command("consolidation"))
      .description(
        "which clusters to merge into which, and the nodes each target needs (beside the lower bound)",
      )
      .action(async (options: PlanOptions) => {
        const planner = await planning();
        const input = await planner.readPlanningInput(env, options);
        const result = consolidate(input, planner);
        // Per business, what it pays today and after the plan (docs/planning.md, "Showback").
        const showback = planner.showback(input.fleet, input.policy, result);
        await print(options.output, { ...result, showback }, (style) =>
          planner.consolidationText(result, style, describeInput(input), showback),
        );
      }),
  );
  plan.addCommand(
    withInputs(new Command("units"))
      .description("a proposal of Regions of equivalent units for one Location")
      .requiredOption("--location <name>", "the Location to carve")
      .action(async (options: PlanOptions & { location: string }) => {
        const planner = await planning();
        const input = await planner.readPlanningInput(env, options);
        const result = planner.planUnits(input.fleet, input.policy, options.location);
        if (!result.ok)
          throw new UserError("InvalidInput", "cannot plan units", { problems: result.problems });
        await print(options.output, result.value, (style) =>
          planner.unitsText(result.value, style, describeInput(input)),
        );
      }),
  );
  plan.addCommand(
    withInputs(new Command("waves"))
      .description(
        "the consolidation plan as ordered steps, lowest risk first (a dry run: nothing is changed)",
      )
      .action(async (options: PlanOptions) => {
        const planner = await planning();
        const input = await planner.readPlanningInput(env, options);
        const waves = planner.migrationWaves(input.fleet, consolidate(input, planner), input.policy);
        await print(options.output, waves, (style) => planner.wavesText(waves, style, describeInput(input)));
      }),
  );
  plan.addCommand(planGenerateCommand());
  return plan;
}

/** `unitfleet explain plan [CLUSTER]`: every decision of the plan about a cluster (or all), with rule and numbers. */
export async function explainPlan(
  env: Environment,
  cluster: string | undefined,
  options: PlanOptions,
): Promise<void> {
  const planner = await planning();
  const input = await planner.readPlanningInput(env, options);
  if (cluster && !input.fleet.clusters.some((c) => c.name === cluster))
    throw new UserError("NotFound", `cluster ${cluster} is not in the fleet (${input.fleetSource})`);
  const decisions = consolidate(input, planner).decisions.filter((d) => !cluster || d.cluster === cluster);
  await print(options.output, decisions, (style) => planner.explainText(decisions, style));
}
