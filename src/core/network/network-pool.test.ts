import { describe, expect, it } from "vitest";
import { problemsFromZod } from "../validation/zod-problems.ts";
import {
  type NetworkPoolLike,
  type NetworkPoolSpec,
  networkPoolConflicts,
  networkPoolSpec,
  parseDuration,
  poolIdRules,
} from "./network-pool.ts";

const specProblems = (spec: unknown) => {
  const parsed = networkPoolSpec.safeParse(spec);
  return parsed.success ? [] : problemsFromZod(parsed.error, ["spec"]);
};
const pool = (name: string, spec: NetworkPoolSpec): NetworkPoolLike => ({ metadata: { name }, spec });
const frankfurt = pool("frankfurt", {
  location: "frankfurt",
  pods: ["10.0.0.0/12", "fd00:10::/48"],
  services: ["10.96.0.0/12", "fd00:96::/100"],
  nodes: ["10.128.0.0/16", "fd00:128::/56"],
});

describe("networkPoolSpec", () => {
  it("accepts a dual-stack Location pool and a Region child; defaults IDs to 1..255 and 720h", () => {
    expect(specProblems(frankfurt.spec)).toEqual([]);
    expect(
      specProblems({ location: "frankfurt", region: "fra-north", pods: ["10.0.0.0/14", "fd00:10::/50"] }),
    ).toEqual([]);
    expect(poolIdRules(frankfurt)).toEqual({ first: 1, last: 255, quarantineMs: 720 * 3_600_000 });
  });

  it("lists every problem of a spec with its field path", () => {
    const problems = specProblems({
      location: "frankfurt",
      pods: ["10.0.0.1/8", "192.168.0.0/16"],
      services: ["192.168.96.0/20", "127.0.0.0/16"],
      clusterIds: { first: 1, last: 512 },
      retiredIdQuarantine: "30 days",
    });
    expect(problems).toEqual([
      { path: "spec.pods[0]", message: expect.stringContaining("host bits set: the block is 10.0.0.0/8") },
      { path: "spec.services[1]", message: expect.stringContaining("loopback") },
      { path: "spec.clusterIds.last", message: expect.stringContaining("1 to 511") },
      { path: "spec.retiredIdQuarantine", message: expect.stringContaining("720h") },
      {
        path: "spec.services[0]",
        message: expect.stringContaining("overlaps spec.pods[1] (192.168.0.0/16)"),
      },
    ]);
  });

  it("refuses a root without pods or services, mixed stacks, and IDs or quarantine on a child", () => {
    expect(specProblems({ location: "frankfurt", services: ["10.96.0.0/12"] })).toEqual([
      { path: "spec.pods", message: expect.stringContaining("required") },
    ]);
    expect(
      specProblems({ location: "frankfurt", pods: ["10.0.0.0/12", "fd00::/48"], services: ["10.96.0.0/12"] }),
    ).toEqual([{ path: "spec.services", message: expect.stringContaining("single-stack or dual-stack") }]);
    expect(
      specProblems({
        location: "frankfurt",
        region: "fra-north",
        pods: ["10.0.0.0/14"],
        clusterIds: { first: 1, last: 9 },
        retiredIdQuarantine: "1h",
      }).map((p) => p.path),
    ).toEqual(["spec.clusterIds", "spec.retiredIdQuarantine"]);
    expect(specProblems({ location: "frankfurt", region: "fra-north" })).toEqual([
      { path: "spec.region", message: expect.stringContaining("at least one") },
    ]);
    expect(
      specProblems({
        location: "f",
        pods: ["10.0.0.0/12"],
        services: ["10.96.0.0/12"],
        clusterIds: { first: 9, last: 3 },
      }),
    ).toEqual([{ path: "spec.clusterIds.last", message: expect.stringContaining("below first") }]);
  });

  it("reads durations the Kubernetes way", () => {
    expect(parseDuration("720h")).toEqual({ ok: true, ms: 720 * 3_600_000 });
    expect(parseDuration("1h30m")).toEqual({ ok: true, ms: 90 * 60_000 });
    expect(parseDuration("0s")).toEqual({ ok: true, ms: 0 });
    for (const bad of ["", "30d", "1.5h", "h"]) expect(parseDuration(bad).ok, bad).toBe(false);
  });
});

describe("networkPoolConflicts", () => {
  const north = pool("fra-north", {
    location: "frankfurt",
    region: "fra-north",
    pods: ["10.0.0.0/14", "fd00:10::/50"],
  });

  it("accepts a child inside its root, and pools of other Locations that overlap", () => {
    const singapore = pool("singapore", { ...frankfurt.spec, location: "singapore" });
    const all = [frankfurt, north, singapore];
    for (const p of all) expect(networkPoolConflicts(p, all), p.metadata.name).toEqual([]);
  });

  it("refuses a second pool for one Location, naming the first", () => {
    const second = pool("frankfurt-2", {
      ...frankfurt.spec,
      pods: ["10.200.0.0/16"],
      services: ["10.201.0.0/16"],
    });
    expect(networkPoolConflicts(second, [frankfurt, second])).toEqual([
      { path: "spec.location", message: expect.stringContaining('already has NetworkPool "frankfurt"') },
    ]);
  });

  it("refuses a child outside its parent, overlapping a sibling, without a parent, or a second for a Region", () => {
    const stray = pool("fra-south", {
      location: "frankfurt",
      region: "fra-south",
      pods: ["10.2.0.0/16", "10.64.0.0/16", "fd00:10::/52"],
    });
    expect(networkPoolConflicts(stray, [frankfurt, north, stray])).toEqual([
      {
        path: "spec.pods[0]",
        message: expect.stringContaining('overlaps 10.0.0.0/14 of NetworkPool "fra-north"'),
      },
      {
        path: "spec.pods[1]",
        message: expect.stringContaining(
          'not inside any pods block of NetworkPool "frankfurt" (10.0.0.0/12, fd00:10::/48)',
        ),
      },
      { path: "spec.pods[2]", message: expect.stringContaining("overlaps fd00:10::/50") },
    ]);
    expect(networkPoolConflicts(north, [north])).toEqual([
      { path: "spec.location", message: expect.stringContaining("no NetworkPool without region") },
    ]);
    const twin = pool("fra-north-2", {
      location: "frankfurt",
      region: "fra-north",
      services: ["10.96.0.0/16"],
    });
    expect(networkPoolConflicts(twin, [frankfurt, north, twin])).toEqual([
      { path: "spec.region", message: expect.stringContaining('already has NetworkPool "fra-north"') },
      { path: "spec.services", message: expect.stringContaining("IPv4 while") },
    ]);
  });

  it("refuses shrinking a root below its children", () => {
    const shrunk = pool("frankfurt", { ...frankfurt.spec, pods: ["10.4.0.0/14", "fd00:10::/48"] });
    expect(networkPoolConflicts(shrunk, [shrunk, north])).toEqual([
      {
        path: "spec.pods",
        message: expect.stringContaining("has 10.0.0.0/14 in its pods, outside this pool's pods"),
      },
    ]);
  });
});
