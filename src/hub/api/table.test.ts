import { describe, expect, it } from "vitest";
import { kinds } from "../../core/resources/kinds.ts";
import type { StoredObject } from "../../store/resource-store.ts";
import { table } from "./table.ts";

describe("table", () => {
  it("gives kubectl plain cells, an Application's placement as cluster=replicas in a wide column", () => {
    const web = {
      apiVersion: "unitfleet.io/v1alpha1",
      kind: "Application",
      metadata: { name: "web", creationTimestamp: new Date().toISOString() },
      spec: {},
      status: {
        placement: { clusters: [{ name: "tyo-a", replicas: 3 }] },
        summary: { clusters: 1, replicas: "3/9", ready: 3, desired: 9, applied: "1/1" },
      },
    } as unknown as StoredObject;
    const printed = table(kinds.Application, [web]);
    const cells = Object.fromEntries(
      printed.columnDefinitions.map((c, i) => [c.name, printed.rows[0]!.cells[i]]),
    );
    expect(cells).toMatchObject({ Name: "web", Replicas: "3/9", Applied: "1/1", Placement: "tyo-a=3" });
    expect(printed.columnDefinitions.find((c) => c.name === "Placement")?.priority).toBe(1);
  });
});
