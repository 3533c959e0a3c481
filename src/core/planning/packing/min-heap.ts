/** A binary min-heap of (key, id) pairs; equal keys come out smallest id first, so the order is deterministic. */
export class MinHeap {
  #keys: number[] = [];
  #ids: number[] = [];

  /** A heap of the given pairs, built in linear time. */
  static of(keys: number[], ids: number[]): MinHeap {
    const heap = new MinHeap();
    heap.#keys = keys;
    heap.#ids = ids;
    for (let i = (ids.length >> 1) - 1; i >= 0; i--) heap.#siftDown(i);
    return heap;
  }

  get size(): number {
    return this.#ids.length;
  }

  /** The smallest key, or Infinity when empty. */
  peekKey(): number {
    return this.#keys[0] ?? Number.POSITIVE_INFINITY;
  }

  push(key: number, id: number): void {
    this.#keys.push(key);
    this.#ids.push(id);
    let i = this.#ids.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /** Removes the smallest pair and returns it; undefined when empty. */
  pop(): { key: number; id: number } | undefined {
    const n = this.#ids.length;
    if (n === 0) return undefined;
    const top = { key: this.#keys[0]!, id: this.#ids[0]! };
    this.#swap(0, n - 1);
    this.#keys.pop();
    this.#ids.pop();
    this.#siftDown(0);
    return top;
  }

  #siftDown(start: number): void {
    const n = this.#ids.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < n && this.#before(left, least)) least = left;
      if (right < n && this.#before(right, least)) least = right;
      if (least === i) return;
      this.#swap(i, least);
      i = least;
    }
  }

  #before(a: number, b: number): boolean {
    const ka = this.#keys[a]!;
    const kb = this.#keys[b]!;
    return ka < kb || (ka === kb && this.#ids[a]! < this.#ids[b]!);
  }

  #swap(a: number, b: number): void {
    const key = this.#keys[a]!;
    this.#keys[a] = this.#keys[b]!;
    this.#keys[b] = key;
    const id = this.#ids[a]!;
    this.#ids[a] = this.#ids[b]!;
    this.#ids[b] = id;
  }
}
