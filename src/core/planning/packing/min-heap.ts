/**
 * A binary min-heap of (key, id) pairs; equal keys come out smallest id first, so the order is deterministic. It
 * keeps its arrays between uses (`clear`), so that a hot loop filling and emptying it allocates nothing.
 */
export class MinHeap {
  #keys = new Float64Array(16);
  #ids = new Int32Array(16);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Empties the heap, keeping its storage. */
  clear(): void {
    this.#size = 0;
  }

  /** Adds a pair without restoring the heap order: call `heapify` after a run of `append`s. */
  append(key: number, id: number): void {
    if (this.#size === this.#ids.length) this.#grow();
    this.#keys[this.#size] = key;
    this.#ids[this.#size] = id;
    this.#size += 1;
  }

  /** Restores the heap order after `append`s, in linear time. */
  heapify(): void {
    for (let i = (this.#size >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /** The smallest key, or Infinity when empty. */
  peekKey(): number {
    return this.#size > 0 ? this.#keys[0]! : Number.POSITIVE_INFINITY;
  }

  /** The id of the smallest pair; the heap must not be empty. */
  peekId(): number {
    return this.#ids[0]!;
  }

  push(key: number, id: number): void {
    this.append(key, id);
    let i = this.#size - 1;
    const keys = this.#keys;
    const ids = this.#ids;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk = keys[parent]!;
      if (!(key < pk || (key === pk && id < ids[parent]!))) break;
      keys[i] = pk;
      ids[i] = ids[parent]!;
      i = parent;
    }
    keys[i] = key;
    ids[i] = id;
  }

  /** Replaces the smallest pair by the given one; the heap must not be empty. */
  replaceTop(key: number, id: number): void {
    this.#keys[0] = key;
    this.#ids[0] = id;
    this.#siftDown(0);
  }

  /** Removes the smallest pair (read it first with `peekKey` and `peekId`); does nothing when empty. */
  pop(): void {
    const n = this.#size;
    if (n === 0) return;
    this.#size = n - 1;
    this.#keys[0] = this.#keys[n - 1]!;
    this.#ids[0] = this.#ids[n - 1]!;
    this.#siftDown(0);
  }

  #siftDown(start: number): void {
    const n = this.#size;
    const keys = this.#keys;
    const ids = this.#ids;
    const key = keys[start]!;
    const id = ids[start]!;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n) {
        const kr = keys[right]!;
        const kl = keys[left]!;
        if (kr < kl || (kr === kl && ids[right]! < ids[left]!)) child = right;
      }
      const kc = keys[child]!;
      if (!(kc < key || (kc === key && ids[child]! < id))) break;
      keys[i] = kc;
      ids[i] = ids[child]!;
      i = child;
    }
    keys[i] = key;
    ids[i] = id;
  }

  #grow(): void {
    const keys = new Float64Array(this.#ids.length * 2);
    keys.set(this.#keys);
    const ids = new Int32Array(this.#ids.length * 2);
    ids.set(this.#ids);
    this.#keys = keys;
    this.#ids = ids;
  }
}
