/**
 * A seeded source of numbers (mulberry32): the same seed gives the same numbers, so synthetic fleets,
 * benchmarks and tests repeat exactly. The only randomness core code uses; it never reads Math.random.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  between(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A whole number from `low` to `high`, both included. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** A number from `low` to `high` whose logarithm is uniform (as many small values as large ones, by ratio). */
  logUniform(low: number, high: number): number {
    return low * Math.exp(this.next() * Math.log(high / low));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((n, [, w]) => n + w, 0);
    let x = this.next() * total;
    for (const [item, w] of choices) {
      x -= w;
      if (x < 0) return item;
    }
    return choices[choices.length - 1]![0];
  }

  /** A log-normal factor with mean 1: most near 1, a long tail above. */
  spread(sigma: number): number {
    const u = 1 - this.next();
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
    return Math.exp(sigma * normal - (sigma * sigma) / 2);
  }
}
