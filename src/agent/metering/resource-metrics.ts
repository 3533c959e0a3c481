/**
 * Reads the kubelet's resource metrics (`/metrics/resource`, Prometheus text format) for what metering needs:
 * per pod, `pod_cpu_usage_seconds_total` (a counter of core-seconds: usage is its rate between two readings)
 * and `pod_memory_working_set_bytes` (a gauge). Other lines are skipped; a malformed line is skipped, not fatal.
 */

/** One pod's readings; `at` is the sample's own timestamp (ms) when the kubelet gives one. */
export interface PodResourceReading {
  cpuSeconds?: { value: number; at?: number };
  memoryBytes?: number;
}

/** Readings per pod, keyed `namespace/pod`. */
export function parseResourceMetrics(text: string): Map<string, PodResourceReading> {
  const pods = new Map<string, PodResourceReading>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const parsed = parseSampleLine(line);
    if (!parsed) continue;
    const { name, labels, value, at } = parsed;
    if (name !== "pod_cpu_usage_seconds_total" && name !== "pod_memory_working_set_bytes") continue;
    const namespace = labels.namespace;
    const pod = labels.pod;
    if (!namespace || !pod) continue;
    const key = `${namespace}/${pod}`;
    const reading = pods.get(key) ?? {};
    if (name === "pod_cpu_usage_seconds_total")
      reading.cpuSeconds = at === undefined ? { value } : { value, at };
    else reading.memoryBytes = value;
    pods.set(key, reading);
  }
  return pods;
}

/** `name{a="b",c="d"} value [timestamp]`, with the escapes of the text format (\\, \", \n) in label values. */
function parseSampleLine(
  line: string,
): { name: string; labels: Record<string, string>; value: number; at?: number } | undefined {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) return undefined;
  const name = nameMatch[0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    let i = 1;
    while (i < rest.length && rest[i] !== "}") {
      const labelMatch = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(rest.slice(i));
      if (!labelMatch) return undefined;
      i += labelMatch[0].length;
      let value = "";
      while (i < rest.length && rest[i] !== '"') {
        if (rest[i] === "\\" && i + 1 < rest.length) {
          const next = rest[i + 1];
          value += next === "n" ? "\n" : next;
          i += 2;
        } else value += rest[i++];
      }
      if (rest[i] !== '"') return undefined;
      i += 1;
      labels[labelMatch[1]!] = value;
      while (rest[i] === " " || rest[i] === ",") i += 1;
    }
    if (rest[i] !== "}") return undefined;
    rest = rest.slice(i + 1);
  }
  const fields = rest.trim().split(/\s+/);
  const value = Number(fields[0]);
  if (fields[0] === undefined || fields[0] === "" || Number.isNaN(value)) return undefined;
  const at = fields[1] === undefined ? undefined : Number(fields[1]);
  return at === undefined || Number.isNaN(at) ? { name, labels, value } : { name, labels, value, at };
}
