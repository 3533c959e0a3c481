/** Administration through the hub's API: API tokens and the audit log (admin tokens only). */
import { Command, Option } from "commander";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";
import type { HubClient } from "../client/hub-client.ts";
import { type OutputFormat, outputOption, printStructured } from "../output/format.ts";
import { renderTable } from "../output/table.ts";

const out = (text: string) => process.stdout.write(text);

/** Runs `work` with a client of the hub; the client (TLS, YAML) loads when a command runs, not for --help. */
async function withHub<T>(env: Environment, work: (hub: HubClient) => Promise<T>): Promise<T> {
  return (await import("../client/hub-client.ts")).withHub(env, work);
}

/** "90s", "30m", "12h", "7d" → seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!match) throw new UserError("BadRequest", `"${text}" is not a duration (examples: 30m, 12h, 7d)`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "s" | "m" | "h" | "d"];
}

export function apiTokenCommand(env: Environment): Command {
  const command = new Command("api-token").description("API tokens: who may read or change the fleet");
  command
    .command("create")
    .description("create a token; its secret is printed once")
    .argument("<name>")
    .addOption(
      new Option("--role <role>", "what it may do")
        .choices(["viewer", "operator", "admin"])
        .makeOptionMandatory(),
    )
    .option("--business <business...>", "limit it to the clusters of these businesses")
    .option("--ttl <duration>", "expire after this long (e.g. 12h, 30d)")
    .action(async (name: string, options: { role: string; business?: string[]; ttl?: string }) => {
      const created = await withHub(env, (hub) =>
        hub.send<{ token: string }>("POST", "/unitfleet/v1alpha1/api-tokens", {
          name,
          role: options.role,
          ...(options.business ? { businesses: options.business } : {}),
          ...(options.ttl ? { ttlSeconds: parseDuration(options.ttl) } : {}),
        }),
      );
      out(`${created.token}\n`);
    });
  command
    .command("list")
    .description("list tokens (never their secrets)")
    .addOption(outputOption())
    .action(async (options: { output: OutputFormat }) => {
      const list = await withHub(env, (hub) =>
        hub.send<{ items: Array<Record<string, unknown>> }>("GET", "/unitfleet/v1alpha1/api-tokens"),
      );
      if (await printStructured(options.output, list.items, out)) return;
      out(
        `${renderTable(
          ["name", "role", "businesses", "created", "expires", "revoked"],
          list.items.map((t) => [
            String(t.name),
            String(t.role),
            Array.isArray(t.businesses) ? t.businesses.join(",") : "*",
            String(t.createdAt ?? ""),
            String(t.expiresAt ?? "-"),
            String(t.revokedAt ?? "-"),
          ]),
        )}\n`,
      );
    });
  command
    .command("revoke")
    .description("revoke a token at once")
    .argument("<name>")
    .action(async (name: string) => {
      await withHub(env, (hub) =>
        hub.send("DELETE", `/unitfleet/v1alpha1/api-tokens/${encodeURIComponent(name)}`),
      );
      out(`token ${name} revoked\n`);
    });
  return command;
}

export function auditCommand(env: Environment): Command {
  return new Command("audit")
    .description("list the audit log: every change, allowed or refused, newest first")
    .option("--actor <token>", "only changes made with this token")
    .option("--kind <kind>", "only changes of this kind (Location, Region, Cluster)")
    .option("--name <name>", "only changes of objects with this name")
    .option("--limit <n>", "how many entries (at most 500 a page)", "50")
    .option("--continue <token>", "the next, older page: the token the previous page printed")
    .addOption(outputOption())
    .action(
      async (options: {
        actor?: string;
        kind?: string;
        name?: string;
        limit: string;
        continue?: string;
        output: OutputFormat;
      }) => {
        const query = new URLSearchParams({ limit: options.limit });
        for (const key of ["actor", "kind", "name", "continue"] as const)
          if (options[key]) query.set(key, options[key]!);
        const list = await withHub(env, (hub) =>
          hub.send<{ items: Array<Record<string, string>>; continue?: string }>(
            "GET",
            `/unitfleet/v1alpha1/audit?${query}`,
          ),
        );
        if (list.continue)
          process.stderr.write(`more entries: unitfleet audit --continue ${list.continue}\n`);
        if (await printStructured(options.output, list.items, out)) return;
        out(
          `${renderTable(
            ["time", "actor", "verb", "kind", "name", "result", "reason"],
            list.items.map((e) => [
              e.at ?? "",
              e.actor ?? "",
              e.verb ?? "",
              e.kind ?? "",
              e.name ?? "",
              e.result ?? "",
              e.reason ?? "",
            ]),
          )}\n`,
        );
      },
    );
}

export function bootstrapTokenCommand(env: Environment): Command {
  const command = new Command("token").description("bootstrap tokens: how relays and agents join the hub");
  command
    .command("create")
    .description("create a single-use, expiring token for joining one relay or agent of a Location")
    .requiredOption("--location <location>", "the Location whose relay or agents may use it")
    .option("--ttl <duration>", "how long it may be used (e.g. 30m, 1h, 2d)", "1h")
    .addOption(outputOption())
    .action(async (options: { location: string; ttl: string; output: OutputFormat }) => {
      const created = await withHub(env, (hub) =>
        hub.send<{ id: string; token: string; expiresAt: string }>(
          "POST",
          "/unitfleet/v1alpha1/bootstrap-tokens",
          {
            location: options.location,
            ttlSeconds: parseDuration(options.ttl),
          },
        ),
      );
      if (!(await printStructured(options.output, created, out))) out(`${created.token}\n`);
    });
  command
    .command("revoke")
    .description("revoke a bootstrap token that has not been used yet (by its id, the part after ufb_)")
    .argument("<id>")
    .action(async (id: string) => {
      await withHub(env, (hub) =>
        hub.send("DELETE", `/unitfleet/v1alpha1/bootstrap-tokens/${encodeURIComponent(id)}`),
      );
      out(`bootstrap token ${id} revoked\n`);
    });
  return command;
}

export function certificateCommand(env: Environment): Command {
  const command = new Command("certificate").description("client certificates of joined relays and agents");
  command
    .command("revoke")
    .description("revoke a relay's or agent's certificate: the hub refuses it from now on")
    .argument("<serial>")
    .action(async (serial: string) => {
      await withHub(env, (hub) =>
        hub.send("DELETE", `/unitfleet/v1alpha1/certificates/${encodeURIComponent(serial)}`),
      );
      out(`certificate ${serial} revoked\n`);
    });
  return command;
}
