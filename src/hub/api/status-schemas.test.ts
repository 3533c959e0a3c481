/** Every field of a full status of each kind has a schema (with a description), so `kubectl explain` shows it. */
import { describe, expect, it } from "vitest";
import type { ApplicationStatus, ClusterStatus } from "../../core/resources/kinds.ts";
import { openapiDocument } from "./openapi.ts";

type Schema = {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  $ref?: string;
};

const schemas = (openapiDocument() as { components: { schemas: Record<string, Schema> } }).components.schemas;
const resolve = (s: Schema): Schema => (s.$ref ? schemas[s.$ref.replace("#/components/schemas/", "")]! : s);

/**
 * The paths of a value's fields that its schema does not describe: a named field needs a description, an item of
 * a list or map at least a type.
 */
function undescribed(value: unknown, schema: Schema, path: string, named = true): string[] {
  const s = resolve(schema);
  if (named ? !s.description && !schema.description : !s.type) return [path];
  if (Array.isArray(value))
    return value.flatMap((v, i) => undescribed(v, s.items ?? {}, `${path}[${i}]`, false));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const field = s.properties?.[key];
    if (field) return undescribed(v, field, `${path}.${key}`);
    return s.additionalProperties
      ? undescribed(v, s.additionalProperties, `${path}.${key}`, false)
      : [`${path}.${key}`];
  });
}

const condition = {
  type: "Ready",
  status: "True" as const,
  reason: "AgentReports",
  message: "ok",
  lastTransitionTime: "2026-12-03T00:00:00Z",
  observedGeneration: 1,
};

describe("the status schemas in the OpenAPI document", () => {
  it("describe every field of a Cluster's status", () => {
    const status: Required<ClusterStatus> = {
      kubernetesVersion: "v1.36.3",
      nodes: { total: 3, ready: 3 },
      capacity: { cpu: "8" },
      allocatable: { cpu: "7" },
      requested: { cpu: "1" },
      pods: 4,
      observedZones: ["z1"],
      namespaces: { default: { requested: { cpu: "1" }, pods: 2 } },
      lastHeartbeatTime: "2026-12-03T00:00:00Z",
      lastNotReadyTime: "2026-12-03T00:00:00Z",
      observedNetwork: {
        podCIDRs: ["10.244.0.0/23"],
        serviceCIDRs: ["10.96.0.0/16"],
        podIPs: ["10.50.0.0/30"],
        podsOutsidePodCIDRs: 4,
        podIPBlocksNotListed: 2,
        nodeMask: { ipv4: 24, ipv6: 64 },
        declaredPodCIDRs: ["10.244.0.0/16"],
      },
      conditions: [condition],
    };
    const cluster = schemas["io.unitfleet.v1alpha1.Cluster"]!;
    expect(undescribed(status, cluster.properties!.status!, "status")).toEqual([]);
  });

  it("describe every field of an Application's status", () => {
    const share = { name: "c1", replicas: 2 };
    const status: Required<ApplicationStatus> = {
      observedGeneration: 2,
      placement: {
        clusters: [share],
        leaving: [share],
        unschedulable: "no room",
        scheduledAt: "2026-12-03T00:00:00Z",
      },
      clusters: [
        {
          name: "c1",
          generation: 2,
          appliedGeneration: 2,
          replicas: { desired: 2, ready: 1 },
          unconfirmed: 1,
          objects: 3,
          failed: 0,
          healthy: true,
          message: "ok",
        },
      ],
      summary: { clusters: 1, replicas: "1/2", ready: 1, desired: 2, applied: "1/1" },
      conditions: [condition],
      events: [{ at: "2026-12-03T00:00:00Z", type: "Normal", reason: "HandoverComplete", message: "done" }],
    };
    const application = schemas["io.unitfleet.v1alpha1.Application"]!;
    expect(undescribed(status, application.properties!.status!, "status")).toEqual([]);
  });

  it("give every kind's conditions the Condition schema with its required fields", () => {
    const condition = schemas["io.unitfleet.v1alpha1.Condition"]!;
    expect(Object.keys(condition.properties!)).toEqual(
      expect.arrayContaining(["type", "status", "reason", "message", "lastTransitionTime"]),
    );
    for (const kind of ["Location", "Region", "Cluster", "Application", "Placement", "Override"]) {
      const status = resolve(schemas[`io.unitfleet.v1alpha1.${kind}`]!.properties!.status!);
      expect(status.properties?.conditions?.items?.$ref, kind).toBe(
        "#/components/schemas/io.unitfleet.v1alpha1.Condition",
      );
    }
  });
});
