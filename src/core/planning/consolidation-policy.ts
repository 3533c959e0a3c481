/**
 * ConsolidationPolicy: the rules a consolidation plan obeys. Merges never cross Locations (not a setting);
 * isolation keeps production apart from other environments and named businesses apart from each other; a
 * cluster never grows beyond what the team can operate; headroom is kept for autoscaling; node shapes and
 * their prices per Location; a target is never older than a cluster it absorbs.
 */
import { z } from "zod";
import { parseQuantity } from "../quantity/quantity.ts";
import { dnsName, labelMap, labelValue, quantityAtLeast } from "../validation/zod-fields.ts";
import { extendedResourceProblem, type Resources, type Taint } from "./fleet-snapshot.ts";

const quantity = quantityAtLeast(0, true);

/** Kubernetes' published limits for one cluster (kubernetes.io "Considerations for large clusters"). */
export const kubernetesLimits = { nodes: 5000, pods: 150_000 } as const;
/** Defaults well inside those limits: what a platform team can operate without heroics. */
export const defaultMaxClusterSize = { nodes: 1000, pods: 30_000 } as const;

const nodeShape = z
  .strictObject({
    name: labelValue.describe("The shape's name, as in node.kubernetes.io/instance-type."),
    locations: z.array(dnsName).optional().describe("Locations that offer it; all when absent."),
    cpu: quantity.describe("Allocatable cpu of one node."),
    memory: quantity.describe("Allocatable memory of one node."),
    pods: z.number().int().min(1).max(1000).describe("Pods one node may run."),
    extendedResources: z
      .record(z.string(), quantity)
      .superRefine((map, ctx) => {
        for (const [resource, value] of Object.entries(map)) {
          const problem = extendedResourceProblem(resource, value);
          if (problem) ctx.addIssue({ code: "custom", path: [resource], message: problem });
        }
      })
      .optional()
      .describe("e.g. nvidia.com/gpu: 4 (whole units)"),
    labels: labelMap.optional().describe("Labels its nodes carry (node-type constraints match them)."),
    taints: z
      .array(
        z.strictObject({
          key: z.string().min(1),
          value: z.string().optional(),
          effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        }),
      )
      .optional()
      .describe("Taints its nodes carry (only pods that tolerate them run there)."),
    monthlyPrice: z.number().min(0).describe("Price of one node per month, in the price book's currency."),
  })
  .describe("A node shape the planner may use.");

export const consolidationPolicySpec = z
  .strictObject({
    scope: z
      .enum(["Location", "Region"])
      .default("Location")
      .describe(
        "Where merges may happen: anywhere in a Location, or only within a Region. Never across Locations.",
      ),
    isolation: z
      .strictObject({
        environmentGroups: z
          .array(z.array(labelValue).min(1))
          .default([["prod", "production"]])
          .describe(
            "Environments that share clusters only with each other; environments in no group share with each other.",
          ),
        businesses: z
          .array(labelValue)
          .default([])
          .describe("Businesses that never share a cluster with another business."),
      })
      .prefault({}),
    maxClusterSize: z
      .strictObject({
        nodes: z.number().int().min(1).max(kubernetesLimits.nodes).default(defaultMaxClusterSize.nodes),
        pods: z.number().int().min(1).max(kubernetesLimits.pods).default(defaultMaxClusterSize.pods),
      })
      .prefault({})
      .describe("The largest cluster the team can operate."),
    headroomPercent: z
      .number()
      .min(0)
      .max(90)
      .default(20)
      .describe("Share of every node kept free for autoscaling and surges."),
    nodeShapes: z
      .array(nodeShape)
      .default([])
      .describe("Shapes to pack onto, with prices; by default the shapes the fleet's nodes have, unpriced."),
    versions: z
      .strictObject({
        upgradeTargets: z
          .boolean()
          .default(true)
          .describe(
            "Upgrade a target to the newest version among what it absorbs (listed in the plan); when false, such a merge is refused.",
          ),
      })
      .prefault({}),
    units: z
      .strictObject({
        regions: z
          .number()
          .int()
          .min(1)
          .max(10)
          .optional()
          .describe("Regions per Location; by default its Regions, at least 2."),
        toleratedRegionFailures: z
          .number()
          .int()
          .min(0)
          .max(9)
          .default(1)
          .describe("Regions that may fail while the others carry all the load."),
      })
      .prefault({}),
  })
  .describe("The rules a consolidation plan obeys.");

export type ConsolidationPolicySpec = z.input<typeof consolidationPolicySpec>;
export type ResolvedPolicy = z.output<typeof consolidationPolicySpec>;

/** The policy with every default filled in. */
export function defaultPolicy(): ResolvedPolicy {
  return consolidationPolicySpec.parse({});
}

/** A node shape with numbers: allocatable per node and its monthly price (undefined when the fleet has no price). */
export interface PlanningShape {
  name: string;
  allocatable: Resources;
  labels: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
  monthlyPrice?: number;
}

/** The policy's shapes offered in a Location, as numbers. */
export function policyShapes(policy: ResolvedPolicy, location: string): PlanningShape[] {
  return policy.nodeShapes
    .filter((s) => !s.locations || s.locations.includes(location))
    .map((s) => {
      const allocatable: Record<string, number> = {
        cpu: amount(s.cpu),
        memory: amount(s.memory),
        pods: s.pods,
      };
      for (const [name, value] of Object.entries(s.extendedResources ?? {}))
        allocatable[name] = amount(value);
      return {
        name: s.name,
        allocatable,
        labels: s.labels ?? {},
        ...(s.taints && s.taints.length > 0 ? { taints: s.taints } : {}),
        monthlyPrice: s.monthlyPrice,
      };
    });
}

function amount(text: string | number): number {
  const parsed = parseQuantity(text);
  return parsed.ok ? parsed.value : 0;
}

/** The isolation class of an environment: its group's index, or "shared" when it is in no group. */
export function environmentClass(policy: ResolvedPolicy, environment: string): string {
  const index = policy.isolation.environmentGroups.findIndex((g) => g.includes(environment));
  return index < 0 ? "shared" : `group-${index}`;
}
