import { describe, expect, it } from "vitest";
import { inKubernetesOrder, kubernetesList, qualifiedName } from "./kubernetes-objects.ts";

// As PostgreSQL's jsonb hands an object back: shorter keys first, so apiVersion comes last.
const stored = {
  kind: "Cluster",
  spec: { region: "fra-north", business: "shop" },
  extra: 1,
  status: { phase: "Ready" },
  metadata: { uid: "u1", name: "fra-shop-prod" },
  apiVersion: "unitfleet.io/v1alpha1",
};

describe("objects as kubectl prints them", () => {
  it("puts apiVersion, kind, metadata, spec and status first, then the rest as they came", () => {
    expect(Object.keys(inKubernetesOrder(stored))).toEqual([
      "apiVersion",
      "kind",
      "metadata",
      "spec",
      "status",
      "extra",
    ]);
  });

  it("keeps nested keys and values as they are, and skips leading keys an object lacks", () => {
    const ordered = inKubernetesOrder({ metadata: { uid: "u", name: "n" }, kind: "X", other: [2, 1] });
    expect(Object.keys(ordered)).toEqual(["kind", "metadata", "other"]);
    expect(Object.keys(ordered.metadata)).toEqual(["uid", "name"]);
    expect(ordered).toEqual({ metadata: { uid: "u", name: "n" }, kind: "X", other: [2, 1] });
  });

  it("wraps several objects in a v1 List, each in Kubernetes order", () => {
    const list = kubernetesList([stored, stored]);
    expect(Object.keys(list)).toEqual(["apiVersion", "kind", "metadata", "items"]);
    expect(list).toMatchObject({ apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" } });
    const items = list.items as Array<Record<string, unknown>>;
    expect(items).toHaveLength(2);
    expect(Object.keys(items[0]!).slice(0, 3)).toEqual(["apiVersion", "kind", "metadata"]);
  });

  it("names an object kind.group/name, and a core object kind/name", () => {
    expect(qualifiedName(stored)).toBe("cluster.unitfleet.io/fra-shop-prod");
    expect(qualifiedName({ apiVersion: "v1", kind: "Pod", metadata: { name: "web-0" } })).toBe("pod/web-0");
    expect(qualifiedName({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" } })).toBe(
      "deployment.apps/web",
    );
  });
});
