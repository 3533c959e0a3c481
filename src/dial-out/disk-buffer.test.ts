import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DiskBuffer } from "./disk-buffer.ts";

const dirs: string[] = [];
const fileIn = () => {
  const dir = mkdtempSync(join(tmpdir(), "unitfleet-buffer-"));
  dirs.push(dir);
  return join(dir, "agent", "metadata-buffer.jsonl");
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("the metadata buffer on disk", () => {
  it("gives back what was appended, oldest first, and is empty afterwards", () => {
    const buffer = new DiskBuffer<{ n: number }>(fileIn());
    for (let n = 1; n <= 5; n++) buffer.append({ n });
    expect(buffer.size.entries).toBe(5);
    expect(buffer.drain().map((i) => i.n)).toEqual([1, 2, 3, 4, 5]);
    expect(buffer.size).toEqual({ entries: 0, bytes: 0 });
    expect(buffer.drain()).toEqual([]);
  });

  it("survives a restart of the process: a new buffer on the same file holds what the old one kept", () => {
    const file = fileIn();
    const before = new DiskBuffer<{ n: number }>(file);
    before.append({ n: 1 });
    before.append({ n: 2 });
    const after = new DiskBuffer<{ n: number }>(file);
    expect(after.drain().map((i) => i.n)).toEqual([1, 2]);
    expect(readFileSync(file, "utf8")).toBe("");
  });

  it("drops the oldest entries when full, counts them, and keeps the file to the limit", () => {
    const file = fileIn();
    const buffer = new DiskBuffer<{ n: number }>(file, { maxEntries: 3, maxBytes: 1_000_000 });
    for (let n = 1; n <= 10; n++) buffer.append({ n });
    expect(buffer.dropped).toBe(7);
    expect(new DiskBuffer<{ n: number }>(file, { maxEntries: 3, maxBytes: 1_000_000 }).drain()).toEqual([
      { n: 8 },
      { n: 9 },
      { n: 10 },
    ]);
  });

  it("is bounded by bytes as well as by entries", () => {
    const buffer = new DiskBuffer<{ text: string }>(fileIn(), { maxEntries: 1000, maxBytes: 250 });
    for (let i = 0; i < 10; i++) buffer.append({ text: `${i}`.repeat(40) });
    expect(buffer.size.bytes).toBeLessThanOrEqual(250);
    expect(buffer.dropped).toBe(10 - buffer.size.entries);
    expect(buffer.drain().at(-1)?.text).toBe("9".repeat(40));
  });

  it("skips a line a crash cut short and keeps the others", () => {
    const file = fileIn();
    const buffer = new DiskBuffer<{ n: number }>(file);
    buffer.append({ n: 1 });
    appendFileSync(file, '{"n": 2');
    expect(new DiskBuffer<{ n: number }>(file).drain()).toEqual([{ n: 1 }]);
  });
});
