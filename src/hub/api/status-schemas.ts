/**
 * OpenAPI schemas of each kind's `status` (what the hub, its agents and controllers write there), so that
 * `kubectl explain clusters.status.conditions` describes every field. The shapes follow the status types of
 * `core/resources/kinds.ts` and `core/delivery/application.ts`; `status-schemas.test.ts` checks that every field
 * of a full status of those types has a schema here.
 */
import type { FleetResource } from "../../core/resources/kinds.ts";

type Schema = Record<string, unknown>;

const string = (description: string): Schema => ({ type: "string", description });
const integer = (description: string): Schema => ({ type: "integer", format: "int64", description });
const quantities = (description: string): Schema => ({
  type: "object",
  description,
  additionalProperties: { type: "string" },
});
const object = (description: string, properties: Record<string, Schema>, required?: string[]): Schema => ({
  type: "object",
  description,
  properties,
  ...(required ? { required } : {}),
});
const list = (description: string, items: Schema): Schema => ({ type: "array", description, items });

/** The reference of the shared Condition schema, as the OpenAPI document names it. */
export const conditionSchemaName = "io.unitfleet.v1alpha1.Condition";

/** A condition in Kubernetes' shape (metav1.Condition). */
export const conditionSchema: Schema = object(
  "One aspect of the object's state, as Kubernetes conditions are: Ready, Reachable, Scheduled…",
  {
    type: string("The aspect this condition is about, in CamelCase: Ready, Reachable, FailoverBlocked…"),
    status: { type: "string", enum: ["True", "False", "Unknown"], description: "True, False or Unknown." },
    reason: string("Why the condition last changed, in CamelCase, for programs to match on."),
    message: string("Why the condition last changed, for people."),
    lastTransitionTime: {
      type: "string",
      format: "date-time",
      description: "When the status last changed from one value to another.",
    },
    observedGeneration: integer("The metadata.generation the condition was set for."),
  },
  ["type", "status", "reason", "message", "lastTransitionTime"],
);

const conditions: Schema = {
  type: "array",
  description: "The object's conditions, one per type.",
  items: { $ref: `#/components/schemas/${conditionSchemaName}` },
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
};

const conditionsOnly = (what: string) => object(`What the hub observes of ${what}.`, { conditions });

const clusterShare = object("A cluster and the replicas it holds.", {
  name: string("The cluster."),
  replicas: integer("Its share of the replicas."),
});

const clusterStatus = object("What the cluster's agent and the hub's health loop report.", {
  kubernetesVersion: string("The version of the cluster's API server."),
  nodes: object("Nodes of the cluster.", {
    total: integer("How many nodes."),
    ready: integer("How many of them are Ready."),
  }),
  capacity: quantities("The nodes' capacity, summed: cpu, memory, pods…"),
  allocatable: quantities("What the nodes can give to pods, summed."),
  requested: quantities("What the pods request, summed."),
  pods: integer("How many pods run."),
  observedZones: list("The zones the cluster's nodes are in.", { type: "string" }),
  namespaces: {
    type: "object",
    description: "Per namespace: what its pods request and how many there are.",
    additionalProperties: object("One namespace.", {
      requested: quantities("What its pods request."),
      pods: integer("How many pods."),
    }),
  },
  lastHeartbeatTime: { type: "string", format: "date-time", description: "The agent's last heartbeat." },
  lastNotReadyTime: {
    type: "string",
    format: "date-time",
    description: "When the cluster last stopped being Ready (absent: never, since it joined).",
  },
  observedNetwork: object(
    "The addresses the cluster really uses, as its agent observed them (docs/network-plan.md, Detection); the hub's NetworkOverlap and NetworkDrift conditions are computed from them.",
    {
      podCIDRs: list("Every node's spec.podCIDRs, merged into the fewest blocks.", { type: "string" }),
      serviceCIDRs: list(
        "spec.cidrs of the cluster's ServiceCIDR objects (networking.k8s.io/v1), merged; absent when its API server serves no ServiceCIDRs.",
        { type: "string" },
      ),
      podIPs: list(
        "Addresses of pods outside every node's podCIDRs (host-network pods left out), merged into blocks; at most 64, widened to /24 (IPv4) or /64 (IPv6) when there are more.",
        { type: "string" },
      ),
      podsOutsidePodCIDRs: integer("How many pods have an address outside every node's podCIDRs."),
      podIPBlocksNotListed: integer("Blocks of such addresses left out of podIPs (absent: none)."),
      nodeMask: object("The prefix length of the nodes' podCIDRs (the most common one), per family.", {
        ipv4: integer("For IPv4."),
        ipv6: integer("For IPv6."),
      }),
      declaredPodCIDRs: list("The pod ranges the cluster declares (kubeadm's networking.podSubnet).", {
        type: "string",
      }),
    },
  ),
  conditions,
});

const applicationStatus = object(
  "Where the Application runs and how it does, from the delivery controller.",
  {
    observedGeneration: integer("The metadata.generation this status is for."),
    placement: object("The scheduler's decision.", {
      clusters: list("The chosen clusters and their shares.", clusterShare),
      leaving: list(
        "Clusters whose work still holds more replicas than their new share, until the new placement is Ready.",
        clusterShare,
      ),
      unschedulable: string("Why replicas fit nowhere, when some do not."),
      scheduledAt: { type: "string", format: "date-time", description: "When the placement was decided." },
    }),
    clusters: list(
      "How the Application does on each cluster, from its agent's reports.",
      object("One cluster.", {
        name: string("The cluster."),
        generation: integer("The generation of the work sent."),
        appliedGeneration: integer("The generation the agent last applied."),
        replicas: object("Replicas on this cluster.", {
          desired: integer("Asked for."),
          ready: integer("Ready."),
        }),
        unconfirmed: integer("Replicas last reported ready on a cluster the hub cannot reach now."),
        objects: integer("Objects applied."),
        failed: integer("Objects that failed to apply."),
        healthy: { type: "boolean", description: "Whether the work is healthy." },
        message: string("What went wrong, when something did."),
      }),
    ),
    summary: object("Totals over the clusters.", {
      clusters: integer("Clusters chosen."),
      replicas: string("Ready/desired replicas, e.g. 6/6."),
      ready: integer("Ready replicas."),
      desired: integer("Desired replicas (counting those that fit nowhere)."),
      applied: string("Chosen clusters that applied the current manifests / chosen clusters."),
    }),
    conditions,
    events: list(
      "The latest notable happenings (failover moves, drift put back), newest last.",
      object("One event.", {
        at: { type: "string", format: "date-time", description: "When it happened." },
        type: { type: "string", enum: ["Normal", "Warning"], description: "Normal or Warning." },
        reason: string("What happened, in CamelCase."),
        message: string("What happened, for people."),
      }),
    ),
  },
);

/** The status schema of each kind. */
export const statusSchemas: Record<FleetResource["kind"], Schema> = {
  Location: conditionsOnly("the Location"),
  Region: conditionsOnly("the Region"),
  Cluster: clusterStatus,
  Application: applicationStatus,
  Placement: conditionsOnly("the Placement"),
  Override: conditionsOnly("the Override"),
  ConsolidationPolicy: object("Not used: a policy has no status.", {}),
  PriceBook: object("Not used: a price book has no status.", {}),
  NetworkPool: object("What the hub keeps of a NetworkPool.", {
    retiredClusterIds: list(
      "Cluster IDs of the Location's deleted clusters, kept out of use until retiredAt + retiredIdQuarantine.",
      object("One retired ID.", {
        clusterId: integer("The ID."),
        cluster: string("The cluster that held it."),
        retiredAt: { type: "string", format: "date-time", description: "When it was given up." },
      }),
    ),
  }),
};
