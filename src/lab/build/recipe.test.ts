import { describe, expect, it } from "vitest";
import {
  kubernetesLdflags,
  kubernetesWrapperGoMod,
  parseGoVersion,
  stagingModules,
  stagingVersion,
  versionAtLeast,
} from "./recipe.ts";

// An excerpt in the shape of Kubernetes' go.mod: single-line and block replaces, and unrelated lines.
const kubernetesGoMod = `module k8s.io/kubernetes

go 1.26.0

require (
	k8s.io/api v0.0.0
	github.com/google/go-cmp v0.7.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiextensions-apiserver => ./staging/src/k8s.io/apiextensions-apiserver
	k8s.io/cri-streaming => ./staging/src/k8s.io/cri-streaming
)

replace k8s.io/externaljwt => ./staging/src/k8s.io/externaljwt
replace github.com/x/y => github.com/x/y v1.0.0
`;

describe("the Kubernetes build recipe", () => {
  it("finds every staging module, in block and single-line replaces", () => {
    expect(stagingModules(kubernetesGoMod)).toEqual([
      "k8s.io/api",
      "k8s.io/apiextensions-apiserver",
      "k8s.io/cri-streaming",
      "k8s.io/externaljwt",
    ]);
  });

  it("replaces each staging module with its published v0 version", () => {
    expect(stagingVersion("1.36.3")).toBe("v0.36.3");
    const goMod = kubernetesWrapperGoMod(["k8s.io/api", "k8s.io/kubelet"], "1.36.3");
    expect(goMod).toContain("require k8s.io/kubernetes v1.36.3");
    expect(goMod).toContain("\tk8s.io/api => k8s.io/api v0.36.3");
    expect(goMod).toContain("\tk8s.io/kubelet => k8s.io/kubelet v0.36.3");
    expect(goMod).toContain("\tk8s.io/kubernetes/cmd/kube-apiserver");
  });

  it("stamps the version for both version packages", () => {
    const flags = kubernetesLdflags("1.36.3");
    expect(flags).toContain("-X k8s.io/component-base/version.gitVersion=v1.36.3");
    expect(flags).toContain("-X k8s.io/client-go/pkg/version.gitMinor=36");
  });

  it("reads go versions and compares them", () => {
    expect(parseGoVersion("go version go1.26.8 linux/amd64")).toEqual([1, 26, 8]);
    expect(parseGoVersion("go version go1.27 linux/amd64")).toEqual([1, 27, 0]);
    expect(parseGoVersion("bash: go: command not found")).toBeUndefined();
    expect(versionAtLeast([1, 26, 8], [1, 26, 0])).toBe(true);
    expect(versionAtLeast([1, 25, 9], [1, 26, 0])).toBe(false);
  });
});
