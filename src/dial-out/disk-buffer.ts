/**
 * Metadata kept on disk while the tunnel is down (Location autonomy): an append-only file of JSON lines next
 * to the agent's or relay's credentials. It is bounded by entries and bytes; when full, the oldest entry is
 * dropped and counted — the newest state matters most, and a gap is healed by a snapshot (the hub asks for one
 * when a delta does not follow what it holds). It survives a restart of the process: whatever was buffered
 * is read back on start and delivered with the next session.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface DiskBufferLimits {
  maxEntries: number;
  maxBytes: number;
}

export const defaultBufferLimits: DiskBufferLimits = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 };

export class DiskBuffer<T> {
  private readonly file: string;
  private readonly limits: DiskBufferLimits;
  private entries: Array<{ line: string; item: T }> = [];
  private bytes = 0;
  /** Entries dropped because the buffer was full, since this process started. */
  dropped = 0;
  /** Dropped entries still in the file: it is rewritten when they pile up. */
  private stale = 0;

  constructor(file: string, limits: DiskBufferLimits = defaultBufferLimits) {
    this.file = file;
    this.limits = limits;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      // No buffer yet.
    }
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        this.entries.push({ line, item: JSON.parse(line) as T });
        this.bytes += line.length + 1;
      } catch {
        // A line cut short by a crash: skip it.
      }
    }
    this.trim();
    this.rewrite();
  }

  /** Keeps an item; drops the oldest ones if the buffer is over its limits. */
  append(item: T): void {
    const line = JSON.stringify(item);
    appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
    this.entries.push({ line, item });
    this.bytes += line.length + 1;
    this.trim();
    if (this.stale > this.limits.maxEntries / 2) this.rewrite();
  }

  /** Everything buffered, oldest first; the buffer is empty afterwards. */
  drain(): T[] {
    const items = this.entries.map((e) => e.item);
    this.entries = [];
    this.bytes = 0;
    this.rewrite();
    return items;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.length, bytes: this.bytes };
  }

  private trim(): void {
    while (
      this.entries.length > 0 &&
      (this.entries.length > this.limits.maxEntries || this.bytes > this.limits.maxBytes)
    ) {
      const oldest = this.entries.shift()!;
      this.bytes -= oldest.line.length + 1;
      this.dropped += 1;
      this.stale += 1;
    }
  }

  /** Writes the file anew with what is kept (atomically: a crash leaves the old or the new one). */
  private rewrite(): void {
    const next = `${this.file}.next`;
    writeFileSync(next, this.entries.map((e) => `${e.line}\n`).join(""), { mode: 0o600 });
    renameSync(next, this.file);
    this.stale = 0;
  }
}
