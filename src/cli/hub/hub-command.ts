/** `unitfleet hub`: serves the fleet registry until interrupted, then shuts down gracefully. */
import { join } from "node:path";
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";
import { durationFlag } from "../flag-values.ts";
import { adminTokenCommand } from "./admin-token-command.ts";

interface HubFlags {
  listen: string;
  dir: string;
  databaseUrl?: string;
  insecure?: boolean;
  replica?: string;
  location?: string;
  leaseTtl: number;
}

export function hubCommand(env: Environment): Command {
  return new Command("hub")
    .description("serve the fleet registry API (embedded PostgreSQL by default)")
    .option("--listen <host:port>", "address to serve on", "127.0.0.1:6443")
    .option(
      "--dir <folder>",
      "the hub's files (CA, admin token, kubeconfig, embedded database)",
      join(env.home, "hub"),
    )
    .option(
      "--database-url <url>",
      "a PostgreSQL server instead of the embedded database (needed for several replicas)",
    )
    .option("--insecure", "serve plain HTTP instead of HTTPS")
    .option("--replica <name>", "this replica's name in leases and logs")
    .option(
      "--location <location>",
      "the Location the hub runs in: pod logs of that Location's clusters may be read through it, no others",
    )
    .option(
      "--lease-ttl <duration>",
      "how long singleton work waits for a silent replica before another takes over (15s, 1m, or seconds)",
      durationFlag("--lease-ttl", 1000),
      15_000,
    )
    .action(async (options: HubFlags) => {
      const problems = [];
      const match = /^(.*):(\d+)$/.exec(options.listen);
      if (!match) problems.push({ path: "--listen", message: `must be host:port, got "${options.listen}"` });
      if (problems.length > 0 || !match) throw new UserError("BadRequest", "invalid flags", { problems });
      const { startHub } = await import("../../hub/hub.ts");
      const hub = await startHub({
        dir: options.dir,
        host: match[1]!.replace(/^\[|\]$/g, ""),
        port: Number(match[2]),
        leaseTtlMs: options.leaseTtl,
        ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
        ...(options.insecure ? { insecure: true } : {}),
        ...(options.replica ? { replica: options.replica } : {}),
        ...(options.location ? { location: options.location } : {}),
      });
      process.stdout.write(
        `hub serving at ${hub.url}\nadmin token: ${hub.adminTokenFile}\nkubeconfig:  ${hub.kubeconfigFile}  (kubectl --kubeconfig ${hub.kubeconfigFile} get clusters)\n`,
      );
      const { untilStopped } = await import("../process/until-stopped.ts");
      await untilStopped(hub.stopped);
      await hub.close();
    })
    .addCommand(adminTokenCommand());
}
