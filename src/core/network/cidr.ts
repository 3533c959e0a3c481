/**
 * CIDR arithmetic for the network plan (issue 15), IPv4 and IPv6 alike: addresses are BigInts, a block is its
 * family, first address and prefix length. Parsing is strict — a block written with host bits set
 * (`10.0.0.1/8`) is refused with the block it probably means, IPv4 octets with leading zeros are refused (they
 * read as octal in some tools) — and formatting is canonical (RFC 5952 for IPv6: lower case, the longest run of
 * zero groups shortened to `::`). Pure: no I/O, no `node:net`.
 */

export type IpFamily = "IPv4" | "IPv6";

/** How many bits an address of each family has. */
export const addressBits: Record<IpFamily, number> = { IPv4: 32, IPv6: 128 };

/** One block of addresses: `base` is its first address (no host bits set), `prefix` its length in bits. */
export interface Cidr {
  family: IpFamily;
  base: bigint;
  prefix: number;
}

/** One address. */
export interface IpAddress {
  family: IpFamily;
  value: bigint;
}

type Parsed<T> = ({ ok: true } & T) | { ok: false; reason: string };

const ipv4Octet = /^(0|[1-9]\d{0,2})$/;

function parseIpv4(text: string): bigint | string {
  const parts = text.split(".");
  if (parts.length !== 4) return "an IPv4 address has four numbers separated by dots";
  let value = 0n;
  for (const part of parts) {
    if (!ipv4Octet.test(part)) {
      if (/^0\d+$/.test(part)) return `"${part}" has a leading zero (it could be read as octal)`;
      return `"${part}" is not a number from 0 to 255`;
    }
    const octet = Number(part);
    if (octet > 255) return `"${part}" is not a number from 0 to 255`;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

const hexGroup = /^[0-9a-fA-F]{1,4}$/;

function parseIpv6(text: string): bigint | string {
  if (text.includes("%")) return "a zone (after %) has no place in a plan";
  const halves = text.split("::");
  if (halves.length > 2) return '"::" may appear only once';
  const groupsOf = (half: string): Array<bigint> | string => {
    if (half === "") return [];
    const parts = half.split(":");
    const groups: bigint[] = [];
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (typeof v4 === "string") return `embedded IPv4 "${part}": ${v4}`;
        groups.push(v4 >> 16n, v4 & 0xffffn);
      } else if (hexGroup.test(part)) groups.push(BigInt(`0x${part}`));
      else return `"${part}" is not a group of 1 to 4 hexadecimal digits`;
    }
    return groups;
  };
  const head = groupsOf(halves[0]!);
  if (typeof head === "string") return head;
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (typeof tail === "string") return tail;
  if (halves.length === 1 && head.length !== 8) return "an IPv6 address has eight groups (or uses ::)";
  if (halves.length === 2 && head.length + tail.length > 7) return 'too many groups around "::"';
  const groups = [...head, ...Array(8 - head.length - tail.length).fill(0n), ...tail];
  return groups.reduce((value, group) => (value << 16n) | group, 0n);
}

/** An address from its text (`10.1.2.3`, `fd00::1`), or why it is not one. */
export function parseAddress(text: string): Parsed<{ address: IpAddress }> {
  const family: IpFamily = text.includes(":") ? "IPv6" : "IPv4";
  const value = family === "IPv4" ? parseIpv4(text) : parseIpv6(text);
  if (typeof value === "string")
    return { ok: false, reason: `"${text}" is not an ${family} address: ${value}` };
  return { ok: true, address: { family, value } };
}

/** An address as text: dotted quad, or RFC 5952 IPv6. */
export function formatAddress(family: IpFamily, value: bigint): string {
  if (family === "IPv4") return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never shortened
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** The mask of the host bits of a block of `prefix` bits. */
function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(addressBits[family] - prefix)) - 1n;
}

/**
 * A block from its text (`10.0.0.0/8`, `fd00:10::/48`), or why it is not one. The prefix length is required;
 * host bits must be zero — `10.0.0.1/8` is refused, naming `10.0.0.0/8`.
 */
export function parseCidr(text: string): Parsed<{ cidr: Cidr }> {
  const slash = text.indexOf("/");
  if (slash < 0)
    return { ok: false, reason: `"${text}" must be a block with its prefix length, e.g. 10.0.0.0/16` };
  const address = parseAddress(text.slice(0, slash));
  if (!address.ok) return { ok: false, reason: address.reason };
  const { family, value } = address.address;
  const prefixText = text.slice(slash + 1);
  const bits = addressBits[family];
  if (!/^(0|[1-9]\d*)$/.test(prefixText) || Number(prefixText) > bits)
    return { ok: false, reason: `"${text}": the prefix length must be a whole number from 0 to ${bits}` };
  const prefix = Number(prefixText);
  const base = value & ~hostMask(family, prefix);
  if (base !== value)
    return {
      ok: false,
      reason: `"${text}" has host bits set: the block is ${formatCidr({ family, base, prefix })} (a single address is ${formatAddress(family, value)}/${bits})`,
    };
  return { ok: true, cidr: { family, base, prefix } };
}

/** A block from text known to be valid (stored, or checked before); throws otherwise (a programming error). */
export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`an invalid block reached the network plan: ${parsed.reason}`);
  return parsed.cidr;
}

/** A block as text, canonical: `10.0.0.0/8`, `fd00:10::/48`. */
export function formatCidr(block: Cidr): string {
  return `${formatAddress(block.family, block.base)}/${block.prefix}`;
}

/** How many addresses a block holds. */
export function cidrSize(block: Cidr): bigint {
  return 1n << BigInt(addressBits[block.family] - block.prefix);
}

/** The last address of a block. */
export function cidrLast(block: Cidr): bigint {
  return block.base | hostMask(block.family, block.prefix);
}

/** Whether `inner` lies wholly inside `outer` (same family; a block contains itself). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    outer.prefix <= inner.prefix &&
    (inner.base & ~hostMask(outer.family, outer.prefix)) === outer.base
  );
}

/** Whether an address lies inside a block. */
export function cidrContainsAddress(block: Cidr, address: IpAddress): boolean {
  return (
    block.family === address.family && (address.value & ~hostMask(block.family, block.prefix)) === block.base
  );
}

/** Whether two blocks share an address. Aligned blocks either nest or are disjoint. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Orders blocks by family (IPv4 first), first address, then larger first. */
export function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family === "IPv4" ? -1 : 1;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

/** Whether two blocks are the same block. */
export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base === b.base && a.prefix === b.prefix;
}

/**
 * The lowest block of `prefix` bits inside `within` that overlaps none of `used` (blocks of any family; other
 * families are ignored), or undefined when there is none. Candidates are aligned on their own size, so the
 * answer is a valid block; `used` blocks need not be aligned with each other or nested in `within`.
 */
export function firstFreeBlock(within: Cidr, prefix: number, used: readonly Cidr[]): Cidr | undefined {
  if (prefix < within.prefix || prefix > addressBits[within.family]) return undefined;
  const family = within.family;
  const step = 1n << BigInt(addressBits[family] - prefix);
  const blockers = used
    .filter((u) => u.family === family && cidrsOverlap(u, within))
    .sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  const end = cidrLast(within);
  let candidate = within.base;
  while (candidate + step - 1n <= end) {
    const last = candidate + step - 1n;
    const blocker = blockers.find((u) => u.base <= last && cidrLast(u) >= candidate);
    if (!blocker) return { family, base: candidate, prefix };
    // Jump past the blocker, to the next boundary of our size.
    const after = cidrLast(blocker) + 1n;
    candidate = ((after + step - 1n) / step) * step;
  }
  return undefined;
}

/**
 * The fewest blocks that cover exactly the addresses of `blocks` (adjacent and nested ones merged), in order:
 * the per-node podCIDRs of a cluster read as the ranges it really uses.
 */
export function mergeCidrs(blocks: readonly Cidr[]): Cidr[] {
  const merged: Cidr[] = [];
  for (const family of ["IPv4", "IPv6"] as const) {
    const intervals = blocks
      .filter((b) => b.family === family)
      .map((b) => [b.base, cidrLast(b)] as [bigint, bigint])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const joined: Array<[bigint, bigint]> = [];
    for (const [start, end] of intervals) {
      const last = joined.at(-1);
      if (!last || start > last[1] + 1n) joined.push([start, end]);
      else if (end > last[1]) last[1] = end;
    }
    for (const [start, end] of joined) merged.push(...rangeToCidrs(family, start, end));
  }
  return merged;
}

/** The aligned blocks that cover the addresses from `start` to `end` (both included), largest possible first. */
function rangeToCidrs(family: IpFamily, start: bigint, end: bigint): Cidr[] {
  const bits = addressBits[family];
  const out: Cidr[] = [];
  let at = start;
  while (at <= end) {
    let prefix = bits;
    // Grow the block while it stays aligned at `at` and ends by `end`.
    while (prefix > 0) {
      const size = 1n << BigInt(bits - prefix + 1);
      if (at % size !== 0n || at + size - 1n > end) break;
      prefix--;
    }
    out.push({ family, base: at, prefix });
    at += 1n << BigInt(bits - prefix);
  }
  return out;
}

/** log2 of the smallest power of two at or above `n` (n ≥ 1): ceil(log2(n)). */
export function bitsFor(n: number): number {
  let bits = 0;
  while (2 ** bits < n) bits++;
  return bits;
}
