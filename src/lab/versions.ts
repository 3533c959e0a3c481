/**
 * The one place where the lab's component versions are pinned. The build cache is keyed by these values:
 * change one and `unitfleet lab build` builds a new set beside the old one.
 *
 * Kubernetes 1.36 is the newest line whose modules the Go proxy serves and that builds with Go 1.26; etcd 3.6
 * is the line Kubernetes 1.34–1.36 are tested with; kwok 0.8.0 is built on the 0.36 libraries.
 */
export const labVersions = {
  kubernetes: "1.36.3",
  etcd: "3.6.16",
  kwok: "0.8.0",
} as const;

/** The oldest Go that builds every pinned component (kwok 0.8.0 and Kubernetes 1.36 declare go 1.26.0). */
export const minimumGoVersion = "1.26.0";

/** The Kubernetes version string as the API server's `/version` reports it. */
export const kubernetesGitVersion = `v${labVersions.kubernetes}`;

/** The binaries a complete build leaves in the cache's bin folder. */
export const labBinaries = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
  "kwok",
] as const;

export type LabBinary = (typeof labBinaries)[number];

/** The cache key: one folder per combination of pinned versions. */
export function buildKey(): string {
  return `k8s-${labVersions.kubernetes}_etcd-${labVersions.etcd}_kwok-${labVersions.kwok}`;
}
