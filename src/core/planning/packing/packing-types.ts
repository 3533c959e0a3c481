/**
 * The terms of bin packing, shared by the packer's parts: the items to place, the node shape and options they
 * are packed with, and the packing (or the refusal) that comes out. `bin-packing.ts` exports them to the planner.
 */
import type { Resources } from "../fleet-snapshot.ts";

/** A workload to place: `count` identical pods, each requesting `demand`. */
export interface PackItem {
  /** The workload's key, used in explanations. */
  id: string;
  /** How many identical pods. */
  count: number;
  /** Requests of one pod, including `pods: 1`. */
  demand: Resources;
  /** At most this many of its pods on one node (hostname anti-affinity: 1). */
  maxPerNode?: number;
  /** At most this many of its pods in one zone (zone anti-affinity: 1). */
  maxPerZone?: number;
  /** Largest difference between the pod counts of any two of the given zones (zone topology spread). */
  zoneMaxSkew?: number;
}

/** A kind of node: what pods may request on it, and what it costs a month. */
export interface NodeShape {
  name: string;
  allocatable: Resources;
  monthlyPrice: number;
}

/** Where nodes may go and how much of each node stays free. */
export interface PackOptions {
  /** The zones nodes may be placed in; not empty. */
  zones: readonly string[];
  /** Percent of every allocatable resource kept free on each node (0–100). */
  headroomPercent: number;
}

/** One node of a packing: its zone, its pods (`item` is an index into the items packed) and what they request. */
export interface PackedNode {
  zone: string;
  pods: { item: number; count: number }[];
  used: Record<string, number>;
}

/** How few nodes any valid packing needs, and the constraint that says so, in words. */
export interface LowerBound {
  nodes: number;
  binding: string;
}

/** Pods placed on nodes of one shape. */
export interface Packing {
  shape: string;
  nodes: PackedNode[];
  lowerBound: LowerBound;
}

/** A packing; or the items that cannot be packed on this shape, each with the reason. */
export type PackOutcome =
  | { ok: true; packing: Packing }
  | { ok: false; unfit: { item: number; reason: string }[] };
