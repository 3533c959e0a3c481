/**
 * What a consumer cluster must hold for one import (issue 15, docs/multi-cluster-services.md), as plain
 * Kubernetes objects for its agent to server-side-apply:
 *
 * - the **ServiceImport** (`multicluster.x-k8s.io/v1beta1`): the merged spec; `spec.ips` from the derived
 *   Service's ClusterIPs once the consumer's API server has given them; status with the source clusters in
 *   chain order (Region, tier, ready endpoints) and the serving tier;
 * - for a ClusterSetIP import, the selector-less **derived Service** (object-names.ts: `mcs-<name>-<hash>`), whose
 *   ClusterIP is the import's virtual IP and whose EndpointSlices kube-proxy programs;
 * - **EndpointSlices**, per source cluster and endpoint group, at most 100 endpoints each, with the KEP's labels,
 *   `endpointslice.kubernetes.io/managed-by: mcs.unitfleet.io`, the tier label and, when the consumer's zones
 *   allow it, hints that point kube-proxy at the serving tier only.
 *
 * Stable: an unchanged import gives identical objects. Endpoints stay in the slice that already holds them
 * (given the current slices), so one endpoint added or removed rewrites one slice, not all that follow it.
 * Owner references (they need the ServiceImport's uid) are the agent's to add.
 */
import { type AddressType, type EndpointGroup, type EndpointRecord, portSetKey } from "./export-record.ts";
import { type ConsumerCluster, type LocalityChain, type LocalityTier, localityChain } from "./locality.ts";
import type { MergedImport } from "./merge.ts";
import {
  derivedServiceAnnotation,
  derivedServiceName,
  endpointSliceManagedByLabel,
  importedSliceStem,
  kubernetesServiceNameLabel,
  localityTierLabel,
  managedByLabel,
  mcsApiVersion,
  mcsManager,
  serviceNameLabel,
  sourceClusterLabel,
  sourceRegionLabel,
} from "./object-names.ts";

/** The most endpoints unitfleet puts in one imported EndpointSlice (the endpoint slice controller's default). */
export const maxEndpointsPerSlice = 100;
/** The most zones an endpoint's hints may name (discovery.k8s.io validation). */
export const maxHintZones = 8;
/** The zone named in the hints of endpoints outside the serving tier: no node is in it, so none uses them. */
export const standbyZone = "unitfleet-standby";

/** A Kubernetes object as unitfleet writes or reads it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

export interface ConsumerObjectsInput {
  merged: MergedImport;
  consumer: ConsumerCluster;
  /** Source clusters whose endpoints must leave every import (unhealthy, or their agent's lease lapsed). */
  unhealthyClusters: ReadonlySet<string>;
  /** The ClusterIPs the consumer's API server gave the derived Service, once it exists. */
  derivedServiceIps?: readonly string[];
  /** The imported EndpointSlices of this import in the consumer now, so endpoints keep their slice. */
  currentSlices?: readonly KubeObject[];
}

export type ConsumerObjects =
  | { ok: true; objects: KubeObject[]; chain: Extract<LocalityChain, { ok: true }> }
  | { ok: false; reason: string };

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Whether the consumer's zones can carry the tier in hints: 1 to 8 zones, each a valid label value. */
export function zonesCarryHints(zones: readonly string[]): boolean {
  return (
    zones.length >= 1 &&
    zones.length <= maxHintZones &&
    zones.every((z) => z.length > 0 && z.length <= 63 && labelValuePattern.test(z) && z !== standbyZone)
  );
}

/** The objects `consumer` must hold for `merged` (see the module comment). */
export function desiredConsumerObjects(input: ConsumerObjectsInput): ConsumerObjects {
  const { merged, consumer } = input;
  const chain = localityChain(merged, consumer, input.unhealthyClusters);
  if (!chain.ok) return chain;
  const clusterSetIp = merged.type === "ClusterSetIP";
  const derived = derivedServiceName(merged.namespace, merged.name);
  const hints = clusterSetIp && zonesCarryHints(consumer.zones);
  const objects: KubeObject[] = [];

  const ips = (input.derivedServiceIps ?? []).slice(0, 2);
  objects.push({
    apiVersion: mcsApiVersion,
    kind: "ServiceImport",
    metadata: {
      name: merged.name,
      namespace: merged.namespace,
      labels: { [managedByLabel]: mcsManager },
      ...(clusterSetIp ? { annotations: { [derivedServiceAnnotation]: derived } } : {}),
    },
    spec: {
      type: merged.type,
      ports: merged.ports.map(portObject),
      ...(clusterSetIp && ips.length ? { ips } : {}),
      sessionAffinity: merged.sessionAffinity,
      ...(merged.sessionAffinityConfig ? { sessionAffinityConfig: merged.sessionAffinityConfig } : {}),
      ...(merged.ipFamilies.length ? { ipFamilies: merged.ipFamilies } : {}),
      ...(merged.internalTrafficPolicy ? { internalTrafficPolicy: merged.internalTrafficPolicy } : {}),
      ...(merged.trafficDistribution ? { trafficDistribution: merged.trafficDistribution } : {}),
    },
    status: {
      clusters: chain.sources.map((s) => ({
        cluster: s.cluster,
        region: s.region,
        tier: s.tier,
        readyEndpoints: s.readyEndpoints,
      })),
      ...(chain.servingTier !== undefined ? { servingTier: chain.servingTier } : {}),
    },
  });

  if (clusterSetIp)
    objects.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: derived,
        namespace: merged.namespace,
        labels: { [managedByLabel]: mcsManager, [serviceNameLabel]: merged.name },
      },
      spec: {
        type: "ClusterIP",
        ports: merged.ports.map(portObject),
        sessionAffinity: merged.sessionAffinity,
        ...(merged.sessionAffinityConfig ? { sessionAffinityConfig: merged.sessionAffinityConfig } : {}),
        ...(merged.ipFamilies.length === 2 ? { ipFamilyPolicy: "PreferDualStack" } : {}),
        ...(merged.internalTrafficPolicy ? { internalTrafficPolicy: merged.internalTrafficPolicy } : {}),
        ...(hints ? { trafficDistribution: "PreferSameZone" } : {}),
      },
    });

  const servingZones = [...new Set(consumer.zones)].sort(compareText).map((name) => ({ name }));
  for (const source of chain.sources)
    for (const group of source.endpointGroups) {
      const stem = importedSliceStem(merged.namespace, merged.name, source.cluster, groupKey(group));
      const current = (input.currentSlices ?? []).filter(
        (s) => sliceIndex(s.metadata.name, stem) !== undefined,
      );
      const hint = hints
        ? { forZones: source.tier === chain.servingTier ? servingZones : [{ name: standbyZone }] }
        : undefined;
      for (const [index, endpoints] of placeEndpoints(group.endpoints, current, stem))
        objects.push({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: `${stem}-${index}`,
            namespace: merged.namespace,
            labels: {
              [serviceNameLabel]: merged.name,
              [sourceClusterLabel]: source.cluster,
              [endpointSliceManagedByLabel]: mcsManager,
              [managedByLabel]: mcsManager,
              [localityTierLabel]: String(source.tier satisfies LocalityTier),
              [sourceRegionLabel]: source.region,
              ...(clusterSetIp ? { [kubernetesServiceNameLabel]: derived } : {}),
            },
          },
          addressType: group.addressType satisfies AddressType,
          ports: group.ports.map((p) => ({
            name: p.name,
            protocol: p.protocol,
            port: p.port,
            ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
          })),
          endpoints: endpoints.map((e) => ({
            addresses: [e.address],
            conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
            ...(e.zone ? { zone: e.zone } : {}),
            ...(e.hostname ? { hostname: e.hostname } : {}),
            ...(hint ? { hints: hint } : {}),
          })),
        });
    }
  return { ok: true, objects, chain };
}

function portObject(p: MergedImport["ports"][number]) {
  return {
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol,
    port: p.port,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  };
}

/** What tells two endpoint groups of one source apart in slice names: address type and port set. */
function groupKey(group: EndpointGroup): string {
  return `${group.addressType}|${portSetKey(group.ports)}`;
}

/** The index of slice `name` under `stem` (`<stem>-<index>`), or undefined when it is not one of them. */
function sliceIndex(name: string, stem: string): number | undefined {
  if (!name.startsWith(`${stem}-`)) return undefined;
  const rest = name.slice(stem.length + 1);
  return /^(0|[1-9][0-9]{0,2})$/.test(rest) ? Number(rest) : undefined;
}

/**
 * Places endpoints into slices of at most `maxEndpointsPerSlice`, by index. An endpoint already in a current
 * slice stays there; the others (by address) fill slices that keep endpoints, then slices that were emptied
 * (their names are reused, an update instead of a delete and a create), then new indices from the lowest free.
 */
function placeEndpoints(
  endpoints: readonly EndpointRecord[],
  current: readonly KubeObject[],
  stem: string,
): Array<[number, EndpointRecord[]]> {
  const currentIndexOf = new Map<string, number>();
  const currentIndices = new Set<number>();
  for (const slice of [...current].sort((a, b) => compareText(a.metadata.name, b.metadata.name))) {
    const index = sliceIndex(slice.metadata.name, stem)!;
    currentIndices.add(index);
    const list = (slice.endpoints as Array<{ addresses?: string[] }> | undefined) ?? [];
    for (const e of list) {
      const address = e.addresses?.[0];
      if (address !== undefined && !currentIndexOf.has(address)) currentIndexOf.set(address, index);
    }
  }
  const slices = new Map<number, EndpointRecord[]>();
  const homeless: EndpointRecord[] = [];
  for (const e of [...endpoints].sort((a, b) => compareText(a.address, b.address))) {
    const index = currentIndexOf.get(e.address);
    const slice = index === undefined ? undefined : (slices.get(index) ?? []);
    if (index !== undefined && slice && slice.length < maxEndpointsPerSlice) {
      slice.push(e);
      slices.set(index, slice);
    } else homeless.push(e);
  }
  const kept = [...slices.keys()].sort((a, b) => a - b);
  const emptied = [...currentIndices].filter((i) => !slices.has(i)).sort((a, b) => a - b);
  const candidates = [...kept, ...emptied];
  let fresh = 0;
  for (const e of homeless) {
    let index = candidates.find((i) => (slices.get(i)?.length ?? 0) < maxEndpointsPerSlice);
    if (index === undefined) {
      while (slices.has(fresh) || currentIndices.has(fresh)) fresh++;
      index = fresh;
      candidates.push(index);
    }
    const slice = slices.get(index) ?? [];
    slice.push(e);
    slices.set(index, slice);
  }
  return [...slices.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, list]) => [index, list.sort((a, b) => compareText(a.address, b.address))]);
}
