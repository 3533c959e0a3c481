/**
 * Server-side printing: kubectl asks for `application/json;as=Table;g=meta.k8s.io;v=v1` and prints the
 * columns the server chooses. Columns come from the kind's printer columns.
 */
import { columnValue } from "../../core/resources/columns.ts";
import type { KindInfo } from "../../core/resources/kinds.ts";
import type { StoredObject } from "../../store/resource-store.ts";

/** True when the Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => /as=Table/.test(part) && /g=meta\.k8s\.io/.test(part));
}

export function table(
  kind: KindInfo,
  objects: readonly StoredObject[],
  listMeta: Record<string, unknown> = {},
) {
  const now = new Date();
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: [
      { name: "Name", type: "string", format: "name", description: "name of the object", priority: 0 },
      ...kind.columns.map((c) => ({
        name: c.name,
        type: c.type === "date" ? "date" : c.type,
        format: "",
        description: c.description,
        priority: c.wide ? 1 : 0,
      })),
    ],
    rows: objects.map((o) => ({
      cells: [o.metadata.name, ...kind.columns.map((c) => columnValue(c, o, now))],
      object: {
        kind: "PartialObjectMetadata",
        apiVersion: "meta.k8s.io/v1",
        metadata: o.metadata,
      },
    })),
  };
}
