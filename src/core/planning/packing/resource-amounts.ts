/**
 * How the packer writes resource amounts in its explanations: memory in GiB, cpu in cores, pods and extended
 * resources as counts, with thousands separators ("1,234 GiB", "15.2 cores", "99 pods").
 */

const gibibyte = 2 ** 30;

/** A number with thousands separators and at most one decimal. */
export function formatNumber(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
}

/** An amount of one resource, in the unit people read it in. */
export function formatAmount(resource: string, value: number): string {
  if (resource === "memory") return `${formatNumber(value / gibibyte)} GiB`;
  if (resource === "cpu") return `${formatNumber(value)} ${value === 1 ? "core" : "cores"}`;
  if (resource === "pods") return `${formatNumber(value)} ${value === 1 ? "pod" : "pods"}`;
  return `${formatNumber(value)} ${resource}`;
}

/** "1 node", "12 nodes". */
export function formatNodes(count: number): string {
  return `${formatNumber(count)} ${count === 1 ? "node" : "nodes"}`;
}
