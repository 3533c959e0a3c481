/**
 * Drift: someone else deleted or changed an object the agent applied. At each resync the agent reads the
 * object, applies the same manifest again (server-side apply puts back every field it owns) and compares.
 * Server-side apply does not write an object that already is as desired, so a re-apply of an unchanged
 * manifest that changed the object means it had been changed by someone else. Pure: the applier observes,
 * this decides.
 */
import { applicationLabel, generationAnnotation } from "./apply-order.ts";

/** What the applier saw of an object, before or after applying it. */
export interface Observed {
  uid?: string;
  resourceVersion?: string;
  /** `metadata.generation`: bumped by spec changes only, not by a controller's status updates. */
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type Drift = "deleted" | "changed";

export const driftMessages: Record<Drift, string> = {
  deleted: "deleted outside unitfleet; recreated",
  changed: "changed outside unitfleet; fields put back",
};

export interface DriftInput {
  /**
   * The object was last applied from this same manifest (same work generation). When the manifest is new,
   * the apply changes the object by design, and nothing is drift.
   */
  steady: boolean;
  /** The object before the re-apply: absent (404), read, or unknown (the read failed). */
  before: Observed | "absent" | "unknown";
  after: Observed;
  application: string;
  generation: number;
}

/** Whether a re-apply put back someone else's deletion or change. */
export function driftOf(input: DriftInput): Drift | undefined {
  const { before, after } = input;
  if (!input.steady || before === "unknown") return undefined;
  if (before === "absent") return "deleted";
  if (before.uid && after.uid && before.uid !== after.uid) return "deleted";
  // Our label or annotation removed or changed: the apply put them back.
  if (
    before.labels?.[applicationLabel] !== input.application ||
    before.annotations?.[generationAnnotation] !== String(input.generation)
  )
    return "changed";
  // Objects with a generation: only spec changes count (controllers update status all the time).
  if (before.generation !== undefined && after.generation !== undefined)
    return before.generation !== after.generation ? "changed" : undefined;
  return before.resourceVersion !== after.resourceVersion ? "changed" : undefined;
}

/** The parts of an object drift detection looks at. */
export function observe(object: {
  metadata?: {
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}): Observed {
  const m = object.metadata ?? {};
  return {
    ...(m.uid ? { uid: m.uid } : {}),
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    ...(m.generation !== undefined ? { generation: m.generation } : {}),
    ...(m.labels ? { labels: m.labels } : {}),
    ...(m.annotations ? { annotations: m.annotations } : {}),
  };
}
