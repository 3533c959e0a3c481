/** Kubernetes versions as the planner compares them: `v1.36.3` → major, minor, patch. */

function parts(version: string): [number, number, number] {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : [0, 0, 0];
}

/** Negative when `a` is older than `b`, positive when newer, 0 when the same. */
export function compareVersions(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)];
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

/**
 * The upgrades that take a cluster from `from` to `to`, one minor version at a time as Kubernetes requires:
 * `v1.34.2` → `v1.36.1` gives `["v1.35", "v1.36.1"]`; a patch upgrade gives `[to]`; none when not newer.
 */
export function minorSteps(from: string, to: string): string[] {
  if (compareVersions(to, from) <= 0) return [];
  const [fromMajor, fromMinor] = parts(from);
  const [toMajor, toMinor] = parts(to);
  if (fromMajor !== toMajor) return [to];
  const steps: string[] = [];
  for (let minor = fromMinor + 1; minor < toMinor; minor += 1) steps.push(`v${toMajor}.${minor}`);
  steps.push(to.startsWith("v") ? to : `v${to}`);
  return steps;
}
