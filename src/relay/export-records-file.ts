/**
 * The relay's copy on disk of its Location's export records (issue 15, docs/multi-cluster-services.md), so that a
 * restarted relay can give a reconnecting agent the other clusters' records at once instead of nothing until they
 * reconnect too. One file in the relay's directory, `export-records.jsonl`, written whole and atomically (a
 * temporary file, flushed, then renamed over the old one) and read back on start.
 *
 * The format is JSON lines, so that neither writing nor reading ever holds more than one record's text at a time
 * beside what the relay holds anyway: a header line, then for each cluster a line naming it, its Region, whether
 * it was withdrawn and how many records follow, then those records one a line.
 *
 * A file that is missing starts the relay empty; one that cannot be read, or does not parse as this format whole
 * (a bad line, a record of another cluster, a count that does not match), is logged with where it went wrong and
 * also starts the relay empty. Never an exception: the file is a cache, and the agents send their sets again.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { exportRecordSchema } from "../core/multicluster-services/export-record.ts";
import { dns1123Label } from "../core/validation/names.ts";
import type { Log } from "../runtime/runnable.ts";
import type { ExportRecordsStore, SavedCluster } from "./location-services.ts";

const format = "unitfleet.io/relay-export-records";
const version = 1;

const headerSchema = z.strictObject({ format: z.literal(format), version: z.literal(version) });
const name = z.string().max(63).regex(dns1123Label, "must be a DNS label");
const clusterLineSchema = z.strictObject({
  cluster: name,
  region: z.union([z.literal(""), name]),
  down: z.boolean(),
  records: z.number().int().min(0),
});

/** How much text is gathered before one write to the file. */
const chunkBytes = 256 * 1024;

/** Where a file went wrong: the line (1-based) and what was wrong with it, with the field path. */
class UnreadableLine extends Error {}

function problem(line: number, error: z.ZodError): string {
  const first = error.issues[0];
  const path = first && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
  return `line ${line}: ${path}${first?.message ?? "invalid"}`;
}

export class ExportRecordsFile implements ExportRecordsStore {
  readonly file: string;
  readonly #log: Log;

  constructor(file: string, log: Log) {
    this.file = file;
    this.#log = log;
  }

  async load(): Promise<SavedCluster[]> {
    try {
      return await this.#read();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return [];
      this.#log({
        level: "warn",
        msg: "could not read the export records kept on disk: starting without them (agents send their sets again)",
        file: this.file,
        error: error instanceof UnreadableLine ? error.message : (error as Error).message,
      });
      return [];
    }
  }

  async #read(): Promise<SavedCluster[]> {
    const lines = createInterface({ input: createReadStream(this.file, "utf8"), crlfDelay: Infinity });
    const clusters: SavedCluster[] = [];
    let number = 0;
    let current: SavedCluster | undefined;
    let expected = 0;
    for await (const text of lines) {
      number += 1;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new UnreadableLine(`line ${number}: not JSON`);
      }
      if (number === 1) {
        const header = headerSchema.safeParse(parsed);
        if (!header.success) throw new UnreadableLine(problem(number, header.error));
        continue;
      }
      if (current && current.records.length < expected) {
        const record = exportRecordSchema.safeParse(parsed);
        if (!record.success) throw new UnreadableLine(problem(number, record.error));
        if (record.data.cluster !== current.cluster)
          throw new UnreadableLine(
            `line ${number}: cluster: a record of "${record.data.cluster}" among those of "${current.cluster}"`,
          );
        current.records.push(record.data);
        continue;
      }
      const line = clusterLineSchema.safeParse(parsed);
      if (!line.success) throw new UnreadableLine(problem(number, line.error));
      if (clusters.some((c) => c.cluster === line.data.cluster))
        throw new UnreadableLine(`line ${number}: cluster: "${line.data.cluster}" appears twice`);
      current = { cluster: line.data.cluster, region: line.data.region, down: line.data.down, records: [] };
      expected = line.data.records;
      clusters.push(current);
    }
    if (number === 0) throw new UnreadableLine("the file is empty");
    if (current && current.records.length < expected)
      throw new UnreadableLine(
        `cut short: cluster "${current.cluster}" has ${current.records.length} of its ${expected} records`,
      );
    return clusters;
  }

  async save(clusters: readonly SavedCluster[]): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.tmp`;
    const handle = await open(temporary, "w", 0o600);
    try {
      let chunk = `${JSON.stringify({ format, version })}\n`;
      const line = async (text: string) => {
        chunk += `${text}\n`;
        if (chunk.length >= chunkBytes) {
          await handle.write(chunk);
          chunk = "";
        }
      };
      for (const c of clusters) {
        await line(
          JSON.stringify({ cluster: c.cluster, region: c.region, down: c.down, records: c.records.length }),
        );
        for (const record of c.records) await line(JSON.stringify(record));
      }
      await handle.write(chunk);
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => {});
      await rm(temporary, { force: true });
      throw error;
    }
    await handle.close();
    await rename(temporary, this.file);
  }
}
