/**
 * What becomes of each cluster's work when an Application's placement changes (ADR 0013). An unreachable cluster
 * is not a dead one, and failover is make-before-break:
 *
 * - a work is removed only for an explicit change: the Cluster was deleted, or the placement no longer wants it
 *   (Selection, Residency, an untolerated NoExecute taint) — never because its cluster failed or went out of sight;
 * - a work whose share shrinks (to nothing, for a cluster left for its health or its room) keeps asking for what
 *   it asked until every reachable cluster of the new placement reports its share Ready, and for as long as its
 *   own cluster is unreachable; then it is rewritten at its new share, zero included, never removed.
 *
 * Pure: the controller passes what the works ask for and what the agents reported.
 */
import type { TraceEntry } from "../scheduling/scheduler.ts";

/** A live (not tombstoned) work of the Application on one cluster. */
export interface HandoverWork {
  cluster: string;
  /** The replicas its manifests ask for now. */
  asks: number;
  /** Replicas its agent reports ready for the work's current generation (0 when it has not applied it). */
  ready: number;
  /** The hub hears the cluster's heartbeats. */
  reachable: boolean;
  /** The Cluster is still in the registry. */
  registered: boolean;
  /** The scheduler's verdict on the cluster, when the trace has one. */
  trace?: Pick<TraceEntry, "chosen" | "reasons">;
}

export interface Handover {
  /** Works left as they are, above their new share: the Application's `placement.leaving`. */
  keep: Array<{ cluster: string; replicas: number }>;
  /** Clusters left for their health or room whose work is rewritten at zero replicas. */
  shrinkToZero: string[];
  /** Clusters whose work is tombstoned: an explicit change. */
  remove: string[];
  /** Works rewritten at a lower share this time, now that the new placement is ready. */
  released: Array<{ cluster: string; from: number; to: number }>;
}

/**
 * Decides, for each live work, whether it is kept, shrunk or removed. `target` is the new placement (cluster →
 * replicas); clusters it names are written at their share unless kept here.
 */
export function planHandover(input: {
  target: ReadonlyMap<string, number>;
  works: readonly HandoverWork[];
}): Handover {
  const byCluster = new Map(input.works.map((w) => [w.cluster, w]));
  // The new placement is ready when every reachable cluster of it reports its share ready.
  const ready = [...input.target].every(([cluster, share]) => {
    if (share === 0) return true;
    const w = byCluster.get(cluster);
    return w !== undefined && (!w.reachable || w.ready >= share);
  });
  const out: Handover = { keep: [], shrinkToZero: [], remove: [], released: [] };
  for (const w of [...input.works].sort((a, b) => (a.cluster < b.cluster ? -1 : 1))) {
    const share = input.target.get(w.cluster);
    if (share === undefined && leftOnPurpose(w)) {
      out.remove.push(w.cluster);
      continue;
    }
    const to = share ?? 0;
    if (to < w.asks) {
      if (!w.reachable || !ready) {
        out.keep.push({ cluster: w.cluster, replicas: w.asks });
        continue;
      }
      out.released.push({ cluster: w.cluster, from: w.asks, to });
    }
    if (share === undefined) out.shrinkToZero.push(w.cluster);
  }
  return out;
}

/** The Cluster was deleted, or the placement no longer wants it — not its health, room or reachability. */
function leftOnPurpose(w: HandoverWork): boolean {
  if (!w.registered) return true;
  const t = w.trace;
  if (!t) return true;
  return (
    !t.chosen &&
    t.reasons.some(
      (r) =>
        r.startsWith("Selection:") ||
        r.startsWith("Residency:") ||
        (r.startsWith("Taints:") && r.includes(":NoExecute")),
    )
  );
}
