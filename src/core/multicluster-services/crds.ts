/**
 * The CustomResourceDefinitions of ServiceExport and ServiceImport (`multicluster.x-k8s.io/v1beta1`, KEP-1645),
 * written by unitfleet from the API's shape as `apiextensions.k8s.io/v1` objects, for each agent to
 * server-side-apply. Both have a structural openAPIV3Schema and the status subresource.
 *
 * Only v1beta1 is defined (served and stored). Applied with server-side apply, a version another tool
 * installed (v1alpha1) stays as it is: `spec.versions` is a map keyed by name.
 *
 * unitfleet's additions, all optional (other readers ignore them): in `ServiceImport.status.clusters[]` the
 * source cluster's `region`, locality `tier` and `readyEndpoints`, and `status.servingTier` (locality.ts).
 */
import { managedByLabel, mcsGroup, mcsManager, mcsVersion } from "./object-names.ts";

type Schema = Record<string, unknown>;

const text = (description: string, extra: Schema = {}): Schema => ({ type: "string", description, ...extra });
const dnsLabelText = (description: string): Schema =>
  text(description, { maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" });

/** `metav1.Condition` as a schema. */
const condition: Schema = {
  type: "object",
  required: ["type", "status", "reason", "message", "lastTransitionTime"],
  properties: {
    type: text("The aspect this condition is about, such as Valid or Conflict.", { maxLength: 316 }),
    status: text("True, False or Unknown.", { enum: ["True", "False", "Unknown"] }),
    reason: text("Why, as a CamelCase word a program can match on (reasons may be joined by commas).", {
      maxLength: 1024,
      minLength: 1,
    }),
    message: text("Why, for people.", { maxLength: 32768 }),
    lastTransitionTime: text("When the status last changed.", { format: "date-time" }),
    observedGeneration: { type: "integer", format: "int64", minimum: 0 },
  },
};

const conditions: Schema = {
  type: "array",
  description: "The state of the object, one condition per type.",
  items: condition,
  maxItems: 32,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
};

const stringMap = (description: string): Schema => ({
  type: "object",
  description,
  additionalProperties: { type: "string" },
});

const crdMetadata = (plural: string) => ({
  name: `${plural}.${mcsGroup}`,
  labels: { [managedByLabel]: mcsManager },
});

/** ServiceExport: "make the Service of the same namespace and name reachable from the Location's clusters". */
export const serviceExportCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: crdMetadata("serviceexports"),
  spec: {
    group: mcsGroup,
    scope: "Namespaced",
    names: {
      plural: "serviceexports",
      singular: "serviceexport",
      kind: "ServiceExport",
      listKind: "ServiceExportList",
      shortNames: ["svcex", "svcexport"],
    },
    versions: [
      {
        name: mcsVersion,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
        schema: {
          openAPIV3Schema: {
            type: "object",
            description:
              "Exports the Service of the same namespace and name to the other clusters of the clusterset (for unitfleet: of the Location).",
            properties: {
              apiVersion: { type: "string" },
              kind: { type: "string" },
              metadata: { type: "object" },
              spec: {
                type: "object",
                description: "Optional extras of the export.",
                properties: {
                  exportedLabels: stringMap("Labels to put on the imported service (optional to implement)."),
                  exportedAnnotations: stringMap(
                    "Annotations to put on the imported service (optional to implement).",
                  ),
                },
              },
              status: {
                type: "object",
                description: "Set by the implementation: Valid, Ready and Conflict conditions.",
                properties: { conditions },
              },
            },
          },
        },
      },
    ],
  },
} as const;

const servicePort: Schema = {
  type: "object",
  required: ["port"],
  properties: {
    name: text("The port's name; required when the service has several ports.", { maxLength: 63 }),
    protocol: text("TCP (the default), UDP or SCTP.", { enum: ["TCP", "UDP", "SCTP"] }),
    appProtocol: text("The application protocol, as a label-like name (IANA name or prefixed).", {
      maxLength: 317,
    }),
    port: {
      type: "integer",
      format: "int32",
      minimum: 1,
      maximum: 65535,
      description: "The port consumers use.",
    },
  },
};

/** ServiceImport: the service as imported into a consumer cluster, merged from every export of its name. */
export const serviceImportCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: crdMetadata("serviceimports"),
  spec: {
    group: mcsGroup,
    scope: "Namespaced",
    names: {
      plural: "serviceimports",
      singular: "serviceimport",
      kind: "ServiceImport",
      listKind: "ServiceImportList",
      shortNames: ["svcim", "svcimport"],
    },
    versions: [
      {
        name: mcsVersion,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: "Type", type: "string", jsonPath: ".spec.type" },
          { name: "IP", type: "string", jsonPath: ".spec.ips" },
          { name: "Serving-Tier", type: "integer", jsonPath: ".status.servingTier", priority: 1 },
          { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
        ],
        schema: {
          openAPIV3Schema: {
            type: "object",
            description:
              "A service imported from the clusters that export it; managed by the implementation only.",
            properties: {
              apiVersion: { type: "string" },
              kind: { type: "string" },
              metadata: { type: "object" },
              spec: {
                type: "object",
                required: ["ports", "type"],
                properties: {
                  ports: {
                    type: "array",
                    items: servicePort,
                    maxItems: 100,
                    "x-kubernetes-list-type": "atomic",
                  },
                  ips: {
                    type: "array",
                    description: "The virtual IPs of a ClusterSetIP import (one per family).",
                    items: { type: "string", maxLength: 45 },
                    maxItems: 2,
                  },
                  type: text("ClusterSetIP (reached through a virtual IP) or Headless (through DNS only).", {
                    enum: ["ClusterSetIP", "Headless"],
                  }),
                  sessionAffinity: text("None or ClientIP; ignored for Headless.", {
                    enum: ["None", "ClientIP"],
                  }),
                  sessionAffinityConfig: {
                    type: "object",
                    properties: {
                      clientIP: {
                        type: "object",
                        properties: {
                          timeoutSeconds: { type: "integer", format: "int32", minimum: 1, maximum: 86400 },
                        },
                      },
                    },
                  },
                  ipFamilies: {
                    type: "array",
                    items: text("IPv4 or IPv6.", { enum: ["IPv4", "IPv6"] }),
                    maxItems: 2,
                    "x-kubernetes-list-type": "atomic",
                  },
                  internalTrafficPolicy: text("Cluster or Local.", { enum: ["Cluster", "Local"] }),
                  trafficDistribution: text("A routing preference, such as PreferSameZone.", {
                    maxLength: 63,
                  }),
                },
              },
              status: {
                type: "object",
                properties: {
                  clusters: {
                    type: "array",
                    description: "The exporting clusters this import is derived from, in locality order.",
                    items: {
                      type: "object",
                      required: ["cluster"],
                      properties: {
                        cluster: dnsLabelText("The exporting cluster's name."),
                        region: text("unitfleet: the exporting cluster's Region.", { maxLength: 63 }),
                        tier: {
                          type: "integer",
                          minimum: 0,
                          maximum: 2,
                          description:
                            "unitfleet: locality tier for this consumer (0 this cluster, 1 its Region, 2 another Region of the Location).",
                        },
                        readyEndpoints: {
                          type: "integer",
                          minimum: 0,
                          description: "unitfleet: the ready endpoints imported from this cluster.",
                        },
                      },
                    },
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["cluster"],
                  },
                  servingTier: {
                    type: "integer",
                    minimum: 0,
                    maximum: 2,
                    description: "unitfleet: the lowest tier with a ready endpoint, where traffic goes.",
                  },
                  conditions,
                },
              },
            },
          },
        },
      },
    ],
  },
} as const;
