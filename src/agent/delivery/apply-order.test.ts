import { describe, expect, it } from "vitest";
import {
  applicationLabel,
  applyPhases,
  decorate,
  generationAnnotation,
  manifestProblem,
  refKey,
  refOf,
  removalOrder,
} from "./apply-order.ts";

const object = (kind: string, name = kind.toLowerCase()) => ({ kind, name });

describe("the order objects are applied in", () => {
  it("puts Namespaces and CRDs first, then ServiceAccounts, ConfigMaps, Secrets, PVCs, Services, then the rest", () => {
    const written = [
      object("Deployment"),
      object("Service"),
      object("Widget"),
      object("PersistentVolumeClaim"),
      object("Secret"),
      object("ConfigMap"),
      object("ServiceAccount"),
      object("CustomResourceDefinition"),
      object("Namespace"),
    ];
    expect(applyPhases(written).map((phase) => phase.map((o) => o.kind))).toEqual([
      ["CustomResourceDefinition", "Namespace"],
      ["ServiceAccount"],
      ["ConfigMap"],
      ["Secret"],
      ["PersistentVolumeClaim"],
      ["Service"],
      ["Deployment", "Widget"],
    ]);
  });

  it("keeps the written order within a phase and leaves out empty phases", () => {
    const written = [object("ConfigMap", "b"), object("Job"), object("ConfigMap", "a"), object("Deployment")];
    expect(applyPhases(written)).toEqual([
      [object("ConfigMap", "b"), object("ConfigMap", "a")],
      [object("Job"), object("Deployment")],
    ]);
  });

  it("removes in the reverse order: workloads first, Namespaces last", () => {
    const kinds = removalOrder([object("Namespace"), object("ConfigMap"), object("Deployment")]).map(
      (o) => o.kind,
    );
    expect(kinds).toEqual(["Deployment", "ConfigMap", "Namespace"]);
  });
});

describe("what the agent adds to a manifest", () => {
  const manifest = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "settings", namespace: "shop", labels: { app: "web" }, annotations: { note: "x" } },
    data: { a: "1" },
  };

  it("labels it with its Application and annotates the generation, keeping the manifest's own", () => {
    const decorated = decorate(manifest, "web", 3) as { metadata: Record<string, unknown> };
    expect(decorated.metadata.labels).toEqual({ app: "web", [applicationLabel]: "web" });
    expect(decorated.metadata.annotations).toEqual({ note: "x", [generationAnnotation]: "3" });
    expect(manifest.metadata.labels).toEqual({ app: "web" });
  });

  it("adds labels and annotations to a manifest that has none", () => {
    const decorated = decorate(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
      "web",
      1,
    ) as {
      metadata: Record<string, unknown>;
    };
    expect(decorated.metadata).toEqual({
      name: "shop",
      labels: { [applicationLabel]: "web" },
      annotations: { [generationAnnotation]: "1" },
    });
  });
});

describe("object identity", () => {
  it("ignores the API version, so a manifest moved to a new version is not pruned", () => {
    const beta = refOf({
      apiVersion: "batch/v1beta1",
      kind: "CronJob",
      metadata: { name: "c", namespace: "n" },
    });
    const v1 = refOf({ apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "c", namespace: "n" } });
    expect(refKey(beta)).toBe(refKey(v1));
    expect(refKey(v1)).not.toBe(refKey({ ...v1, namespace: "m" }));
    expect(refKey(v1)).not.toBe(refKey({ ...v1, apiVersion: "example.com/v1" }));
  });

  it("names what is wrong with a manifest that cannot be applied", () => {
    expect(manifestProblem({ kind: "ConfigMap", metadata: { name: "a" } })).toBe(
      "the manifest has no apiVersion",
    );
    expect(manifestProblem({ apiVersion: "v1", metadata: { name: "a" } })).toBe("the manifest has no kind");
    expect(manifestProblem({ apiVersion: "v1", kind: "ConfigMap", metadata: {} })).toBe(
      "the manifest has no metadata.name",
    );
    expect(manifestProblem({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } })).toBeUndefined();
    expect(refOf({ apiVersion: "v1", kind: "ConfigMap" }, 4).name).toBe("(manifest 5)");
  });
});
