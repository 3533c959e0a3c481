/**
 * A Placement spec: where an application runs. It selects clusters (by labels, names, Locations, Regions,
 * environments, businesses), spreads them over Locations, Regions or zones, says how replicas are shared
 * (each cluster runs all of them, or they are divided), which taints the application tolerates, and how
 * patient failover is. The scheduler (./scheduler.ts) reads the parsed spec; this file only checks it.
 */
import { z } from "zod";
import type { Requirement } from "../resources/label-selector.ts";
import { dnsLabelProblem, labelKeyProblem, labelValueProblem } from "../validation/names.ts";
import { fieldPath, type Problem, type Validated } from "../validation/problems.ts";
import { problemsFromZod } from "../validation/zod-problems.ts";

const checked = (check: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const dnsName = checked((v) => dnsLabelProblem(v));
const labelKey = checked(labelKeyProblem);
const labelValue = checked(labelValueProblem);
const names = (what: string) => z.array(dnsName).min(1).optional().describe(what);
const labelValues = (what: string) => z.array(labelValue).min(1).optional().describe(what);

/** Replica counts above this are refused: they are typos, and they keep the division arithmetic exact. */
export const maxReplicas = 100_000;

const matchExpression = z
  .strictObject({
    key: labelKey.describe("The label key the expression reads."),
    operator: z
      .enum(["In", "NotIn", "Exists", "DoesNotExist"])
      .describe("In / NotIn compare the label's value with `values`; Exists / DoesNotExist test the key."),
    values: z
      .array(labelValue)
      .optional()
      .describe("Values for In and NotIn; empty for Exists/DoesNotExist."),
  })
  .superRefine((e, ctx) => {
    const listed = (e.values ?? []).length > 0;
    if ((e.operator === "In" || e.operator === "NotIn") && !listed)
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `must list at least one value for operator ${e.operator}`,
      });
    if ((e.operator === "Exists" || e.operator === "DoesNotExist") && listed)
      ctx.addIssue({ code: "custom", path: ["values"], message: `must be empty for operator ${e.operator}` });
  });

const labelSelector = z
  .strictObject({
    matchLabels: z
      .record(labelKey, labelValue)
      .optional()
      .describe("Labels a cluster must carry with exactly these values."),
    matchExpressions: z
      .array(matchExpression)
      .optional()
      .describe("Further requirements on a cluster's labels; all must hold."),
  })
  .describe(
    "A Kubernetes label selector over cluster labels (location, region, environment, business included).",
  );

const spreadConstraint = z
  .strictObject({
    by: z
      .enum(["location", "region", "zone"])
      .describe("The failure domain counted: a Location, a Region, or a zone of the chosen clusters."),
    minGroups: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("The application must run in at least this many distinct groups, or it is unschedulable."),
    maxGroups: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("The application runs in at most this many distinct groups."),
  })
  .superRefine((s, ctx) => {
    if (s.minGroups !== undefined && s.maxGroups !== undefined && s.minGroups > s.maxGroups)
      ctx.addIssue({ code: "custom", path: ["minGroups"], message: "must not exceed maxGroups" });
  });

const count = z
  .number()
  .int()
  .min(1)
  .max(maxReplicas)
  .describe("The number of replicas: per cluster (Duplicated) or in all (Divided).");

const staticWeight = z
  .strictObject({
    clusterNames: names("The clusters this weight applies to, by name."),
    clusterSelector: labelSelector.optional().describe("The clusters this weight applies to, by labels."),
    weight: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .describe("Relative share; a cluster matched by several entries takes the largest."),
  })
  .superRefine((w, ctx) => {
    if (!w.clusterNames && !w.clusterSelector)
      ctx.addIssue({ code: "custom", message: "must name clusterNames or a clusterSelector" });
  });

const replicas = z
  .discriminatedUnion("mode", [
    z
      .strictObject({
        mode: z.literal("Duplicated").describe("Every chosen cluster runs `count` replicas."),
        count,
      })
      .describe("Each chosen cluster runs the full count."),
    z
      .strictObject({
        mode: z.literal("Divided").describe("The count is split over the chosen clusters."),
        count,
        weighting: z
          .enum(["AvailableCapacity", "Static"])
          .default("AvailableCapacity")
          .describe("AvailableCapacity: in proportion to how many replicas fit; Static: by `weights`."),
        weights: z
          .array(staticWeight)
          .optional()
          .describe("Static weights; a selected cluster matched by none gets no replicas."),
      })
      .superRefine((r, ctx) => {
        if (r.weighting === "Static" && (r.weights ?? []).length === 0)
          ctx.addIssue({
            code: "custom",
            path: ["weights"],
            message: "must list at least one weight when weighting is Static",
          });
        if (r.weighting !== "Static" && r.weights !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["weights"],
            message: "is only read when weighting is Static",
          });
      })
      .describe("The count is split over the chosen clusters."),
  ])
  .describe("How many replicas run and how they are shared between clusters.");

const toleration = z
  .strictObject({
    key: labelKey.describe("The taint key tolerated."),
    operator: z
      .enum(["Equal", "Exists"])
      .default("Equal")
      .describe("Equal: the taint's value must equal `value`; Exists: any value."),
    value: labelValue.optional().describe("The value tolerated with operator Equal."),
    effect: z
      .enum(["NoSchedule", "PreferNoSchedule", "NoExecute"])
      .optional()
      .describe("The effect tolerated; every effect when absent."),
  })
  .superRefine((t, ctx) => {
    if (t.operator === "Exists" && t.value !== undefined)
      ctx.addIssue({ code: "custom", path: ["value"], message: "must be absent with operator Exists" });
  });

/** Failover timings when no `failover` is given. */
export const defaultFailover = { toleranceSeconds: 60, stableSeconds: 300 } as const;

const failover = z
  .strictObject({
    toleranceSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(defaultFailover.toleranceSeconds)
      .describe(
        "How long a cluster may be not ready before its replicas move to other clusters of its Location.",
      ),
    stableSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(defaultFailover.stableSeconds)
      .describe("How long a cluster must have been ready before it receives new replicas (no flapping)."),
  })
  .describe("Failover inside a Location.");

export const placementSpec = z
  .strictObject({
    clusterSelector: labelSelector.optional(),
    clusterNames: names("Only these clusters, by name."),
    locations: names(
      "Only clusters of these Locations. Listing two or more lets the application span them; otherwise it stays in one Location.",
    ),
    regions: names("Only clusters of these Regions."),
    environments: labelValues("Only clusters of these environments (prod, staging, dev…)."),
    businesses: labelValues("Only clusters owned by these businesses."),
    spread: z
      .array(spreadConstraint)
      .optional()
      .describe("How many distinct Locations, Regions or zones the application runs in."),
    replicas,
    tolerations: z
      .array(toleration)
      .optional()
      .describe(
        "Cluster taints the application tolerates; a cluster with another NoSchedule/NoExecute taint is skipped.",
      ),
    failover: failover.optional(),
  })
  .describe("Where an application runs: selection, spread, replica division, tolerations and failover.");

/** A Placement spec as a user writes it. */
export type PlacementInput = z.input<typeof placementSpec>;
/** A checked Placement spec, defaults applied. */
export type PlacementSpec = z.output<typeof placementSpec>;
export type LabelSelector = z.output<typeof labelSelector>;
export type Toleration = z.output<typeof toleration>;
export type SpreadConstraint = z.output<typeof spreadConstraint>;

/**
 * Checks a Placement spec and reports every problem with its field path under `prefix` (by default
 * `spec`), e.g. `spec.spread[0].minGroups: must not exceed maxGroups`.
 */
export function validatePlacementSpec(
  input: unknown,
  prefix: ReadonlyArray<string | number> = ["spec"],
): Validated<PlacementSpec> {
  const parsed = placementSpec.safeParse(input);
  const problems = [
    ...(parsed.success ? [] : problemsFromZod(parsed.error, prefix)),
    ...crossFieldProblems(input, prefix),
  ].sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true }));
  return parsed.success && problems.length === 0 ? { ok: true, value: parsed.data } : { ok: false, problems };
}

// Rules across fields, read leniently from the raw input so that they are reported with the others.
function crossFieldProblems(input: unknown, prefix: ReadonlyArray<string | number>): Problem[] {
  const problems: Problem[] = [];
  const raw = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
  const spread = Array.isArray(raw.spread) ? (raw.spread as unknown[]) : [];
  const listed = Array.isArray(raw.locations) ? raw.locations.length : 0;
  const seen = new Map<unknown, number>();
  spread.forEach((item, i) => {
    if (typeof item !== "object" || item === null) return;
    const { by, minGroups } = item as { by?: unknown; minGroups?: unknown };
    const first = seen.get(by);
    if (typeof by === "string" && first !== undefined)
      problems.push({
        path: fieldPath([...prefix, "spread", i, "by"]),
        message: `"${by}" is already constrained by ${fieldPath([...prefix, "spread", first])}`,
      });
    else seen.set(by, i);
    if (by === "location" && typeof minGroups === "number" && minGroups > 1 && minGroups > listed)
      problems.push({
        path: fieldPath([...prefix, "spread", i, "minGroups"]),
        message: `spreading over ${minGroups} Locations needs ${fieldPath([...prefix, "locations"])} to list at least ${minGroups} (an application stays in one Location unless several are listed)`,
      });
  });
  return problems;
}

/** A label selector as requirements that ../resources/label-selector.ts matches; empty selects all. */
export function selectorRequirements(selector: LabelSelector | undefined): Requirement[] {
  if (!selector) return [];
  const requirements: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key,
    op: "in",
    values: [value],
  }));
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === "In") requirements.push({ key: e.key, op: "in", values: e.values ?? [] });
    else if (e.operator === "NotIn") requirements.push({ key: e.key, op: "notin", values: e.values ?? [] });
    else if (e.operator === "Exists") requirements.push({ key: e.key, op: "exists" });
    else requirements.push({ key: e.key, op: "doesnotexist" });
  }
  return requirements;
}
