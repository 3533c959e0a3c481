/** Kubernetes naming rules, shared by every resource and topology validator. */

/** A DNS-1123 label (without its length limit of 63): the one definition, for every name check. */
export const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const qualifiedName =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Returns why `name` is not a DNS-1123 label of at most `max` characters, or undefined when it is one. */
export function dnsLabelProblem(name: string, max = 63): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > max) return `must be at most ${max} characters (has ${name.length})`;
  if (!dns1123Label.test(name))
    return `"${name}" must consist of lower case letters, digits and '-', and start and end with a letter or digit`;
  return undefined;
}

/** Returns why `value` is not a valid label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `must be at most 63 characters (has ${value.length})`;
  if (!labelValue.test(value))
    return `"${value}" must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit`;
  return undefined;
}

/** Returns why `key` is not a valid label key or taint key (optional DNS prefix, then a name), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const name = key.includes("/") ? key.slice(key.indexOf("/") + 1) : key;
  if (key.length > 317) return `must be at most 317 characters (has ${key.length})`;
  const prefix = key.includes("/") ? key.slice(0, key.indexOf("/")) : "";
  if (prefix.length > 253) return `must have a prefix of at most 253 characters (has ${prefix.length})`;
  if (name.length === 0 || name.length > 63 || !qualifiedName.test(key))
    return `"${key}" is not a valid key (an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.')`;
  return undefined;
}
