/**
 * What GitOps tools need of the hub, shown with the real kubectl the lab builds (issue 13, item 7): server-side
 * apply (create; another field manager's conflicting apply refused, naming the field; `--force-conflicts` takes
 * it), `kubectl patch --type=json`, and `kubectl explain` of the status schemas.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type RunningHub, startHub } from "../../src/hub/hub.ts";
import { binaryPath, labPaths } from "../../src/lab/paths.ts";
import { sharedLab } from "./shared-lab.ts";

const run = promisify(execFile);

let home: string;
let hub: RunningHub;
let kubectlBin: string;

/** kubectl against the hub: its exit code and output (a failure is an answer here, not an exception). */
async function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(kubectlBin, ["--kubeconfig", hub.kubeconfigFile, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function manifest(name: string, text: string): Promise<string> {
  const file = join(home, name);
  await writeFile(file, text);
  return file;
}

const location = (displayName: string, extra = "") =>
  `apiVersion: unitfleet.io/v1alpha1\nkind: Location\nmetadata:\n  name: gitops-tokyo\nspec:\n  displayName: ${displayName}\n${extra}`;

beforeAll(async () => {
  const lab = sharedLab();
  kubectlBin = binaryPath(labPaths(lab.cacheRoot, lab.home), "kubectl");
  home = await mkdtemp(join(tmpdir(), "unitfleet-gitops-"));
  hub = await startHub({ dir: join(home, "hub"), host: "127.0.0.1", port: 0, log: () => {} });
}, 60_000);

afterAll(async () => {
  await hub?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("kubectl as a GitOps tool drives it", () => {
  it("creates with apply --server-side, recording kubectl as the field manager", async () => {
    const applied = await kubectl([
      "apply",
      "--server-side",
      "-f",
      await manifest("a.yaml", location("Tokyo")),
    ]);
    expect(applied).toMatchObject({
      code: 0,
      stdout: "location.unitfleet.io/gitops-tokyo serverside-applied\n",
    });
    const object = parse(
      (await kubectl(["get", "location", "gitops-tokyo", "-o", "yaml", "--show-managed-fields"])).stdout,
    );
    expect(object.spec).toEqual({ displayName: "Tokyo" });
    expect(object.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: "kubectl",
        operation: "Apply",
        fieldsV1: { "f:spec": { "f:displayName": {} } },
      }),
    ]);
  });

  it("refuses another manager's conflicting apply, naming the field and its manager", async () => {
    const file = await manifest("b.yaml", location("Edo"));
    const refused = await kubectl(["apply", "--server-side", "--field-manager=console", "-f", file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      'Apply failed with 1 conflict: conflict with "kubectl": .spec.displayName',
    );
    expect(
      (await kubectl(["get", "location", "gitops-tokyo", "-o", "jsonpath={.spec.displayName}"])).stdout,
    ).toBe("Tokyo");

    const forced = await kubectl([
      "apply",
      "--server-side",
      "--field-manager=console",
      "--force-conflicts",
      "-f",
      file,
    ]);
    expect(forced).toMatchObject({
      code: 0,
      stdout: "location.unitfleet.io/gitops-tokyo serverside-applied\n",
    });
    expect(
      (await kubectl(["get", "location", "gitops-tokyo", "-o", "jsonpath={.spec.displayName}"])).stdout,
    ).toBe("Edo");
  });

  it("patches with --type=json, and answers a failed test with an error naming the path", async () => {
    const patched = await kubectl([
      "patch",
      "location",
      "gitops-tokyo",
      "--type=json",
      "-p",
      '[{"op":"add","path":"/spec/description","value":"east"},{"op":"add","path":"/metadata/labels","value":{"tier":"gold"}}]',
    ]);
    expect(patched).toMatchObject({ code: 0, stdout: "location.unitfleet.io/gitops-tokyo patched\n" });
    const object = parse((await kubectl(["get", "location", "gitops-tokyo", "-o", "yaml"])).stdout);
    expect(object.spec).toEqual({ displayName: "Edo", description: "east" });
    expect(object.metadata.labels).toEqual({ tier: "gold" });

    const failed = await kubectl([
      "patch",
      "location",
      "gitops-tokyo",
      "--type=json",
      "-p",
      '[{"op":"test","path":"/spec/description","value":"west"}]',
    ]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/test failed: \\?"\/spec\/description\\?" is \\?"east\\?", not \\?"west/);
  });

  it("explains the status schemas (kubectl explain clusters.status.conditions)", async () => {
    const explained = await kubectl(["explain", "clusters.status.conditions"]);
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/^GROUP:\s+unitfleet\.io$/m);
    expect(explained.stdout).toMatch(/^FIELD: conditions <\[\]Condition>$/m);
    for (const field of ["lastTransitionTime", "message", "observedGeneration", "reason", "status", "type"])
      expect(explained.stdout).toMatch(new RegExp(`^  ${field}\\s+<`, "m"));
    const status = await kubectl(["explain", "clusters.status"]);
    expect(status.stdout).toMatch(/^ {2}kubernetesVersion\s+<string>$/m);
  });
});
