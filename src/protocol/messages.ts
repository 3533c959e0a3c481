/**
 * The hub ⇄ relay ⇄ agent contract (docs/protocol.md): one discriminated union of messages. Every message
 * travels in an envelope with the protocol version, a sender-unique id, a per-session sequence number, the
 * cluster it concerns, and its data class. The data class is fixed by the message type — a receiver checks
 * that the envelope says the same — so user content cannot be passed off as metadata.
 */
import { z } from "zod";
import { placementListLimits as limits } from "../core/inventory/inventory.ts";
import { exportRecordSchema } from "../core/multicluster-services/export-record.ts";
import { dns1123Label } from "../core/validation/names.ts";

/** Versions this build speaks; a session uses the highest both sides know. */
export const protocolVersions = [1] as const;
export type ProtocolVersion = (typeof protocolVersions)[number];

export const dataClasses = ["control", "metadata", "user-content"] as const;
export type DataClass = (typeof dataClasses)[number];

/** The largest frame a peer accepts, in bytes; bigger ones are refused before they are parsed. */
export const maxFrameBytes = 1024 * 1024;

const name = z.string().regex(dns1123Label, "must be a DNS label (lower-case letters, digits, -)").max(63);
const quantityMap = z.record(z.string().max(253), z.string().max(64));

const taintEffect = z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]);

const node = z.strictObject({
  name: z.string().max(253),
  zone: z.string().max(63).optional(),
  ready: z.boolean(),
  capacity: quantityMap,
  allocatable: quantityMap,
  kubeletVersion: z.string().max(64),
  kernelVersion: z.string().max(128),
  containerRuntimeVersion: z.string().max(128),
  labels: z.record(z.string().max(317), z.string().max(63)).optional(),
  taints: z
    .array(
      z.strictObject({
        key: z.string().min(1).max(317),
        value: z.string().max(63).optional(),
        effect: taintEffect,
      }),
    )
    .max(limits.taints)
    .optional(),
});

const placementTopologyKey = z.enum(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);

const workload = z.strictObject({
  namespace: z.string().max(63),
  kind: z.string().max(63),
  name: z.string().max(253),
  replicas: z.number().int().min(0),
  podRequests: quantityMap,
  pods: z.number().int().min(0),
  // Placement constraints of its pod template, for the consolidation planner (all optional: older agents omit them).
  nodeSelector: z.record(z.string().max(317), z.string().max(63)).optional(),
  podAntiAffinity: z.strictObject({ topologyKey: placementTopologyKey }).optional(),
  topologySpread: z
    .array(z.strictObject({ topologyKey: placementTopologyKey, maxSkew: z.number().int().min(1) }))
    .max(8)
    .optional(),
  application: z.string().max(253).optional(),
  nodeAffinity: z
    .strictObject({
      nodeSelectorTerms: z
        .array(
          z.strictObject({
            matchExpressions: z
              .array(
                z.strictObject({
                  key: z.string().min(1).max(317),
                  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
                  values: z.array(z.string().max(63)).max(limits.values).optional(),
                }),
              )
              .min(1)
              .max(limits.matchExpressions),
          }),
        )
        .min(1)
        .max(limits.nodeSelectorTerms),
    })
    .optional(),
  tolerations: z
    .array(
      z.strictObject({
        key: z.string().max(317).optional(),
        operator: z.enum(["Exists", "Equal"]).optional(),
        value: z.string().max(63).optional(),
        effect: taintEffect.optional(),
      }),
    )
    .max(limits.tolerations)
    .optional(),
});

const cidrText = z.string().max(50);
const nodeMaskBits = z.number().int().min(0).max(128);

/** The `network` item (core/network/observed-network.ts): the addresses the cluster really uses, bounded. */
const network = z.strictObject({
  podCIDRs: z.array(cidrText).max(4096),
  serviceCIDRs: z.array(cidrText).max(64).optional(),
  podIPs: z.array(cidrText).max(64),
  podsOutsidePodCIDRs: z.number().int().min(0),
  podIPBlocksNotListed: z.number().int().min(1).optional(),
  nodeMask: z.strictObject({ ipv4: nodeMaskBits.optional(), ipv6: nodeMaskBits.optional() }).optional(),
  declaredPodCIDRs: z.array(cidrText).max(16).optional(),
});

/** One change to a cluster's inventory: the key says what (cluster, node/NAME, workload/NS/KIND/NAME, network). */
const inventoryChange = z.discriminatedUnion("op", [
  z.strictObject({
    op: z.literal("upsert"),
    key: z.string().max(600),
    value: z.union([node, workload, network, z.strictObject({ kubernetesVersion: z.string().max(64) })]),
  }),
  z.strictObject({ op: z.literal("delete"), key: z.string().max(600) }),
]);

/** A Kubernetes object as written in an Application's manifests (checked by the agent's API server). */
const manifest = z.record(z.string().max(253), z.unknown());

const objectRef = {
  apiVersion: z.string().max(253),
  kind: z.string().max(63),
  namespace: z.string().max(63).optional(),
  name: z.string().max(253),
};

/** How one delivered object is doing in its cluster. */
const objectStatus = z.strictObject({
  ...objectRef,
  /** Applied: the cluster has it as desired; Failed: it could not be applied (see message). */
  state: z.enum(["Applied", "Failed"]),
  message: z.string().max(2000).optional(),
  /** Replica counts of workloads (Deployment, StatefulSet, DaemonSet; Job: completions as desired/ready). */
  replicas: z
    .strictObject({
      desired: z.number().int().min(0),
      ready: z.number().int().min(0),
      updated: z.number().int().min(0).optional(),
      available: z.number().int().min(0).optional(),
    })
    .optional(),
  conditions: z
    .array(
      z.strictObject({
        type: z.string().max(128),
        status: z.string().max(16),
        reason: z.string().max(256).optional(),
        message: z.string().max(2000).optional(),
      }),
    )
    .max(20)
    .optional(),
  /** True when the object is as it should be: applied and, for workloads, all replicas ready. */
  healthy: z.boolean(),
});

/** A non-negative whole number that JSON, JavaScript and a PostgreSQL bigint all hold exactly. */
const wholeAmount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The start of an hour in UTC, `2026-12-03T14:00:00Z` (core/metering/usage.ts, HourStart). */
const hourStart = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/, "must be the start of an hour in UTC, e.g. 2026-12-03T14:00:00Z")
  .refine((s) => new Date(s).toISOString() === s.replace("Z", ".000Z"), "must be a real date and hour");

/** Minute samples in an hour: one a minute at most. */
const minuteSamples = z.number().int().min(0).max(60);

/** One resource's minute sums (core/metering/usage.ts, ResourceMinutes): what is paid for covers both. */
const resourceMinutes = z
  .strictObject({ request: wholeAmount, usage: wholeAmount, allocated: wholeAmount })
  .refine((r) => r.allocated >= r.request && r.allocated >= r.usage, {
    message: "allocated (the sum of max(request, usage) per minute) cannot be below request or usage",
    path: ["allocated"],
  });

/** A workload's hour in one cluster (core/metering/usage.ts, WorkloadHour). */
const workloadHour = z.strictObject({
  cluster: name,
  hour: hourStart,
  namespace: name,
  workload: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]*\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be KIND/NAME, e.g. Deployment/web")
    .max(317),
  labels: z
    .record(z.string().min(1).max(317), z.string().max(63))
    .refine((l) => Object.keys(l).length <= 64, "at most 64 labels"),
  samples: minuteSamples,
  cpu: resourceMinutes,
  memory: resourceMinutes,
  gpu: resourceMinutes,
  storage: z
    .record(z.string().min(1).max(253), wholeAmount)
    .refine((s) => Object.keys(s).length <= 64, "at most 64 storage classes"),
  loadBalancers: wholeAmount,
});

/** A node's hour in one cluster (core/metering/usage.ts, NodeHour). */
const nodeHour = z.strictObject({
  cluster: name,
  hour: hourStart,
  node: z.string().min(1).max(253),
  instanceType: z.string().min(1).max(253).optional(),
  samples: minuteSamples,
  allocatable: z.strictObject({ cpu: wholeAmount, memory: wholeAmount, gpu: wholeAmount }),
});

/** The most records (workloads and nodes together) one `usage.hours` message carries. */
export const maxUsageRecords = 500;

/**
 * The most export records one `services.exports` message carries; a sender also keeps the frame under
 * `maxFrameBytes` (a record with 1,000 endpoints is some 0.5 MB).
 */
export const maxServiceRecords = 100;

/** The most exports one `services.summary` page carries; a relay also keeps a page under some 512 KB. */
export const maxSummaryExportsPerPage = 500;
/** The most pages one `services.summary` has: a Location's exports beyond them are counted, not listed. */
export const maxSummaryPages = 100;

/** A condition of an export as summarised for the hub (core/multicluster-services/merge.ts, ExportCondition). */
const summaryCondition = z.strictObject({
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().min(1).max(256),
  message: z.string().max(1024),
});

/** One export of a Location as its relay's merge sees it (relay/location-services-summary.ts). */
const exportSummary = z.strictObject({
  cluster: name,
  namespace: name,
  name,
  /** The cluster's Region ("" without one). */
  region: z.union([z.literal(""), name]),
  /** Absent when the export has no usable Service (Valid=False: NoService, InvalidServiceType, TooManyPorts). */
  type: z.enum(["ClusterSetIP", "Headless"]).optional(),
  ports: z
    .array(
      z.strictObject({
        name: z.union([z.literal(""), name]),
        protocol: z.enum(["TCP", "UDP", "SCTP"]),
        port: z.number().int().min(1).max(65535),
      }),
    )
    .max(100),
  /** Endpoints ready, and in all (those the record left out beyond its bound included). */
  endpoints: z.strictObject({ ready: z.number().int().min(0), total: z.number().int().min(0) }),
  valid: summaryCondition,
  conflict: summaryCondition,
  /** The ServiceExport's creation time (RFC 3339). */
  exportedSince: z.string().max(40),
  /** The cluster is past the relay's grace: its endpoints are out of every import until it is back. */
  withdrawn: z.literal(true).optional(),
});

/** The message bodies by type, each with its fixed data class and a comment saying what it means. */
export const messageTypes = {
  /** Client → hub, first message of a session: who I am, which versions I speak, what I last received. */
  hello: {
    class: "control",
    body: z.strictObject({
      role: z.enum(["relay", "agent"]),
      location: name,
      cluster: name.optional(),
      versions: z.array(z.number().int().positive()).min(1).max(16),
      /** The last sequence number received from the hub in the previous session (0: none). */
      resumeFrom: z.number().int().min(0),
    }),
  },
  /** Hub → client: the session is open; which version, and from where the hub resends. */
  welcome: {
    class: "control",
    body: z.strictObject({
      version: z.number().int().positive(),
      session: z.string().max(64),
      resumeFrom: z.number().int().min(0),
      /** How often to send heartbeats; fractions allowed (tests compress time), from 0.05 s. */
      heartbeatSeconds: z.number().min(0.05).max(3600),
    }),
  },
  /** Hub → client: close now and come back after `retryAfterMs` (spread per client: no reconnect storm). */
  goaway: {
    class: "control",
    body: z.strictObject({
      reason: z.string().max(200),
      retryAfterMs: z.number().int().min(0).max(3_600_000),
    }),
  },
  /** Either way: every message up to this sequence number has been received and handled. */
  ack: { class: "control", body: z.strictObject({ upTo: z.number().int().min(0) }) },
  /** Hub → client: the client may send `messages` more metadata messages for this cluster (flow control). */
  credit: {
    class: "control",
    body: z.strictObject({ cluster: name, messages: z.number().int().min(1).max(10_000) }),
  },
  /** Client → hub: clusters alive at a time (agents report through their relay). */
  heartbeat: {
    class: "metadata",
    body: z.strictObject({
      clusters: z.array(z.strictObject({ cluster: name, at: z.string().max(40) })).max(1000),
    }),
  },
  /** Client → hub: inventory changes since `baseVersion`; the hub asks for a snapshot if it has another base. */
  "inventory.delta": {
    class: "metadata",
    body: z.strictObject({
      cluster: name,
      baseVersion: z.number().int().min(0),
      version: z.number().int().min(1),
      changes: z.array(inventoryChange).max(5000),
    }),
  },
  /** Client → hub: the whole inventory of a cluster at `version`. */
  "inventory.snapshot": {
    class: "metadata",
    body: z.strictObject({
      cluster: name,
      version: z.number().int().min(1),
      items: z.array(z.strictObject({ key: z.string().max(600), value: z.unknown() })).max(100_000),
    }),
  },
  /** Hub → client: send a snapshot of this cluster (the hub's base does not match a delta). */
  "inventory.resync": { class: "control", body: z.strictObject({ cluster: name }) },
  /** Hub → client: do something in a cluster; exactly once per idempotency key. */
  command: {
    class: "control",
    body: z.strictObject({
      cluster: name,
      idempotencyKey: z.string().min(1).max(128),
      /** Milliseconds since the epoch after which the command must not start. */
      deadline: z.number().int().positive(),
      action: z.discriminatedUnion("type", [
        z.strictObject({ type: z.literal("ping") }),
        z.strictObject({
          type: z.literal("logs"),
          namespace: name,
          pod: z
            .string()
            .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a pod name")
            .max(253),
          container: name.optional(),
          tailLines: z.number().int().min(1).max(100_000).optional(),
        }),
      ]),
    }),
  },
  /** Client → hub: the outcome of a command (`replyTo` names it). */
  "command.result": {
    class: "control",
    body: z.strictObject({
      idempotencyKey: z.string().min(1).max(128),
      outcome: z.enum(["succeeded", "failed", "expired", "refused"]),
      message: z.string().max(4000).optional(),
      /** The rule that refused the command (outcome `refused`), e.g. the residency guard's. */
      rule: z.string().max(128).optional(),
    }),
  },
  /** Client → hub: a piece of a pod's log — user content, which must not leave its Location. */
  "logs.chunk": {
    class: "user-content",
    body: z.strictObject({
      cluster: name,
      /** The idempotency key of the command whose output this is. */
      command: z.string().min(1).max(128),
      data: z.string().max(512 * 1024),
      last: z.boolean(),
    }),
  },
  /**
   * Hub → relay: every revoked, unexpired certificate serial of the relay's Location (the whole list, on each
   * session and on each change). The relay refuses agents presenting one and cuts off those connected.
   */
  revocations: {
    class: "control",
    body: z.strictObject({ serials: z.array(z.string().regex(/^[0-9a-f]{1,64}$/)).max(100_000) }),
  },
  /**
   * Hub → agent: the desired state of one Application in this cluster, replacing any earlier generation. The
   * agent applies it (server-side apply, field manager `unitfleet`), keeps it on disk, applies it again while
   * cut off, and prunes what an earlier generation had and this one has not.
   */
  "work.apply": {
    class: "control",
    body: z.strictObject({
      cluster: name,
      application: name,
      generation: z.number().int().min(1),
      manifests: z.array(manifest).max(1000),
    }),
  },
  /** Hub → agent: the Application no longer runs here; the agent deletes what it applied for it. */
  "work.remove": { class: "control", body: z.strictObject({ cluster: name, application: name }) },
  /**
   * Agent → hub, when a session opens: the works it holds and their generations. The hub answers with
   * `work.apply` for what is missing or older and `work.remove` for what should not be there.
   */
  "work.sync": {
    class: "control",
    body: z.strictObject({
      cluster: name,
      works: z.array(z.strictObject({ application: name, generation: z.number().int().min(1) })).max(10_000),
    }),
  },
  /** Agent → hub: how an Application's objects are doing in the cluster, and drift it put back. */
  "work.status": {
    class: "metadata",
    body: z.strictObject({
      cluster: name,
      application: name,
      /** The generation these objects were applied from. */
      generation: z.number().int().min(1),
      objects: z.array(objectStatus).max(1000),
      /** Objects changed or deleted by someone else and put back since the last report. */
      drift: z
        .array(z.strictObject({ ...objectRef, at: z.string().max(40), message: z.string().max(2000) }))
        .max(100),
      /** When the agent last applied the work (ISO 8601). */
      appliedAt: z.string().max(40),
    }),
  },
  /**
   * Multi-cluster services (issue 15, docs/multi-cluster-services.md): the export records of one cluster
   * (core/multicluster-services/export-record.ts) — service shapes and endpoint addresses, never a pod's content.
   * Agent → relay when its exports change (records new or changed, names removed), and with `present` (every
   * export the cluster has: records of others are dropped) when a session opens. Relay → every other agent of the
   * Location, unchanged, and with `present: []` when the cluster's agent is gone past the grace: its endpoints
   * leave every import. Each agent merges the records of its Location itself (the same merge everywhere).
   */
  "services.exports": {
    class: "metadata",
    body: z.strictObject({
      cluster: name,
      /** The cluster's Region ("" without one): consumers order endpoints by it. */
      region: z.union([z.literal(""), name]),
      records: z.array(exportRecordSchema).max(maxServiceRecords),
      removed: z.array(z.strictObject({ namespace: name, name })).max(10_000),
      present: z
        .array(z.strictObject({ namespace: name, name }))
        .max(10_000)
        .optional(),
    }),
  },
  /**
   * Relay → hub (issue 15, docs/multi-cluster-services.md "What the hub sees"): every export of the relay's
   * Location with its `Valid` and `Conflict` conditions, as the relay's merge (the agents' `mergeExports`) computes
   * them — names, ports and counts, never an address. A whole-Location snapshot cut into `pages` messages that
   * share `summary` (unique per relay process and rising); the hub replaces the Location's exports once it holds
   * every page. At most one summary every 2 s per Location, and one when a session opens. Its credit is the
   * Location's (`credit.cluster` names the Location): the relay, not a cluster, speaks.
   */
  "services.summary": {
    class: "metadata",
    body: z
      .strictObject({
        location: name,
        summary: z.string().min(1).max(64),
        page: z.number().int().min(0),
        pages: z.number().int().min(1).max(maxSummaryPages),
        exports: z.array(exportSummary).max(maxSummaryExportsPerPage),
        /** Exports of the Location beyond `maxSummaryPages` pages, not listed (the same on every page). */
        exportsOmitted: z.number().int().min(0),
      })
      .refine((b) => b.page < b.pages, { message: "must be less than pages", path: ["page"] }),
  },
  /**
   * Hub → agent: the ledger holds one `usage.hours` message of this cluster — the one of `hour` whose first record
   * has the idempotency key `first` (core/metering/usage.ts), `records` records in all. An agent stops sending
   * an hour again once every message of it is acknowledged.
   */
  "usage.ack": {
    class: "control",
    body: z.strictObject({
      cluster: name,
      hour: z.string().max(40),
      first: z.string().max(1000),
      records: z.number().int().min(0).max(maxUsageRecords),
    }),
  },
  /**
   * Agent → hub: one cluster's metered hours (core/metering/usage.ts) — names and numbers, never a pod's
   * content. Sent once per completed hour and again, on each new session, until acknowledged (`usage.ack`); the ledger keeps one row per record's
   * idempotency key, so a repeat counts once. Every record names the body's cluster.
   */
  "usage.hours": {
    class: "metadata",
    body: z
      .strictObject({
        cluster: name,
        source: z.enum(["kubelet", "metrics-api", "requests"]),
        workloads: z.array(workloadHour).max(maxUsageRecords),
        nodes: z.array(nodeHour).max(maxUsageRecords),
      })
      .superRefine((body, ctx) => {
        if (body.workloads.length + body.nodes.length > maxUsageRecords)
          ctx.addIssue({
            code: "custom",
            path: ["workloads"],
            message: `at most ${maxUsageRecords} records (workloads and nodes) per message`,
          });
        for (const [list, records] of [
          ["workloads", body.workloads],
          ["nodes", body.nodes],
        ] as const)
          for (const [i, record] of records.entries())
            if (record.cluster !== body.cluster)
              ctx.addIssue({
                code: "custom",
                path: [list, i, "cluster"],
                message: `must be the message's cluster "${body.cluster}"`,
              });
      }),
  },
  /** Either way: a message could not be accepted, with a code a program can match on. */
  error: {
    class: "control",
    body: z.strictObject({
      code: z.enum([
        "malformed",
        "too-large",
        "unsupported-version",
        "out-of-order",
        "forbidden",
        "residency",
        "unknown-type",
      ]),
      message: z.string().max(2000),
    }),
  },
} as const;

export type MessageType = keyof typeof messageTypes;
export type MessageBody<T extends MessageType> = z.infer<(typeof messageTypes)[T]["body"]>;

/** The envelope every frame carries around its body. */
export interface Envelope<T extends MessageType = MessageType> {
  v: ProtocolVersion;
  /** Unique per sender: used in `replyTo` and in logs. */
  id: string;
  /** Per session and direction, from 1, without gaps: makes acknowledgement and resumption possible. */
  seq: number;
  type: T;
  class: DataClass;
  /** The message this one answers. */
  replyTo?: string;
  body: MessageBody<T>;
}

export type Message = { [T in MessageType]: Envelope<T> }[MessageType];

/** The data class a type always travels as. */
export function classOf(type: MessageType): DataClass {
  return messageTypes[type].class;
}
