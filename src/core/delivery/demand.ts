/**
 * What an Application needs of a cluster, for the scheduler: the requests of one replica (one pod of each
 * Deployment and StatefulSet, summed) and the API resources its manifests use.
 */
import { parseQuantity } from "../quantity/quantity.ts";
import type { Demand } from "../scheduling/scheduler.ts";
import { type Manifest, replicatedKinds } from "./application.ts";

interface PodTemplate {
  spec?: {
    template?: {
      spec?: { containers?: Array<{ resources?: { requests?: Record<string, string | number> } }> };
    };
  };
}

function quantity(value: string | number | undefined): number {
  if (value === undefined) return 0;
  const parsed = parseQuantity(typeof value === "number" ? value : String(value));
  return parsed.ok ? parsed.value : 0;
}

/** `group/version/Kind`, as clusters report their served API resources (`v1/ConfigMap` for the core group). */
export function resourceKey(m: Pick<Manifest, "apiVersion" | "kind">): string {
  return `${m.apiVersion}/${m.kind}`;
}

export function demandOf(manifests: readonly Manifest[]): Demand {
  let cpuMilli = 0;
  let memoryBytes = 0;
  let pods = 0;
  for (const m of manifests) {
    if (!(replicatedKinds as readonly string[]).includes(m.kind)) continue;
    pods += 1;
    for (const c of (m as PodTemplate).spec?.template?.spec?.containers ?? []) {
      cpuMilli += Math.round(quantity(c.resources?.requests?.cpu) * 1000);
      memoryBytes += quantity(c.resources?.requests?.memory);
    }
  }
  const kinds = [...new Set(manifests.map(resourceKey))].sort();
  return { perReplica: { cpuMilli, memoryBytes, pods: Math.max(pods, 1) }, kinds };
}
