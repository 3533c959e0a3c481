/**
 * The CRDs checked the way the API server would: structural schemas (every node typed, list-map keys
 * required), and the ServiceImport unitfleet writes — spec and status — valid against its own CRD with nothing
 * that pruning would drop (an undeclared field would vanish silently on write).
 */
import { describe, expect, it } from "vitest";
import { desiredConsumerObjects } from "./consumer-objects.ts";
import { serviceExportCrd, serviceImportCrd } from "./crds.ts";
import { mergeExports } from "./merge.ts";
import { foundExport, frankfurt, readyEndpoints } from "./sample-exports.ts";

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  "x-kubernetes-list-map-keys"?: string[];
};

/** Every node has a type; every list-map key is a required property of its items. */
function structuralProblems(schema: Schema, path = ""): string[] {
  const problems: string[] = [];
  if (!schema.type) problems.push(`${path || "(root)"}: no type`);
  for (const [k, s] of Object.entries(schema.properties ?? {}))
    problems.push(...structuralProblems(s, `${path}.${k}`));
  if (schema.additionalProperties)
    problems.push(...structuralProblems(schema.additionalProperties, `${path}{}`));
  if (schema.items) problems.push(...structuralProblems(schema.items, `${path}[]`));
  for (const key of schema["x-kubernetes-list-map-keys"] ?? [])
    if (!schema.items?.required?.includes(key)) problems.push(`${path}: list-map key ${key} is not required`);
  return problems;
}

/** What the API server would refuse or prune in `value` (the subset of OpenAPI v3 the CRDs use). */
function valueProblems(schema: Schema, value: unknown, path = ""): string[] {
  const at = path || "(root)";
  const problems: string[] = [];
  const kind = Array.isArray(value)
    ? "array"
    : value === null
      ? "null"
      : typeof value === "number"
        ? Number.isInteger(value)
          ? "integer"
          : "number"
        : typeof value;
  if (schema.type && schema.type !== kind && !(schema.type === "number" && kind === "integer"))
    return [`${at}: is ${kind}, schema says ${schema.type}`];
  if (schema.enum && !schema.enum.includes(value))
    problems.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${at}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${at}: above maximum`);
  }
  if (typeof value === "string") {
    if (schema.maxLength !== undefined && value.length > schema.maxLength) problems.push(`${at}: too long`);
    if (schema.pattern && !new RegExp(schema.pattern).test(value))
      problems.push(`${at}: does not match pattern`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      problems.push(`${at}: too many items`);
    for (const [i, v] of value.entries())
      problems.push(...valueProblems(schema.items ?? {}, v, `${path}[${i}]`));
  }
  if (kind === "object") {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) problems.push(`${at}: ${key} is required`);
    for (const [key, v] of Object.entries(object)) {
      const sub = schema.properties?.[key] ?? schema.additionalProperties;
      if (!sub) problems.push(`${path}.${key}: not in the schema (would be pruned)`);
      else if (Object.keys(sub).length > 1 || sub.type !== "object" || sub.properties)
        problems.push(...valueProblems(sub, v, `${path}.${key}`));
    }
  }
  return problems;
}

const schemaOf = (crd: typeof serviceImportCrd | typeof serviceExportCrd) =>
  crd.spec.versions[0].schema.openAPIV3Schema as unknown as Schema;

describe("the MCS CRDs", () => {
  it("are structural v1beta1 definitions with a status subresource", () => {
    for (const crd of [serviceExportCrd, serviceImportCrd]) {
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.multicluster.x-k8s.io`);
      const [version] = crd.spec.versions;
      expect(crd.spec.versions).toHaveLength(1);
      expect(version).toMatchObject({
        name: "v1beta1",
        served: true,
        storage: true,
        subresources: { status: {} },
      });
      expect(structuralProblems(schemaOf(crd))).toEqual([]);
    }
    expect(serviceImportCrd.spec.names.shortNames).toEqual(["svcim", "svcimport"]);
    expect(serviceExportCrd.spec.names.shortNames).toEqual(["svcex", "svcexport"]);
  });

  it("accept the ServiceImport unitfleet writes, spec and status, with nothing pruned", () => {
    const merged = mergeExports(frankfurt, [
      foundExport("fra-shop-prod", "2026-11-01T00:00:00Z", readyEndpoints(1, 2), {
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
        internalTrafficPolicy: "Cluster",
        trafficDistribution: "PreferSameZone",
        ports: [
          { name: "http", protocol: "TCP", port: 80, appProtocol: "http" },
          { name: "dns", protocol: "UDP", port: 53 },
        ],
      }),
      foundExport("fra-payments-prod", "2026-11-02T00:00:00Z", readyEndpoints(3, 1)),
    ]);
    if (!merged.ok) throw new Error("merge failed");
    const result = desiredConsumerObjects({
      merged: merged.imports[0]!,
      consumer: { cluster: "fra-shop-dev", location: "frankfurt", region: "fra-north", zones: ["z1"] },
      unhealthyClusters: new Set(),
      derivedServiceIps: ["10.96.4.20", "fd00::20"],
    });
    if (!result.ok) throw new Error(result.reason);
    const serviceImport = result.objects[0]!;
    const { metadata: _metadata, ...rest } = serviceImport;
    expect(valueProblems(schemaOf(serviceImportCrd), { ...rest, metadata: {} })).toEqual([]);
    expect(serviceImport.status).toMatchObject({ servingTier: 1 });
  });

  it("would catch a field the schema does not declare", () => {
    expect(
      valueProblems(schemaOf(serviceImportCrd), { spec: { type: "ClusterSetIP", ports: [], color: "red" } }),
    ).toEqual([".spec.color: not in the schema (would be pruned)"]);
  });

  it("accept a ServiceExport with conditions as unitfleet sets them", () => {
    const serviceExport = {
      apiVersion: "multicluster.x-k8s.io/v1beta1",
      kind: "ServiceExport",
      metadata: {},
      status: {
        conditions: [
          {
            type: "Valid",
            status: "False",
            reason: "NoService",
            message: "no Service",
            lastTransitionTime: "2026-11-01T00:00:00Z",
          },
          {
            type: "Conflict",
            status: "True",
            reason: "TypeConflict,PortConflict",
            message: "…",
            lastTransitionTime: "2026-11-01T00:00:00Z",
          },
        ],
      },
    };
    expect(valueProblems(schemaOf(serviceExportCrd), serviceExport)).toEqual([]);
  });
});
