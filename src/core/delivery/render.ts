/**
 * What one cluster receives of an Application: its manifests with the cluster's share of replicas set on the
 * workloads, then the overrides whose clusters match, in order (the Application's own, then Override objects
 * by name). Pure: same input, same output.
 */
import { applyMergePatch } from "../resources/merge-patch.ts";
import { type Manifest, type OverrideRule, replicatedKinds } from "./application.ts";
import { applyJsonPatch } from "./json-patch.ts";

/** The cluster an override is matched against. */
export interface OverrideTarget {
  name: string;
  location: string;
  region?: string;
  labels: Record<string, string>;
}

export function ruleMatchesCluster(rule: OverrideRule, cluster: OverrideTarget): boolean {
  const c = rule.clusters;
  if (!c) return true;
  if (c.locations && !c.locations.includes(cluster.location)) return false;
  if (c.regions && !(cluster.region && c.regions.includes(cluster.region))) return false;
  if (c.environments && !c.environments.includes(cluster.labels.environment ?? "")) return false;
  if (c.clusterNames && !c.clusterNames.includes(cluster.name)) return false;
  if (c.matchLabels && Object.entries(c.matchLabels).some(([k, v]) => cluster.labels[k] !== v)) return false;
  return true;
}

function ruleMatchesManifest(rule: OverrideRule, m: Manifest): boolean {
  const r = rule.resource;
  if (!r) return true;
  return (
    (r.kind === undefined || r.kind === m.kind) &&
    (r.name === undefined || r.name === m.metadata.name) &&
    (r.namespace === undefined || r.namespace === m.metadata.namespace)
  );
}

const isReplicated = (m: Manifest) => (replicatedKinds as readonly string[]).includes(m.kind);
const podTemplateKinds = ["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"];

/** An image pulled from another registry: `nginx:1.27` → `reg.example/nginx:1.27`, a registry host replaced. */
export function withRegistry(image: string, registry: string): string {
  const slash = image.indexOf("/");
  const first = slash === -1 ? "" : image.slice(0, slash);
  const hasRegistry = first.includes(".") || first.includes(":") || first === "localhost";
  return `${registry}/${hasRegistry ? image.slice(slash + 1) : image}`;
}

function setImages(m: Manifest, registry: string): Manifest {
  if (!podTemplateKinds.includes(m.kind)) return m;
  const copy = structuredClone(m) as Manifest & {
    spec?: {
      template?: {
        spec?: { containers?: Array<{ image?: string }>; initContainers?: Array<{ image?: string }> };
      };
    };
  };
  const pod = copy.spec?.template?.spec;
  for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])])
    if (typeof c.image === "string") c.image = withRegistry(c.image, registry);
  return copy;
}

function setReplicas(m: Manifest, replicas: number): Manifest {
  if (!isReplicated(m)) return m;
  const copy = structuredClone(m) as Manifest & { spec?: Record<string, unknown> };
  copy.spec = { ...(copy.spec ?? {}), replicas };
  return copy;
}

export type RenderResult = { ok: true; manifests: Manifest[] } | { ok: false; problem: string };

/**
 * Renders the manifests for one cluster. `replicas` is the cluster's share (set on every Deployment and
 * StatefulSet); a patch that cannot be applied is reported, naming the rule and the object.
 */
export function renderWork(
  manifests: readonly Manifest[],
  rules: ReadonlyArray<{ source: string; rule: OverrideRule }>,
  cluster: OverrideTarget,
  replicas: number,
): RenderResult {
  let out = manifests.map((m) => setReplicas(m, replicas));
  for (const { source, rule } of rules) {
    if (!ruleMatchesCluster(rule, cluster)) continue;
    const next: Manifest[] = [];
    for (const m of out) {
      if (!ruleMatchesManifest(rule, m)) {
        next.push(m);
        continue;
      }
      let changed: Manifest = m;
      if (rule.replicas !== undefined) changed = setReplicas(changed, rule.replicas);
      if (rule.imageRegistry !== undefined) changed = setImages(changed, rule.imageRegistry);
      if (rule.mergePatch !== undefined) changed = applyMergePatch(changed, rule.mergePatch) as Manifest;
      if (rule.jsonPatch !== undefined) {
        const patched = applyJsonPatch(changed, rule.jsonPatch);
        if (!patched.ok)
          return { ok: false, problem: `${source}: ${patched.problem} in ${m.kind} ${m.metadata.name}` };
        changed = patched.value as Manifest;
      }
      next.push(changed);
    }
    out = next;
  }
  return { ok: true, manifests: out };
}
