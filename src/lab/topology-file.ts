/** Reads a topology file from disk: YAML syntax errors and schema problems both come back as one UserError. */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { type Topology, validateTopology } from "../core/topology/topology.ts";
import { UserError } from "../errors/user-error.ts";
import { yamlToJs } from "../yaml/bounded-yaml.ts";

/** The topology shipped with unitfleet, used when no `-f` is given. */
export const defaultTopologyPath = fileURLToPath(new URL("./topologies/default.yaml", import.meta.url));

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
