/**
 * Reads the documents `unitfleet apply -f` is given: a file, every .yaml/.yml/.json file of a folder (sorted),
 * or standard input; multi-document YAML. Syntax errors name the file, the document and the line.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";

export interface SourceDocument {
  /** `file.yaml[2]`: the file and the document's index in it. */
  source: string;
  object: unknown;
}

export async function readDocuments(
  paths: readonly string[],
  stdin: () => Promise<string>,
): Promise<SourceDocument[]> {
  const files: Array<{ name: string; text: string }> = [];
  for (const path of paths) {
    if (path === "-") {
      files.push({ name: "stdin", text: await stdin() });
      continue;
    }
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new UserError("NotFound", `${path}: no such file or folder`);
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
      for (const n of names) files.push({ name: join(path, n), text: await readFile(join(path, n), "utf8") });
    } else {
      files.push({ name: path, text: await readFile(path, "utf8") });
    }
  }
  const documents: SourceDocument[] = [];
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
      const object = doc.toJS();
      if (object === null || object === undefined) return;
      documents.push({ source, object });
    });
  }
  if (problems.length > 0)
    throw new UserError("InvalidInput", "some documents are not valid YAML; nothing was applied", {
      problems,
    });
  if (documents.length === 0) throw new UserError("InvalidInput", "no documents to apply");
  return documents;
}
