import { describe, expect, it } from "vitest";
import {
  applyConfiguration,
  conflictMessage,
  fromFieldsV1,
  leafPaths,
  type ManagedFieldsEntry,
  recordUpdate,
  toFieldsV1,
} from "./managed-fields.ts";

const apiVersion = "unitfleet.io/v1alpha1";
const config = (spec: Record<string, unknown>, labels?: Record<string, string>) => ({
  apiVersion,
  kind: "Location",
  metadata: { name: "tokyo", ...(labels ? { labels } : {}) },
  spec,
});
function applied(live: unknown, cfg: unknown, manager: string, force = false) {
  const outcome = applyConfiguration({
    live,
    config: cfg,
    manager,
    force,
    apiVersion,
    time: "2026-12-03T00:00:00Z",
  });
  if (!outcome.ok) throw new Error(conflictMessage(outcome.conflicts));
  return {
    metadata: { ...(outcome.merged.metadata as object), managedFields: outcome.managedFields },
    spec: outcome.merged.spec,
  };
}
const owned = (object: { metadata: { managedFields: ManagedFieldsEntry[] } }) =>
  Object.fromEntries(
    object.metadata.managedFields.map((e) => [e.manager, fromFieldsV1(e.fieldsV1).map((p) => p.join("."))]),
  );

describe("field ownership (FieldsV1)", () => {
  it("writes and reads fields as nested f: keys, lists atomic", () => {
    const paths = leafPaths({ spec: { a: 1, b: { c: [1, 2] }, e: {} }, metadata: { labels: { app: "x" } } });
    expect(paths).toEqual([
      ["spec", "a"],
      ["spec", "b", "c"],

      ["metadata", "labels", "app"],
    ]);
    const fields = toFieldsV1(paths);
    expect(fields).toEqual({
      "f:spec": { "f:a": {}, "f:b": { "f:c": {} } },
      "f:metadata": { "f:labels": { "f:app": {} } },
    });
    expect(fromFieldsV1(fields)).toEqual(paths);
  });
});

describe("server-side apply", () => {
  it("creates, recording the manager's fields", () => {
    const object = applied(undefined, config({ displayName: "Tokyo" }, { tier: "gold" }), "alice");
    expect(object.spec).toEqual({ displayName: "Tokyo" });
    expect(owned(object)).toEqual({ alice: ["metadata.labels.tier", "spec.displayName"] });
    expect(object.metadata.managedFields[0]).toMatchObject({
      operation: "Apply",
      fieldsType: "FieldsV1",
      apiVersion,
    });
  });

  it("refuses a different value for a field another manager owns, naming it as Kubernetes does; equal values are shared", () => {
    const live = applied(undefined, config({ displayName: "Tokyo", description: "east" }), "alice");
    const outcome = applyConfiguration({
      live,
      config: config({ displayName: "Edo", description: "east" }),
      manager: "bob",
      force: false,
      apiVersion,
      time: "t",
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(conflictMessage(outcome.conflicts)).toBe(
      'Apply failed with 1 conflict: conflict with "alice": .spec.displayName',
    );
    const shared = applied(live, config({ description: "east" }), "bob");
    expect(owned(shared)).toEqual({
      alice: ["spec.displayName", "spec.description"],
      bob: ["spec.description"],
    });
  });

  it("lists several conflicts by manager", () => {
    const live = applied(undefined, config({ displayName: "Tokyo", description: "east" }), "alice");
    const outcome = applyConfiguration({
      live,
      config: config({ displayName: "Edo", description: "west" }),
      manager: "bob",
      force: false,
      apiVersion,
      time: "t",
    });
    expect(!outcome.ok && conflictMessage(outcome.conflicts)).toBe(
      'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.displayName\n- .spec.description',
    );
  });

  it("with force takes the conflicting fields from the other manager", () => {
    const live = applied(undefined, config({ displayName: "Tokyo", description: "east" }), "alice");
    const forced = applied(live, config({ displayName: "Edo" }), "bob", true);
    expect(forced.spec).toEqual({ displayName: "Edo", description: "east" });
    expect(owned(forced)).toEqual({ alice: ["spec.description"], bob: ["spec.displayName"] });
  });

  it("removes fields the manager no longer applies, unless another manager owns them", () => {
    let live = applied(
      undefined,
      config({ displayName: "Tokyo", description: "east" }, { a: "1", b: "2" }),
      "alice",
    );
    live = applied(live, config({ description: "east" }), "bob");
    const next = applied(live, config({}, { a: "1" }), "alice");
    expect(next.spec).toEqual({ description: "east" });
    expect(next.metadata).toMatchObject({ labels: { a: "1" } });
    expect(owned(next)).toEqual({ bob: ["spec.description"], alice: ["metadata.labels.a"] });
  });

  it("treats lists as atomic: the applied list replaces the live one whole", () => {
    const live = applied(undefined, { ...config({}), kind: "Region", spec: { zones: ["a", "b"] } }, "alice");
    const next = applied(live, { ...config({}), kind: "Region", spec: { zones: ["c"] } }, "alice");
    expect(next.spec).toEqual({ zones: ["c"] });
    expect(owned(next)).toEqual({ alice: ["spec.zones"] });
  });
});

describe("updates by other writers", () => {
  it("give the writer the fields it changed, and take them from the others", () => {
    const live = applied(undefined, config({ displayName: "Tokyo", description: "east" }), "alice");
    const after = { ...live, spec: { displayName: "Edo", description: "east" } };
    const entries = recordUpdate(live.metadata.managedFields, live, after, "kubectl-edit", apiVersion, "t");
    expect(
      Object.fromEntries(
        entries.map((e) => [e.manager, [e.operation, fromFieldsV1(e.fieldsV1).map((p) => p.join("."))]]),
      ),
    ).toEqual({
      alice: ["Apply", ["spec.description"]],
      "kubectl-edit": ["Update", ["spec.displayName"]],
    });
    // alice applies her old value again: a conflict with the editor, as in Kubernetes.
    const outcome = applyConfiguration({
      live: { ...after, metadata: { ...live.metadata, managedFields: entries } },
      config: config({ displayName: "Tokyo", description: "east" }),
      manager: "alice",
      force: false,
      apiVersion,
      time: "t",
    });
    expect(!outcome.ok && conflictMessage(outcome.conflicts)).toBe(
      `Apply failed with 1 conflict: conflict with "kubectl-edit" using ${apiVersion}: .spec.displayName`,
    );
  });
});
