/** Reads a topology file from disk: YAML syntax errors and schema problems both come back as one UserError. */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type Document, parseDocument, visit } from "yaml";
import { type Topology, validateTopology } from "../core/topology/topology.ts";
import { UserError } from "../errors/user-error.ts";

/** The topology shipped with unitfleet, used when no `-f` is given. */
export const defaultTopologyPath = fileURLToPath(new URL("./topologies/default.yaml", import.meta.url));

/** How many alias expansions a YAML document may make: a few hundred is generous, an alias bomb makes billions. */
const maxYamlAliases = 1000;

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

/** Parses and validates topology text; `source` names the file in messages. */
export function parseTopology(text: string, source: string): Topology {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new UserError("InvalidInput", `${source} is not valid YAML`, {
      problems: doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : "(document)",
        message: e.message.split("\n")[0] ?? e.message,
      })),
      hint: "fix the YAML syntax and try again",
    });
  }
  const validated = validateTopology(yamlToJs(doc, text, source));
  if (!validated.ok) {
    const n = validated.problems.length;
    throw new UserError("InvalidInput", `${source}: the topology has ${n} problem${n === 1 ? "" : "s"}`, {
      problems: validated.problems,
    });
  }
  return validated.value;
}

/** Reads and validates a topology file (the default one when `path` is undefined). */
export async function loadTopology(path: string | undefined): Promise<Topology> {
  const file = path ?? defaultTopologyPath;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UserError("NotFound", `cannot read topology file ${file}: ${(error as Error).message}`);
  }
  return parseTopology(text, file);
}
