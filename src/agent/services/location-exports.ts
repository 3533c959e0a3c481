/**
 * The export records of every cluster of the agent's Location, as `services.exports` messages bring them
 * (issue 15): the relay fans each agent's messages out to the others, and the agent's own records come in the
 * same shape. A message upserts its records, drops the names in `removed` and, when it has `present`, every
 * record of that cluster not named there (`present: []` with no records: the cluster is gone, its endpoints
 * leave every import). Nothing is ever dropped because the tunnel is down: only a message changes this.
 */
import type { ExportRecord } from "../../core/multicluster-services/export-record.ts";
import type { LocationMembers } from "../../core/multicluster-services/merge.ts";
import { sameJson } from "../../core/resources/canonical-json.ts";
import { exportKey, type ServicesExportsBody } from "./export-publisher.ts";

interface ClusterExports {
  region: string;
  records: Map<string, ExportRecord>;
}

export class LocationExports {
  readonly #location: string;
  readonly #clusters = new Map<string, ClusterExports>();

  constructor(location: string) {
    this.#location = location;
  }

  /**
   * Takes one message in; answers whether anything changed and the records it refused (a record of another
   * cluster than the message's).
   */
  apply(body: ServicesExportsBody): { changed: boolean; refused: string[] } {
    const refused: string[] = [];
    const held = this.#clusters.get(body.cluster);
    const records = new Map(held?.records);
    if (body.present) {
      const present = new Set(body.present.map(exportKey));
      for (const key of records.keys()) if (!present.has(key)) records.delete(key);
    }
    for (const name of body.removed) records.delete(exportKey(name));
    body.records.forEach((record, i) => {
      if (record.cluster !== body.cluster) refused.push(`records[${i}]: of cluster "${record.cluster}"`);
      else records.set(exportKey(record), record);
    });
    const region = body.region;
    const changed =
      (held?.region ?? region) !== region ||
      (held?.records.size ?? 0) !== records.size ||
      [...records].some(([key, record]) => !sameJson(held?.records.get(key), record));
    if (records.size === 0) this.#clusters.delete(body.cluster);
    else this.#clusters.set(body.cluster, { region, records });
    return { changed, refused };
  }

  /** Forgets a cluster's records (for a cluster the relay no longer knows). */
  forget(cluster: string): boolean {
    return this.#clusters.delete(cluster);
  }

  /** The clusters that hold records. */
  clusters(): string[] {
    return [...this.#clusters.keys()].sort();
  }

  /** The clusters that export something, with their Regions: the members of the merge. */
  members(): LocationMembers {
    return {
      location: this.#location,
      clusters: this.clusters().map((name) => ({ name, region: this.#clusters.get(name)!.region })),
    };
  }

  /** Every record of the Location. */
  records(): ExportRecord[] {
    return this.clusters().flatMap((name) => [...this.#clusters.get(name)!.records.values()]);
  }
}
