/**
 * YAML read with alias expansion bounded, for every file a user hands unitfleet (manifests, topologies, fleet
 * snapshots, policies): an alias bomb is a clear error, never exhausted memory.
 */
import { type Document, parseAllDocuments, parseDocument, visit } from "yaml";
import { UserError } from "../errors/user-error.ts";

/** How many alias expansions a YAML document may make: a few hundred is generous, an alias bomb makes billions. */
export const maxYamlAliases = 1000;

/**
 * A parsed YAML document as plain values, with alias expansion bounded: an alias bomb (a "billion laughs") is
 * refused with the file and the line of its first alias instead of exhausting memory. `text` is the text the
 * document was parsed from (the whole file for a multi-document stream).
 */
export function yamlToJs(doc: Document.Parsed, text: string, source: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: maxYamlAliases });
  } catch (error) {
    if (!/alias/i.test((error as Error).message)) throw error;
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const line = text.slice(0, offset).split("\n").length;
    throw new UserError(
      "InvalidInput",
      `${source}, line ${line}: the YAML expands its aliases more than ${maxYamlAliases} times`,
      { hint: "write the repeated parts out, or nest fewer aliases" },
    );
  }
}

/** The plain values of a single-document YAML text; a syntax error names `source`. */
export function readYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new UserError(
      "InvalidInput",
      `${source} is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`,
    );
  return yamlToJs(doc, text, source);
}

/** The plain values of every document of a YAML stream (empty documents left out); a syntax error names `source`. */
export function readYamlDocuments(text: string, source: string): unknown[] {
  const documents = parseAllDocuments(text, { uniqueKeys: true });
  const syntax = documents.flatMap((d) => d.errors.map((e) => e.message.split("\n")[0]));
  if (syntax.length > 0) throw new UserError("InvalidInput", `${source} is not valid YAML: ${syntax[0]}`);
  return documents
    .map((d, index) => yamlToJs(d, text, `${source}[${index}]`))
    .filter((o) => o !== null && o !== undefined);
}
