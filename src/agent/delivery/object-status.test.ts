import { describe, expect, it } from "vitest";
import { failedStatus, objectStatusOf } from "./object-status.ts";

const ref = (kind: string, apiVersion = "apps/v1") => ({ apiVersion, kind, namespace: "shop", name: "web" });

describe("an object's status, from the object as read back", () => {
  it("a Deployment is healthy when every replica is updated, ready and available", () => {
    const status = objectStatusOf(ref("Deployment"), {
      metadata: { generation: 3 },
      spec: { replicas: 2 },
      status: {
        observedGeneration: 3,
        replicas: 2,
        readyReplicas: 2,
        updatedReplicas: 2,
        availableReplicas: 2,
        conditions: [
          { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "ok" },
        ],
      },
    });
    expect(status).toEqual({
      ...ref("Deployment"),
      state: "Applied",
      replicas: { desired: 2, ready: 2, updated: 2, available: 2 },
      conditions: [{ type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "ok" }],
      healthy: true,
    });
  });

  it("a Deployment is not healthy while pods are missing, old pods remain, or its spec is not observed yet", () => {
    const live = (status: Record<string, unknown>, generation = 3) => ({
      metadata: { generation },
      spec: { replicas: 2 },
      status: {
        observedGeneration: 3,
        replicas: 2,
        readyReplicas: 2,
        updatedReplicas: 2,
        availableReplicas: 2,
        ...status,
      },
    });
    expect(objectStatusOf(ref("Deployment"), live({ readyReplicas: 1 })).healthy).toBe(false);
    expect(objectStatusOf(ref("Deployment"), live({ replicas: 3 })).healthy).toBe(false);
    expect(objectStatusOf(ref("Deployment"), live({}, 4)).healthy).toBe(false);
    // No status at all yet (just created): nothing ready.
    const fresh = objectStatusOf(ref("Deployment"), { metadata: { generation: 1 }, spec: { replicas: 2 } });
    expect(fresh).toMatchObject({
      replicas: { desired: 2, ready: 0, updated: 0, available: 0 },
      healthy: false,
    });
  });

  it("a StatefulSet without spec.replicas wants one replica", () => {
    const status = objectStatusOf(ref("StatefulSet"), {
      spec: {},
      status: { readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 },
    });
    expect(status).toMatchObject({ replicas: { desired: 1, ready: 1 }, healthy: true });
  });

  it("a DaemonSet counts scheduled and ready pods", () => {
    const live = {
      status: { desiredNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3, numberAvailable: 2 },
    };
    expect(objectStatusOf(ref("DaemonSet"), live)).toMatchObject({
      replicas: { desired: 3, ready: 2, updated: 3, available: 2 },
      healthy: false,
    });
  });

  it("a Job is healthy once its completions succeeded, and says so when it failed", () => {
    const job = ref("Job", "batch/v1");
    expect(objectStatusOf(job, { spec: { completions: 2 }, status: { succeeded: 2 } })).toMatchObject({
      replicas: { desired: 2, ready: 2 },
      healthy: true,
    });
    const failed = objectStatusOf(job, {
      spec: {},
      status: { failed: 6, conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }] },
    });
    expect(failed).toMatchObject({ healthy: false, message: "the Job failed: BackoffLimitExceeded" });
  });

  it("a CRD is healthy once Established; any other kind once it exists", () => {
    const crd = ref("CustomResourceDefinition", "apiextensions.k8s.io/v1");
    expect(objectStatusOf(crd, { status: { conditions: [] } }).healthy).toBe(false);
    expect(
      objectStatusOf(crd, { status: { conditions: [{ type: "Established", status: "True" }] } }).healthy,
    ).toBe(true);
    expect(objectStatusOf(ref("ConfigMap", "v1"), {})).toEqual({
      ...ref("ConfigMap", "v1"),
      state: "Applied",
      healthy: true,
    });
  });

  it("keeps conditions within the protocol's limits", () => {
    const conditions = Array.from({ length: 30 }, (_, i) => ({
      type: `T${i}`,
      status: "True",
      message: "m".repeat(5000),
    }));
    const status = objectStatusOf(ref("Widget", "example.com/v1"), { status: { conditions } });
    expect(status.conditions).toHaveLength(20);
    expect(status.conditions?.[0]?.message).toHaveLength(2000);
  });

  it("a failed object carries the API server's message and is not healthy", () => {
    expect(failedStatus(ref("Widget", "example.com/v1"), "no matches for kind")).toEqual({
      ...ref("Widget", "example.com/v1"),
      state: "Failed",
      message: "no matches for kind",
      healthy: false,
    });
  });
});
