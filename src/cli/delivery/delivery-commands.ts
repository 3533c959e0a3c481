/**
 * `unitfleet explain application X` — for every cluster, why it was chosen or rejected, with its scores: the
 * controller's own computation (core/delivery/schedule-application) run on the registry as it is now.
 * `unitfleet rollout status application X` — waits until the Application is Ready at its current generation;
 * exits non-zero when applying fails or the timeout passes.
 */
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import type { Application, Cluster, Placement } from "../../core/resources/kinds.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { durationFlag } from "../flag-values.ts";
import { renderTable } from "../output/table.ts";
import { explainPlan } from "../planning/plan-commands.ts";

const out = (text: string) => process.stdout.write(text);
const base = `/apis/${apiVersion}`;

/** Runs `work` with a client of the hub; the client (TLS, YAML) loads when a command runs, not for --help. */
async function withHub<T>(env: Environment, work: (hub: HubClient) => Promise<T>): Promise<T> {
  return (await import("../client/hub-client.ts")).withHub(env, work);
}

function explainedKind(type: string): "application" | "plan" {
  if (["application", "applications", "app"].includes(type.toLowerCase())) return "application";
  if (type.toLowerCase() === "plan") return "plan";
  throw new UserError(
    "BadRequest",
    `"${type}" cannot be explained: only applications (explain application NAME) and plans (explain plan [CLUSTER])`,
  );
}

async function readApplication(hub: HubClient, name: string): Promise<Application> {
  return hub.send<Application>("GET", `${base}/applications/${encodeURIComponent(name)}`);
}

export function explainCommand(env: Environment): Command {
  return new Command("explain")
    .description(
      "why an application runs where it runs (every cluster, chosen or rejected, with its scores), or why a plan merges or keeps each cluster",
    )
    .argument("<type>", "application or plan")
    .argument("[name]", "the application; for a plan, a cluster (all when absent)")
    .option(
      "-o, --output <format>",
      "wide: add the score breakdown; for plans also json, yaml, markdown",
      "table",
    )
    .option("-f, --filename <file>", "plans: a ConsolidationPolicy")
    .option("--from <file>", "plans: a fleet snapshot file instead of the hub's live fleet")
    .action(
      async (
        type: string,
        name: string | undefined,
        options: { output: string; filename?: string; from?: string },
      ) => {
        if (explainedKind(type) === "plan") {
          const output = ["table", "json", "yaml", "markdown"].includes(options.output)
            ? options.output
            : "table";
          await explainPlan(env, name, { ...options, output: output as "table" });
          return;
        }
        if (!name) throw new UserError("BadRequest", "explain application needs the application's name");
        const { app, placement, clusters } = await withHub(env, async (hub) => {
          const app = await readApplication(hub, name);
          const placement = app.spec.placement
            ? app.spec.placement
            : (
                await hub.send<Placement>(
                  "GET",
                  `${base}/placements/${encodeURIComponent(app.spec.placementRef!.name)}`,
                )
              ).spec;
          const clusters = (await hub.send<{ items: Cluster[] }>("GET", `${base}/clusters`)).items;
          return { app, placement, clusters };
        });
        const [{ factsOf, scheduleApplication }, { explainTable }] = await Promise.all([
          import("../../core/delivery/schedule-application.ts"),
          import("../../core/scheduling/explain.ts"),
        ]);
        const outcome = scheduleApplication(app, placement, factsOf(clusters, Date.now()), Date.now(), "all");
        const table = explainTable(outcome, { wide: options.output === "wide" });
        out(`${renderTable([...table.headers], table.rows)}\n${table.summary}\n`);
      },
    );
}

export function rolloutCommand(env: Environment): Command {
  const rollout = new Command("rollout").description("follow an application's rollout");
  rollout
    .command("status")
    .description(
      "wait until the application is Ready everywhere it is placed; non-zero on failure or timeout",
    )
    .argument("<type>", "application")
    .argument("<name>")
    .option(
      "--timeout <duration>",
      "how long to wait (60s, 2m, 1h30m, or seconds)",
      durationFlag("--timeout"),
      300_000,
    )
    .action(async (type: string, name: string, options: { timeout: number }) => {
      if (explainedKind(type) !== "application")
        throw new UserError(
          "BadRequest",
          `"${type}" has no rollout: only applications (rollout status application NAME)`,
        );
      const deadline = Date.now() + options.timeout;
      let last = "";
      await withHub(env, async (hub) => {
        for (;;) {
          const app = await readApplication(hub, name);
          const status = app.status;
          const current = status?.observedGeneration === app.metadata.generation;
          const condition = (t: string) => status?.conditions?.find((c) => c.type === t);
          const line = current
            ? `${status?.summary?.replicas ?? "0/0"} replicas ready on ${status?.summary?.clusters ?? 0} clusters: ${condition("Ready")?.message ?? ""}`
            : "waiting for the controller to see the latest change";
          if (line !== last) out(`${line}\n`);
          last = line;
          if (current && condition("Ready")?.status === "True") {
            out(`application "${name}" successfully rolled out\n`);
            return;
          }
          if (current && condition("Scheduled")?.status === "False")
            throw new UserError(
              "ComponentFailed",
              `application "${name}" cannot be placed: ${condition("Scheduled")!.message}`,
            );
          if (current && condition("Applied")?.reason === "ApplyFailed")
            throw new UserError(
              "ComponentFailed",
              `application "${name}" failed to apply: ${condition("Applied")!.message}`,
            );
          if (Date.now() > deadline)
            throw new UserError(
              "Timeout",
              `application "${name}" is not ready after ${options.timeout / 1000} s: ${line}`,
            );
          await new Promise((r) => setTimeout(r, 1000));
        }
      });
    });
  return rollout;
}

/**
 * The per-cluster table `describe application` shows: share, ready/desired replicas, objects applied without
 * a failure / objects reported, and the generation the agent applied / the one sent.
 */
export function applicationClustersTable(app: Application): string {
  const placed = new Map((app.status?.placement?.clusters ?? []).map((c) => [c.name, c.replicas]));
  const rows = (app.status?.clusters ?? []).map((c) => [
    c.name,
    String(placed.get(c.name) ?? 0),
    `${c.replicas.ready}/${c.replicas.desired}`,
    `${c.objects - c.failed}/${c.objects}`,
    `${c.appliedGeneration ?? "-"}/${c.generation}`,
    c.healthy ? "yes" : "no",
    c.message ?? "",
  ]);
  return rows.length === 0
    ? "<placed nowhere yet>"
    : renderTable(["cluster", "share", "ready", "applied", "generation", "healthy", "message"], rows);
}
