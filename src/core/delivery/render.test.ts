import { describe, expect, it } from "vitest";
import type { Manifest, OverrideRule } from "./application.ts";
import { applicationSpec } from "./application.ts";
import { demandOf } from "./demand.ts";
import { applyJsonPatch } from "./json-patch.ts";
import { renderWork, withRegistry } from "./render.ts";

const deployment = (name: string, image: string): Manifest =>
  ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "shop" },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [{ name: "main", image, resources: { requests: { cpu: "250m", memory: "256Mi" } } }],
        },
      },
    },
  }) as Manifest;
const config: Manifest = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "settings", namespace: "shop" },
};
const fra = { name: "fra-a", location: "frankfurt", region: "fra-north", labels: { environment: "prod" } };
const sgp = { name: "sgp-a", location: "singapore", labels: { environment: "prod" } };
const image = (m: Manifest) =>
  (m as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } }).spec.template
    .spec.containers[0]!.image;
const replicas = (m: Manifest) => (m as unknown as { spec?: { replicas?: number } }).spec?.replicas;

describe("rendering a cluster's work", () => {
  it("sets the cluster's share of replicas on workloads only", () => {
    const r = renderWork([deployment("web", "nginx:1.27"), config], [], fra, 7);
    expect(
      r.ok && r.manifests.map((m) => [m.kind, (m as { spec?: { replicas?: number } }).spec?.replicas]),
    ).toEqual([
      ["Deployment", 7],
      ["ConfigMap", undefined],
    ]);
  });

  it("pulls images from the registry of the cluster's Location, and only there", () => {
    const rules: Array<{ source: string; rule: OverrideRule }> = [
      {
        source: "o",
        rule: { clusters: { locations: ["frankfurt"] }, imageRegistry: "registry.fra.example" },
      },
    ];
    const atFra = renderWork([deployment("web", "nginx:1.27")], rules, fra, 1);
    const atSgp = renderWork([deployment("web", "docker.io/library/nginx:1.27")], rules, sgp, 1);
    expect(atFra.ok && image(atFra.manifests[0]!)).toBe("registry.fra.example/nginx:1.27");
    expect(atSgp.ok && image(atSgp.manifests[0]!)).toBe("docker.io/library/nginx:1.27");
    expect(withRegistry("docker.io/library/nginx:1.27", "reg.local:5000")).toBe(
      "reg.local:5000/library/nginx:1.27",
    );
  });

  it("applies replica, merge-patch and JSON-patch rules in order, to the manifests they name", () => {
    const rules: Array<{ source: string; rule: OverrideRule }> = [
      { source: "a", rule: { replicas: 2, resource: { kind: "Deployment", name: "api" } } },
      {
        source: "b",
        rule: { mergePatch: { metadata: { labels: { tier: "gold" } } }, resource: { kind: "ConfigMap" } },
      },
      {
        source: "c",
        rule: { jsonPatch: [{ op: "replace", path: "/spec/replicas", value: 9 }], resource: { name: "web" } },
      },
    ];
    const r = renderWork([deployment("web", "x"), deployment("api", "y"), config], rules, fra, 4);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.manifests.map((m) => replicas(m))).toEqual([9, 2, undefined]);
    expect(r.manifests[2]!.metadata).toMatchObject({ labels: { tier: "gold" } });
  });

  it("names the rule and the object when a JSON patch does not apply", () => {
    const r = renderWork(
      [deployment("web", "x")],
      [
        {
          source: "Override images rules[0]",
          rule: { jsonPatch: [{ op: "remove", path: "/spec/missing/field" }] },
        },
      ],
      fra,
      1,
    );
    expect(r).toEqual({
      ok: false,
      problem:
        "Override images rules[0]: jsonPatch[0]: path /spec/missing/field does not exist in Deployment web",
    });
  });
});

describe("JSON patch", () => {
  it("adds to arrays, replaces and removes without touching its input", () => {
    const input = { a: [1, 2], b: { c: 1 } };
    const r = applyJsonPatch(input, [
      { op: "add", path: "/a/-", value: 3 },
      { op: "replace", path: "/b/c", value: 2 },
      { op: "remove", path: "/a/0" },
    ]);
    expect(r).toEqual({ ok: true, value: { a: [2, 3], b: { c: 2 } } });
    expect(input).toEqual({ a: [1, 2], b: { c: 1 } });
  });
});

describe("an application's demand", () => {
  it("sums one pod of each workload and lists the API resources used", () => {
    expect(demandOf([deployment("web", "x"), deployment("api", "y"), config])).toEqual({
      perReplica: { cpuMilli: 500, memoryBytes: 512 * 1024 * 1024, pods: 2 },
      kinds: ["apps/v1/Deployment", "v1/ConfigMap"],
    });
  });
});

describe("the Application schema", () => {
  const placement = { replicas: { mode: "Divided", count: 3 } };
  it("lists every problem with its path", () => {
    const r = applicationSpec.safeParse({
      manifests: [{ apiVersion: "v1", kind: "configmap", metadata: { name: "Bad_Name" } }, config, config],
      placement,
      placementRef: { name: "p" },
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        "manifests.0.kind: must be a Kubernetes kind, e.g. Deployment",
        "manifests.0.metadata.name: must be a Kubernetes object name",
        "manifests.2: ConfigMap settings is already manifests[1]",
        "placement: give exactly one of placement and placementRef",
      ]),
    );
  });
});
