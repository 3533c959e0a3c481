/**
 * `unitfleet plan generate`: a synthetic fleet snapshot (src/core/planning/fleet-generator.ts) to try the
 * planner on, or to benchmark it: `--clusters`, `--nodes` and `--pods` are hit exactly, and the same options and
 * `--seed` give the same file. `-o json|yaml` prints it; `-o FILE.json|FILE.yaml|FILE.yml` writes it and prints
 * one line of figures, as `unitfleet snapshot` does.
 */
import { writeFile } from "node:fs/promises";
import { Command } from "commander";
import type { fleetShapes } from "../../core/planning/fleet-generator.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import {
  type SnapshotTarget,
  snapshotFigures,
  snapshotTarget,
  snapshotText,
} from "../snapshot/snapshot-command.ts";

interface GenerateFlags {
  clusters: string;
  nodes: string;
  pods: string;
  locations: string;
  shape: string;
  seed: string;
  output: string;
}

/**
 * The generator's shapes, for --help without loading the generator (and its schemas) on every call; a test
 * holds this list equal to `fleetShapes`, and the generator refuses any other shape.
 */
export const shapesInHelp: ReadonlyArray<(typeof fleetShapes)[number]> = [
  "mixed",
  "memory-heavy",
  "tiny-pods",
  "huge-pods",
  "gpu-mixed",
  "gpu-mixed-owned",
];

/** What `--help` says of each shape, after the examples. */
export const shapeHelp = `Shapes:
  mixed            pods of 50m–4 cores, 0.5–8 GiB per core, on general nodes (a few gpu pools)
  memory-heavy     pods of 8–16 GiB per core, mostly on memory-optimised nodes
  tiny-pods        pods of 50–250m cpu and 64–512 MiB
  huge-pods        most requests in pods of 35–60% of a 16-core, 64 GiB node
  gpu-mixed        a mixed CPU/GPU estate: A100, H100, L4 and T4 nodes labelled and (mostly) tainted as the
                   NVIDIA GPU operator does, some time-sliced, some split into MIG profiles; CPU-only pods
                   (most), whole-GPU pods (1–8 GPUs), pods pinned to GPU models by node affinity, time-sliced
                   and MIG pods; every cluster's pods fit its own nodes
  gpu-mixed-owned  the same estate with few nodes of each GPU machine per Location (1–2% of its nodes, at
                   least 2; at most 4 of one model per cluster), 50–75% busy: to plan on owned nodes`;

/** A flag's text as a number when it is a whole number; otherwise the text, which validation then refuses. */
const wholeNumber = (text: string): number | string => (/^\s*-?\d+\s*$/.test(text) ? Number(text) : text);

export function planGenerateCommand(): Command {
  return new Command("generate")
    .description(
      "write a synthetic fleet snapshot (Locations of small clusters per business and environment) to try or benchmark the planner",
    )
    .option("--clusters <count>", "clusters, exactly", "50")
    .option("--nodes <count>", "nodes over all clusters, exactly (at least one per cluster)", "600")
    .option("--pods <count>", "pods over all clusters (replicas, DaemonSets included), exactly", "12000")
    .option("--locations <count>", "Locations loc-01, loc-02…", "2")
    .option("--shape <shape>", `the kind of fleet: ${shapesInHelp.join(", ")}`, "mixed")
    .option("--seed <number>", "the same options and seed give the same fleet", "1")
    .option(
      "-o, --output <format|file>",
      "json or yaml to print it, or a file to write (its name ending in .json, .yaml or .yml)",
      "json",
    )
    .addHelpText(
      "after",
      `\nExamples:\n  unitfleet plan generate --clusters 1000 --nodes 20000 --pods 500000 --locations 4 -o fleet.json\n  unitfleet plan consolidation --from fleet.json\n  unitfleet plan generate --shape gpu-mixed-owned -o gpu-fleet.json\n\n${shapeHelp}`,
    )
    .action(async (flags: GenerateFlags) => {
      const { generateFleet, validateGeneratorOptions } = await import(
        "../../core/planning/fleet-generator.ts"
      );
      const problems: Problem[] = [];
      const checked = validateGeneratorOptions({
        clusters: wholeNumber(flags.clusters),
        nodes: wholeNumber(flags.nodes),
        pods: wholeNumber(flags.pods),
        locations: wholeNumber(flags.locations),
        shape: flags.shape,
        seed: wholeNumber(flags.seed),
      });
      if (!checked.ok) problems.push(...checked.problems);
      let target: SnapshotTarget | undefined;
      try {
        target = snapshotTarget(flags.output);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        problems.push({ path: "output", message: error.message });
      }
      if (!checked.ok || !target)
        throw new UserError("InvalidInput", "cannot generate a fleet with these options", {
          problems,
          hint: "run `unitfleet plan generate --help` for the options and their defaults",
        });

      const options = checked.value;
      const snapshot = generateFleet(options);
      const text = await snapshotText(snapshot, target.format);
      if (!target.file) {
        process.stdout.write(text);
        return;
      }
      const file = target.file;
      await writeFile(file, text).catch((error: NodeJS.ErrnoException) => {
        const reason = error.code === "ENOENT" ? "its folder does not exist" : error.message;
        throw new UserError("BadRequest", `cannot write ${file}: ${reason}`);
      });
      process.stdout.write(
        `wrote synthetic fleet (${options.shape}, seed ${options.seed}): ${snapshotFigures(snapshot)} → ${file}\n`,
      );
    });
}
