/**
 * The watches of `hub-bench.ts --watches N`, in a worker thread of their own, so that parsing N streams does not
 * share the hub's event loop: a real fleet's watchers (kubectl, controllers, consoles) are other processes.
 * Ready when every watch has seen one of the parent's probe writes. The parent tells it when each write was sent (`performance.timeOrigin + performance.now()`, comparable across
 * threads); it answers with the lag of every event at every watch, and when all have arrived.
 */
import { parentPort, workerData } from "node:worker_threads";
import { HubClient } from "../src/cli/client/hub-client.ts";

interface Setup {
  server: string;
  token: string;
  caCert: string;
  path: string;
  watches: number;
}
const setup = workerData as Setup;
const port = parentPort!;
const now = () => performance.timeOrigin + performance.now();
const client = new HubClient({ server: setup.server, token: setup.token, caCert: setup.caCert });
const stop = new AbortController();
const sentAt = new Map<string, number>();
const early = new Map<string, number[]>();
const seen = new Map<string, number>();
const lags: number[] = [];
const probes = new Map<string, number>();
let ready = false;

const watches = Array.from({ length: setup.watches }, () =>
  client
    .watch(
      setup.path,
      (e) => {
        const name = (e.object.metadata as { name?: string } | undefined)?.name ?? "";
        if (name.startsWith("probe-")) {
          probes.set(name, (probes.get(name) ?? 0) + 1);
          if (!ready && probes.get(name) === setup.watches) {
            ready = true;
            port.postMessage({ type: "ready" });
          }
          return;
        }
        if (!name.startsWith("watched-")) return;
        const arrived = now();
        const sent = sentAt.get(name);
        // The event can beat the parent's message about its write: keep its arrival until then.
        if (sent === undefined) early.set(name, [...(early.get(name) ?? []), arrived]);
        else lags.push(arrived - sent);
        seen.set(name, (seen.get(name) ?? 0) + 1);
      },
      stop.signal,
    )
    .catch(() => {}),
);

port.on("message", async (message: { type: "sent"; name: string; at: number } | { type: "finish" }) => {
  if (message.type === "sent") {
    sentAt.set(message.name, message.at);
    for (const arrived of early.get(message.name) ?? []) lags.push(arrived - message.at);
    early.delete(message.name);
    return;
  }
  const deadline = Date.now() + 60_000;
  while ([...sentAt.keys()].some((n) => (seen.get(n) ?? 0) < setup.watches) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const missing = [...sentAt.keys()].reduce((sum, n) => sum + setup.watches - (seen.get(n) ?? 0), 0);
  stop.abort();
  await Promise.all(watches);
  client.close();
  port.postMessage({ type: "done", lags, missing });
});
