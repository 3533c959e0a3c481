/**
 * What a cluster asks of the network plan (issue 15): its Location and Region, its planned maximum nodes, the
 * pod range each node gets (node mask) and its planned Services, and optionally the cluster ID it already has
 * (a cluster joining with a ClusterMesh ID keeps it). `sizing.ts` turns a request into range sizes;
 * `allocation.ts` places them.
 */
import { z } from "zod";
import { dnsName } from "../validation/zod-fields.ts";
import { maxClusterId } from "./network-pool.ts";
import { defaultNodeMask, maxNodesLimit, nodeMaskBounds } from "./sizing.ts";

const wholeNumber = (min: number, max: number, why: string) =>
  z.number().superRefine((v, ctx) => {
    if (!Number.isInteger(v) || v < min || v > max)
      ctx.addIssue({ code: "custom", message: `${v} must be a whole number from ${min} to ${max}${why}` });
  });

export const clusterNetworkRequest = z
  .strictObject({
    cluster: dnsName.describe("The cluster's name."),
    location: dnsName.describe("The Location it runs in: its ranges come from that Location's pool."),
    region: dnsName
      .optional()
      .describe("Its Region: ranges come from the Region's pool where there is one, else the Location's."),
    maxNodes: wholeNumber(
      1,
      maxNodesLimit,
      " (kube-controller-manager gives a cluster at most 2^16 node ranges)",
    ).describe("The most nodes the cluster will ever have: the pod and node ranges are sized for it."),
    nodeMask: z
      .strictObject({
        ipv4: wholeNumber(nodeMaskBounds.IPv4.min, nodeMaskBounds.IPv4.max, "").optional(),
        ipv6: wholeNumber(nodeMaskBounds.IPv6.min, nodeMaskBounds.IPv6.max, "").optional(),
      })
      .optional()
      .describe(
        `The prefix of each node's pod range (--node-cidr-mask-size): ${defaultNodeMask.IPv4} for IPv4 and ${defaultNodeMask.IPv6} for IPv6 unless said.`,
      ),
    plannedServices: wholeNumber(0, 1_000_000, "")
      .optional()
      .describe("How many Services (ClusterIPs) the cluster plans: the service range holds twice as many."),
    clusterId: wholeNumber(1, maxClusterId, " (255 unless the Location's pool allows up to 511)")
      .optional()
      .describe("The cluster ID it must have (one it already uses); else the lowest free ID is given."),
  })
  .describe("What one cluster asks of its Location's network plan.");

export type ClusterNetworkRequest = z.infer<typeof clusterNetworkRequest>;
