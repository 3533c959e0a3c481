import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../errors/user-error.ts";
import { readDocuments } from "./documents.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const folder = (files: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), "unitfleet-docs-"));
  dirs.push(dir);
  mkdirSync(join(dir, "app"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "app", name), text);
  return join(dir, "app");
};
const application =
  "apiVersion: unitfleet.io/v1alpha1\nkind: Application\nmetadata: {name: web}\nspec:\n  placement: {replicas: {mode: Duplicated, count: 1}}\n";
const deployment =
  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: web}\n";
const noStdin = async () => "";

describe("apply -f FOLDER", () => {
  it("collects a folder's Kubernetes manifests into its Application", async () => {
    const dir = folder({ "application.yaml": application, "web.yaml": deployment });
    const docs = await readDocuments([dir], noStdin);
    expect(docs).toHaveLength(1);
    const object = docs[0]!.object as { kind: string; spec: { manifests: Array<{ kind: string }> } };
    expect(object.kind).toBe("Application");
    expect(object.spec.manifests.map((m) => m.kind)).toEqual(["Deployment", "Service"]);
    expect(docs[0]!.source).toBe(`${join(dir, "application.yaml")}[0] + 2 manifests of ${dir}`);
  });

  it("refuses manifests without an Application, and two Applications in one folder, naming the folder", async () => {
    const bare = folder({ "web.yaml": deployment });
    const error = (await readDocuments([bare], noStdin).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.problems).toEqual([
      { path: bare, message: "has 2 Kubernetes manifests but no Application to deliver them" },
    ]);
    const two = folder({
      "a.yaml": application,
      "b.yaml": application.replace("web", "api"),
      "web.yaml": deployment,
    });
    const second = (await readDocuments([two], noStdin).catch((e: unknown) => e)) as UserError;
    expect(second.problems[0]!.message).toMatch(/^has 2 Applications/);
  });
});
