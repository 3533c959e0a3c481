/**
 * The lab's build recipe as data: the wrapper go.mod files and linker flags that turn the Go module proxy's
 * sources into binaries. Pure functions, so the recipe is tested without building anything.
 *
 * Why wrappers: `go install k8s.io/kubernetes/cmd/...@v1.x` is refused because Kubernetes' go.mod replaces its
 * staging modules with local folders; a wrapper module that requires k8s.io/kubernetes and replaces every
 * staging module with its published v0.x version builds the same code (docs/adr/0006-lab-binaries.md).
 */
import { labVersions } from "../versions.ts";

/** Staging module names from Kubernetes' own go.mod (`k8s.io/x => ./staging/src/k8s.io/x`). */
export function stagingModules(kubernetesGoMod: string): string[] {
  const modules = new Set<string>();
  for (const line of kubernetesGoMod.split("\n")) {
    const match = /^\s*(?:replace\s+)?(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\/src\/k8s\.io\//.exec(line);
    if (match?.[1]) modules.add(match[1]);
  }
  return [...modules].sort();
}

/** The staging modules' version for a Kubernetes version: 1.36.3 → v0.36.3. */
export function stagingVersion(kubernetes: string): string {
  return `v0.${kubernetes.split(".").slice(1).join(".")}`;
}

export const kubernetesCommands = [
  "k8s.io/kubernetes/cmd/kube-apiserver",
  "k8s.io/kubernetes/cmd/kube-controller-manager",
  "k8s.io/kubernetes/cmd/kube-scheduler",
  "k8s.io/kubernetes/cmd/kubectl",
] as const;

/** The wrapper go.mod that builds Kubernetes' commands at the pinned version. */
export function kubernetesWrapperGoMod(
  staging: readonly string[],
  kubernetes: string = labVersions.kubernetes,
): string {
  const version = stagingVersion(kubernetes);
  return [
    "module unitfleet.local/lab/kubernetes",
    "",
    "go 1.26.0",
    "",
    `require k8s.io/kubernetes v${kubernetes}`,
    "",
    "tool (",
    ...kubernetesCommands.map((c) => `\t${c}`),
    ")",
    "",
    "replace (",
    ...staging.map((m) => `\t${m} => ${m} ${version}`),
    ")",
    "",
  ].join("\n");
}

export const etcdPackage = "go.etcd.io/etcd/server/v3";

/** The wrapper go.mod for etcd: its server module has local replaces too, so it cannot be `go install`ed. */
export function etcdWrapperGoMod(etcd: string = labVersions.etcd): string {
  return [
    "module unitfleet.local/lab/etcd",
    "",
    "go 1.25.0",
    "",
    `require ${etcdPackage} v${etcd}`,
    "",
    `tool ${etcdPackage}`,
    "",
  ].join("\n");
}

export const kwokPackage = "sigs.k8s.io/kwok/cmd/kwok";

/**
 * Linker flags that stamp the Kubernetes version into the binaries, so that `/version`, `kubectl version`
 * and tools that pick flags by version see v1.36.3 rather than v0.0.0-master. The build date is fixed so
 * that two builds of one version are the same.
 */
export function kubernetesLdflags(kubernetes: string = labVersions.kubernetes): string {
  const [major, minor] = kubernetes.split(".");
  const flags = ["-s", "-w"];
  for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
    flags.push(
      `-X ${pkg}.gitVersion=v${kubernetes}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
      `-X ${pkg}.gitCommit=0000000000000000000000000000000000000000`,
      `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
    );
  }
  return flags.join(" ");
}

/** The kwok Stage files (from kwok's module) that make fake nodes Ready and fake pods Running. */
export const kwokStageFiles = [
  "kustomize/stage/node/fast/node-initialize.yaml",
  "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
  "kustomize/stage/pod/fast/pod-ready.yaml",
  "kustomize/stage/pod/fast/pod-complete.yaml",
  "kustomize/stage/pod/fast/pod-delete.yaml",
] as const;

/** Parses `go version` output ("go version go1.26.8 linux/amd64") into [major, minor, patch]. */
export function parseGoVersion(output: string): [number, number, number] | undefined {
  const match = /go(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** True when version a is at least b. */
export function versionAtLeast(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}
