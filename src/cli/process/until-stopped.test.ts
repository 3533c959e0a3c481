import { afterEach, describe, expect, it, vi } from "vitest";
import { untilStopped } from "./until-stopped.ts";

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

describe("untilStopped: a long-running command ends with its parts", () => {
  it("returns with exit code 1 and says which part failed when the parts stopped by themselves", async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((text) => {
      written.push(String(text));
      return true;
    });
    await untilStopped(
      Promise.resolve({ failure: { runnable: "api", error: new Error("EADDRINUSE") }, stuck: [] }),
    );
    expect(process.exitCode).toBe(1);
    expect(written.join("")).toBe("error: api failed, so everything stopped: Error: EADDRINUSE\n");
    expect(process.listenerCount("SIGTERM")).toBe(0);
  });

  it("waits for SIGTERM while the parts run, and leaves the exit code alone", async () => {
    let done = false;
    const waiting = untilStopped(new Promise(() => {})).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    process.emit("SIGTERM");
    await waiting;
    expect(process.exitCode).toBeUndefined();
    expect(process.listenerCount("SIGINT")).toBe(0);
  });
});
