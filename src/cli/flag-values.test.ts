import { describe, expect, it } from "vitest";
import { UserError } from "../errors/user-error.ts";
import { durationFlag, durationMilliseconds, wholeNumberFlag } from "./flag-values.ts";

describe("durationMilliseconds", () => {
  it("reads kubectl durations and bare seconds", () => {
    expect(durationMilliseconds("60s")).toBe(60_000);
    expect(durationMilliseconds("2m")).toBe(120_000);
    expect(durationMilliseconds("1h30m")).toBe(5_400_000);
    expect(durationMilliseconds("500ms")).toBe(500);
    expect(durationMilliseconds("1.5h")).toBe(5_400_000);
    expect(durationMilliseconds("15")).toBe(15_000);
    expect(durationMilliseconds("0")).toBe(0);
  });

  it("refuses anything else", () => {
    for (const text of ["", "60x", "-5s", "1 h", "s", "1d", "NaN", "1e3", "m5"])
      expect(durationMilliseconds(text), text).toBeUndefined();
  });
});

describe("flag parsers", () => {
  it("throw one line naming the flag", () => {
    expect(() => durationFlag("--timeout")("soon")).toThrow(UserError);
    expect(() => durationFlag("--timeout")("soon")).toThrow(
      '--timeout: "soon" is not a duration (examples: 60s, 2m, 1h30m, 500ms, or 15 for seconds)',
    );
    expect(() => wholeNumberFlag("--tail", 1)("0")).toThrow(
      '--tail: must be a whole number, at least 1, got "0"',
    );
    expect(wholeNumberFlag("--tail", 1)("20")).toBe(20);
  });
});
