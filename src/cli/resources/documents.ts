/**
 * Reads the documents `unitfleet apply -f` is given: a file, every .yaml/.yml/.json file of a folder (sorted),
 * or standard input; multi-document YAML. Syntax errors name the file, the document and the line. A folder
 * that holds one Application and plain Kubernetes manifests becomes that Application, with the manifests
 * collected into its `spec.manifests` (an application kept as the files a team already has).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import { yamlToJs } from "../../yaml/bounded-yaml.ts";

export interface SourceDocument {
  /** `file.yaml[2]`: the file and the document's index in it. */
  source: string;
  object: unknown;
}

export async function readDocuments(
  paths: readonly string[],
  stdin: () => Promise<string>,
): Promise<SourceDocument[]> {
  const files: Array<{ name: string; text: string; folder?: string }> = [];
  for (const path of paths) {
    if (path === "-") {
      files.push({ name: "stdin", text: await stdin() });
      continue;
    }
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new UserError("NotFound", `${path}: no such file or folder`);
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
      for (const n of names)
        files.push({ name: join(path, n), text: await readFile(join(path, n), "utf8"), folder: path });
    } else {
      files.push({ name: path, text: await readFile(path, "utf8") });
    }
  }
  const documents: Array<SourceDocument & { folder?: string }> = [];
  const problems: Problem[] = [];
  for (const file of files) {
    parseAllDocuments(file.text, { prettyErrors: true, uniqueKeys: true }).forEach((doc, index) => {
      const source = `${file.name}[${index}]`;
      if (doc.errors.length > 0) {
        for (const e of doc.errors)
          problems.push({
            path: `${source}: line ${e.linePos?.[0].line ?? "?"}, column ${e.linePos?.[0].col ?? "?"}`,
            message: e.message.split("\n")[0] ?? e.message,
          });
        return;
      }
      const object = yamlToJs(doc, file.text, source);
      if (object === null || object === undefined) return;
      documents.push({ source, object, ...(file.folder !== undefined ? { folder: file.folder } : {}) });
    });
  }
  if (problems.length > 0)
    throw new UserError("InvalidInput", "some documents are not valid YAML; nothing was applied", {
      problems,
    });
  if (documents.length === 0) throw new UserError("InvalidInput", "no documents to apply");
  return collectManifests(documents);
}

const isUnitfleet = (object: unknown) =>
  typeof (object as { apiVersion?: unknown })?.apiVersion === "string" &&
  (object as { apiVersion: string }).apiVersion.startsWith("unitfleet.io/");

/**
 * Folds each folder's plain Kubernetes manifests into the folder's one Application. A folder with manifests
 * but no Application, or with several, is refused with the folder named.
 */
export function collectManifests(
  documents: ReadonlyArray<SourceDocument & { folder?: string }>,
): SourceDocument[] {
  const folders = new Map<string, Array<SourceDocument & { folder?: string }>>();
  for (const d of documents)
    if (d.folder !== undefined) folders.set(d.folder, [...(folders.get(d.folder) ?? []), d]);
  const problems: Problem[] = [];
  const replaced = new Map<SourceDocument, SourceDocument>();
  const folded = new Set<SourceDocument>();
  for (const [folder, docs] of folders) {
    const manifests = docs.filter((d) => !isUnitfleet(d.object));
    if (manifests.length === 0) continue;
    const applications = docs.filter(
      (d) => isUnitfleet(d.object) && (d.object as { kind?: unknown }).kind === "Application",
    );
    if (applications.length !== 1) {
      problems.push({
        path: folder,
        message:
          applications.length === 0
            ? `has ${manifests.length} Kubernetes manifests but no Application to deliver them`
            : `has ${applications.length} Applications (${applications.map((a) => a.source).join(", ")}); put each in its own folder`,
      });
      continue;
    }
    const app = applications[0]!;
    const object = structuredClone(app.object) as { spec?: { manifests?: unknown[] } };
    object.spec = {
      ...(object.spec ?? {}),
      manifests: [...(object.spec?.manifests ?? []), ...manifests.map((m) => m.object)],
    };
    replaced.set(app, { source: `${app.source} + ${manifests.length} manifests of ${folder}`, object });
    for (const m of manifests) folded.add(m);
  }
  if (problems.length > 0)
    throw new UserError("InvalidInput", "some folders cannot be applied; nothing was applied", { problems });
  return documents
    .filter((d) => !folded.has(d))
    .map((d) => replaced.get(d) ?? { source: d.source, object: d.object });
}
