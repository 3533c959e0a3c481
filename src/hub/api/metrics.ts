/** Prometheus metrics of the hub, rendered in the text exposition format at /metrics. */

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  private readonly durationCounts = new Array<number>(this.durationBuckets.length + 1).fill(0);
  private durationSum = 0;
  private durationCount = 0;
  private activeWatchers = 0;
  private readonly gauges = new Map<string, () => number>();

  observeRequest(method: string, code: number, seconds: number): void {
    const key = `method="${method}",code="${code}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const index = this.durationBuckets.findIndex((b) => seconds <= b);
    this.durationCounts[index === -1 ? this.durationBuckets.length : index]! += 1;
    this.durationSum += seconds;
    this.durationCount += 1;
  }

  watchers(delta: number): void {
    this.activeWatchers += delta;
  }

  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();

  /** Adds one to a labelled counter (created on first use). */
  count(name: string, help: string, labels: Record<string, string>): void {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = { help, values: new Map() };
      this.counters.set(name, counter);
    }
    const key = labelText(labels);
    counter.values.set(key, (counter.values.get(key) ?? 0) + 1);
  }

  private readonly labelledGauges = new Map<
    string,
    { help: string; series: Array<{ labels: Record<string, string>; value: number }> }
  >();

  /** Replaces every series of a labelled gauge (a pass that measures them all at once, e.g. cost per business). */
  setGauges(
    name: string,
    help: string,
    series: Array<{ labels: Record<string, string>; value: number }>,
  ): void {
    this.labelledGauges.set(name, { help, series });
  }

  /** A gauge read when metrics are scraped. */
  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  render(): string {
    const lines = [
      "# HELP unitfleet_api_requests_total API requests by method and HTTP code.",
      "# TYPE unitfleet_api_requests_total counter",
      ...[...this.requests].map(([labels, n]) => `unitfleet_api_requests_total{${labels}} ${n}`),
      "# HELP unitfleet_api_request_duration_seconds API request latency.",
      "# TYPE unitfleet_api_request_duration_seconds histogram",
    ];
    let cumulative = 0;
    this.durationBuckets.forEach((bucket, i) => {
      cumulative += this.durationCounts[i]!;
      lines.push(`unitfleet_api_request_duration_seconds_bucket{le="${bucket}"} ${cumulative}`);
    });
    cumulative += this.durationCounts[this.durationBuckets.length]!;
    lines.push(
      `unitfleet_api_request_duration_seconds_bucket{le="+Inf"} ${cumulative}`,
      `unitfleet_api_request_duration_seconds_sum ${this.durationSum}`,
      `unitfleet_api_request_duration_seconds_count ${this.durationCount}`,
      "# HELP unitfleet_api_watchers Open watch streams.",
      "# TYPE unitfleet_api_watchers gauge",
      `unitfleet_api_watchers ${this.activeWatchers}`,
    );
    for (const [name, read] of this.gauges) lines.push(`# TYPE ${name} gauge`, `${name} ${read()}`);
    for (const [name, gauge] of this.labelledGauges) {
      lines.push(`# HELP ${name} ${gauge.help}`, `# TYPE ${name} gauge`);
      for (const { labels, value } of gauge.series) lines.push(`${name}{${labelText(labels)}} ${value}`);
    }
    for (const [name, counter] of this.counters) {
      lines.push(`# HELP ${name} ${counter.help}`, `# TYPE ${name} counter`);
      for (const [labels, n] of counter.values) lines.push(`${name}{${labels}} ${n}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

/** Prometheus labels: `k="v",…`, with quotes, backslashes and newlines in values made harmless. */
function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`)
    .join(",");
}
