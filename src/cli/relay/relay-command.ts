/** `unitfleet relay`: runs the relay of one Location until interrupted. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";

interface RelayFlags {
  hub: string;
  hubCa: string;
  token: string;
  location: string;
  hubLocation?: string;
  listen: string;
  dir?: string;
}

export function relayCommand(env: Environment): Command {
  return new Command("relay")
    .description(
      "run the relay of a Location: its agents connect to it; it holds the Location's tunnel to the hub",
    )
    .requiredOption("--hub <url>", "the hub's URL")
    .requiredOption("--hub-ca <file>", "the hub's CA certificate")
    .requiredOption("--token <token>", "a bootstrap token for this Location, used once")
    .requiredOption("--location <location>")
    .option(
      "--hub-location <location>",
      "the Location the hub runs in (user content may reach it only if it is this one)",
    )
    .option("--listen <host:port>", "where agents connect", "127.0.0.1:7443")
    .option("--dir <folder>", "where the relay keeps its credentials (default: ~/.unitfleet/relays/LOCATION)")
    .action(async (flags: RelayFlags) => {
      const match = /^(.*):(\d+)$/.exec(flags.listen);
      if (!match)
        throw new UserError("BadRequest", "invalid flags", {
          problems: [{ path: "--listen", message: "must be host:port" }],
        });
      const hubCa = await readFile(flags.hubCa, "utf8").catch(() => {
        throw new UserError("NotFound", `cannot read the hub's CA certificate ${flags.hubCa}`);
      });
      const { startRelay } = await import("../../relay/relay.ts");
      const relay = await startRelay({
        hub: flags.hub,
        hubCa,
        token: flags.token,
        location: flags.location,
        ...(flags.hubLocation ? { hubLocation: flags.hubLocation } : {}),
        host: match[1]!,
        port: Number(match[2]),
        dir: flags.dir ?? join(env.home, "relays", flags.location),
        log: (entry) =>
          process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`),
      });
      process.stdout.write(`relay of ${flags.location} serving agents at ${relay.url}\n`);
      const { untilStopped } = await import("../process/until-stopped.ts");
      await untilStopped(relay.stopped);
      await relay.stop();
    });
}
