/**
 * `unitfleet hub admin-token`: mints a new admin API token straight in the hub's store, for when the admin-token
 * file is lost and no admin token is at hand. On the embedded store it runs while the hub is stopped (the data
 * directory's lock keeps it out otherwise); the next start writes a kubeconfig with the new token.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";

interface AdminTokenFlags {
  dir: string;
  databaseUrl?: string;
}

/** The name of a recovery token: `admin-` and the UTC time it was minted (token names are unique, for good). */
export function recoveryTokenName(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, "")
    .replace(/[-:]/g, "")
    .replace("T", "-");
  return `admin-${stamp}`.toLowerCase();
}

/** A subcommand of `unitfleet hub`: it takes the hub's own --dir and --database-url. */
export function adminTokenCommand(): Command {
  return new Command("admin-token")
    .description(
      "mint a new admin token into the hub's admin-token file, with the hub's --dir and --database-url " +
        "(embedded store: stop the hub first)",
    )
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<AdminTokenFlags>();
      const log = () => {};
      const [{ createToken }, { migrate }, { openPglite }, { openPostgres }] = await Promise.all([
        import("../../hub/auth/tokens.ts"),
        import("../../store/migrations.ts"),
        import("../../store/pglite-sql.ts"),
        import("../../store/postgres-sql.ts"),
      ]);
      const sql = options.databaseUrl
        ? await openPostgres(options.databaseUrl, { log })
        : await openPglite(join(options.dir, "data"), { log });
      try {
        await migrate(sql);
        const name = recoveryTokenName(new Date());
        const secret = await createToken(sql, { name, role: "admin" });
        const file = join(options.dir, "admin-token");
        await writeFile(file, `${secret}\n`, { mode: 0o600 });
        process.stdout.write(
          `admin token "${name}" written to ${file}\n` +
            "start the hub to get a kubeconfig with it; revoke a lost token with: unitfleet api-token revoke <name>\n",
        );
      } finally {
        await sql.close();
      }
    });
}
