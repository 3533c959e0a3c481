/**
 * The OpenAPI v3 document of the hub's group, generated from the resource schemas (spec from the zod schemas,
 * status from ./status-schemas.ts), with the extensions kubectl reads (`x-kubernetes-group-version-kind`), the
 * `fieldValidation` parameter that tells kubectl the server validates fields itself, and the patch media types
 * the hub takes (merge, JSON patch, server-side apply).
 */
import { z } from "zod";
import { kinds } from "../../core/resources/kinds.ts";
import { apiVersion, group, version } from "../../core/resources/meta.ts";
import { conditionSchema, conditionSchemaName, statusSchemas } from "./status-schemas.ts";

let cached: unknown;

export function openapiDocument(): unknown {
  cached ??= build();
  return cached;
}

function build() {
  const schemas: Record<string, unknown> = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
      type: "object",
      properties: {
        name: { type: "string" },
        uid: { type: "string" },
        resourceVersion: { type: "string" },
        generation: { type: "integer", format: "int64" },
        creationTimestamp: { type: "string", format: "date-time" },
        labels: { type: "object", additionalProperties: { type: "string" } },
        annotations: { type: "object", additionalProperties: { type: "string" } },
        managedFields: {
          type: "array",
          description: "Which field manager set which fields (server-side apply).",
          items: { $ref: "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry" },
        },
      },
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry": {
      type: "object",
      description: "The fields one manager set, and how (Apply or Update).",
      properties: {
        manager: { type: "string", description: "The field manager: kubectl, flux…" },
        operation: { type: "string", enum: ["Apply", "Update"], description: "Apply or Update." },
        apiVersion: { type: "string", description: "The version the fields are in." },
        time: { type: "string", format: "date-time", description: "When the manager last changed them." },
        fieldsType: { type: "string", description: "Always FieldsV1." },
        fieldsV1: { type: "object", description: "The fields, as nested `f:` keys." },
      },
    },
    [conditionSchemaName]: conditionSchema,
  };
  const paths: Record<string, unknown> = {};
  const fieldValidation = {
    name: "fieldValidation",
    in: "query",
    description: "Strict: unknown or duplicate fields are refused (always the case on this server)",
    schema: { type: "string", uniqueItems: true },
  };
  const fieldManager = {
    name: "fieldManager",
    in: "query",
    description: "The name of the actor making the change; required for server-side apply",
    schema: { type: "string" },
  };
  const force = {
    name: "force",
    in: "query",
    description: "Server-side apply: take the fields other managers own instead of refusing with a conflict",
    schema: { type: "boolean" },
  };
  for (const k of Object.values(kinds)) {
    const ref = `io.unitfleet.${version}.${k.kind}`;
    const gvk = [{ group, version, kind: k.kind }];
    schemas[ref] = {
      type: "object",
      description: `${k.kind}: see docs/architecture.md`,
      required: ["apiVersion", "kind", "metadata", "spec"],
      properties: {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { $ref: "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" },
        spec: z.toJSONSchema(k.spec, { io: "input", unrepresentable: "any" }),
        status: statusSchemas[k.kind],
      },
      "x-kubernetes-group-version-kind": gvk,
    };
    const one = { $ref: `#/components/schemas/${ref}` };
    const ok = { "200": { description: "OK", content: { "application/json": { schema: one } } } };
    paths[`/apis/${apiVersion}/${k.plural}`] = {
      get: {
        operationId: `list${k.kind}`,
        responses: ok,
        "x-kubernetes-action": "list",
        "x-kubernetes-group-version-kind": gvk[0],
      },
      post: {
        operationId: `create${k.kind}`,
        parameters: [fieldValidation],
        requestBody: { content: { "application/json": { schema: one } } },
        responses: { ...ok, "201": ok["200"] },
        "x-kubernetes-action": "post",
        "x-kubernetes-group-version-kind": gvk[0],
      },
    };
    paths[`/apis/${apiVersion}/${k.plural}/{name}`] = {
      parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
      get: {
        operationId: `read${k.kind}`,
        responses: ok,
        "x-kubernetes-action": "get",
        "x-kubernetes-group-version-kind": gvk[0],
      },
      put: {
        operationId: `replace${k.kind}`,
        parameters: [fieldValidation],
        requestBody: { content: { "application/json": { schema: one } } },
        responses: ok,
        "x-kubernetes-action": "put",
        "x-kubernetes-group-version-kind": gvk[0],
      },
      patch: {
        operationId: `patch${k.kind}`,
        requestBody: {
          content: {
            "application/merge-patch+json": { schema: { type: "object" } },
            "application/json-patch+json": { schema: { type: "array", items: { type: "object" } } },
            "application/apply-patch+yaml": { schema: one },
          },
        },
        parameters: [fieldValidation, fieldManager, force],
        responses: ok,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk[0],
      },
      delete: {
        operationId: `delete${k.kind}`,
        responses: ok,
        "x-kubernetes-action": "delete",
        "x-kubernetes-group-version-kind": gvk[0],
      },
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "unitfleet", version: apiVersion },
    paths,
    components: { schemas },
  };
}
