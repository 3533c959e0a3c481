/**
 * Exact money arithmetic for metering: integer micro-units held as BigInt while they are multiplied and divided,
 * rounding half up where one figure is priced, and largest-remainder (Hamilton) division where one amount is
 * split into parts that must add up to it exactly. Ties go to the smaller key, so the same input always gives
 * the same cents to the same rows.
 */

/** One claim on an amount being divided: who (`key`, unique) and how much weight it carries (≥ 0). */
export interface Claim {
  key: string;
  weight: bigint;
}

/** `numerator ÷ denominator` rounded to the nearest integer, halves up. Both non-negative, denominator > 0. */
export function divideRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError("divideRoundHalfUp: denominator must be positive");
  if (numerator < 0n) throw new RangeError("divideRoundHalfUp: numerator must not be negative");
  return (2n * numerator + denominator) / (2n * denominator);
}

/**
 * Divides `total` (≥ 0) among the claims in proportion to their weights, in whole units, so that the parts add up
 * to `total` exactly (largest-remainder, or Hamilton, method): each claim first gets the floor of its exact share;
 * the units left over (fewer than the number of claims) go one each to the claims with the largest remainders,
 * ties to the smaller key (plain code-unit order, not locale order). A claim of weight 0 gets nothing. Returns the
 * parts in the order of `claims`, or `undefined` when the weights sum to 0 and there is something to divide (the
 * caller decides where such an amount goes).
 */
export function divideByLargestRemainder(total: bigint, claims: readonly Claim[]): bigint[] | undefined {
  if (total < 0n) throw new RangeError("divideByLargestRemainder: total must not be negative");
  let weightSum = 0n;
  for (const claim of claims) {
    if (claim.weight < 0n) throw new RangeError(`divideByLargestRemainder: negative weight for ${claim.key}`);
    weightSum += claim.weight;
  }
  if (total === 0n) return claims.map(() => 0n);
  if (weightSum === 0n) return undefined;
  const parts: bigint[] = [];
  const remainders: { index: number; remainder: bigint; key: string }[] = [];
  let given = 0n;
  claims.forEach((claim, index) => {
    const exact = total * claim.weight;
    const part = exact / weightSum;
    parts.push(part);
    given += part;
    remainders.push({ index, remainder: exact % weightSum, key: claim.key });
  });
  let leftOver = total - given;
  if (leftOver > 0n) {
    remainders.sort((a, b) => {
      if (a.remainder !== b.remainder) return a.remainder > b.remainder ? -1 : 1;
      return compareKeys(a.key, b.key);
    });
    // Σ remainders = leftOver × weightSum and each remainder < weightSum, so more than `leftOver` claims have a
    // remainder above 0: the units never reach a claim of weight 0.
    for (const { index } of remainders) {
      if (leftOver === 0n) break;
      parts[index]! += 1n;
      leftOver -= 1n;
    }
  }
  return parts;
}

/** Orders keys by code units, the same on every machine and locale. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);
const minSafe = BigInt(Number.MIN_SAFE_INTEGER);

/** A BigInt amount as a number, refusing what a JavaScript number cannot hold exactly. */
export function toSafeNumber(amount: bigint): number {
  if (amount > maxSafe || amount < minSafe) {
    throw new RangeError(`amount ${amount} is beyond Number.MAX_SAFE_INTEGER`);
  }
  return Number(amount);
}
