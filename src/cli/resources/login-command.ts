/** `unitfleet login`: where the hub is and which token to use, kept in ~/.unitfleet/config.yaml. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";
import type { CliConfig } from "../client/hub-client.ts";

export function loginCommand(env: Environment): Command {
  return new Command("login")
    .description("save the hub's URL and an API token for later commands (checked against the hub first)")
    .requiredOption("--server <url>", "the hub's URL, e.g. https://hub.example:6443")
    .requiredOption("--token <token>", "an API token")
    .option("--certificate-authority <file>", "the hub's CA certificate (PEM)")
    .option("--insecure-skip-tls-verify", "do not verify the hub's certificate (never in production)")
    .action(
      async (options: {
        server: string;
        token: string;
        certificateAuthority?: string;
        insecureSkipTlsVerify?: boolean;
      }) => {
        const caCert = options.certificateAuthority
          ? await readFile(options.certificateAuthority, "utf8").catch(() => {
              throw new UserError("NotFound", `cannot read ${options.certificateAuthority}`);
            })
          : undefined;
        const [{ configFile, HubClient }, { stringify }] = await Promise.all([
          import("../client/hub-client.ts"),
          import("yaml"),
        ]);
        const hub = new HubClient({
          server: options.server,
          token: options.token,
          ...(caCert ? { caCert } : {}),
          ...(options.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
        });
        try {
          await hub.send("GET", "/apis/unitfleet.io/v1alpha1");
        } finally {
          hub.close();
        }
        const config: CliConfig = {
          server: options.server,
          token: options.token,
          ...(caCert ? { certificateAuthorityData: Buffer.from(caCert).toString("base64") } : {}),
          ...(options.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
        };
        const file = configFile(env.home);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, stringify(config), { mode: 0o600 });
        process.stdout.write(`logged in to ${options.server}; settings saved in ${file}\n`);
      },
    );
}
