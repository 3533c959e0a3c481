import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProblems } from "../validation/problems.ts";
import {
  type PlacementInput,
  type PlacementSpec,
  type SpreadConstraint,
  validatePlacementSpec,
} from "./placement.ts";
import {
  type ClusterFacts,
  type Demand,
  indexFleet,
  type Outcome,
  type ScheduleInput,
  schedule,
} from "./scheduler.ts";

const Mi = 2 ** 20;
const Gi = 2 ** 30;
const second = 1000;
const now = 1_000_000 * second;
/** One replica: 500m cpu, 256Mi memory, one pod. */
const demand: Demand = {
  perReplica: { cpuMilli: 500, memoryBytes: 256 * Mi, pods: 1 },
  kinds: ["apps/v1/Deployment"],
};

interface Shape {
  location?: string;
  region?: string;
  zones?: string[];
  environment?: string;
  business?: string;
  labels?: Record<string, string>;
  taints?: ClusterFacts["taints"];
  /** Free cpu in millicores; by default room for 16 replicas. */
  cpu?: number;
  memory?: number;
  pods?: number;
  apiResources?: string[];
  ready?: boolean;
  /** Seconds since the Ready condition last changed; by default long ago. */
  for?: number;
}

function cluster(name: string, s: Shape = {}): ClusterFacts {
  const location = s.location ?? "fra";
  return {
    name,
    location,
    ...(s.region ? { region: s.region } : {}),
    zones: s.zones ?? [`${location}-1`],
    labels: {
      location,
      ...(s.region ? { region: s.region } : {}),
      environment: s.environment ?? "prod",
      business: s.business ?? "shop",
      ...s.labels,
    },
    taints: s.taints ?? [],
    free: { cpuMilli: s.cpu ?? 8000, memoryBytes: s.memory ?? 16 * Gi, pods: s.pods ?? 110 },
    ...(s.apiResources ? { apiResources: s.apiResources } : {}),
    health: { ready: s.ready ?? true, since: now - (s.for ?? 86_400) * second },
  };
}

/** A cluster with room for `total` replicas of `demand`, `running` of which it runs now. */
function sized(name: string, total: number, running: number, s: Shape = {}): ClusterFacts {
  return cluster(name, { ...s, cpu: (total - running) * 500 });
}

function spec(input: PlacementInput): PlacementSpec {
  const result = validatePlacementSpec(input);
  if (!result.ok) throw new Error(formatProblems(result.problems));
  return result.value;
}

function run(
  placement: PlacementInput,
  fleet: ClusterFacts[],
  more: Partial<Omit<ScheduleInput, "placement">> = {},
): Outcome {
  return schedule({ placement: spec(placement), fleet, demand, now, ...more });
}

const divided = (count: number, more: Partial<PlacementInput> = {}): PlacementInput => ({
  replicas: { mode: "Divided", count },
  ...more,
});
const duplicated = (count: number, more: Partial<PlacementInput> = {}): PlacementInput => ({
  replicas: { mode: "Duplicated", count },
  ...more,
});
const split = (o: Outcome) => Object.fromEntries(o.decisions.map((d) => [d.cluster, d.replicas]));
const reasons = (o: Outcome, name: string) => o.trace.find((t) => t.cluster === name)?.reasons ?? [];
const asPrevious = (o: Outcome) => o.decisions;

describe("filters say why a cluster is rejected, with numbers", () => {
  it("Selection: Location, environment, business, Region, names and label expressions", () => {
    const fleet = [
      cluster("a", { labels: { tier: "web" } }),
      cluster("b", { location: "sgp", labels: { tier: "web" } }),
      cluster("c", { environment: "dev", labels: { tier: "web" } }),
      cluster("d", { business: "payments", labels: { tier: "web" } }),
      cluster("e", { labels: { tier: "db" } }),
      cluster("f"),
    ];
    const o = run(
      duplicated(1, {
        locations: ["fra"],
        environments: ["prod"],
        businesses: ["shop"],
        clusterSelector: { matchLabels: { tier: "web" } },
      }),
      fleet,
    );
    expect(split(o)).toEqual({ a: 1 });
    expect(reasons(o, "b")).toEqual(["Selection: Location sgp is not one of [fra]"]);
    expect(reasons(o, "c")).toEqual(["Selection: environment dev is not one of [prod]"]);
    expect(reasons(o, "d")).toEqual(["Selection: business payments is not one of [shop]"]);
    expect(reasons(o, "e")).toEqual(["Selection: tier In (web) does not hold (tier=db)"]);
    expect(reasons(o, "f")).toEqual(["Selection: tier In (web) does not hold (no label tier)"]);

    const byRegionAndName = run(duplicated(1, { regions: ["fra-north"], clusterNames: ["g"] }), [
      cluster("f"),
      cluster("g", { region: "fra-north" }),
    ]);
    expect(reasons(byRegionAndName, "f")).toEqual([
      "Selection: not one of clusterNames [g]",
      "Selection: has no Region, regions [fra-north] asked",
    ]);
    expect(split(byRegionAndName)).toEqual({ g: 1 });
  });

  it("Taints: an untolerated NoSchedule taint rejects a new cluster; a toleration lets it in", () => {
    const fleet = [
      cluster("a", { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
      cluster("b"),
    ];
    const o = run(duplicated(1), fleet);
    expect(reasons(o, "a")).toEqual(["Taints: does not tolerate dedicated=gpu:NoSchedule"]);
    expect(split(o)).toEqual({ b: 1 });
    expect(split(run(duplicated(1, { tolerations: [{ key: "dedicated", value: "gpu" }] }), fleet))).toEqual({
      a: 1,
      b: 1,
    });
    expect(split(run(duplicated(1, { tolerations: [{ key: "dedicated", value: "cpu" }] }), fleet))).toEqual({
      b: 1,
    });
  });

  it("Taints: a NoSchedule taint keeps what a cluster runs; a NoExecute taint evicts it", () => {
    const previous = [
      { cluster: "a", replicas: 3 },
      { cluster: "b", replicas: 3 },
    ];
    const noSchedule = run(
      divided(6),
      [sized("a", 16, 3, { taints: [{ key: "maintenance", effect: "NoSchedule" }] }), sized("b", 16, 3)],
      { previous },
    );
    expect(split(noSchedule)).toEqual({ a: 3, b: 3 });
    expect(reasons(noSchedule, "a")[0]).toBe(
      "Taints: does not tolerate maintenance:NoSchedule; keeps its 3 replicas, gets no new ones",
    );
    const noExecute = run(
      divided(6),
      [sized("a", 16, 3, { taints: [{ key: "maintenance", effect: "NoExecute" }] }), sized("b", 16, 3)],
      { previous },
    );
    expect(split(noExecute)).toEqual({ b: 6 });
    expect(reasons(noExecute, "a")).toEqual(["Taints: does not tolerate maintenance:NoExecute"]);
  });

  it("ApiResources: a cluster must serve every kind the manifests use; unknown counts as served", () => {
    const o = schedule({
      placement: spec(duplicated(1)),
      fleet: [cluster("a", { apiResources: ["apps/v1/Deployment", "v1/ConfigMap"] }), cluster("b")],
      demand: { ...demand, kinds: ["apps/v1/Deployment", "apps/v1/StatefulSet", "batch/v1/CronJob"] },
      now,
    });
    expect(reasons(o, "a")).toEqual(["ApiResources: does not serve apps/v1/StatefulSet, batch/v1/CronJob"]);
    expect(split(o)).toEqual({ b: 1 });
  });

  it("Health: beyond the tolerance, within it, and before the stable period", () => {
    const o = run(divided(4), [
      cluster("down", { ready: false, for: 90 }),
      cluster("flaky", { ready: false, for: 20 }),
      cluster("fresh", { ready: true, for: 100 }),
      cluster("ok"),
    ]);
    expect(reasons(o, "down")).toEqual(["Health: not ready for 90 s, beyond the 60 s tolerance"]);
    expect(reasons(o, "flaky")).toEqual(["Health: not ready for 20 s; gets replicas once ready for 300 s"]);
    expect(reasons(o, "fresh")).toEqual(["Health: ready for 100 s only; gets replicas once ready for 300 s"]);
    expect(split(o)).toEqual({ ok: 4 });
    const custom = run(
      divided(4, { failover: { toleranceSeconds: 120, stableSeconds: 60 } }),
      [
        sized("down", 16, 2, { ready: false, for: 90 }),
        sized("fresh", 16, 0, { for: 100 }),
        sized("ok", 16, 2),
      ],
      {
        previous: [
          { cluster: "down", replicas: 2 },
          { cluster: "ok", replicas: 2 },
        ],
      },
    );
    expect(reasons(custom, "down")[0]).toBe(
      "Health: not ready for 90 s, within the 120 s tolerance: keeps its 2 replicas, gets no new ones",
    );
    expect(split(custom)).toEqual({ down: 2, ok: 2 });
  });

  it("Resources: names each short resource, per replica or for the full Duplicated count", () => {
    const o = run(divided(2), [
      cluster("a", { cpu: 200 }),
      cluster("b", { memory: 100 * Mi, pods: 0 }),
      cluster("c"),
    ]);
    expect(reasons(o, "a")).toEqual(["Resources: needs 500m cpu per replica, 200m free"]);
    expect(reasons(o, "b")).toEqual([
      "Resources: needs 256Mi memory per replica, 100Mi free",
      "Resources: needs 1 pods per replica, 0 free",
    ]);
    const dup = run(duplicated(3), [cluster("a", { cpu: 1000 }), cluster("c")]);
    expect(reasons(dup, "a")).toEqual(["Resources: needs 1500m cpu for 3 replicas, 1 free"]);
    expect(split(dup)).toEqual({ c: 3 });
    const shrunk = run(divided(2), [cluster("a", { cpu: -300 }), cluster("c")], {
      previous: [
        { cluster: "a", replicas: 1 },
        { cluster: "c", replicas: 1 },
      ],
    });
    expect(reasons(shrunk, "a")).toEqual([
      "Resources: needs 500m cpu per replica, 200m free counting the 1 replica it runs",
    ]);
  });
});

describe("residency: one Location unless the placement lists several", () => {
  it("places a new application in the Location that can hold every replica, over a higher score", () => {
    const fleet = [
      sized("f1", 6, 0),
      sized("f2", 6, 0),
      sized("f3", 6, 0),
      sized("s1", 40, 0, { location: "sgp" }),
    ];
    const o = run(divided(20), fleet);
    expect(split(o)).toEqual({ s1: 20 });
    expect(reasons(o, "f1")).toEqual([
      "Residency: one Location only, sgp: of the Locations that can hold every replica and meet the spread, it scores highest (200)",
    ]);
    // When both can, the higher score (sum of totals) wins; equal scores go to the first name.
    expect(split(run(divided(6), fleet))).toEqual({ f1: 2, f2: 2, f3: 2 });
    expect(
      split(run(duplicated(1), [cluster("x", { location: "fra" }), cluster("y", { location: "ams" })])),
    ).toEqual({
      y: 1,
    });
  });

  it("stays where it runs even when another Location scores higher", () => {
    const o = run(divided(4), [sized("a", 16, 4), sized("s", 100, 0, { location: "sgp" })], {
      previous: [{ cluster: "a", replicas: 4 }],
    });
    expect(split(o)).toEqual({ a: 4 });
    expect(reasons(o, "s")).toEqual(["Residency: one Location only, fra: where the application runs"]);
  });

  it("never fails over to another Location: with every cluster of its Location down the replicas stay there", () => {
    const o = run(
      divided(4),
      [sized("a", 16, 4, { ready: false, for: 600 }), sized("s", 16, 0, { location: "sgp" })],
      {
        previous: [{ cluster: "a", replicas: 4 }],
      },
    );
    expect(split(o)).toEqual({ a: 4 });
    expect(o.unschedulable).toBeUndefined();
    expect(o.failoverBlocked?.reason).toBe("NoEligibleCluster");
    expect(o.failoverBlocked?.message).toMatch(
      /^replicas stay on a \(4\): no eligible cluster has room for them\. a: Health: not ready for 600 s, beyond/,
    );
  });

  it("fails over only what fits: the rest stays on the failed cluster", () => {
    const o = run(
      divided(4),
      [sized("a", 16, 4, { ready: false, for: 600 }), sized("b", 1, 0), sized("c", 0, 0)],
      { previous: [{ cluster: "a", replicas: 4 }] },
    );
    expect(split(o)).toEqual({ a: 3, b: 1 });
    expect(o.unschedulable).toBeUndefined();
    expect(o.failoverBlocked?.reason).toBe("InsufficientCapacity");
    expect(o.failoverBlocked?.message).toMatch(/b: full, fits 1; c: Resources: /);
  });

  it("keeps Duplicated copies on failed clusters only when no eligible cluster is left", () => {
    const down = { ready: false, for: 600 };
    const alone = run(duplicated(2), [sized("a", 16, 2, down), sized("b", 16, 2, down)], {
      previous: [
        { cluster: "a", replicas: 2 },
        { cluster: "b", replicas: 2 },
      ],
    });
    expect(split(alone)).toEqual({ a: 2, b: 2 });
    expect(alone.failoverBlocked?.reason).toBe("NoEligibleCluster");
    const other = run(duplicated(2), [sized("a", 16, 2, down), sized("b", 16, 2)], {
      previous: [
        { cluster: "a", replicas: 2 },
        { cluster: "b", replicas: 2 },
      ],
    });
    expect(split(other)).toEqual({ b: 2 });
    expect(other.failoverBlocked).toBeUndefined();
  });

  it("moves when the placement no longer selects its Location", () => {
    const o = run(
      divided(4, { locations: ["sgp"] }),
      [sized("a", 16, 4), sized("s", 16, 0, { location: "sgp" })],
      {
        previous: [{ cluster: "a", replicas: 4 }],
      },
    );
    expect(split(o)).toEqual({ s: 4 });
    expect(reasons(o, "a")).toEqual(["Selection: Location fra is not one of [sgp]"]);
  });

  it("spans the listed Locations, and fails over inside each one only", () => {
    const fleet = [sized("a1", 16, 0), sized("a2", 16, 0), sized("s1", 16, 0, { location: "sgp" })];
    const first = run(divided(9, { locations: ["fra", "sgp"] }), fleet);
    expect(split(first)).toEqual({ a1: 3, a2: 3, s1: 3 });
    const down = [
      sized("a1", 16, 3, { ready: false, for: 120 }),
      sized("a2", 16, 3),
      sized("s1", 16, 3, { location: "sgp" }),
    ];
    const after = run(divided(9, { locations: ["fra", "sgp"] }), down, { previous: asPrevious(first) });
    expect(split(after)).toEqual({ a2: 6, s1: 3 });
  });
});

describe("failover inside a Location", () => {
  const placement = divided(9);
  const fleetAt = (a: Shape, runs: Record<string, number>) => [
    sized("a", 16, runs.a ?? 0, a),
    sized("b", 16, runs.b ?? 0),
    sized("c", 16, runs.c ?? 0),
    sized("s", 100, 0, { location: "sgp" }),
  ];

  it("moves a cluster's share to its Location's others beyond the tolerance, back after the stable period", () => {
    const start = run(placement, fleetAt({}, {}));
    expect(split(start)).toEqual({ a: 3, b: 3, c: 3 });

    const within = run(placement, fleetAt({ ready: false, for: 59 }, split(start)), {
      previous: start.decisions,
    });
    expect(split(within)).toEqual({ a: 3, b: 3, c: 3 });

    const beyond = run(placement, fleetAt({ ready: false, for: 61 }, split(within)), {
      previous: within.decisions,
    });
    expect(split(beyond)).toEqual({ b: 5, c: 4 });
    expect(reasons(beyond, "b")).toContain("Stability: 3 → 5, the fewest moves; within ±1 of its ideal 5");

    const recovering = run(placement, fleetAt({ for: 299 }, split(beyond)), { previous: beyond.decisions });
    expect(split(recovering)).toEqual({ b: 5, c: 4 });
    expect(reasons(recovering, "a")).toEqual([
      "Health: ready for 299 s only; gets replicas once ready for 300 s",
    ]);

    const stable = run(placement, fleetAt({ for: 300 }, split(recovering)), {
      previous: recovering.decisions,
    });
    expect(split(stable)).toEqual({ a: 3, b: 3, c: 3 });
    expect(reasons(stable, "a")).toContain(
      "Rebalance: 0 → 3; the previous split strayed beyond the tolerance",
    );
  });

  it("does not flap: a cluster toggling faster than the tolerance keeps its replicas all along", () => {
    let previous = run(placement, fleetAt({}, {})).decisions;
    for (let t = 0; t < 20; t++) {
      const runs = Object.fromEntries(previous.map((d) => [d.cluster, d.replicas]));
      const o = run(placement, fleetAt({ ready: t % 2 === 1, for: 25 }, runs), { previous });
      expect(split(o)).toEqual({ a: 3, b: 3, c: 3 });
      previous = o.decisions;
    }
  });
});

describe("Divided replicas", () => {
  it("splits in proportion to how many fit: 3:1 free capacity gives 10 replicas as 8/2", () => {
    const o = run(divided(10), [sized("big", 30, 0), sized("small", 10, 0)]);
    expect(split(o)).toEqual({ big: 8, small: 2 });
    expect(reasons(o, "big")).toEqual(["Divided: 8 of 10 replicas (ideal 7.5, fits 30)"]);
    expect(reasons(o, "small")).toEqual(["Divided: 2 of 10 replicas (ideal 2.5, fits 10)"]);
  });

  it("places what fits and says how many do not", () => {
    const o = run(divided(10), [sized("a", 2, 0), sized("b", 3, 0)]);
    expect(split(o)).toEqual({ a: 2, b: 3 });
    expect(o.unschedulable?.reason).toBe("Resources: only 5 of 10 replicas fit in Location fra");
  });

  it("splits by static weights, the largest matching weight per cluster", () => {
    const o = run(
      {
        replicas: {
          mode: "Divided",
          count: 9,
          weighting: "Static",
          weights: [
            { clusterNames: ["a"], weight: 2 },
            { clusterSelector: { matchLabels: { tier: "web" } }, weight: 1 },
          ],
        },
      },
      [cluster("a", { labels: { tier: "web" } }), cluster("b", { labels: { tier: "web" } }), cluster("c")],
    );
    expect(split(o)).toEqual({ a: 6, b: 3 });
    expect(reasons(o, "c")).toEqual(["Divided: no static weight names this cluster"]);
  });

  it("gives static weights exactly the split they ask for, whatever ran before: 1:2 of 9 is 3/6", () => {
    const weighted = divided(9, {
      replicas: {
        mode: "Divided",
        count: 9,
        weighting: "Static",
        weights: [
          { clusterNames: ["a"], weight: 1 },
          { clusterNames: ["b"], weight: 2 },
        ],
      },
    });
    const fleet = [sized("a", 16, 4), sized("b", 16, 5)];
    // 4/5 ran before (an even split by capacity): within ±1 of 3/6, but the weights ask for 3/6.
    const o = run(weighted, fleet, {
      previous: [
        { cluster: "a", replicas: 4 },
        { cluster: "b", replicas: 5 },
      ],
    });
    expect(split(o)).toEqual({ a: 3, b: 6 });
    expect(reasons(o, "b")).toContain("Static: 5 → 6, the split the weights ask for");
    expect(split(run(weighted, [sized("a", 16, 0), sized("b", 16, 0)]))).toEqual({ a: 3, b: 6 });
  });

  it("gives a static share of one back to a recovered cluster after the stable period", () => {
    const weighted = divided(7, {
      replicas: {
        mode: "Divided",
        count: 7,
        weighting: "Static",
        weights: [
          { clusterNames: ["a"], weight: 1 },
          { clusterNames: ["b", "c"], weight: 3 },
        ],
      },
    });
    const previous = [
      { cluster: "b", replicas: 4 },
      { cluster: "c", replicas: 3 },
    ];
    // a failed over (its 1 went to b); once ready for the stable period it gets its 1 back: 1/3/3.
    const recovering = run(
      weighted,
      [sized("a", 16, 0, { for: 299 }), sized("b", 16, 4), sized("c", 16, 3)],
      {
        previous,
      },
    );
    expect(split(recovering)).toEqual({ b: 4, c: 3 });
    const back = run(weighted, [sized("a", 16, 0, { for: 300 }), sized("b", 16, 4), sized("c", 16, 3)], {
      previous,
    });
    expect(split(back)).toEqual({ a: 1, b: 3, c: 3 });
  });

  it("keeps a static split its room caps within the tolerance, as a split by capacity", () => {
    const weighted = divided(12, {
      replicas: {
        mode: "Divided",
        count: 12,
        weighting: "Static",
        weights: [{ clusterNames: ["a", "b", "c"], weight: 1 }],
      },
    });
    // a has room for 2 in all, below its share of 4: 2/5/5. Room for 3, still below 4, moves nothing.
    const capped = run(weighted, [sized("a", 2, 0), sized("b", 16, 0), sized("c", 16, 0)]);
    expect(split(capped)).toEqual({ a: 2, b: 5, c: 5 });
    const previous = capped.decisions;
    const roomier = run(weighted, [sized("a", 3, 2), sized("b", 16, 5), sized("c", 16, 5)], { previous });
    expect(split(roomier)).toEqual({ a: 2, b: 5, c: 5 });
    // Room for its whole share: exactly 4/4/4.
    const room = run(weighted, [sized("a", 4, 2), sized("b", 16, 5), sized("c", 16, 5)], { previous });
    expect(split(room)).toEqual({ a: 4, b: 4, c: 4 });
  });

  it("keeps the previous split while capacity changes stay within the tolerance, rebalances beyond", () => {
    const previous = [
      { cluster: "big", replicas: 8 },
      { cluster: "small", replicas: 2 },
    ];
    const grown = run(divided(10), [sized("big", 30, 8), sized("small", 12, 2)], { previous });
    expect(split(grown)).toEqual({ big: 8, small: 2 });
    expect(reasons(grown, "big")).toContain("Stability: keeps 8, within ±1 of its ideal 7");
    const doubled = run(divided(10), [sized("big", 30, 8), sized("small", 42, 2)], { previous });
    expect(split(doubled)).toEqual({ big: 4, small: 6 });
  });

  it("sheds replicas from a cluster that lost nodes", () => {
    // big ran 8 and now has room for 4 in all (free is negative: requests exceed allocatable).
    const o = run(divided(10), [sized("big", 4, 8), sized("small", 18, 2)], {
      previous: [
        { cluster: "big", replicas: 8 },
        { cluster: "small", replicas: 2 },
      ],
    });
    expect(split(o)).toEqual({ big: 2, small: 8 });
  });

  it("moves as few replicas as it can when the count changes", () => {
    const previous = [
      { cluster: "big", replicas: 8 },
      { cluster: "small", replicas: 2 },
    ];
    const fleet = [sized("big", 30, 8), sized("small", 10, 2)];
    expect(split(run(divided(12), fleet, { previous }))).toEqual({ big: 9, small: 3 });
    expect(split(run(divided(8), fleet, { previous }))).toEqual({ big: 6, small: 2 });
  });
});

describe("Duplicated replicas", () => {
  it("runs the full count on every chosen cluster; a held cluster keeps what it runs", () => {
    const o = run(duplicated(3), [cluster("a"), cluster("b", { ready: false, for: 10 }), cluster("c")], {
      previous: [
        { cluster: "a", replicas: 2 },
        { cluster: "b", replicas: 2 },
      ],
    });
    expect(split(o)).toEqual({ a: 3, b: 2, c: 3 });
  });
});

describe("spread", () => {
  const zoned = (name: string, zone: string, total = 16, s: Shape = {}) =>
    sized(name, total, 0, { zones: [zone], ...s });

  it("is unschedulable, with the zones it found, when minGroups cannot be met", () => {
    const o = run(duplicated(1, { spread: [{ by: "zone", minGroups: 3 }] }), [
      zoned("a", "fra-1"),
      zoned("b", "fra-2"),
      zoned("c", "fra-2"),
      zoned("d", "fra-3", 16, { ready: false, for: 600 }),
    ]);
    expect(o.decisions).toEqual([]);
    expect(o.unschedulable?.reason).toBe(
      "Spread: needs at least 3 zones in Location fra, the eligible clusters cover 2 (fra-1, fra-2)",
    );
  });

  it("stops at maxGroups, taking the clusters it already runs on first", () => {
    const fleet = [zoned("a", "fra-1"), zoned("b", "fra-2"), zoned("c", "fra-3")];
    const o = run(duplicated(1, { spread: [{ by: "zone", maxGroups: 2 }] }), fleet);
    expect(split(o)).toEqual({ a: 1, b: 1 });
    expect(reasons(o, "c")).toEqual([
      "Spread: would bring the application to 3 zones, above maxGroups 2 (it uses fra-1, fra-2)",
    ]);
    const stays = run(duplicated(1, { spread: [{ by: "zone", maxGroups: 2 }] }), fleet, {
      previous: [
        { cluster: "c", replicas: 1 },
        { cluster: "b", replicas: 1 },
      ],
    });
    expect(split(stays)).toEqual({ b: 1, c: 1 });
  });

  it("moves Divided replicas so that they cover minGroups", () => {
    const o = run(divided(2, { spread: [{ by: "zone", minGroups: 2 }] }), [
      zoned("a", "fra-1", 30),
      zoned("b", "fra-1", 30),
      zoned("c", "fra-2", 2),
    ]);
    expect(split(o)).toEqual({ a: 1, c: 1 });
    expect(reasons(o, "c")).toContain("Spread: given a replica from b to cover minGroups 2");
    const tooFew = run(divided(1, { spread: [{ by: "zone", minGroups: 2 }] }), [
      zoned("a", "fra-1"),
      zoned("c", "fra-2"),
    ]);
    expect(tooFew.unschedulable?.reason).toBe(
      "Spread: the replicas cover 1 zones, fewer than minGroups 2 (fra-1)",
    );
    expect(tooFew.decisions).toEqual([]);
  });

  it("keeps to one Region with maxGroups 1, the roomiest", () => {
    const o = run(divided(6, { spread: [{ by: "region", maxGroups: 1 }] }), [
      sized("n1", 8, 0, { region: "north" }),
      sized("n2", 8, 0, { region: "north" }),
      sized("s1", 10, 0, { region: "south" }),
    ]);
    expect(split(o)).toEqual({ n1: 3, n2: 3 });
  });
});

describe("unschedulable", () => {
  it("says when no cluster matches, and which filters rejected the selected ones", () => {
    expect(run(duplicated(1, { businesses: ["ads"] }), [cluster("a")]).unschedulable).toEqual({
      reason: "Selection: no cluster matches the placement",
    });
    expect(
      run(duplicated(1), [cluster("a", { ready: false, for: 600 }), cluster("b", { cpu: 0 })]).unschedulable,
    ).toEqual({ reason: "no eligible cluster: 2 clusters selected, rejected by Health 1, Resources 1" });
  });
});

describe("determinism and the fleet index", () => {
  const fleet = [
    sized("a", 30, 0, { zones: ["fra-1"] }),
    sized("b", 10, 0, { zones: ["fra-2"] }),
    sized("c", 12, 0, { location: "sgp", zones: ["sgp-1"] }),
  ];
  const input: ScheduleInput = { placement: spec(divided(10)), fleet, demand, now };

  it("gives the same outcome for the same input, with or without a prebuilt index", () => {
    const once = schedule(input);
    expect(schedule(input)).toEqual(once);
    expect(schedule({ ...input, fleet: [...fleet].reverse() })).toEqual(once);
    expect(schedule(input, indexFleet(fleet))).toEqual(once);
  });

  it("traces every cluster by default, only the selected ones and where it runs when asked", () => {
    const narrow = {
      ...input,
      placement: spec(divided(10, { clusterNames: ["a"] })),
      previous: [{ cluster: "b", replicas: 1 }],
    };
    expect(schedule(narrow).trace.map((t) => t.cluster)).toEqual(["a", "b", "c"]);
    expect(schedule(narrow, indexFleet(fleet), { trace: "placed" }).trace.map((t) => t.cluster)).toEqual([
      "a",
      "b",
    ]);
  });
});

// --- properties ---------------------------------------------------------------------------------------

const locationNames = ["ams", "fra", "sgp"];
const zoneNames = ["z1", "z2", "z3"];

const clusterArb = fc.record({
  location: fc.constantFrom(...locationNames),
  zones: fc.subarray(zoneNames),
  environment: fc.constantFrom("prod", "dev"),
  taint: fc.constantFrom(undefined, "NoSchedule", "PreferNoSchedule", "NoExecute"),
  cpu: fc.integer({ min: -3000, max: 12_000 }),
  pods: fc.integer({ min: 0, max: 30 }),
  serves: fc.constantFrom(undefined, true, false),
  ready: fc.boolean(),
  for: fc.integer({ min: 0, max: 1000 }),
  running: fc.integer({ min: 0, max: 6 }),
});

const placementArb = fc.record({
  mode: fc.constantFrom("Divided", "Duplicated"),
  count: fc.integer({ min: 1, max: 30 }),
  locations: fc.constantFrom<string[] | undefined>(undefined, ["fra"], ["fra", "sgp"], ["ams", "fra", "sgp"]),
  environments: fc.constantFrom<string[] | undefined>(undefined, ["prod"]),
  spread: fc.constantFrom<SpreadConstraint[] | undefined>(
    undefined,
    [{ by: "zone" as const, minGroups: 2 }],
    [{ by: "zone" as const, maxGroups: 1 }],
    [{ by: "location" as const, maxGroups: 2 }],
  ),
  tolerate: fc.boolean(),
});

const scenarioArb = fc.record({
  clusters: fc.array(clusterArb, { minLength: 1, maxLength: 10 }),
  placement: placementArb,
  seed: fc.integer(),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function build(s: Scenario): ScheduleInput {
  const fleet = s.clusters.map((c, i) =>
    cluster(`c${i}`, {
      location: c.location,
      zones: c.zones,
      environment: c.environment,
      taints: c.taint ? [{ key: "t", effect: c.taint as "NoSchedule" }] : [],
      cpu: c.cpu,
      pods: c.pods,
      ...(c.serves === undefined ? {} : { apiResources: c.serves ? demand.kinds : [] }),
      ready: c.ready,
      for: c.for,
    }),
  );
  const p = s.placement;
  const previous = s.clusters.flatMap((c, i) =>
    c.running > 0 ? [{ cluster: `c${i}`, replicas: c.running }] : [],
  );
  return {
    placement: spec({
      replicas:
        p.mode === "Divided" ? { mode: "Divided", count: p.count } : { mode: "Duplicated", count: p.count },
      ...(p.locations ? { locations: p.locations } : {}),
      ...(p.environments ? { environments: p.environments } : {}),
      ...(p.spread && !(p.spread[0]!.by === "location" && (p.locations?.length ?? 0) < 2)
        ? { spread: p.spread }
        : {}),
      ...(p.tolerate ? { tolerations: [{ key: "t", operator: "Exists" as const }] } : {}),
    }),
    fleet,
    demand,
    previous,
    now,
  };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("properties", () => {
  it("hold for any fleet, placement and previous split", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const input = build(s);
        const o = schedule(input);
        const byName = new Map(o.trace.map((t) => [t.cluster, t]));
        const running = new Map((input.previous ?? []).map((a) => [a.cluster, a.replicas]));
        const total = o.decisions.reduce((n, d) => n + d.replicas, 0);
        if (input.placement.replicas.mode === "Divided") {
          if (!o.unschedulable) expect(total).toBe(input.placement.replicas.count);
          expect(total).toBeLessThanOrEqual(input.placement.replicas.count);
        }
        for (const d of o.decisions) {
          expect(d.replicas).toBeGreaterThan(0);
          // An unfit cluster keeps replicas only as a failover with nowhere to go: at most what it runs.
          if (byName.get(d.cluster)?.verdict === "unfit") {
            expect(o.failoverBlocked).toBeDefined();
            expect(d.replicas).toBeLessThanOrEqual(running.get(d.cluster) ?? 0);
            expect(byName.get(d.cluster)?.reasons.some((r) => /^Health: not ready .* beyond/.test(r))).toBe(
              true,
            );
            continue;
          }
          const facts = input.fleet.find((c) => c.name === d.cluster)!;
          const fit =
            (running.get(d.cluster) ?? 0) +
            Math.min(
              Math.floor(facts.free.cpuMilli / 500),
              Math.floor(facts.free.memoryBytes / (256 * Mi)),
              facts.free.pods,
            );
          expect(d.replicas).toBeLessThanOrEqual(fit);
        }
        const locations = new Set(
          o.decisions.map((d) => input.fleet.find((c) => c.name === d.cluster)!.location),
        );
        const listed = input.placement.locations ?? [];
        if (listed.length < 2) expect(locations.size).toBeLessThanOrEqual(1);
        if (listed.length > 0) for (const l of locations) expect(listed).toContain(l);
        expect(o.decisions.map((d) => d.cluster)).toEqual([...o.decisions.map((d) => d.cluster)].sort());
      }),
      { numRuns: 500 },
    );
  });

  it("do not depend on the order of the fleet or of the previous split", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const input = build(s);
        const permuted = {
          ...input,
          fleet: shuffled(input.fleet, s.seed),
          previous: shuffled(input.previous ?? [], s.seed + 1),
        };
        expect(schedule(permuted)).toEqual(schedule(input));
      }),
      { numRuns: 300 },
    );
  });

  it("give the same decisions whether the trace covers the whole fleet or only where it is placed", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const input = build(s);
        const all = schedule(input);
        const placed = schedule(input, indexFleet(input.fleet), { trace: "placed" });
        expect(placed.decisions).toEqual(all.decisions);
        expect(placed.unschedulable).toEqual(all.unschedulable);
        const traced = new Map(all.trace.map((t) => [t.cluster, t]));
        for (const t of placed.trace) if (t.chosen) expect(t).toEqual(traced.get(t.cluster));
      }),
      { numRuns: 300 },
    );
  });

  it("are stable: scheduling again from its own outcome changes nothing", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const input = build({ ...s, clusters: s.clusters.map((c) => ({ ...c, running: 0 })) });
        const first = schedule(input);
        // The snapshot after the first decision: each cluster's free capacity less what it now runs.
        const fleet = input.fleet.map((c) => {
          const r = first.decisions.find((d) => d.cluster === c.name)?.replicas ?? 0;
          return {
            ...c,
            free: {
              cpuMilli: c.free.cpuMilli - r * 500,
              memoryBytes: c.free.memoryBytes - r * 256 * Mi,
              pods: c.free.pods - r,
            },
          };
        });
        const second = schedule({ ...input, fleet, previous: first.decisions });
        expect(second.decisions).toEqual(first.decisions);
      }),
      { numRuns: 300 },
    );
  });
});
