/**
 * `unitfleet get serviceexports` (alias `svcexports`, `svcex`): the fleet's multi-cluster service exports as their
 * Locations' relays summarised them to the hub (docs/multi-cluster-services.md "What the hub sees"), with kubectl's
 * habits: a table (`-o wide` adds the Region and the reasons), `-o json|yaml|name`, and filters `--location`,
 * `--cluster`, `-n/--namespace`.
 */
import type { Environment } from "../../config/environment.ts";
import { shortAge } from "../../core/resources/columns.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { structuredPrinter } from "../output/format.ts";
import { renderTable } from "../output/table.ts";

/** The names `get` takes for service exports. */
export const serviceExportTypeNames = ["serviceexports", "serviceexport", "svcexports", "svcexport", "svcex"];

/** The filters `get` has for service exports only. */
export interface ServiceExportFilters {
  location?: string;
  cluster?: string;
  namespace?: string;
}

/** One export as the hub lists it (src/hub/services/service-export-summaries.ts, ServiceExportRow). */
interface ServiceExportItem {
  location: string;
  cluster: string;
  namespace: string;
  name: string;
  region: string;
  type?: string;
  ports: Array<{ name: string; protocol: string; port: number }>;
  endpoints: { ready: number; total: number };
  valid: { status: string; reason: string; message: string };
  conflict: { status: string; reason: string; message: string };
  exportedSince: string;
  withdrawn?: true;
  summarisedAt: string;
}

/** Refuses the service-export filters on another type: they would be silently ignored there. */
export function refuseServiceExportFilters(type: string, filters: ServiceExportFilters): void {
  const given = (["location", "cluster", "namespace"] as const).filter((f) => filters[f] !== undefined);
  if (given.length > 0 && !serviceExportTypeNames.includes(type))
    throw new UserError(
      "BadRequest",
      `${given.map((f) => `--${f}`).join(", ")} ${given.length > 1 ? "apply" : "applies"} only to serviceexports`,
    );
}

export async function getServiceExports(
  env: Environment,
  name: string | undefined,
  options: ServiceExportFilters & { output: string; selector?: string; watch?: boolean },
): Promise<void> {
  if (options.selector !== undefined)
    throw new UserError(
      "BadRequest",
      "service exports carry no labels: filter with --location, --cluster or -n",
    );
  if (options.watch)
    throw new UserError("BadRequest", "service exports cannot be watched yet: list them again");
  const query = new URLSearchParams();
  for (const key of ["location", "cluster", "namespace"] as const) {
    const value = options[key];
    if (value !== undefined) query.set(key, value);
  }
  const { withHub } = await import("../client/hub-client.ts");
  const answer = await withHub(env, (hub: HubClient) =>
    hub.send<{ items: ServiceExportItem[] }>(
      "GET",
      `/unitfleet/v1alpha1/service-exports${query.size > 0 ? `?${query}` : ""}`,
    ),
  );
  const items = name === undefined ? answer.items : answer.items.filter((e) => e.name === name);
  if (name !== undefined && items.length === 0)
    throw new UserError("NotFound", `no service export named "${name}"${filtersText(options)}`);
  const out = (text: string) => process.stdout.write(text);
  if (options.output === "name") {
    for (const e of items) out(`serviceexport/${e.location}/${e.cluster}/${e.namespace}/${e.name}\n`);
    return;
  }
  const print = await structuredPrinter(options.output);
  if (print) {
    out(print({ ...answer, items }));
    return;
  }
  if (items.length === 0) {
    out(`No service exports found${filtersText(options)}.\n`);
    return;
  }
  out(`${serviceExportsTable(items, options.output === "wide", new Date())}\n`);
}

function filtersText(filters: ServiceExportFilters): string {
  const given = (["location", "cluster", "namespace"] as const)
    .filter((f) => filters[f] !== undefined)
    .map((f) => `${f} ${filters[f]}`);
  return given.length > 0 ? ` (${given.join(", ")})` : "";
}

/** The table: kubectl's columns for ports ("80/TCP"), ready/total endpoints, condition statuses and age. */
export function serviceExportsTable(items: readonly ServiceExportItem[], wide: boolean, now: Date): string {
  const headers = [
    "location",
    "cluster",
    "namespace",
    "name",
    "type",
    "ports",
    "endpoints",
    "valid",
    "conflict",
    "age",
  ];
  if (wide) headers.push("region", "valid reason", "conflict reason");
  const rows = items.map((e) => {
    const row = [
      e.location,
      e.cluster,
      e.namespace,
      e.name,
      e.type ?? "<none>",
      e.ports.length > 0 ? e.ports.map((p) => `${p.port}/${p.protocol}`).join(",") : "<none>",
      `${e.endpoints.ready}/${e.endpoints.total}${e.withdrawn ? " (withdrawn)" : ""}`,
      e.valid.status,
      e.conflict.status,
      shortAge(e.exportedSince, now),
    ];
    if (wide) row.push(e.region || "<none>", e.valid.reason, e.conflict.reason);
    return row;
  });
  return renderTable(headers, rows);
}
