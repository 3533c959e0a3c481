/**
 * `unitfleet snapshot`: the live fleet as a fleet snapshot (docs/fleet-snapshot.md), from the hub's
 * `GET /unitfleet/v1alpha1/fleet-snapshot` — the input of `unitfleet plan --from FILE`, to plan offline or keep.
 * `-o json|yaml` prints it; `-o FILE.json|FILE.yaml|FILE.yml` writes it and prints one line of figures.
 */
import { writeFile } from "node:fs/promises";
import { Command } from "commander";
import type { FleetSnapshot } from "../../core/planning/fleet-snapshot.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import { UserError } from "../../errors/user-error.ts";

const fleetSnapshotPath = "/unitfleet/v1alpha1/fleet-snapshot";

/** Where `-o` sends the snapshot: printed as JSON or YAML, or written to a file in the format of its name. */
export type SnapshotTarget = { format: "json" | "yaml"; file?: string };

/** Reads `-o`: `json`, `yaml`, or a file name ending in .json, .yaml or .yml. */
export function snapshotTarget(output: string): SnapshotTarget {
  if (output === "json" || output === "yaml") return { format: output };
  if (/\.json$/i.test(output)) return { format: "json", file: output };
  if (/\.ya?ml$/i.test(output)) return { format: "yaml", file: output };
  throw new UserError(
    "BadRequest",
    `-o ${output}: expected json, yaml, or a file name ending in .json, .yaml or .yml`,
  );
}

/** The snapshot as its file holds it. */
export async function snapshotText(snapshot: FleetSnapshot, format: "json" | "yaml"): Promise<string> {
  return format === "json"
    ? `${JSON.stringify(snapshot, null, 2)}\n`
    : (await import("yaml")).stringify(snapshot);
}

/** "6 clusters, 22 nodes, 47 pods": the snapshot's figures (pods: the replicas of its workloads). */
export function snapshotFigures(snapshot: FleetSnapshot): string {
  const nodes = snapshot.clusters.reduce((n, c) => n + c.nodes.length, 0);
  const pods = snapshot.clusters.reduce((n, c) => n + c.workloads.reduce((p, w) => p + w.replicas, 0), 0);
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  return `${count(snapshot.clusters.length, "cluster")}, ${count(nodes, "node")}, ${count(pods, "pod")}`;
}

export function snapshotCommand(env: { home: string }): Command {
  return new Command("snapshot")
    .description(
      "write the live fleet (clusters, nodes, workloads and their constraints) as a fleet snapshot, the planner's input",
    )
    .option(
      "-o, --output <format|file>",
      "json or yaml to print it, or a file to write (its name ending in .json, .yaml or .yml)",
      "json",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  unitfleet snapshot -o fleet.json\n  unitfleet plan consolidation --from fleet.json\n\nFormat: docs/fleet-snapshot.md",
    )
    .action(async (options: { output: string }) => {
      const target = snapshotTarget(options.output);
      const [{ withHub }, { freshnessWarnings }] = await Promise.all([
        import("../client/hub-client.ts"),
        import("../planning/planning-input.ts"),
      ]);
      const { snapshot, registered } = await withHub(env, async (hub) => {
        const taken = await hub.send<FleetSnapshot>("GET", fleetSnapshotPath);
        const clusters = await hub.send<{ items: Array<{ metadata: { name: string } }> }>(
          "GET",
          `/apis/${apiVersion}/clusters`,
        );
        return { snapshot: taken, registered: clusters.items.map((c) => c.metadata.name) };
      });
      const text = await snapshotText(snapshot, target.format);
      if (target.file) {
        await writeFile(target.file, text).catch((error: NodeJS.ErrnoException) => {
          throw new UserError("BadRequest", `cannot write ${target.file}: ${writeProblem(error)}`);
        });
        process.stdout.write(`wrote fleet snapshot: ${snapshotFigures(snapshot)} → ${target.file}\n`);
      } else process.stdout.write(text);
      // Clusters whose agents have not reported an inventory yet are not in the snapshot: say so.
      const taken = new Set(snapshot.clusters.map((c) => c.name));
      const missing = registered.filter((name) => !taken.has(name));
      if (missing.length > 0)
        process.stderr.write(
          `warning: ${missing.length} registered cluster${missing.length === 1 ? " has" : "s have"} reported no inventory yet and ${missing.length === 1 ? "is" : "are"} left out: ${missing.join(", ")}\n`,
        );
      for (const line of freshnessWarnings(snapshot, new Date(), true)) process.stderr.write(`${line}\n`);
    });
}

function writeProblem(error: NodeJS.ErrnoException): string {
  if (error.code === "ENOENT") return "its folder does not exist";
  if (error.code === "EISDIR") return "it is a folder";
  if (error.code === "EACCES" || error.code === "EPERM") return "permission denied";
  return error.message;
}
