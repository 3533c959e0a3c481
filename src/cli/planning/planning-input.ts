/**
 * What every planning command reads: the fleet (a snapshot file given with `--from`, or the hub's live
 * inventory) and the ConsolidationPolicy (a file given with `-f`, else the hub's policy named `default` when the
 * fleet comes from the hub, else the defaults). Bad input is reported whole, with field paths.
 */
import { readFile } from "node:fs/promises";
import { parse, parseAllDocuments } from "yaml";
import { consolidationPolicySpec, type ResolvedPolicy } from "../../core/planning/consolidation-policy.ts";
import { type Fleet, readFleet } from "../../core/planning/fleet-snapshot.ts";
import { validateInput } from "../../core/resources/kinds.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { problemsFromZod } from "../../core/validation/zod-problems.ts";
import { UserError } from "../../errors/user-error.ts";
import { withHub } from "../client/hub-client.ts";

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

export async function readPlanningInput(
  env: { home: string },
  sources: PlanningSources,
): Promise<PlanningInput> {
  const fromFile = sources.filename ? await readPolicyFile(sources.filename) : undefined;
  if (sources.from) {
    const fleet = await readFleetFile(sources.from);
    return {
      fleet,
      policy: fromFile ?? consolidationPolicySpec.parse({}),
      fleetSource: sources.from,
      policySource: sources.filename ?? "defaults",
    };
  }
  return withHub(env, async (hub) => {
    const snapshot = await hub.send<unknown>("GET", fleetSnapshotPath);
    const fleet = checkedFleet(snapshot, "the hub's fleet snapshot");
    if (fromFile)
      return { fleet, policy: fromFile, fleetSource: "hub", policySource: sources.filename as string };
    const stored = await hub
      .send<{ spec: unknown }>("GET", `/apis/${apiVersion}/consolidationpolicies/default`)
      .catch((error: unknown) => {
        if (error instanceof UserError && error.code === "NotFound") return undefined;
        throw error;
      });
    return stored
      ? {
          fleet,
          policy: consolidationPolicySpec.parse(stored.spec),
          fleetSource: "hub",
          policySource: "ConsolidationPolicy default (hub)",
        }
      : { fleet, policy: consolidationPolicySpec.parse({}), fleetSource: "hub", policySource: "defaults" };
  });
}

/** Reads a fleet snapshot file (JSON or YAML). */
export async function readFleetFile(path: string): Promise<Fleet> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new UserError("NotFound", `${path}: no such file`);
  });
  let data: unknown;
  try {
    data = path.endsWith(".json") ? JSON.parse(text) : parse(text);
  } catch (error) {
    throw new UserError(
      "InvalidInput",
      `${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message}`,
    );
  }
  return checkedFleet(data, path);
}

function checkedFleet(data: unknown, what: string): Fleet {
  const read = readFleet(data);
  if (!read.ok)
    throw new UserError("InvalidInput", `${what} is not a valid fleet snapshot`, {
      problems: read.problems,
      hint: "its format: docs/fleet-snapshot.md (JSON Schema: docs/fleet-snapshot.schema.json)",
    });
  return read.value;
}

/** Reads the ConsolidationPolicy of a file; every problem with its field path. */
export async function readPolicyFile(path: string): Promise<ResolvedPolicy> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new UserError("NotFound", `${path}: no such file`);
  });
  const documents = parseAllDocuments(text);
  const syntax = documents.flatMap((d) => d.errors.map((e) => e.message));
  if (syntax.length > 0) throw new UserError("InvalidInput", `${path} is not valid YAML: ${syntax[0]}`);
  const objects = documents.map((d) => d.toJS() as { kind?: unknown } | null).filter((o) => o !== null);
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
