/** Who is calling the hub, and what their token allows. */

export type Role = "viewer" | "operator" | "admin";

export interface Caller {
  /** The token's name, as the audit log records it. */
  name: string;
  role: Role;
  /** When set, the caller sees and changes only Clusters of these businesses. */
  businesses?: readonly string[];
}

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when the caller's role is at least `needed`. */
export function hasRole(caller: Caller, needed: Role): boolean {
  return rank[caller.role] >= rank[needed];
}

/** The hub itself, for background work. */
export const systemCaller: Caller = { name: "system:hub", role: "admin" };
