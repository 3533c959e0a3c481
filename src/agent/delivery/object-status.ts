/**
 * How one delivered object is doing, read from the object as the API server returns it: replica counts of
 * workloads, its conditions, and whether it is healthy. Pure: the applier reads the object, this decides.
 */
import type { MessageBody } from "../../protocol/messages.ts";
import type { ObjectRef } from "./apply-order.ts";

export type ObjectStatus = MessageBody<"work.status">["objects"][number];
type Replicas = NonNullable<ObjectStatus["replicas"]>;
type Condition = NonNullable<ObjectStatus["conditions"]>[number];

/** An object as read back (plain JSON or client-node's model: the field names are the same). */
export interface LiveObject {
  metadata?: { generation?: number; namespace?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** The status of an object the API server refused, or that could not be applied. */
export function failedStatus(ref: ObjectRef, message: string): ObjectStatus {
  return { ...ref, state: "Failed", message: message.slice(0, 2000), healthy: false };
}

/** The status of an applied object that is no longer there (deleted by someone; put back at the next resync). */
export function missingStatus(ref: ObjectRef): ObjectStatus {
  return {
    ...ref,
    state: "Applied",
    message: "not found: deleted outside unitfleet; it is put back at the next resync",
    healthy: false,
  };
}

/** The status of an applied object: its replicas and conditions, and whether it is as it should be. */
export function objectStatusOf(ref: ObjectRef, live: LiveObject): ObjectStatus {
  const spec = live.spec ?? {};
  const status = live.status ?? {};
  const conditions = conditionsOf(status);
  const observed = int(status.observedGeneration);
  // A controller that has not seen the latest spec yet reports on the previous one.
  const current = live.metadata?.generation === undefined || observed >= live.metadata.generation;
  let replicas: Replicas | undefined;
  let healthy = true;
  let message: string | undefined;
  switch (ref.kind) {
    case "Deployment": {
      const desired = int(spec.replicas, 1);
      replicas = {
        desired,
        ready: int(status.readyReplicas),
        updated: int(status.updatedReplicas),
        available: int(status.availableReplicas),
      };
      // Old pods still running (status.replicas above desired) mean the rollout is not over.
      healthy =
        current &&
        replicas.ready === desired &&
        replicas.updated === desired &&
        replicas.available === desired &&
        int(status.replicas) === desired;
      break;
    }
    case "StatefulSet": {
      const desired = int(spec.replicas, 1);
      replicas = {
        desired,
        ready: int(status.readyReplicas),
        updated: int(status.updatedReplicas),
        available: int(status.availableReplicas),
      };
      healthy = current && replicas.ready === desired && replicas.updated === desired;
      break;
    }
    case "DaemonSet": {
      const desired = int(status.desiredNumberScheduled);
      replicas = {
        desired,
        ready: int(status.numberReady),
        updated: int(status.updatedNumberScheduled),
        available: int(status.numberAvailable),
      };
      healthy = current && replicas.ready === desired && replicas.updated === desired;
      break;
    }
    case "Job": {
      const desired = int(spec.completions, 1);
      replicas = { desired, ready: int(status.succeeded) };
      const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
      healthy = !failed && (replicas.ready >= desired || isTrue(conditions, "Complete"));
      if (failed) message = `the Job failed: ${failed.message ?? failed.reason ?? "no reason given"}`;
      break;
    }
    case "CustomResourceDefinition":
      healthy = isTrue(conditions, "Established");
      if (!healthy) message = "not Established yet";
      break;
    default:
      // Any other kind is healthy once it exists.
      break;
  }
  return {
    ...ref,
    state: "Applied",
    ...(message ? { message } : {}),
    ...(replicas ? { replicas } : {}),
    ...(conditions.length > 0 ? { conditions } : {}),
    healthy,
  };
}

function conditionsOf(status: Record<string, unknown>): Condition[] {
  if (!Array.isArray(status.conditions)) return [];
  const out: Condition[] = [];
  for (const c of status.conditions.slice(0, 20) as Array<Record<string, unknown>>) {
    if (typeof c?.type !== "string" || typeof c.status !== "string") continue;
    out.push({
      type: c.type.slice(0, 128),
      status: c.status.slice(0, 16),
      ...(typeof c.reason === "string" && c.reason ? { reason: c.reason.slice(0, 256) } : {}),
      ...(typeof c.message === "string" && c.message ? { message: c.message.slice(0, 2000) } : {}),
    });
  }
  return out;
}

function isTrue(conditions: Condition[], type: string): boolean {
  return conditions.some((c) => c.type === type && c.status === "True");
}

function int(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : fallback;
}
