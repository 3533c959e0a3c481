/**
 * `unitfleet up`: the main job on one machine. Builds and starts the lab (unless --kubeconfig names existing
 * clusters), then a hub, one relay per Location and one agent per cluster; prints where things are; stops
 * everything it started on Ctrl-C.
 */
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import type { Environment } from "../../config/environment.ts";
import { UserError } from "../../errors/user-error.ts";
import { labPaths } from "../../lab/paths.ts";
import type { UpCluster, UpOptions } from "../../up/up.ts";
import { buildWithProgress, reportLabEvent } from "../lab/lab-command.ts";
import { progressLine } from "../output/progress.ts";

interface UpFlags {
  file?: string;
  kubeconfig?: string;
  context: string[];
  location: string;
  environment: string;
  business: string;
  listen: string;
}

export function upCommand(env: Environment): Command {
  return new Command("up")
    .description(
      "run everything on one machine: the lab fleet, a hub, a relay per Location and an agent per cluster",
    )
    .option("-f, --file <topology.yaml>", "lab topology (default: the shipped two-Location estate)")
    .option("--kubeconfig <file>", "join existing clusters (one per context) instead of starting the lab")
    .option("--context <name...>", "with --kubeconfig: only these contexts", [])
    .option("--location <location>", "with --kubeconfig: their Location", "local")
    .option("--environment <environment>", "with --kubeconfig: their environment", "prod")
    .option("--business <business>", "with --kubeconfig: their business", "default")
    .option("--listen <host:port>", "the hub's address", "127.0.0.1:6443")
    .action(async (flags: UpFlags) => {
      const listen = /^(.+):(\d{1,5})$/.exec(flags.listen);
      const hubPort = Number(listen?.[2]);
      if (!listen || hubPort < 1 || hubPort + 1000 > 65535)
        throw new UserError(
          "BadRequest",
          `--listen: must be HOST:PORT with a port from 1 to 64535 (relays take the port + 1000…), got "${flags.listen}"`,
        );
      const host = listen[1]!.replace(/^\[|\]$/g, "");
      // The hub, relays, agents and the lab load once the flags are known good, not for --help.
      const [
        { labDown, labUp },
        { readState },
        { loadTopology },
        {
          checkUpPorts,
          clustersOfKubeconfig,
          clustersOfTopology,
          locationsOfTopology,
          networkPoolsOfTopology,
          upFleet,
        },
        { scaledClock },
      ] = await Promise.all([
        import("../../lab/lab.ts"),
        import("../../lab/state.ts"),
        import("../../lab/topology-file.ts"),
        import("../../up/up.ts"),
        import("../../runtime/clock.ts"),
      ]);
      const relayBasePort = hubPort + 1000;
      const progress = progressLine(process.stderr);
      const paths = labPaths(env.cacheRoot, env.home);
      let startedLab = false;
      // Ctrl-C before everything is up: the lab's processes outlive this one, so stop them here.
      const early = () => {
        progress.done();
        process.stderr.write("\ninterrupted: stopping what was started…\n");
        void (startedLab ? labDown({ paths, environment: env.inherited }, false) : Promise.resolve()).finally(
          () => process.exit(130),
        );
      };
      let locations: UpOptions["locations"];
      let clusters: UpCluster[];
      let networkPools: UpOptions["networkPools"];
      if (flags.kubeconfig) {
        clusters = clustersOfKubeconfig(flags.kubeconfig, flags.context, flags);
        locations = [{ name: flags.location, regions: [] }];
        await checkUpPorts({ host, hubPort, relayBasePort, locations });
        process.once("SIGINT", early);
      } else {
        const topology = await loadTopology(flags.file);
        locations = locationsOfTopology(topology);
        // Before the lab starts: a port in use must not leave a lab running behind an error.
        await checkUpPorts({ host, hubPort, relayBasePort, locations });
        process.once("SIGINT", early);
        await buildWithProgress(env, progress);
        const before = await readState(paths.stateFile);
        startedLab = !before || Object.keys(before.processes).length === 0;
        await labUp(
          { paths, environment: env.inherited, onEvent: (e) => reportLabEvent(e, progress) },
          topology,
          flags.file ?? "(default topology)",
        );
        clusters = clustersOfTopology(topology, paths.kubeconfig);
        networkPools = networkPoolsOfTopology(topology);
      }
      const logFile = join(env.home, "up.log");
      const logStream = createWriteStream(logFile, { flags: "a" });
      const fleet = await upFleet({
        home: env.home,
        host,
        hubPort,
        relayBasePort,
        locations,
        clusters,
        ...(networkPools ? { networkPools } : {}),
        ...(env.meteringTimeScale !== 1 ? { meteringClock: scaledClock(env.meteringTimeScale) } : {}),
        log: (entry) => logStream.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`),
        onProgress: (text) => progress.update(text),
      }).catch(async (error: unknown) => {
        progress.done();
        if (startedLab) await labDown({ paths, environment: env.inherited }, false);
        throw error;
      });
      progress.done();
      process.off("SIGINT", early);
      process.stdout.write(
        [
          `unitfleet is up: ${clusters.length} clusters in ${locations.length} Locations, all Ready.`,
          `  hub API:      ${fleet.hub.url}  (in Location ${locations[0]?.name}: pod logs of its clusters only)`,
          `  admin token:  ${fleet.hub.adminTokenFile}`,
          `  kubeconfig:   ${fleet.hub.kubeconfigFile}  (for kubectl against the hub)`,
          ...[...fleet.relays].map(([name, r]) => `  relay:        ${name} at ${r.url}`),
          `  logs:         ${logFile}`,
          "",
          "Next, in another terminal:",
          "  npx unitfleet get clusters -o wide",
          `  npx unitfleet describe cluster ${clusters[0]?.name ?? "NAME"}`,
          "  npx unitfleet get clusters -l environment=prod -w",
          `  npx unitfleet ping ${clusters[0]?.name ?? "NAME"}`,
          `  npx unitfleet logs ${clusters[0]?.name ?? "NAME"} NAMESPACE/POD`,
          "",
          "Ctrl-C stops everything this command started.",
          "",
        ].join("\n"),
      );
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      process.stderr.write("stopping…\n");
      await fleet.stop();
      if (startedLab) await labDown({ paths, environment: env.inherited }, false);
      logStream.end();
      // Every part stopped in order and let go of its handles (test/e2e/process-stop.test.ts): the process
      // ends on its own.
      process.stderr.write("stopped\n");
    });
}
