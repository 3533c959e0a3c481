/** kubectl-like verbs on the hub's resources: get, describe, apply, delete. */
import { Command, Option } from "commander";
import type { Environment } from "../../config/environment.ts";
import { columnValue } from "../../core/resources/columns.ts";
import type { Application, KindInfo } from "../../core/resources/kinds.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { applicationClustersTable } from "../delivery/delivery-commands.ts";
import {
  outputOption,
  type ResourceOutputFormat,
  resourceOutputFormats,
  structuredPrinter,
} from "../output/format.ts";
import { inKubernetesOrder, kubernetesList, qualifiedName } from "../output/kubernetes-objects.ts";
import { renderTable } from "../output/table.ts";
import {
  getServiceExports,
  refuseServiceExportFilters,
  type ServiceExportFilters,
  serviceExportTypeNames,
} from "../services/get-service-exports.ts";

const applyPath = "/unitfleet/v1alpha1/apply";
type Obj = Record<string, unknown> & {
  metadata: { name: string; creationTimestamp?: string; resourceVersion?: string };
};

async function client(env: Environment): Promise<HubClient> {
  const { HubClient, resolveConnection } = await import("../client/hub-client.ts");
  return new HubClient(await resolveConnection(env.home));
}

/** The kind a type names; the kinds' schemas load here, when a command runs, not for --help. */
async function kindOf(name: string): Promise<KindInfo> {
  const { kindByName, kinds } = await import("../../core/resources/kinds.ts");
  const kind = kindByName(name);
  if (!kind)
    throw new UserError("NotFound", `the hub has no resource type "${name}"`, {
      hint: `known types: ${Object.values(kinds)
        .map((k) => k.plural)
        .join(", ")}`,
    });
  return kind;
}

const out = (text: string) => process.stdout.write(text);

export function getCommand(env: Environment): Command {
  return new Command("get")
    .description("list or show Locations, Regions, Clusters… and service exports")
    .argument("<type>", "locations, regions, clusters, … or serviceexports (svcexports)")
    .argument("[name]")
    .addOption(outputOption(resourceOutputFormats))
    .option("-l, --selector <selector>", "label selector, e.g. environment=prod,business in (shop)")
    .option("-w, --watch", "after listing, print changes as they happen")
    .option("--location <location>", "serviceexports: of this Location only")
    .option("--cluster <cluster>", "serviceexports: of this cluster only")
    .option("-n, --namespace <namespace>", "serviceexports: of this namespace only")
    .action(
      async (
        type: string,
        name: string | undefined,
        options: { output: ResourceOutputFormat; selector?: string; watch?: boolean } & ServiceExportFilters,
      ) => {
        refuseServiceExportFilters(type, options);
        if (serviceExportTypeNames.includes(type)) return getServiceExports(env, name, options);
        const [kind, print] = await Promise.all([kindOf(type), structuredPrinter(options.output)]);
        const hub = await client(env);
        const typed = (object: Obj) => inKubernetesOrder({ apiVersion, kind: kind.kind, ...object });
        try {
          const base = `/apis/${apiVersion}/${kind.plural}`;
          if (name) {
            const object = typed(await hub.send<Obj>("GET", `${base}/${encodeURIComponent(name)}`));
            if (options.output === "name") out(`${qualifiedName(object)}\n`);
            else if (print) out(print(object));
            else out(`${renderRows(kind, [object], options.output, true)}\n`);
            return;
          }
          const query = options.selector ? `?labelSelector=${encodeURIComponent(options.selector)}` : "";
          const list = await hub.send<{ items: Obj[]; metadata: { resourceVersion: string } }>(
            "GET",
            `${base}${query}`,
          );
          const items = list.items.map(typed);
          if (options.output === "name") {
            for (const object of items) out(`${qualifiedName(object)}\n`);
          } else if (print) out(print(kubernetesList(items)));
          else {
            out(
              items.length === 0
                ? `No ${kind.plural} found.\n`
                : `${renderRows(kind, items, options.output, true)}\n`,
            );
          }
          if (!options.watch) return;
          const stop = new AbortController();
          process.once("SIGINT", () => stop.abort());
          const watchQuery = `?watch=true&resourceVersion=${list.metadata.resourceVersion}${options.selector ? `&labelSelector=${encodeURIComponent(options.selector)}` : ""}`;
          await hub.watch(
            `${base}${watchQuery}`,
            (event) => {
              if (event.type === "ERROR")
                throw new UserError("Expired", String((event.object as { message?: string }).message));
              const object = typed(event.object as Obj);
              if (options.output === "name") out(`${qualifiedName(object)}\n`);
              else if (print) out(print({ type: event.type, object }));
              else
                out(
                  `${renderRows(kind, [object], options.output, false)}${event.type === "DELETED" ? "   (deleted)" : ""}\n`,
                );
            },
            stop.signal,
          );
        } finally {
          hub.close();
        }
      },
    );
}

function renderRows(kind: KindInfo, objects: Obj[], format: ResourceOutputFormat, headers: boolean): string {
  const columns = kind.columns.filter((c) => format === "wide" || !c.wide);
  const now = new Date();
  const rows = objects.map((o) => [
    o.metadata.name,
    ...columns.map((c) => String(columnValue(c, o, now) ?? "-")),
  ]);
  const table = renderTable(["name", ...columns.map((c) => c.name)], rows);
  return headers ? table : table.split("\n").slice(1).join("\n");
}

export function describeCommand(env: Environment): Command {
  return new Command("describe")
    .description("show one object in detail, with its conditions")
    .argument("<type>")
    .argument("<name>")
    .action(async (type: string, name: string) => {
      const [kind, { stringify }] = await Promise.all([kindOf(type), import("yaml")]);
      const hub = await client(env);
      try {
        const object = await hub.send<
          Obj & { spec?: unknown; status?: { conditions?: Array<Record<string, string>> } }
        >("GET", `/apis/${apiVersion}/${kind.plural}/${encodeURIComponent(name)}`);
        const { conditions, ...status } = object.status ?? {};
        const lines = [
          `Name:         ${object.metadata.name}`,
          `Kind:         ${kind.kind}`,
          `Labels:       ${
            Object.entries((object.metadata as { labels?: Record<string, string> }).labels ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(", ") || "<none>"
          }`,
          `Created:      ${object.metadata.creationTimestamp ?? "?"}`,
          "Spec:",
          indent(stringify(object.spec ?? {})),
          "Status:",
          indent(Object.keys(status).length > 0 ? stringify(status) : "<none reported yet>\n"),
          ...heartbeatLine(kind.kind, status, new Date()),
          "Conditions:",
          conditions && conditions.length > 0
            ? indent(
                `${renderTable(
                  ["type", "status", "reason", "since", "message"],
                  conditions.map((c) => [
                    c.type ?? "",
                    c.status ?? "",
                    c.reason ?? "",
                    c.lastTransitionTime ?? "",
                    c.message ?? "",
                  ]),
                )}\n`,
              )
            : "  <none>\n",
        ];
        if (kind.kind === "Cluster") lines.push(...(await clusterCost(hub, object.metadata.name)));
        if (kind.kind === "Application") {
          const app = object as unknown as Application;
          lines.push("Clusters:", `${indent(applicationClustersTable(app))}\n`, "Events:");
          const events = app.status?.events ?? [];
          lines.push(
            events.length > 0
              ? `${indent(
                  renderTable(
                    ["time", "type", "reason", "message"],
                    events.map((e) => [e.at, e.type, e.reason, e.message]),
                  ),
                )}\n`
              : "  <none>\n",
          );
        }
        out(lines.join("\n"));
      } finally {
        hub.close();
      }
    });
}

/**
 * For a Cluster: what its last 24 hours cost, idle apart, and its costliest namespaces (issue 14). Nothing when the
 * caller may not read cost (a token scoped to businesses) or the hub has no ledger rows for it.
 */
async function clusterCost(hub: HubClient, cluster: string): Promise<string[]> {
  interface Answer {
    hours: number;
    groups: Array<{ keys: { namespace?: string | null }; currency: string; cost: { total: number } }>;
  }
  const answer = await hub
    .send<Answer>(
      "GET",
      `/unitfleet/v1alpha1/cost?window=24h&by=namespace&cluster=${encodeURIComponent(cluster)}`,
    )
    .catch(() => undefined);
  if (!answer || answer.groups.length === 0) return [];
  const amount = (micros: number) => (micros / 1_000_000).toFixed(2);
  const currency = answer.groups[0]!.currency;
  const total = answer.groups.reduce((sum, g) => sum + g.cost.total, 0);
  const idle = answer.groups
    .filter((g) => g.keys.namespace === "__idle__")
    .reduce((sum, g) => sum + g.cost.total, 0);
  const top = answer.groups.filter((g) => g.keys.namespace !== "__idle__").slice(0, 5);
  return [
    `Cost (last 24 h, ${answer.hours} ${answer.hours === 1 ? "hour" : "hours"} metered): ${amount(total)} ${currency}, idle ${amount(idle)} (${total > 0 ? Math.round((idle / total) * 100) : 0}%)`,
    ...top.map((g) => `  ${g.keys.namespace}: ${amount(g.cost.total)}`),
  ];
}

/** For a Cluster: its last heartbeat and, computed now, how long ago (the stored time is at most 60 s late). */
function heartbeatLine(kind: string, status: { lastHeartbeatTime?: unknown }, now: Date): string[] {
  if (kind !== "Cluster" || typeof status.lastHeartbeatTime !== "string") return [];
  const ms = now.getTime() - Date.parse(status.lastHeartbeatTime);
  return [`Last heartbeat: ${status.lastHeartbeatTime} (${Math.max(0, Math.round(ms / 1000))} s ago)`];
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

export function applyCommand(env: Environment): Command {
  return new Command("apply")
    .description("create or update resources from files: all documents in one transaction, or none")
    .requiredOption("-f, --filename <path...>", "file, folder or - for standard input")
    .addOption(new Option("--dry-run", "validate everything and show what would change, without changing it"))
    .action(async (options: { filename: string[]; dryRun?: boolean }) => {
      const [{ readDocuments }, { kindByName }] = await Promise.all([
        import("./documents.ts"),
        import("../../core/resources/kinds.ts"),
      ]);
      const documents = await readDocuments(options.filename, readStdin);
      const hub = await client(env);
      try {
        const result = await hub.send<{ results: Array<{ kind: string; name: string; action: string }> }>(
          "POST",
          applyPath,
          {
            documents,
            dryRun: options.dryRun === true,
          },
        );
        for (const r of result.results)
          out(
            `${kindByName(r.kind)?.singular ?? r.kind.toLowerCase()}/${r.name} ${r.action}${options.dryRun ? " (dry run)" : ""}\n`,
          );
      } finally {
        hub.close();
      }
    });
}

export function deleteCommand(env: Environment): Command {
  return new Command("delete")
    .description("delete resources by name")
    .argument("<type>")
    .argument("<names...>")
    .action(async (type: string, names: string[]) => {
      const kind = await kindOf(type);
      const hub = await client(env);
      try {
        for (const name of names) {
          await hub.send("DELETE", `/apis/${apiVersion}/${kind.plural}/${encodeURIComponent(name)}`);
          out(`${kind.singular}/${name} deleted\n`);
        }
      } finally {
        hub.close();
      }
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
