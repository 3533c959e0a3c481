/**
 * Local search that takes nodes away from a valid supply packing, as `overload-repair.ts` does on one shape, with
 * each node's own kind: its capacity, the pods it admits, its zone (an owned node's is fixed). One node is closed
 * and its pods are put where they overfill least; then pods are moved and swapped between nodes, each step the one
 * that most lowers the total overfill, until no node is overfilled (one node fewer; the search goes on with the
 * next) or the work allowed runs out (the moves since the last valid packing are undone). A pod just moved does
 * not go back for a few steps (a short tabu). Pods only go on nodes that admit them, zone-bound pods stay in their
 * zone, anti-affinity holds at every step, and nodes holding a pod alone (the headroom rule) are left as they are.
 */
import { SeededRandom } from "../seeded-random.ts";
import { addPods, contentOf, removePods, type SupplyWorkingNode } from "./supply-node.ts";
import { openZone, type SupplyProblem, sharing } from "./supply-problem.ts";

/** Nodes looked at as destinations in one step. */
const candidatesPerStep = 48;
/** Items of each node looked at for swaps in one step (all of them when a node has no more). */
const itemsPerSwapSide = 4;
/** Steps a moved pod may not go back to the node it left. */
const tabuSteps = 30;
/** Nodes that may fail to close in a row, least loaded first, before the search gives up. */
const attemptsPerCount = 3;
/** Nodes closed before the least-loaded order is taken again. */
const closesBetweenSorts = 16;
const tiny = 1e-12;

/**
 * Tries to close nodes one at a time, within `work` (moves and swaps looked at). Changes `nodes` in place and
 * returns the nodes of the smallest valid packing found (all of them if none could be closed).
 */
export function repairSupplyPacking(
  problem: SupplyProblem,
  nodes: SupplyWorkingNode[],
  lowerBound: number,
  work: number,
): SupplyWorkingNode[] {
  const search = new Search(problem, nodes, work);
  const alone = nodes.length - search.openCount;
  const leastLoadedFirst = () => {
    const content = nodes.map((node) => contentOf(problem, node));
    return search.openNodes().sort((a, b) => content[a]! - content[b]! || a - b);
  };
  let order = leastLoadedFirst();
  let next = 0;
  let closedSinceSort = 0;
  let failuresInRow = 0;
  while (search.openCount + alone > lowerBound && search.workLeft > 0 && failuresInRow < attemptsPerCount) {
    // Loads change as pods move: the order is taken afresh now and then, not at every node closed.
    if (next >= order.length || closedSinceSort >= closesBetweenSorts) {
      order = leastLoadedFirst();
      next = 0;
      closedSinceSort = 0;
    }
    const j = order[next++]!;
    if (!search.isOpen(j)) continue;
    if (search.close(j)) {
      closedSinceSort += 1;
      failuresInRow = 0;
    } else failuresInRow += 1;
  }
  return nodes.filter((node) => node.podCount > 0);
}

/** One pod moved: undone in reverse order when a closing fails. */
interface Move {
  item: number;
  from: number;
  to: number;
  zone: number;
}

class Search {
  private readonly problem: SupplyProblem;
  private readonly nodes: SupplyWorkingNode[];
  private readonly random: SeededRandom;
  /** Per node, its overfill: Σ over resources of what its pods use beyond its capacity, as a share of it. */
  private readonly overfill: Float64Array;
  /** Overfilled nodes, and each node's place in that list (−1 when not in it). */
  private readonly overfilled: number[] = [];
  private readonly overfilledAt: Int32Array;
  /** Open nodes, and each node's place in that list (−1 when closed). */
  private readonly open: number[];
  private readonly openAt: Int32Array;
  private total = 0;
  private step = 0;
  /** item × nodes + node → the step until which the item may not move onto that node. */
  private readonly tabu = new Map<number, number>();
  private journal: Move[] = [];
  /** Per node, the items of its pods as a list, kept until its pods change (swaps sample from it). */
  private readonly itemsOf: (number[] | undefined)[] = [];
  private readonly picked: number[] = [];
  private readonly pickedAt: Int32Array;
  private stamp = 0;
  workLeft: number;

  constructor(problem: SupplyProblem, nodes: SupplyWorkingNode[], work: number) {
    this.problem = problem;
    this.nodes = nodes;
    this.workLeft = work;
    this.random = new SeededRandom(nodes.length);
    this.overfill = new Float64Array(nodes.length);
    this.overfilledAt = new Int32Array(nodes.length).fill(-1);
    this.pickedAt = new Int32Array(nodes.length);
    // Nodes holding a pod alone take part in nothing: they are neither closed nor given pods.
    this.open = nodes.flatMap((node, j) => (node.solo ? [] : [j]));
    this.openAt = new Int32Array(nodes.length).fill(-1);
    this.open.forEach((j, at) => {
      this.openAt[j] = at;
    });
  }

  get openCount(): number {
    return this.open.length;
  }

  isOpen(j: number): boolean {
    return this.openAt[j]! >= 0;
  }

  openNodes(): number[] {
    return [...this.open];
  }

  /** Closes node j and repairs; on failure everything is as before and j is open again. */
  close(j: number): boolean {
    this.journal = [];
    this.tabu.clear();
    this.removeOpen(j);
    const node = this.nodes[j]!;
    const zone = node.zone;
    let placed = true;
    for (const [item, count] of [...node.pods])
      for (let c = 0; c < count && placed; c++) placed = this.insertLeastOverfilling(item, j, zone);
    if (placed && this.repair()) return true;
    for (let m = this.journal.length - 1; m >= 0; m--) {
      const move = this.journal[m]!;
      this.shift(move.item, move.to, move.from, move.zone);
    }
    this.addOpen(j);
    return false;
  }

  private removeOpen(j: number): void {
    const at = this.openAt[j]!;
    const last = this.open.pop()!;
    if (last !== j) {
      this.open[at] = last;
      this.openAt[last] = at;
    }
    this.openAt[j] = -1;
  }

  private addOpen(j: number): void {
    this.openAt[j] = this.open.length;
    this.open.push(j);
  }

  /** The overfill of node j using `used`, with `plus` added and `minus` taken off when given. */
  private overfillOf(j: number, used: Float64Array, plus?: Float64Array, minus?: Float64Array): number {
    const { limit, usable } = this.problem.kinds[this.nodes[j]!.kind]!;
    let over = 0;
    if (plus && minus) {
      for (let r = 0; r < used.length; r++) {
        const u = used[r]! + plus[r]! - minus[r]!;
        if (u > limit[r]!) over += (u - limit[r]!) / usable[r]!;
      }
    } else if (plus) {
      for (let r = 0; r < used.length; r++) {
        const u = used[r]! + plus[r]!;
        if (u > limit[r]!) over += (u - limit[r]!) / usable[r]!;
      }
    } else {
      for (let r = 0; r < used.length; r++) {
        const u = used[r]! - (minus ? minus[r]! : 0);
        if (u > limit[r]!) over += (u - limit[r]!) / usable[r]!;
      }
    }
    return over;
  }

  private tabuKey(item: number, node: number): number {
    return item * this.nodes.length + node;
  }

  /** Whether a pod of `item` from zone `zone` may join node j once a pod of `leaving` (or none: −1) has left it. */
  private allowed(item: number, zone: number, j: number, leaving: number): boolean {
    const node = this.nodes[j]!;
    const { kinds, mode, newNodeZones } = this.problem;
    if (mode[item * kinds.length + node.kind] !== sharing) return false;
    const perNode = this.problem.maxPerNode[item]!;
    if (perNode === 0 && !this.problem.zoneBound[item]) return true;
    const here = (node.pods.get(item) ?? 0) - (leaving === item ? 1 : 0);
    if (perNode !== 0 && here >= perNode) return false;
    if (!this.problem.zoneBound[item]) return true;
    if (kinds[node.kind]!.owned) return node.zone === zone;
    const boundLeft = node.zoneBoundPods - (leaving >= 0 && this.problem.zoneBound[leaving] ? 1 : 0);
    return boundLeft > 0 ? node.zone === zone : zone < newNodeZones;
  }

  /** The zone a pod of the item on node j is bound to (`openZone` for free items). */
  private zoneOf(item: number, j: number): number {
    return this.problem.zoneBound[item] ? this.nodes[j]!.zone : openZone;
  }

  /**
   * Moves one pod of `item` from node `from` (being closed) to the open node where it adds the least overfill;
   * false when no open node may take it (zone or anti-affinity).
   */
  private insertLeastOverfilling(item: number, from: number, zone: number): boolean {
    const demand = this.problem.demand[item]!;
    let best = -1;
    let bestDelta = Number.POSITIVE_INFINITY;
    this.workLeft -= this.open.length;
    for (const j of this.open) {
      if (!this.allowed(item, zone, j, -1)) continue;
      const delta = this.overfillOf(j, this.nodes[j]!.used, demand) - this.overfill[j]!;
      const lighter = best >= 0 && this.nodes[j]!.load < this.nodes[best]!.load;
      if (delta < bestDelta - tiny || (delta <= bestDelta + tiny && lighter)) {
        bestDelta = delta;
        best = j;
      }
    }
    if (best < 0) return false;
    this.move(item, from, best, zone);
    return true;
  }

  /** Moves one pod and writes it in the journal. */
  private move(item: number, from: number, to: number, zone: number): void {
    this.shift(item, from, to, zone);
    this.journal.push({ item, from, to, zone });
  }

  private shift(item: number, from: number, to: number, zone: number): void {
    this.itemsOf[from] = undefined;
    this.itemsOf[to] = undefined;
    removePods(this.problem, this.nodes[from]!, item, 1);
    this.refresh(from);
    addPods(this.problem, this.nodes[to]!, item, zone, 1);
    this.refresh(to);
  }

  private refresh(j: number): void {
    const over = this.openAt[j]! >= 0 ? this.overfillOf(j, this.nodes[j]!.used) : 0;
    this.total += over - this.overfill[j]!;
    this.overfill[j] = over;
    const at = this.overfilledAt[j]!;
    if (over > tiny && at < 0) {
      this.overfilledAt[j] = this.overfilled.length;
      this.overfilled.push(j);
    } else if (over <= tiny && at >= 0) {
      const last = this.overfilled.pop()!;
      if (last !== j) {
        this.overfilled[at] = last;
        this.overfilledAt[last] = at;
      }
      this.overfilledAt[j] = -1;
    }
  }

  /** Moves and swaps until nothing is overfilled (true) or the work runs out (false). */
  private repair(): boolean {
    while (this.workLeft > 0) {
      if (this.overfilled.length === 0) return true;
      this.step += 1;
      const o = this.overfilled[Math.floor(this.random.next() * this.overfilled.length)]!;
      const candidates = this.candidates(o);
      // A lone open node has nowhere to shed its pods: this closing fails.
      if (candidates.length === 0) return false;
      const best = this.bestMove(o, candidates);
      if (!best) {
        this.workLeft -= 1;
        continue;
      }
      const { item, to, swap } = best;
      const itemZone = this.zoneOf(item, o);
      if (swap >= 0) {
        const swapZone = this.zoneOf(swap, to);
        this.move(swap, to, o, swapZone);
        this.tabu.set(this.tabuKey(swap, to), this.step + tabuSteps);
      }
      this.move(item, o, to, itemZone);
      this.tabu.set(this.tabuKey(item, o), this.step + tabuSteps);
    }
    return false;
  }

  /** The items of a node's pods, or a sample of them when there are many (swaps look at every pair). */
  private sample(j: number): number[] {
    let items = this.itemsOf[j];
    if (!items) {
      items = [...this.nodes[j]!.pods.keys()];
      this.itemsOf[j] = items;
    }
    if (items.length <= itemsPerSwapSide) return items;
    // Shuffles the first few into place: the node's list stays a permutation of its items.
    for (let i = 0; i < itemsPerSwapSide; i++) {
      const k = i + Math.floor(this.random.next() * (items.length - i));
      const swap = items[i]!;
      items[i] = items[k]!;
      items[k] = swap;
    }
    return items.slice(0, itemsPerSwapSide);
  }

  /** Destination nodes for pods of node o: a sample of the other open nodes. */
  private candidates(o: number): number[] {
    const open = this.open;
    if (open.length - 1 <= candidatesPerStep) return open.filter((j) => j !== o);
    // A stamp per node marks this step's picks: no set to build at every step.
    this.stamp += 1;
    const picked = this.picked;
    picked.length = 0;
    while (picked.length < candidatesPerStep) {
      const j = open[Math.floor(this.random.next() * open.length)]!;
      if (j !== o && this.pickedAt[j] !== this.stamp) {
        this.pickedAt[j] = this.stamp;
        picked.push(j);
      }
    }
    return picked;
  }

  /**
   * The move or swap of one pod of node o that lowers the total overfill most (or, if none lowers it, raises it
   * least; ties at random), skipping tabu moves unless they leave nothing overfilled.
   */
  private bestMove(
    o: number,
    candidates: readonly number[],
  ): { item: number; to: number; swap: number } | undefined {
    const { demand } = this.problem;
    const source = this.nodes[o]!;
    let best: { item: number; to: number; swap: number } | undefined;
    let bestDelta = Number.POSITIVE_INFINITY;
    const consider = (delta: number, item: number, to: number, swap: number) => {
      if (delta > bestDelta + tiny || (delta >= bestDelta - tiny && this.random.next() < 0.5)) return;
      const tabu =
        (this.tabu.get(this.tabuKey(item, to)) ?? 0) > this.step ||
        (swap >= 0 && (this.tabu.get(this.tabuKey(swap, o)) ?? 0) > this.step);
      if (tabu && this.total + delta > tiny) return;
      bestDelta = delta;
      best = { item, to, swap };
    };
    const swapped = this.sample(o);
    const leaving = [...source.pods.keys()];
    // What taking each pod off the source changes there, the same whichever node it goes to.
    const relief = leaving.map(
      (item) => this.overfillOf(o, source.used, undefined, demand[item]) - this.overfill[o]!,
    );
    const zones = leaving.map((item) => this.zoneOf(item, o));
    for (const to of candidates) {
      const target = this.nodes[to]!;
      const others = this.sample(to);
      for (let k = 0; k < leaving.length; k++) {
        const item = leaving[k]!;
        const zone = zones[k]!;
        const d = demand[item]!;
        this.workLeft -= 1;
        if (this.allowed(item, zone, to, -1))
          consider(relief[k]! + this.overfillOf(to, target.used, d) - this.overfill[to]!, item, to, -1);
        if (!swapped.includes(item)) continue;
        this.workLeft -= others.length;
        for (const other of others) {
          if (other === item) continue;
          if (!this.allowed(item, zone, to, other) || !this.allowed(other, this.zoneOf(other, to), o, item))
            continue;
          const e = demand[other]!;
          const delta =
            this.overfillOf(o, source.used, e, d) -
            this.overfill[o]! +
            this.overfillOf(to, target.used, d, e) -
            this.overfill[to]!;
          consider(delta, item, to, other);
        }
      }
    }
    return best;
  }
}
