/**
 * Applications and Overrides: what is delivered to clusters. An Application holds plain Kubernetes manifests,
 * where they run (an inline placement, or a reference to a Placement) and how they differ per cluster
 * (overrides, inline or in Override objects). Pure schemas and the checks the registry runs on them.
 */
import { z } from "zod";
import { placementSpec } from "../scheduling/placement.ts";
import { dnsLabelProblem } from "../validation/names.ts";

const dnsName = z.string().superRefine((value, ctx) => {
  const problem = dnsLabelProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Kinds that create pods and take the application's replica count. */
export const replicatedKinds = ["Deployment", "StatefulSet"] as const;

/** A Kubernetes object as a user wrote it: apiVersion, kind and a name are needed; the rest is the cluster's to check. */
export const manifest = z
  .looseObject({
    apiVersion: z.string().min(1).max(253),
    kind: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "must be a Kubernetes kind, e.g. Deployment"),
    metadata: z.looseObject({
      name: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes object name")
        .max(253),
      namespace: dnsName.optional(),
    }),
  })
  .describe("A Kubernetes object, applied as written (after overrides) with server-side apply.");

export type Manifest = z.output<typeof manifest>;

const jsonPatchOperation = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("add"), path: z.string().startsWith("/"), value: z.unknown() }),
  z.strictObject({ op: z.literal("replace"), path: z.string().startsWith("/"), value: z.unknown() }),
  z.strictObject({ op: z.literal("remove"), path: z.string().startsWith("/") }),
]);

export const overrideRule = z
  .strictObject({
    clusters: z
      .strictObject({
        locations: z.array(dnsName).optional().describe("Clusters of these Locations."),
        regions: z.array(dnsName).optional().describe("Clusters of these Regions."),
        environments: z.array(z.string()).optional().describe("Clusters of these environments."),
        clusterNames: z.array(dnsName).optional().describe("These clusters."),
        matchLabels: z.record(z.string(), z.string()).optional().describe("Clusters with all these labels."),
      })
      .optional()
      .describe("Which clusters the rule applies in; every cluster when absent."),
    resource: z
      .strictObject({
        kind: z.string().optional(),
        name: z.string().optional(),
        namespace: z.string().optional(),
      })
      .optional()
      .describe(
        "Which manifests the rule changes; all when absent (workloads only for images and replicas).",
      ),
    imageRegistry: z
      .string()
      .regex(
        /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d+)?(\/[a-z0-9._-]+)*$/,
        "must be a registry host[:port][/path]",
      )
      .optional()
      .describe("Pull every container image of the workloads from this registry instead."),
    replicas: z.number().int().min(0).max(100_000).optional().describe("Run this many replicas instead."),
    jsonPatch: z
      .array(jsonPatchOperation)
      .max(100)
      .optional()
      .describe("RFC 6902 operations (add, replace, remove)."),
    mergePatch: z.record(z.string(), z.unknown()).optional().describe("An RFC 7386 JSON merge patch."),
  })
  .superRefine((rule, ctx) => {
    const changes = [rule.imageRegistry, rule.replicas, rule.jsonPatch, rule.mergePatch].filter(
      (c) => c !== undefined,
    );
    if (changes.length === 0)
      ctx.addIssue({
        code: "custom",
        message: "must change something: imageRegistry, replicas, jsonPatch or mergePatch",
      });
  });

export type OverrideRule = z.output<typeof overrideRule>;

export const applicationSpec = z
  .strictObject({
    manifests: z.array(manifest).min(1).max(1000).describe("The Kubernetes objects of the application."),
    placement: placementSpec.optional().describe("Where it runs (or name a Placement with placementRef)."),
    placementRef: z
      .strictObject({ name: dnsName })
      .optional()
      .describe("A Placement object to use instead of an inline placement."),
    overrides: z.array(overrideRule).max(100).optional().describe("How it differs per cluster."),
  })
  .superRefine((spec, ctx) => {
    if (!spec.placement === !spec.placementRef)
      ctx.addIssue({
        code: "custom",
        path: ["placement"],
        message: "give exactly one of placement and placementRef",
      });
    const seen = new Map<string, number>();
    spec.manifests.forEach((m, i) => {
      const key = `${m.apiVersion}/${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`;
      const first = seen.get(key);
      if (first !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["manifests", i],
          message: `${m.kind} ${m.metadata.name} is already manifests[${first}]`,
        });
      else seen.set(key, i);
    });
  })
  .describe("Plain Kubernetes manifests delivered to the clusters its placement chooses.");

export type ApplicationSpec = z.output<typeof applicationSpec>;

export const overrideSpec = z
  .strictObject({
    applications: z
      .array(dnsName)
      .optional()
      .describe("The Applications it applies to, by name; every Application when absent."),
    rules: z.array(overrideRule).min(1).max(100).describe("The changes, applied in order."),
  })
  .describe("Per-cluster changes to Applications: image registry per Location, replicas, patches.");

export type OverrideSpec = z.output<typeof overrideSpec>;

/** One cluster's share of an Application, as the delivery controller records it. */
export interface ApplicationPlacementStatus {
  clusters: Array<{ name: string; replicas: number }>;
  /**
   * Clusters whose work still asks for more replicas than their new share (make-before-break): kept until the
   * new placement's replicas report Ready, and for as long as the cluster is unreachable.
   */
  leaving?: Array<{ name: string; replicas: number }>;
  unschedulable?: string;
  scheduledAt?: string;
}

/** How an Application does in one cluster, from its agent's reports. */
export interface ApplicationClusterStatus {
  name: string;
  /** The generation of the work sent, and the one the agent last applied. */
  generation: number;
  appliedGeneration?: number;
  replicas: { desired: number; ready: number };
  /** Replicas last reported ready on a cluster the hub cannot reach now: not counted as ready. */
  unconfirmed?: number;
  objects: number;
  failed: number;
  healthy: boolean;
  message?: string;
}
