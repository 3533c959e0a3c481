/**
 * What every planning command reads: the fleet (a snapshot file given with `--from`, or the hub's live
 * inventory) and the ConsolidationPolicy (a file given with `-f`, else the hub's policy named `default` when a
 * hub is configured and answers, else the defaults). Bad input is reported whole, with field paths; what reading
 * the snapshot assumed (a node without `pods` runs the kubelet default) is printed on stderr, once per case.
 */
import { readFile } from "node:fs/promises";
import { consolidationPolicySpec, type ResolvedPolicy } from "../../core/planning/consolidation-policy.ts";
import { type Fleet, readFleet, staleClusters } from "../../core/planning/fleet-snapshot.ts";
import { validateInput } from "../../core/resources/kinds.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { problemsFromZod } from "../../core/validation/zod-problems.ts";
import { UserError } from "../../errors/user-error.ts";
import { readYaml, readYamlDocuments } from "../../yaml/bounded-yaml.ts";
import { type HubClient, withHub } from "../client/hub-client.ts";

export const fleetSnapshotPath = "/unitfleet/v1alpha1/fleet-snapshot";

export interface PlanningSources {
  /** `-f`: a file holding a ConsolidationPolicy. */
  filename?: string;
  /** `--from`: a fleet snapshot file. */
  from?: string;
}

export interface PlanningInput {
  fleet: Fleet;
  policy: ResolvedPolicy;
  /** Where each came from, for the plan's header. */
  fleetSource: string;
  policySource: string;
}

/** A fleet read from a snapshot, with what reading it assumed (each with its field path). */
export interface CheckedFleet {
  fleet: Fleet;
  warnings: Problem[];
}

/** How long a cluster may go unheard before planning warns that its data may be stale. */
export const staleAfterMs = 5 * 60_000;

/**
 * Reads the fleet and the policy, and says on stderr which policy is used and which clusters' data may be stale.
 * With `--from` and no `-f`, the hub's ConsolidationPolicy `default` is used when a hub is configured and
 * answers; else the built-in defaults, saying why.
 */
export async function readPlanningInput(
  env: { home: string },
  sources: PlanningSources,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<PlanningInput> {
  const { warnings, ...input } = await readSources(env, sources);
  warn(`policy: ${input.policySource}`);
  for (const line of groupedWarnings(warnings)) warn(line);
  for (const line of freshnessWarnings(input.fleet, new Date(), !sources.from)) warn(line);
  return input;
}

async function readSources(
  env: { home: string },
  sources: PlanningSources,
): Promise<PlanningInput & { warnings: Problem[] }> {
  const fromFile = sources.filename ? await readPolicyFile(sources.filename) : undefined;
  const policyFile = fromFile ? { policy: fromFile, policySource: `${sources.filename} (-f)` } : undefined;
  if (sources.from) {
    const { fleet, warnings } = await readFleetFile(sources.from);
    const read = { fleet, warnings, fleetSource: sources.from };
    if (policyFile) return { ...read, ...policyFile };
    const stored = await withHub(env, storedPolicy).catch((error: unknown) => {
      if (!(error instanceof UserError)) throw error;
      return `built-in defaults (the hub's ConsolidationPolicy "default" could not be read: ${error.message})`;
    });
    return typeof stored === "string"
      ? { ...read, policy: consolidationPolicySpec.parse({}), policySource: stored }
      : { ...read, ...stored };
  }
  return withHub(env, async (hub) => {
    const snapshot = await hub.send<unknown>("GET", fleetSnapshotPath);
    const read = { ...checkedFleet(snapshot, "the hub's fleet snapshot"), fleetSource: "hub" };
    if (policyFile) return { ...read, ...policyFile };
    const stored = await storedPolicy(hub);
    return typeof stored === "string"
      ? { ...read, policy: consolidationPolicySpec.parse({}), policySource: stored }
      : { ...read, ...stored };
  });
}

/** The hub's ConsolidationPolicy `default`, or why the built-in defaults are used instead. */
async function storedPolicy(
  hub: HubClient,
): Promise<{ policy: ResolvedPolicy; policySource: string } | string> {
  const stored = await hub
    .send<{ spec: unknown }>("GET", `/apis/${apiVersion}/consolidationpolicies/default`)
    .catch((error: unknown) => {
      if (error instanceof UserError && error.code === "NotFound") return undefined;
      throw error;
    });
  return stored
    ? {
        policy: consolidationPolicySpec.parse(stored.spec),
        policySource: "ConsolidationPolicy default (hub)",
      }
    : 'built-in defaults (the hub has no ConsolidationPolicy "default")';
}

/** "45 s", "12 min", "3 h", "2 d": how long ago, for a warning. */
export function ageText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/**
 * Warning lines for a fleet whose data may be stale: clusters not Reachable or unheard from for more than 5
 * minutes (with how long), and a snapshot file taken longer ago than that. A live snapshot (just taken by the
 * hub) is judged at its own `takenAt`, the hub's clock; a file at `now`.
 */
export function freshnessWarnings(
  fleet: Parameters<typeof staleClusters>[0] & { takenAt?: string },
  now: Date,
  live: boolean,
): string[] {
  const lines: string[] = [];
  const taken = fleet.takenAt ? Date.parse(fleet.takenAt) : Number.NaN;
  const judgedAt = live && !Number.isNaN(taken) ? new Date(taken) : now;
  if (!live && !Number.isNaN(taken) && now.getTime() - taken > staleAfterMs)
    lines.push(
      `warning: the fleet snapshot was taken at ${fleet.takenAt} (${ageText(now.getTime() - taken)} ago)`,
    );
  const stale = staleClusters(fleet, judgedAt, staleAfterMs);
  if (stale.length > 0) {
    const described = stale.map((c) => {
      const state =
        c.reachable === "False"
          ? "Unreachable"
          : c.reachable === "Unknown"
            ? "reachability unknown"
            : undefined;
      const heard =
        c.silentForMs === undefined ? "never heard from" : `last heard from ${ageText(c.silentForMs)} ago`;
      return `${c.name} (${[state, heard].filter(Boolean).join(", ")})`;
    });
    lines.push(
      `warning: the data of ${stale.length} cluster${stale.length === 1 ? "" : "s"} may be stale: ${described.join(", ")}`,
    );
  }
  return lines;
}

/**
 * Warning lines for what reading a snapshot assumed, `warning: PATH: MESSAGE`: one line per kind of case,
 * however many places it concerns (the first path, then how many more and the next few of them).
 */
export function groupedWarnings(warnings: readonly Problem[], listed = 3): string[] {
  const byMessage = new Map<string, string[]>();
  for (const w of warnings) {
    const paths = byMessage.get(w.message) ?? [];
    byMessage.set(w.message, paths);
    paths.push(w.path);
  }
  return [...byMessage].map(([message, [first, ...more]]) => {
    if (more.length === 0) return `warning: ${first}: ${message}`;
    const shown = more.slice(0, listed).join(", ");
    const also = `also at ${more.length} more: ${shown}${more.length > listed ? ", …" : ""}`;
    return `warning: ${first}: ${message} (${also})`;
  });
}

/** Reads a fleet snapshot file (JSON or YAML). */
export async function readFleetFile(path: string): Promise<CheckedFleet> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new UserError("NotFound", `${path}: no such file`);
  });
  if (!path.endsWith(".json")) return checkedFleet(readYaml(text, path), path);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UserError("InvalidInput", `${path} is not valid JSON: ${(error as Error).message}`);
  }
  return checkedFleet(data, path);
}

function checkedFleet(data: unknown, what: string): CheckedFleet {
  const read = readFleet(data);
  if (!read.ok)
    throw new UserError("InvalidInput", `${what} is not a valid fleet snapshot`, {
      problems: read.problems,
      hint: "its format: docs/fleet-snapshot.md (JSON Schema: docs/fleet-snapshot.schema.json)",
    });
  return { fleet: read.value, warnings: read.warnings };
}

/** Reads the ConsolidationPolicy of a file; every problem with its field path. */
export async function readPolicyFile(path: string): Promise<ResolvedPolicy> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new UserError("NotFound", `${path}: no such file`);
  });
  const objects = readYamlDocuments(text, path) as Array<{ kind?: unknown } | null>;
  const policies = objects.filter((o) => o?.kind === "ConsolidationPolicy");
  if (policies.length !== 1)
    throw new UserError(
      "InvalidInput",
      `${path} must hold one ConsolidationPolicy (it holds ${policies.length})`,
      { hint: "see examples/consolidation-policy.yaml" },
    );
  const valid = validateInput(policies[0]);
  const problems: Problem[] = valid.ok ? [] : valid.problems;
  if (problems.length === 0) {
    const spec = consolidationPolicySpec.safeParse((policies[0] as { spec?: unknown }).spec ?? {});
    if (spec.success) return spec.data;
    problems.push(...problemsFromZod(spec.error, ["spec"]));
  }
  throw new UserError("InvalidInput", `${path}: the ConsolidationPolicy is not valid`, { problems });
}
