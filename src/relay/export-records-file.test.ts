import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exportRecordFixture } from "../core/multicluster-services/export-record.test-support.ts";
import { ExportRecordsFile } from "./export-records-file.ts";
import type { SavedCluster } from "./location-services.ts";

const record = (cluster: string, name: string) => exportRecordFixture(cluster, name);

const location: SavedCluster[] = [
  {
    cluster: "fra-a",
    region: "north",
    down: false,
    records: [record("fra-a", "cart"), record("fra-a", "web")],
  },
  { cluster: "fra-b", region: "", down: true, records: [record("fra-b", "cart")] },
];

describe("the relay's export records on disk", () => {
  let dir: string;
  let logs: Array<Record<string, unknown>>;
  let file: ExportRecordsFile;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "unitfleet-export-records-"));
    logs = [];
    file = new ExportRecordsFile(join(dir, "relay", "export-records.jsonl"), (e) => logs.push(e));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads back what it wrote, replacing the file whole and leaving no temporary file", async () => {
    expect(await file.load()).toEqual([]);
    expect(logs).toEqual([]); // no file yet is not a problem
    await file.save([{ ...location[0]!, records: [record("fra-a", "old")] }]);
    await file.save(location);
    expect(await file.load()).toEqual(location);
    expect(await readdir(join(dir, "relay"))).toEqual(["export-records.jsonl"]);
    expect((await stat(file.file)).mode & 0o777).toBe(0o600);
  });

  const broken: Array<[string, (text: string) => string, string]> = [
    ["garbage", () => "\u0000\u0001 not json at all", "line 1: not JSON"],
    ["an empty file", () => "", "the file is empty"],
    ["another format", (t) => t.replace("relay-export-records", "something-else"), "line 1: format: "],
    [
      "a file cut short",
      (t) => t.split("\n").slice(0, 3).join("\n"),
      'cut short: cluster "fra-a" has 1 of its 2',
    ],
    [
      "a record that breaks the schema",
      (t) => t.replace('"port":8080', '"port":-1'),
      "line 3: endpointGroups.0.ports.0.port: ",
    ],
    [
      "a record of another cluster",
      (t) => t.replace('"cluster":"fra-b","namespace"', '"cluster":"fra-a","namespace"'),
      'line 6: cluster: a record of "fra-a" among those of "fra-b"',
    ],
    [
      "a cluster named twice",
      (t) => t.replace('"cluster":"fra-b","region"', '"cluster":"fra-a","region"'),
      'line 5: cluster: "fra-a" appears twice',
    ],
  ];
  for (const [what, damage, error] of broken)
    it(`starts empty and says where when it finds ${what}`, async () => {
      await file.save(location);
      await writeFile(file.file, damage(await readFile(file.file, "utf8")));
      expect(await file.load()).toEqual([]);
      expect(logs).toHaveLength(1);
      expect(logs[0]).toMatchObject({ level: "warn", file: file.file });
      expect(logs[0]!.error).toContain(error);
    });

  it("fails a write without touching the old copy", async () => {
    await file.save(location);
    const bad = {
      ...location[0]!,
      records: [
        {
          toJSON: () => {
            throw new Error("cannot serialise");
          },
        },
      ],
    };
    await expect(file.save([bad as unknown as SavedCluster])).rejects.toThrow("cannot serialise");
    expect(await file.load()).toEqual(location);
    expect(await readdir(join(dir, "relay"))).toEqual(["export-records.jsonl"]);
  });
});
