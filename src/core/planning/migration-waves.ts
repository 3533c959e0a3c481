/**
 * Migration waves: a consolidation plan as an ordered list of steps, lowest risk first — one wave per target
 * that absorbs clusters, non-production before production, fewer pods moved before more. Each step says whether
 * unitfleet carries it out through delivery today (moving a workload it delivers, by changing its Application's
 * placement; forgetting a retired cluster) or whether it is advice for the team (upgrades, node pools, drains,
 * workloads unitfleet does not deliver).
 */
import { type ConsolidationPlan, counted, type PlannedTarget } from "./consolidation-planner.ts";
import { environmentClass, type ResolvedPolicy } from "./consolidation-policy.ts";
import type { Fleet, FleetCluster } from "./fleet-snapshot.ts";

export type StepAction = "upgrade-target" | "resize-target" | "move-workload" | "drain" | "retire";

export interface MigrationStep {
  action: StepAction;
  /** The cluster the step acts on. */
  cluster: string;
  /** `unitfleet`: unitfleet does it through delivery (the command shows how); `advice`: the team does it. */
  executor: "unitfleet" | "advice";
  description: string;
  /** For a move: `NAMESPACE/KIND/NAME`. */
  workload?: string;
  application?: string;
  /** What to run, when unitfleet does it. */
  command?: string;
}

export interface MigrationWave {
  wave: number;
  location: string;
  target: string;
  risk: "low" | "high";
  /** Pods that move in this wave. */
  podsMoved: number;
  steps: MigrationStep[];
}

/** The waves that carry out a plan, lowest risk first. */
export function migrationWaves(
  fleet: Fleet,
  plan: ConsolidationPlan,
  policy: ResolvedPolicy,
): MigrationWave[] {
  const clusters = new Map(fleet.clusters.map((c) => [c.name, c]));
  const merging = plan.targets
    .filter((t) => t.sources.length > 1 && !t.unplanned)
    .map((t) => ({ t, risk: riskOf(t, policy), podsMoved: podsMoved(t, clusters) }))
    .sort(
      (a, b) =>
        Number(a.risk === "high") - Number(b.risk === "high") ||
        a.podsMoved - b.podsMoved ||
        a.t.location.localeCompare(b.t.location) ||
        a.t.name.localeCompare(b.t.name),
    );
  return merging.map(({ t, risk, podsMoved }, i) => ({
    wave: i + 1,
    location: t.location,
    target: t.name,
    risk,
    podsMoved,
    steps: stepsOf(t, clusters),
  }));
}

function riskOf(t: PlannedTarget, policy: ResolvedPolicy): "low" | "high" {
  return t.environments.some((e) => environmentClass(policy, e) !== "shared") ? "high" : "low";
}

function podsMoved(t: PlannedTarget, clusters: ReadonlyMap<string, FleetCluster>): number {
  return t.sources
    .slice(1)
    .flatMap((s) => clusters.get(s)?.workloads ?? [])
    .reduce((n, w) => n + (w.kind === "DaemonSet" ? 0 : w.replicas), 0);
}

function stepsOf(t: PlannedTarget, clusters: ReadonlyMap<string, FleetCluster>): MigrationStep[] {
  const steps: MigrationStep[] = [];
  for (const version of t.version.steps)
    steps.push({
      action: "upgrade-target",
      cluster: t.name,
      executor: "advice",
      description: `upgrade ${t.name} to ${version} (it must be at least as new as every cluster it absorbs)`,
    });
  const shapes = t.pools.map((p) => `${p.nodes} × ${p.shape}${p.name === "general" ? "" : ` (${p.name})`}`);
  steps.push({
    action: "resize-target",
    cluster: t.name,
    executor: "advice",
    description: `size ${t.name}'s node pools to ${shapes.join(" + ") || "no nodes"} (${counted(t.nodes, "node")}; now ${clusters.get(t.name)?.nodes.length ?? 0})`,
  });
  const sources = t.sources
    .slice(1)
    .map((name) => clusters.get(name) as FleetCluster)
    .sort((a, b) => podsOfCluster(a) - podsOfCluster(b) || a.name.localeCompare(b.name));
  for (const source of sources) {
    const moved = new Set<string>();
    for (const w of [...source.workloads].sort(
      (a, b) =>
        a.namespace.localeCompare(b.namespace) ||
        a.kind.localeCompare(b.kind) ||
        a.name.localeCompare(b.name),
    )) {
      if (w.kind === "DaemonSet") continue;
      const workload = `${w.namespace}/${w.kind}/${w.name}`;
      if (w.application && moved.has(w.application)) continue;
      if (w.application) {
        moved.add(w.application);
        steps.push({
          action: "move-workload",
          cluster: source.name,
          executor: "unitfleet",
          workload,
          application: w.application,
          description: `move Application ${w.application} from ${source.name} to ${t.name} by changing its placement`,
          command: `unitfleet get application ${w.application} -o yaml > ${w.application}.yaml  # set spec.placement.clusterNames: [${t.name}]; then: unitfleet apply -f ${w.application}.yaml && unitfleet rollout status application ${w.application}`,
        });
      } else
        steps.push({
          action: "move-workload",
          cluster: source.name,
          executor: "advice",
          workload,
          description: `redeploy ${workload} (${counted(w.replicas, "pod")}) on ${t.name} with the tool that deploys it, then remove it from ${source.name}`,
        });
    }
    steps.push({
      action: "drain",
      cluster: source.name,
      executor: "advice",
      description: `drain ${source.name} once nothing of it is left running (kubectl drain each node)`,
    });
    steps.push({
      action: "retire",
      cluster: source.name,
      executor: "unitfleet",
      description: `stop ${source.name}'s agent and remove it from the fleet; then delete the cluster itself`,
      command: `unitfleet delete cluster ${source.name}`,
    });
  }
  return steps;
}

const podsOfCluster = (c: FleetCluster) => c.workloads.reduce((n, w) => n + w.replicas, 0);
