/**
 * A child process for the stop tests: starts a hub (embedded store), a relay and, given a kubeconfig, an agent
 * of one cluster, lets them run, stops them (agent, relay, hub), and then does nothing. When nothing is left
 * open it exits on its own, printing what each stop reported; otherwise it prints the handles still open
 * after 15 s and exits with 3.
 *
 *   node test/support/start-and-stop.ts DIR [KUBECONFIG CONTEXT CLUSTER]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgent } from "../../src/agent/agent.ts";
import { startHub } from "../../src/hub/hub.ts";
import { createBootstrapToken } from "../../src/hub/joining/joining.ts";
import { systemCaller } from "../../src/hub/registry/caller.ts";
import { startRelay } from "../../src/relay/relay.ts";

const [dir, kubeconfig, context, cluster] = process.argv.slice(2) as [string, ...Array<string | undefined>];
const log = () => {};
const hub = await startHub({ dir: join(dir, "hub"), host: "127.0.0.1", port: 0, log, heartbeatSeconds: 0.2 });
await hub.registry.applyAll(
  [
    {
      source: "stop-test",
      body: {
        apiVersion: "unitfleet.io/v1alpha1",
        kind: "Location",
        metadata: { name: "frankfurt" },
        spec: {},
      },
    },
  ],
  systemCaller,
);
const hubCa = await readFile(hub.caFile, "utf8");
const token = async () => (await createBootstrapToken(hub.sql, "frankfurt", 60_000, new Date())).token;
const relay = await startRelay({
  hub: hub.url,
  hubCa,
  token: await token(),
  location: "frankfurt",
  host: "127.0.0.1",
  port: 0,
  dir: join(dir, "relay"),
  log,
  queueLogEveryMs: 200,
});
const agent =
  kubeconfig && context && cluster
    ? await startAgent({
        hub: hub.url,
        relay: relay.url,
        hubCa,
        token: await token(),
        kubeconfig,
        context,
        cluster,
        location: "frankfurt",
        environment: "prod",
        business: "shop",
        dir: join(dir, "agent"),
        log,
      })
    : undefined;
// Long enough for heartbeats, health passes, the relay's queue log and the agent's first API probe.
await new Promise((resolve) => setTimeout(resolve, 6000));
const heartbeats = hub.heartbeatsReceived().get(cluster ?? "") ?? 0;
await agent?.stop();
await relay.stop();
await hub.close();
const outcomes = {
  agent: agent ? await agent.stopped : undefined,
  relay: await relay.stopped,
  hub: await hub.stopped,
};
// The report is printed when the event loop has nothing left to do; if something stays open, the process
// says what after 15 s and exits with 3 (an unref'd timer does not keep it alive itself).
process.once("beforeExit", () => process.stdout.write(`${JSON.stringify({ heartbeats, outcomes })}\n`));
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ lingering: process.getActiveResourcesInfo() })}\n`);
  process.exit(3);
}, 15_000).unref();
