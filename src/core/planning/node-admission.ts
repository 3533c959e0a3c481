/**
 * Whether a node admits a workload's pods, by the scheduler's filters that depend on the node alone: its labels
 * (nodeSelector and required node affinity) and its taints (tolerations). Resources and topology are the
 * packer's business. Pure; follows kube-scheduler's NodeAffinity and TaintToleration plugins:
 *
 * - `nodeSelector`: every pair must be a label of the node.
 * - required node affinity: at least one term must hold; a term holds when all its requirements do. `In`/`NotIn`
 *   compare the label's value with the list (`NotIn` and `DoesNotExist` hold on a node without the label), `Gt`/`Lt`
 *   compare integers (a label that is not an integer fails both).
 * - taints: every `NoSchedule` and `NoExecute` taint must be tolerated. `PreferNoSchedule` only lowers a score, so
 *   it never refuses. A toleration with an empty key and `Exists` tolerates every taint; without an effect, every
 *   effect.
 */
import type { NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration } from "./fleet-snapshot.ts";

/** What admission reads of a node. */
export interface AdmittingNode {
  labels: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
}

/** What admission reads of a pod (of a workload). */
export interface AdmittedPod {
  nodeSelector?: Readonly<Record<string, string>>;
  nodeAffinity?: readonly NodeSelectorTerm[];
  tolerations?: readonly Toleration[];
}

/** Whether `node` admits the pod: labels match and every hard taint is tolerated. */
export function admits(node: AdmittingNode, pod: AdmittedPod): boolean {
  return refusalOf(node, pod) === undefined;
}

/** Why `node` refuses the pod, in words; undefined when it admits it. */
export function refusalOf(node: AdmittingNode, pod: AdmittedPod): string | undefined {
  for (const [key, value] of Object.entries(pod.nodeSelector ?? {}))
    if (node.labels[key] !== value) return `nodeSelector ${key}=${value} does not match`;
  if (
    pod.nodeAffinity &&
    pod.nodeAffinity.length > 0 &&
    !pod.nodeAffinity.some((t) => termHolds(t, node.labels))
  )
    return "no term of its required node affinity matches";
  for (const taint of node.taints ?? []) {
    if (taint.effect === "PreferNoSchedule") continue;
    if (!(pod.tolerations ?? []).some((t) => tolerates(t, taint)))
      return `taint ${taint.key}${taint.value ? `=${taint.value}` : ""}:${taint.effect} is not tolerated`;
  }
  return undefined;
}

/** Whether a node selector term holds for a node's labels. */
export function termHolds(term: NodeSelectorTerm, labels: Readonly<Record<string, string>>): boolean {
  return term.matchExpressions.every((r) => requirementHolds(r, labels));
}

function requirementHolds(req: NodeSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const value = labels[req.key];
  const values = req.values ?? [];
  switch (req.operator) {
    case "In":
      return value !== undefined && values.includes(value);
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      if (value === undefined || !/^-?\d+$/.test(value) || values.length !== 1) return false;
      const have = BigInt(value);
      const bound = BigInt(values[0]!);
      return req.operator === "Gt" ? have > bound : have < bound;
    }
  }
}

/** Whether a toleration tolerates a taint (Kubernetes' `Toleration.ToleratesTaint`). */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== taint.effect) return false;
  const operator = toleration.operator ?? "Equal";
  if (!toleration.key) return operator === "Exists";
  if (toleration.key !== taint.key) return false;
  return operator === "Exists" || (toleration.value ?? "") === (taint.value ?? "");
}
