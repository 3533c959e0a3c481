/**
 * Node shapes of a fleet: which nodes are alike enough to be one shape, and the shapes a Location offers when
 * the policy names none. A node's shape key (`nodeShapeKey`) is readable and stable, and it tells apart every
 * difference that changes what a node can run:
 *
 * - its instance type (`node.kubernetes.io/instance-type`) or, without one, its cpu (exact) and memory (in GiB,
 *   rounded): nodes of one instance type whose allocatable cpu or memory differ by kubelet reservations (a few
 *   MiB) are one shape, whose allocatable is the most common among its nodes;
 * - its pods, when not the kubelet default (110);
 * - every extended resource it has (`nvidia.com/gpu`, MIG profiles, time-slicing replicas), with its count, and
 *   the GPU product (`nvidia.com/gpu.product`);
 * - its taints, except those Kubernetes sets for a node's state (`node.kubernetes.io/not-ready`,
 *   `node.kubernetes.io/unschedulable`, the cluster autoscaler's): they say what a node is now, not what it is.
 *
 * A key is a label value, like an instance type, so that a plan's shape can be priced by naming it in a policy's
 * `nodeShapes`: a resource's or taint key's `/` is written `_`, a taint `KEY.VALUE.EFFECT`, and a key longer than
 * 63 characters is cut and ends with a hash of the whole. So `m7i.4xlarge`, `16cpu-64gi`,
 * `16cpu-64gi-4xnvidia.com_gpu-NVIDIA-A100-SXM4-80GB`, `g6.12xlarge-4xnvidia.com_gpu-nvidia.com_gpu.present.NoSchedule`.
 */
import { type PlanningShape, policyShapes, type ResolvedPolicy } from "./consolidation-policy.ts";
import {
  type Fleet,
  type FleetNode,
  isExtendedResource,
  kubeletDefaultMaxPods,
  type Taint,
} from "./fleet-snapshot.ts";

/** The label NVIDIA's GPU feature discovery sets to a node's GPU model. */
export const gpuProductLabel = "nvidia.com/gpu.product";

/** The resources the planner packs: cpu, memory, pods and extended resources. */
export const packedResource = (name: string) =>
  name === "cpu" || name === "memory" || name === "pods" || isExtendedResource(name);

const stateTaintPrefixes = ["node.kubernetes.io/", "node.cloudprovider.kubernetes.io/"];
const autoscalerTaints = new Set(["ToBeDeletedByClusterAutoscaler", "DeletionCandidateOfClusterAutoscaler"]);

/** A taint Kubernetes or the cluster autoscaler sets for a node's state (not ready, cordoned, being removed). */
export const isNodeStateTaint = (taint: Pick<Taint, "key">) =>
  autoscalerTaints.has(taint.key) || stateTaintPrefixes.some((p) => taint.key.startsWith(p));

/** The taints that belong to a node's shape, in key order. */
export function shapeTaints(taints: readonly Taint[] | undefined): Taint[] {
  return (taints ?? [])
    .filter((t) => !isNodeStateTaint(t))
    .sort((a, b) => taintText(a).localeCompare(taintText(b)));
}

const taintText = (t: Taint) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`;
// In a label value: a domain never holds `_`, so `nvidia.com_gpu` reads back as one resource.
const labelSafe = (name: string) => name.replaceAll("/", "_");
const maxKeyLength = 63;

/** A node's shape key: equal for nodes that differ only by name, zone, hostname or allocatable noise. */
export function nodeShapeKey(
  node: Pick<FleetNode, "instanceType" | "allocatable" | "labels" | "taints">,
): string {
  const allocatable = node.allocatable;
  const parts = [
    node.instanceType ??
      `${Number((allocatable.cpu ?? 0).toFixed(3))}cpu-${Math.round((allocatable.memory ?? 0) / 2 ** 30)}gi`,
  ];
  const pods = allocatable.pods ?? kubeletDefaultMaxPods;
  if (pods !== kubeletDefaultMaxPods) parts.push(`${pods}pods`);
  const product = node.labels[gpuProductLabel];
  const extended = Object.keys(allocatable)
    .filter((r) => isExtendedResource(r) && (allocatable[r] ?? 0) > 0)
    .sort();
  for (const resource of extended) {
    parts.push(`${allocatable[resource]}x${labelSafe(resource)}`);
    if (resource === "nvidia.com/gpu" && product) parts.push(product);
  }
  if (product && !extended.includes("nvidia.com/gpu")) parts.push(product);
  for (const t of shapeTaints(node.taints))
    parts.push(`${labelSafe(t.key)}${t.value ? `.${t.value}` : ""}.${t.effect}`);
  const key = parts.join("-");
  if (key.length <= maxKeyLength) return key;
  const kept = key.slice(0, maxKeyLength - 9).replace(/[-_.]+$/, "");
  return `${kept}-${fnv1a(key)}`;
}

/** The 32-bit FNV-1a hash of a text, as 8 hex digits: a short, stable tail for a key that is cut. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

interface ShapeSample {
  count: number;
  allocatable: Record<string, number>;
}

/** The nodes of one shape key: their labels, their shape's taints, and their allocatable by how often seen. */
interface ShapeNodes {
  labels: Readonly<Record<string, string>>[];
  taints: Taint[];
  samples: Map<string, ShapeSample>;
}

/**
 * The shapes a Location offers: the policy's, or else those its nodes have (unpriced), one per shape key, in key
 * order. A shape's allocatable is the most common among its nodes; its labels those all its nodes carry (but
 * hostname and zone); its taints its nodes' (`shapeTaints`).
 */
export function shapesOf(fleet: Fleet, policy: ResolvedPolicy, location: string): PlanningShape[] {
  const given = policyShapes(policy, location);
  if (given.length > 0) return given;
  const shapes = new Map<string, ShapeNodes>();
  for (const cluster of fleet.clusters)
    if (cluster.location === location)
      for (const node of cluster.nodes) {
        const key = nodeShapeKey(node);
        const shape: ShapeNodes = shapes.get(key) ?? {
          labels: [],
          taints: shapeTaints(node.taints),
          samples: new Map(),
        };
        shapes.set(key, shape);
        shape.labels.push(node.labels);
        const allocatable = Object.fromEntries(
          Object.entries(node.allocatable)
            .filter(([r]) => packedResource(r))
            .sort(([a], [b]) => a.localeCompare(b)),
        );
        const text = JSON.stringify(allocatable);
        const sample = shape.samples.get(text) ?? { count: 0, allocatable };
        sample.count += 1;
        shape.samples.set(text, sample);
      }
  return [...shapes.keys()].sort().map((name) => {
    const shape = shapes.get(name)!;
    const [mostCommon] = [...shape.samples.entries()].sort(
      ([textA, a], [textB, b]) => b.count - a.count || textA.localeCompare(textB),
    );
    return {
      name,
      allocatable: { ...(mostCommon?.[1].allocatable ?? {}) },
      labels: commonLabels(shape.labels),
      ...(shape.taints.length > 0 ? { taints: shape.taints } : {}),
    };
  });
}

/** Labels every node of a shape carries, except those naming one node or one zone. */
function commonLabels(all: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  const [first, ...rest] = all;
  if (!first) return {};
  return Object.fromEntries(
    Object.entries(first).filter(
      ([k, v]) =>
        k !== "kubernetes.io/hostname" &&
        !k.startsWith("topology.kubernetes.io/") &&
        rest.every((l) => l[k] === v),
    ),
  );
}
