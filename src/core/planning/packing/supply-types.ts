/**
 * The terms of packing a target's pods onto a supply of nodes (issue 16): nodes the team owns, each usable at
 * most once, and shapes it may buy in any number. One packing covers all the target's pods: a pod may go on any
 * node whose resources, labels, taints and the policy's reservations admit it (`node-admission.ts`).
 * `supply-packing.ts` implements it; the planner is to call it once per target (issue 16: not wired yet).
 */
import type { NodeSelectorTerm, Resources, Taint, Toleration } from "../fleet-snapshot.ts";

/** A workload's pods to place: `count` identical pods. */
export interface SupplyItem {
  /** The workload's key (`CLUSTER/NAMESPACE/KIND/NAME`). */
  id: string;
  count: number;
  /** Requests of one pod, `pods: 1` included; extended resources are whole numbers. */
  demand: Resources;
  nodeSelector?: Readonly<Record<string, string>>;
  nodeAffinity?: readonly NodeSelectorTerm[];
  tolerations?: readonly Toleration[];
  /** At most this many of its pods on one node (hostname anti-affinity: 1). */
  maxPerNode?: number;
  /** At most this many of its pods in one zone (zone anti-affinity: 1). */
  maxPerZone?: number;
  /** Largest difference between the pod counts of any two zones (zone topology spread). */
  zoneMaxSkew?: number;
}

/** A node the team owns: used at most once, where it is (its zone). */
export interface OwnedNode {
  /** The node's name (unique in the supply). */
  name: string;
  /** Its cluster today. */
  cluster: string;
  /** Its shape key (`node-shapes.ts`). */
  shape: string;
  zone: string;
  /** What pods may request on it, DaemonSets' requests already taken off. */
  allocatable: Resources;
  labels: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
  /** What it costs a month, when the policy prices its shape. */
  monthlyPrice?: number;
}

/** A shape that can be bought, in any number, in any of the target's zones. */
export interface CatalogShape {
  name: string;
  /** What pods may request on one node, DaemonSets' requests already taken off. */
  allocatable: Resources;
  labels: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
  /** Price of one node a month; undefined when unpriced. */
  monthlyPrice?: number;
}

export interface SupplyOptions {
  /** The zones pods may be placed in (owned nodes keep their own zone; bought nodes go into these). */
  zones: readonly string[];
  /** Percent of cpu, memory and pods kept free on each node (extended resources count whole). */
  headroomPercent: number;
  /** Extended resources whose nodes run only pods that request them. */
  reserve: readonly string[];
  /** `nodes`: fewest nodes (no prices); `cost`: cheapest, owned nodes counted at their price. */
  objective: "nodes" | "cost";
}

/** One node of a packing: an owned node kept, or a new node of a catalog shape. */
export interface SupplyNodePlan {
  /** The owned node's name, or undefined for a new node. */
  owned?: string;
  shape: string;
  zone: string;
  /** Its pods: `item` is an index into the items. */
  pods: { item: number; count: number }[];
  used: Record<string, number>;
}

/** A lower bound on the nodes any valid packing on this supply needs, with what binds it, in words. */
export interface SupplyBound {
  nodes: number;
  binding: string;
  /**
   * For comparison, the bounds the per-pool planner reported: the items split into pools by the node kinds that
   * admit them, each pool bounded on one shape alone (the shape of those kinds whose bound is lowest), with no
   * limit on owned nodes. Their sum is not a bound on this packing: pools may share nodes here.
   */
  pools?: SupplyPoolBound[];
}

/** One pool's single-shape bound (see `SupplyBound.pools`). */
export interface SupplyPoolBound {
  /** Indices of the items of the pool. */
  items: number[];
  shape: string;
  nodes: number;
}

export type SupplyOutcome =
  | { ok: true; nodes: SupplyNodePlan[]; bound: SupplyBound }
  | { ok: false; unfit: { item: number; reason: string }[] };
