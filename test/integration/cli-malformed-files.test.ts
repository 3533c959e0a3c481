/**
 * Files a user gets wrong give one-line errors, not stack traces (issue 12, finding 11): a YAML alias bomb given
 * to `unitfleet apply -f`, as a lab topology, a fleet snapshot or a consolidation policy is refused with the file and the line of its first alias, and an
 * unwritable `UNITFLEET_HOME` is named with what is wrong with it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readFleetFile, readPolicyFile } from "../../src/cli/planning/planning-input.ts";
import { readEnvironment } from "../../src/config/environment.ts";
import { loadTopology } from "../../src/lab/topology-file.ts";

const run = promisify(execFile);
const cli = join(import.meta.dirname, "../../bin/unitfleet.ts");
const env = readEnvironment();
let temp: string;

/** Nine times nine … nine "x": 9^9 (387 million) values from a few hundred bytes. */
const aliasBomb = [
  "kind: Location",
  'a: &a ["x","x","x","x","x","x","x","x","x"]',
  ...["b", "c", "d", "e", "f", "g", "h", "i"].map((name, i) => {
    const previous = "abcdefgh"[i];
    return `${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]`;
  }),
].join("\n");

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), "unitfleet-malformed-files-"));
});

afterAll(async () => {
  if (temp) await rm(temp, { recursive: true, force: true });
});

async function unitfleet(args: string[], home: string) {
  try {
    const { stdout, stderr } = await run(cli, args, {
      env: { ...env.inherited, UNITFLEET_HOME: home },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

it("refuses a YAML alias bomb in unitfleet apply -f with the file and line", async () => {
  const file = join(temp, "bomb.yaml");
  await writeFile(file, aliasBomb);
  const answer = await unitfleet(["apply", "-f", file], join(temp, "home"));
  expect(answer.code).toBe(1);
  expect(answer.stderr).toContain(
    `error: ${file}[0], line 3: the YAML expands its aliases more than 1000 times`,
  );
  expect(answer.stderr).not.toMatch(/\n\s+at /);
}, 60_000);

it("refuses a YAML alias bomb as a lab topology with the file and line", async () => {
  const file = join(temp, "topology-bomb.yaml");
  await writeFile(file, aliasBomb);
  await expect(loadTopology(file)).rejects.toMatchObject({
    name: "UserError",
    message: `${file}, line 3: the YAML expands its aliases more than 1000 times`,
  });
});

it("refuses a YAML alias bomb as a fleet snapshot or a consolidation policy with the file and line", async () => {
  const file = join(temp, "fleet-bomb.yaml");
  await writeFile(file, aliasBomb);
  await expect(readFleetFile(file)).rejects.toMatchObject({
    name: "UserError",
    message: `${file}, line 3: the YAML expands its aliases more than 1000 times`,
  });
  await expect(readPolicyFile(file)).rejects.toMatchObject({
    name: "UserError",
    message: `${file}[0], line 3: the YAML expands its aliases more than 1000 times`,
  });
});

it("names an unusable UNITFLEET_HOME in one line", async () => {
  const blocker = join(temp, "a-file");
  await writeFile(blocker, "");
  const answer = await unitfleet(["hub", "--listen", "127.0.0.1:0", "--insecure"], blocker);
  expect(answer.code).toBe(1);
  expect(answer.stderr).toBe(
    `error: cannot mkdir ${join(blocker, "hub")}: a part of the path is a file, not a folder (ENOTDIR)\n` +
      "hint: check the path's permissions and free space; UNITFLEET_HOME chooses where unitfleet keeps its files\n",
  );
}, 60_000);
