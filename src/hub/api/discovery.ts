/** The discovery documents kubectl reads to learn which resources the hub serves, and how. */
import { type KindInfo, kinds } from "../../core/resources/kinds.ts";
import { apiVersion, group, version } from "../../core/resources/meta.ts";

export function coreVersions() {
  return { kind: "APIVersions", apiVersion: "v1", versions: [], serverAddressByClientCIDRs: [] };
}

function groupDocument() {
  return {
    name: group,
    versions: [{ groupVersion: apiVersion, version }],
    preferredVersion: { groupVersion: apiVersion, version },
  };
}

export function groupList() {
  return { kind: "APIGroupList", apiVersion: "v1", groups: [groupDocument()] };
}

export function apiGroup() {
  return { kind: "APIGroup", apiVersion: "v1", ...groupDocument() };
}

export function resourceList() {
  const resources = Object.values(kinds).flatMap((k: KindInfo) => [
    {
      name: k.plural,
      singularName: k.singular,
      namespaced: false,
      kind: k.kind,
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      shortNames: k.shortNames,
      categories: ["unitfleet"],
    },
    {
      name: `${k.plural}/status`,
      singularName: "",
      namespaced: false,
      kind: k.kind,
      verbs: ["get", "patch", "update"],
    },
  ]);
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: apiVersion, resources };
}

export function versionInfo(hubVersion: string) {
  return {
    major: "1",
    minor: "36",
    gitVersion: `v1.36.0+unitfleet-${hubVersion}`,
    gitCommit: "",
    gitTreeState: "clean",
    buildDate: "1970-01-01T00:00:00Z",
    goVersion: "",
    compiler: "node",
    platform: `${process.platform}/${process.arch}`,
  };
}
