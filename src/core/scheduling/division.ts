/**
 * Dividing replicas: proportional shares by the largest remainder method, capped per cluster, and the
 * stability rule that keeps a previous split while it stays close to the ideal one.
 */

/** The outcome of a division: whole shares, the fractional quotas they round, and what found no room. */
export interface Division {
  shares: number[];
  /** Each share before rounding (its cap when the cap bound it). */
  quotas: number[];
  unplaced: number;
}

/**
 * Splits `total` in proportion to integer `weights`, never giving an item more than its cap. Items whose
 * quota reaches their cap get the cap, and the rest is divided again among the others; then every item
 * gets the floor of its quota and the replicas left over go one each to the largest remainders, ties to
 * the larger weight, then to the earlier item (callers list clusters in name order). Exact in integers.
 */
export function divide(total: number, weights: readonly number[], caps: readonly number[]): Division {
  const n = weights.length;
  const shares = new Array<number>(n).fill(0);
  const quotas = new Array<number>(n).fill(0);
  let active: number[] = [];
  for (let i = 0; i < n; i++) if (weights[i]! > 0 && caps[i]! > 0) active.push(i);
  let remaining = total;
  while (remaining > 0 && active.length > 0) {
    let sum = 0;
    for (const i of active) sum += weights[i]!;
    const uncapped: number[] = [];
    let capped = 0;
    for (const i of active) {
      if (remaining * weights[i]! >= caps[i]! * sum) {
        shares[i] = caps[i]!;
        quotas[i] = caps[i]!;
        capped += caps[i]!;
      } else uncapped.push(i);
    }
    if (uncapped.length < active.length) {
      remaining -= capped;
      active = uncapped;
      continue;
    }
    const remainders = new Array<number>(n).fill(0);
    let given = 0;
    for (const i of active) {
      const product = remaining * weights[i]!;
      const floor = Math.floor(product / sum);
      shares[i] = floor;
      quotas[i] = product / sum;
      remainders[i] = product - floor * sum;
      given += floor;
    }
    const left = remaining - given;
    if (left > 0) {
      const order = active.sort(
        (a, b) => remainders[b]! - remainders[a]! || weights[b]! - weights[a]! || a - b,
      );
      for (let k = 0; k < left; k++) shares[order[k]!]! += 1;
    }
    remaining = 0;
  }
  return { shares, quotas, unplaced: remaining };
}

/**
 * How far a cluster's replicas may be from its ideal share before the split is rebalanced: one replica,
 * or a tenth of the ideal share when that is more.
 */
export function tolerance(ideal: number): number {
  return Math.max(1, Math.floor(ideal / 10));
}

export interface Stabilized {
  shares: number[];
  /** kept: the previous split as it was; adjusted: the fewest moves; rebalanced: the ideal split. */
  outcome: "kept" | "adjusted" | "rebalanced";
}

/**
 * Moves from the previous split towards the ideal one as little as possible. Each item first keeps what it
 * had (at most its cap); a surplus is taken from the items most above their ideal share, a shortfall is
 * given to the growable items most below theirs. If every item then lies within `tolerance` of its ideal
 * share that is the answer; otherwise the ideal split is. Items that may not grow (clusters that keep what
 * they run but get nothing new) must have an ideal share equal to what they keep.
 */
export function stabilize(
  previous: readonly number[],
  ideal: readonly number[],
  caps: readonly number[],
  canGrow: readonly boolean[],
): Stabilized {
  const shares = previous.map((p, i) => Math.min(p, caps[i]!));
  const target = ideal.reduce((a, b) => a + b, 0);
  const held = shares.reduce((a, b) => a + b, 0);
  if (held > target) {
    const surplus = shares.map((x, i) => Math.max(0, x - ideal[i]!));
    divide(held - target, surplus, surplus).shares.forEach((r, i) => {
      shares[i]! -= r;
    });
  } else if (held < target) {
    const deficit = shares.map((x, i) => (canGrow[i] ? Math.max(0, Math.min(ideal[i]!, caps[i]!) - x) : 0));
    divide(target - held, deficit, deficit).shares.forEach((a, i) => {
      shares[i]! += a;
    });
  }
  const within = shares.every((x, i) => Math.abs(x - ideal[i]!) <= tolerance(ideal[i]!));
  if (!within) return { shares: [...ideal], outcome: "rebalanced" };
  return { shares, outcome: shares.every((x, i) => x === previous[i]) ? "kept" : "adjusted" };
}
