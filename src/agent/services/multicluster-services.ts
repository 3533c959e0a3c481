/**
 * Multi-cluster services in the agent (issue 15, docs/multi-cluster-services.md), as one runnable: at start it
 * server-side-applies the ServiceExport and ServiceImport CRDs and waits until they are Established, then lists
 * and watches the cluster. Its exports go to the Location's relay as `services.exports` (`ExportPublisher`); the
 * relay fans every agent's messages out to the others, so each agent holds the records of its whole Location
 * (`LocationExports`) and merges them itself into the objects this cluster imports (`ImportApplier`).
 *
 * Cut off from the relay, the agent keeps its imports as they are: nothing is deleted because the tunnel is
 * down. Imports are first written `settleMs` after the first session opens (once the relay has had time to send
 * the Location's records), so that an agent restarted while cut off does not take away what it cannot see. When
 * a later session opens, the relay sends the records of every cluster it holds: a cluster it does not name
 * within `settleMs` is one it dropped while this agent was away, and its records go.
 */
import type { ChurnPolicy } from "../../core/multicluster-services/churn-limiter.ts";
import type { KubeObject } from "../../core/multicluster-services/consumer-objects.ts";
import { serviceExportCrd, serviceImportCrd } from "../../core/multicluster-services/crds.ts";
import { type Clock, systemClock, type TimerHandle } from "../../runtime/clock.ts";
import type { Log, Runnable } from "../../runtime/runnable.ts";
import { apiErrorMessage } from "../kube/api-error.ts";
import { ExportPublisher, type FrameBounds, type ServicesExportsBody } from "./export-publisher.ts";
import { ImportApplier, type ImportCounters } from "./import-applier.ts";
import { LocationExports } from "./location-exports.ts";
import {
  mcsFieldManager,
  type ServicesClusterWatches,
  type ServicesClusterWrites,
} from "./services-cluster.ts";

export interface MultiClusterServicesOptions {
  cluster: string;
  location: string;
  /** The cluster's Region ("" without one). */
  region: string;
  watches: ServicesClusterWatches;
  writes: ServicesClusterWrites;
  /** Sends a `services.exports` body to the relay. */
  send: (body: ServicesExportsBody) => void;
  /** Whether a session is open now. */
  connected: () => boolean;
  log: Log;
  clock?: Clock;
  policy?: ChurnPolicy;
  /** How long export changes wait for the ones that follow (default 100 ms). */
  exportCoalesceMs?: number;
  /** How long import changes wait for the ones that follow (default 100 ms). */
  importCoalesceMs?: number;
  /** How often the imports are checked without a change (default 30 s). */
  resyncMs?: number;
  /** How long after a session opens the relay's records count as complete (default 2 s). */
  settleMs?: number;
  /** How long to wait for the CRDs to be Established before trying again (default 30 s). */
  crdTimeoutMs?: number;
  bounds?: FrameBounds;
}

export interface MultiClusterServicesCounters {
  /** Requests that wrote to the cluster's API server: CRDs, imports, export statuses. */
  apiWrites: number;
  exports: ExportPublisher["counters"];
  imports: ImportCounters;
  /** `services.exports` messages taken from the relay. */
  received: number;
}

export interface MultiClusterServices extends Runnable {
  /** A tunnel session opened (agent.ts `onOpen`). */
  sessionOpened(): void;
  /** A `services.exports` message from the relay (another cluster's records). */
  received(body: ServicesExportsBody): void;
  /** The Location's records as this agent holds them. */
  readonly location: LocationExports;
  counters(): MultiClusterServicesCounters;
}

const crds = [serviceExportCrd, serviceImportCrd] as unknown as KubeObject[];

export function multiClusterServices(options: MultiClusterServicesOptions): MultiClusterServices {
  const { cluster, region, watches, writes, log } = options;
  const clock = options.clock ?? systemClock;
  const settleMs = options.settleMs ?? 2000;
  const location = new LocationExports(options.location);
  let crdWrites = 0;
  let received = 0;
  let ownSynced = false;
  let firstSettled = false;
  let settleTimer: TimerHandle | undefined;
  /** Clusters the relay named since the session opened; undefined outside the settle window. */
  let heard: Set<string> | undefined;

  const importer = new ImportApplier({
    cluster,
    location: options.location,
    region,
    exports: location,
    view: watches,
    writes,
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.importCoalesceMs !== undefined ? { coalesceMs: options.importCoalesceMs } : {}),
    ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
    clock,
    log,
  });
  const publisher = new ExportPublisher({
    cluster,
    region,
    view: watches,
    send: options.send,
    connected: options.connected,
    onRecords: (records) => {
      const { changed } = location.apply({
        cluster,
        region,
        records: [...records],
        removed: [],
        present: records.map(({ namespace, name }) => ({ namespace, name })),
      });
      if (changed) importer.changed();
    },
    ...(options.exportCoalesceMs !== undefined ? { coalesceMs: options.exportCoalesceMs } : {}),
    ...(options.bounds ? { bounds: options.bounds } : {}),
    clock,
    log,
  });

  const enableWhenReady = () => {
    if (ownSynced && firstSettled) importer.enable();
  };

  const settle = () => {
    settleTimer = undefined;
    const named = heard;
    heard = undefined;
    if (!firstSettled) {
      firstSettled = true;
      enableWhenReady();
      return;
    }
    let forgot = false;
    for (const other of location.clusters())
      if (other !== cluster && !named?.has(other) && location.forget(other)) {
        forgot = true;
        log({
          level: "info",
          msg: "multi-cluster services: the relay no longer holds a cluster's exports",
          source: other,
        });
      }
    if (forgot) importer.changed();
  };

  const onChange = (kind: string) => {
    if (kind === "ServiceExport" || kind === "Service" || kind === "EndpointSlice") publisher.changed();
    if (kind === "ServiceExport" || kind === "Namespace" || kind === "Node") importer.changed();
  };

  return {
    name: "multicluster-services",
    location,
    async start(signal, ready) {
      if (!(await installCrds(signal))) return;
      await watches.start(onChange);
      if (signal.aborted) {
        await watches.stop();
        return;
      }
      ownSynced = true;
      publisher.synced();
      enableWhenReady();
      ready();
      await aborted(signal);
      if (settleTimer !== undefined) clock.clearTimeout(settleTimer);
      publisher.stop();
      await importer.stop();
      await watches.stop();
    },
    sessionOpened() {
      publisher.sessionOpened();
      heard = new Set();
      if (settleTimer !== undefined) clock.clearTimeout(settleTimer);
      settleTimer = clock.setTimeout(settle, settleMs);
    },
    received(body) {
      if (body.cluster === cluster) return;
      received += 1;
      heard?.add(body.cluster);
      const { changed, refused } = location.apply(body);
      if (refused.length)
        log({ level: "warn", msg: "multi-cluster services: records refused", source: body.cluster, refused });
      if (changed) importer.changed();
    },
    counters: () => ({
      apiWrites: crdWrites + importer.counters.writes,
      exports: publisher.counters,
      imports: importer.counters,
      received,
    }),
  };

  /** Applies the CRDs and waits until both are Established, trying again until it works; false if stopped. */
  async function installCrds(signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        for (const crd of crds) {
          await writes.apply(crd, mcsFieldManager);
          crdWrites += 1;
        }
        const deadline = clock.now() + (options.crdTimeoutMs ?? 30_000);
        while (!signal.aborted && clock.now() < deadline) {
          const established = await Promise.all(crds.map((crd) => writes.crdEstablished(crd.metadata.name)));
          if (established.every(Boolean)) return true;
          await pause(clock, 250, signal);
        }
        if (!signal.aborted) throw new Error("the CRDs were not Established in time");
      } catch (error) {
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
        log({
          level: attempt > 2 ? "warn" : "info",
          msg: "multi-cluster services: the ServiceExport and ServiceImport CRDs could not be installed",
          error: apiErrorMessage(error),
          retryInMs: delay,
        });
        await pause(clock, delay, signal);
      }
    }
    return false;
  }
}

function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
