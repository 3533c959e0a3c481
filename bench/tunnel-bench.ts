/**
 * Tunnel benchmark with virtual relays: a load generator that speaks the real protocol (join with bootstrap
 * tokens, mutual TLS WebSocket, hello, inventory snapshots, heartbeats) with synthetic inventory, against a
 * `unitfleet hub` process on the embedded store. Measures, for the hub process: CPU and memory while holding
 * N clusters with a heartbeat every 10 s, and how long until every cluster is reported again after a restart.
 *
 *   node bench/tunnel-bench.ts [--clusters 10000] [--relays 10] [--measure 60]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { HubClient } from "../src/cli/client/hub-client.ts";
import { formatBytes } from "../src/core/quantity/quantity.ts";
import { createCertificateRequest } from "../src/pki/certificates.ts";
import { encodeFrame, message } from "../src/protocol/codec.ts";
import type { MessageBody, MessageType } from "../src/protocol/messages.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "10000" },
    relays: { type: "string", default: "10" },
    measure: { type: "string", default: "60" },
  },
});
const clusterCount = Number(values.clusters);
const relayCount = Number(values.relays);
const measureSeconds = Number(values.measure);
const log = (t: string) => process.stderr.write(`[bench] ${t}\n`);
const cli = join(import.meta.dirname, "../bin/unitfleet.ts");
const clk = 100; // clock ticks per second on Linux

function procStats(pid: number): { cpuSeconds: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / clk,
    rss: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024,
  };
}

function startHubProcess(dir: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "hub", "--listen", "127.0.0.1:0", "--dir", dir], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /hub serving at (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on("exit", (code) => reject(new Error(`hub exited ${code}`)));
  });
}

const clusterName = (i: number) => `v-${String(i).padStart(5, "0")}`;
const locationOf = (relay: number) => `loc-${relay}`;

function inventory(i: number) {
  const items: Array<{ key: string; value: unknown }> = [
    { key: "cluster", value: { kubernetesVersion: "v1.36.3" } },
  ];
  for (let n = 0; n < 3; n++)
    items.push({
      key: `node/${clusterName(i)}-${n}`,
      value: {
        name: `${clusterName(i)}-${n}`,
        zone: `z${n}`,
        ready: true,
        capacity: { cpu: "16", memory: "64Gi", pods: "110" },
        allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
        kubeletVersion: "v1.36.3",
        kernelVersion: "6.12",
        containerRuntimeVersion: "containerd://2.1.4",
      },
    });
  for (let w = 0; w < 5; w++)
    items.push({
      key: `workload/app/Deployment/w${w}`,
      value: {
        namespace: "app",
        kind: "Deployment",
        name: `w${w}`,
        replicas: 2,
        podRequests: { cpu: "250m", memory: "512Mi" },
        pods: 2,
      },
    });
  return items;
}

class VirtualRelay {
  ws!: WebSocket;
  seq = 0;
  readonly clusters: string[];
  readonly location: string;
  private readonly creds: { cert: string; key: string; ca: string };
  constructor(location: string, clusters: string[], creds: { cert: string; key: string; ca: string }) {
    this.location = location;
    this.clusters = clusters;
    this.creds = creds;
  }
  send<T extends MessageType>(type: T, body: MessageBody<T>) {
    this.ws.send(encodeFrame(message(type, body, { id: randomUUID(), seq: ++this.seq })));
  }
  connect(url: string): Promise<void> {
    this.seq = 0;
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${url.replace(/^http/, "ws")}/unitfleet/v1alpha1/tunnel`, { ...this.creds });
      this.ws.on("open", () =>
        this.send("hello", { role: "relay", location: this.location, versions: [1], resumeFrom: 0 }),
      );
      this.ws.on("message", (data: Buffer) => {
        const m = JSON.parse(data.toString()) as { type: string };
        if (m.type === "welcome") {
          for (const [k, c] of this.clusters.entries())
            this.send("inventory.snapshot", { cluster: c, version: 1, items: inventory(k) });
          resolve();
        }
      });
      this.ws.on("error", reject);
    });
  }
  heartbeat() {
    const at = new Date().toISOString();
    for (let i = 0; i < this.clusters.length; i += 1000)
      this.send("heartbeat", {
        clusters: this.clusters.slice(i, i + 1000).map((cluster) => ({ cluster, at })),
      });
  }
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "unitfleet-tunnelbench-"));
  let hub = await startHubProcess(dir);
  try {
    const token = (await readFile(join(dir, "admin-token"), "utf8")).trim();
    const ca = await readFile(join(dir, "ca.crt"), "utf8");
    const api = new HubClient({ server: hub.url, token, caCert: ca });
    log(`registering ${relayCount} Locations and ${clusterCount} clusters`);
    const docs: Array<{ source: string; object: unknown }> = [];
    for (let r = 0; r < relayCount; r++)
      docs.push({
        source: "bench",
        object: {
          apiVersion: "unitfleet.io/v1alpha1",
          kind: "Location",
          metadata: { name: locationOf(r) },
          spec: {},
        },
      });
    await api.send("POST", "/unitfleet/v1alpha1/apply", { documents: docs });
    for (let i = 0; i < clusterCount; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(clusterCount, i + 500); j++)
        batch.push({
          source: "bench",
          object: {
            apiVersion: "unitfleet.io/v1alpha1",
            kind: "Cluster",
            metadata: { name: clusterName(j) },
            spec: { location: locationOf(j % relayCount), environment: "prod", business: "bench" },
          },
        });
      await api.send("POST", "/unitfleet/v1alpha1/apply", { documents: batch });
    }
    const relays: VirtualRelay[] = [];
    for (let r = 0; r < relayCount; r++) {
      const { token: boot } = await api.send<{ token: string }>(
        "POST",
        "/unitfleet/v1alpha1/bootstrap-tokens",
        { location: locationOf(r) },
      );
      const { csr, key } = await createCertificateRequest("relay");
      const joined = await api.send<{ certificate: string }>("POST", "/unitfleet/v1alpha1/join", {
        token: boot,
        role: "relay",
        csr,
      });
      const mine = Array.from({ length: clusterCount }, (_, i) => i)
        .filter((i) => i % relayCount === r)
        .map(clusterName);
      relays.push(new VirtualRelay(locationOf(r), mine, { cert: joined.certificate, key, ca }));
    }
    const ready = async () => {
      const list = await api.send<{
        items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
      }>("GET", "/apis/unitfleet.io/v1alpha1/clusters");
      return list.items.filter((o) =>
        o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      ).length;
    };
    const connectStart = Date.now();
    await Promise.all(relays.map((r) => r.connect(hub.url)));
    for (const r of relays) r.heartbeat();
    while ((await ready()) < clusterCount) await new Promise((res) => setTimeout(res, 1000));
    const firstReadySeconds = (Date.now() - connectStart) / 1000;
    log(`all ${clusterCount} clusters Ready after ${firstReadySeconds.toFixed(1)} s`);

    // Steady state: heartbeats every 10 s; measure the hub process's CPU and memory.
    const beat = setInterval(() => {
      for (const r of relays) r.heartbeat();
    }, 10_000);
    const pid = hub.child.pid!;
    const before = procStats(pid);
    const samples: number[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < measureSeconds * 1000) {
      await new Promise((res) => setTimeout(res, 5000));
      samples.push(procStats(pid).rss);
    }
    const after = procStats(pid);
    const cpuCores = (after.cpuSeconds - before.cpuSeconds) / ((Date.now() - t0) / 1000);
    clearInterval(beat);
    log(`steady: ${cpuCores.toFixed(3)} cores, RSS ${formatBytes(Math.max(...samples))}`);

    // Restart: stop the hub (it tells relays when to come back), start it again, measure until all are Ready.
    // "Back" = the cluster's status written again from a fresh snapshot, i.e. a resourceVersion above this one.
    const versionBefore = Number(
      (
        await api.send<{ metadata: { resourceVersion: string } }>(
          "GET",
          "/apis/unitfleet.io/v1alpha1/clusters?limit=1",
        )
      ).metadata.resourceVersion,
    );
    for (const r of relays) r.ws.removeAllListeners("close");
    hub.child.kill("SIGTERM");
    await new Promise((res) => hub.child.once("exit", res));
    const restartAt = Date.now();
    hub = await startHubProcess(dir);
    const api2 = new HubClient({ server: hub.url, token, caCert: ca });
    // Virtual relays reconnect as real ones do: after the goaway delay (spread over 10 s by the hub), here 0–10 s.
    await Promise.all(
      relays.map(async (r) => {
        await new Promise((res) => setTimeout(res, Math.random() * 10_000));
        for (;;) {
          try {
            await r.connect(hub.url);
            r.heartbeat();
            return;
          } catch {
            await new Promise((res) => setTimeout(res, 500));
          }
        }
      }),
    );
    const beat2 = setInterval(() => {
      for (const r of relays) r.heartbeat();
    }, 10_000);
    const readyAgain = async () => {
      const list = await api2.send<{ items: Array<{ metadata: { resourceVersion: string } }> }>(
        "GET",
        "/apis/unitfleet.io/v1alpha1/clusters",
      );
      return list.items.filter((o) => Number(o.metadata.resourceVersion) > versionBefore).length;
    };
    // The restarted hub is busy taking snapshots back: a list may be refused meanwhile; ask again.
    while ((await readyAgain().catch(() => 0)) < clusterCount)
      await new Promise((res) => setTimeout(res, 1000));
    const backSeconds = (Date.now() - restartAt) / 1000;
    clearInterval(beat2);
    log(`all back ${backSeconds.toFixed(1)} s after the restart`);
    api.close();
    api2.close();
    for (const r of relays) r.ws.close();

    const day = new Date().toISOString().slice(0, 10);
    const lines = [
      `# Tunnel benchmark (virtual relays), ${day}`,
      "",
      `Machine: ${cpus()[0]?.model}, ${cpus().length} cores, ${formatBytes(totalmem())} RAM, Linux ${release()}; ${process.version}.`,
      `Command: \`node bench/tunnel-bench.ts --clusters ${clusterCount} --relays ${relayCount} --measure ${measureSeconds}\`.`,
      `${relayCount} virtual relays speak the real protocol (join, mutual TLS WebSocket, hello, inventory snapshots of`,
      "3 nodes and 5 workloads per cluster, heartbeats every 10 s) to one `unitfleet hub` process on the embedded store.",
      "The load generator runs on the same two cores.",
      "",
      "| figure | value |",
      "| --- | --- |",
      `| clusters held by one hub replica | ${clusterCount} |`,
      `| from connect to every cluster Ready (snapshots written to status) | ${firstReadySeconds.toFixed(1)} s |`,
      `| hub CPU in steady state (heartbeats every 10 s), over ${measureSeconds} s | ${cpuCores.toFixed(3)} cores |`,
      `| hub memory (RSS, peak of samples every 5 s) | ${formatBytes(Math.max(...samples))} |`,
      `| hub restart: until every cluster's status is rewritten from a fresh snapshot | ${backSeconds.toFixed(1)} s |`,
      "",
    ];
    await writeFile(join(import.meta.dirname, "results", `tunnel-${day}.md`), lines.join("\n"));
    process.stdout.write(lines.join("\n"));
  } finally {
    hub.child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
