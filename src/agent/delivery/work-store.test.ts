import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type StoredWork, WorkStore } from "./work-store.ts";

const dirs: string[] = [];
const agentDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "unitfleet-works-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const work = (application: string, generation = 1): StoredWork => ({
  application,
  generation,
  manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "n" } }],
  applied: [{ apiVersion: "v1", kind: "ConfigMap", namespace: "n", name: "a", generation }],
});

describe("the works an agent holds on disk", () => {
  it("gives back, after a restart, the latest generation of each work saved", async () => {
    const dir = agentDir();
    const before = new WorkStore(dir);
    await before.save(work("web", 1));
    await before.save(work("web", 2));
    await before.save(work("api", 1));
    const { works, skipped } = await new WorkStore(dir).load();
    expect(works.map((w) => [w.application, w.generation])).toEqual([
      ["api", 1],
      ["web", 2],
    ]);
    expect(skipped).toEqual([]);
    expect(readdirSync(join(dir, "works")).sort()).toEqual(["api.json", "web.json"]);
  });

  it("forgets a deleted work, and starts empty without a works folder", async () => {
    const dir = agentDir();
    const store = new WorkStore(dir);
    expect((await store.load()).works).toEqual([]);
    await store.save(work("web"));
    await store.delete("web");
    expect((await store.load()).works).toEqual([]);
  });

  it("skips files that are not works (cut short, wrong shape, misnamed) and a leftover temporary file", async () => {
    const dir = agentDir();
    const store = new WorkStore(dir);
    await store.save(work("web"));
    writeFileSync(join(dir, "works", "cut.json"), '{"application":"cut","gen');
    writeFileSync(join(dir, "works", "shape.json"), '{"application":"shape"}');
    writeFileSync(join(dir, "works", "other.json"), JSON.stringify(work("web")));
    writeFileSync(join(dir, "works", "web.json.abc.tmp"), "{");
    const { works, skipped } = await store.load();
    expect(works.map((w) => w.application)).toEqual(["web"]);
    expect(skipped.map((s) => s.file.split("/").at(-1))).toEqual(["cut.json", "other.json", "shape.json"]);
  });

  it("refuses a name that is not an Application's (it would leave the works folder)", async () => {
    await expect(new WorkStore(agentDir()).save(work("../escape"))).rejects.toThrow(
      "not an application name",
    );
  });
});
