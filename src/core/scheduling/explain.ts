/**
 * `unitfleet explain application X`: the scheduler's trace as table rows, one per cluster — chosen ones
 * first, then those eligible but not chosen, then the rejected — with their replicas, total score, the
 * score breakdown and every reason. Pure formatting; the CLI prints the rows with its table renderer.
 */
import type { Outcome, TraceEntry } from "./scheduler.ts";

export type ExplainVerdict = "chosen" | "kept" | "not chosen" | "rejected";

export interface ExplainRow {
  cluster: string;
  location: string;
  /**
   * chosen: runs replicas; kept: runs replicas but gets no new ones (hold, or failed with nowhere to move them);
   * not chosen: eligible, no replicas.
   */
  verdict: ExplainVerdict;
  replicas: number;
  score: number;
  /** `FreeCapacity=100 AlreadyRunning=0 …`, empty for rejected clusters. */
  scores: string;
  reasons: string;
}

export const explainHeaders = ["Cluster", "Location", "Verdict", "Replicas", "Score", "Reasons"] as const;

const rank: Record<ExplainVerdict, number> = { chosen: 0, kept: 1, "not chosen": 2, rejected: 3 };

/** One row per traced cluster: chosen and kept first, then not chosen by score, then rejected; ties by name. */
export function explainRows(outcome: Outcome): ExplainRow[] {
  return outcome.trace
    .map(row)
    .sort(
      (a, b) =>
        rank[a.verdict] - rank[b.verdict] ||
        b.score - a.score ||
        (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0),
    );
}

function row(t: TraceEntry): ExplainRow {
  // A chosen cluster that is not `fit` keeps what it runs: held, or failed with nowhere to move its replicas.
  const verdict: ExplainVerdict = t.chosen
    ? t.verdict !== "fit"
      ? "kept"
      : "chosen"
    : t.verdict === "unfit"
      ? "rejected"
      : "not chosen";
  return {
    cluster: t.cluster,
    location: t.location,
    verdict,
    replicas: t.replicas,
    score: t.total,
    scores: Object.entries(t.scores)
      .map(([k, v]) => `${k}=${v}`)
      .join(" "),
    reasons: t.reasons.join("; "),
  };
}

/**
 * The rows as string cells under `explainHeaders`, and a summary line: the replicas placed, and why the
 * application is unschedulable when it is. With `wide`, the score breakdown joins the reasons.
 */
export function explainTable(
  outcome: Outcome,
  options: { wide?: boolean } = {},
): { headers: readonly string[]; rows: string[][]; summary: string } {
  const rows = explainRows(outcome).map((r) => [
    r.cluster,
    r.location,
    r.verdict,
    String(r.replicas),
    r.verdict === "rejected" ? "-" : String(r.score),
    options.wide && r.scores ? [r.reasons, `scores: ${r.scores}`].filter(Boolean).join("; ") : r.reasons,
  ]);
  const placed = outcome.decisions.reduce((n, d) => n + d.replicas, 0);
  const clusters = outcome.decisions.length;
  const summary =
    `${placed} replica${placed === 1 ? "" : "s"} on ${clusters} cluster${clusters === 1 ? "" : "s"}` +
    (outcome.unschedulable ? `; unschedulable: ${outcome.unschedulable.reason}` : "") +
    (outcome.failoverBlocked ? `; failover blocked: ${outcome.failoverBlocked.message}` : "");
  return { headers: explainHeaders, rows, summary };
}
