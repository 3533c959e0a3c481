/**
 * Who a relay or agent is, as its client certificate says: a relay speaks for a Location, an agent for one
 * cluster of a Location. The subject encodes it: `CN=relay:<location>` or `CN=agent:<location>:<cluster>`.
 */

export type PeerIdentity =
  | { role: "relay"; location: string }
  | { role: "agent"; location: string; cluster: string };

export function subjectFor(identity: PeerIdentity): string {
  return identity.role === "relay"
    ? `CN=relay:${identity.location}, O=unitfleet:relay`
    : `CN=agent:${identity.location}:${identity.cluster}, O=unitfleet:agent`;
}

/** Reads the identity from a certificate subject as node:crypto prints it ("CN=…\nO=…"). */
export function identityFromSubject(subject: string): PeerIdentity | undefined {
  const cn = /(?:^|\n|, )CN=([^\n,]+)/.exec(subject)?.[1];
  const relay = /^relay:([a-z0-9-]+)$/.exec(cn ?? "");
  if (relay) return { role: "relay", location: relay[1]! };
  const agent = /^agent:([a-z0-9-]+):([a-z0-9-]+)$/.exec(cn ?? "");
  if (agent) return { role: "agent", location: agent[1]!, cluster: agent[2]! };
  return undefined;
}

/**
 * May this peer speak for a cluster of `clusterLocation`? A relay only for clusters of its own Location; an
 * agent only for its own cluster.
 */
export function maySpeakFor(
  peer: PeerIdentity,
  cluster: { name: string; location: string },
): { allowed: true } | { allowed: false; reason: string } {
  if (peer.role === "relay" && peer.location === cluster.location) return { allowed: true };
  if (peer.role === "agent" && peer.cluster === cluster.name && peer.location === cluster.location)
    return { allowed: true };
  return {
    allowed: false,
    reason:
      peer.role === "relay"
        ? `the relay of Location "${peer.location}" may not speak for cluster "${cluster.name}" of Location "${cluster.location}"`
        : `the agent of cluster "${peer.cluster}" may not speak for cluster "${cluster.name}"`,
  };
}
