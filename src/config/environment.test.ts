import { describe, expect, it } from "vitest";
import { UserError } from "../errors/user-error.ts";
import { readEnvironment } from "./environment.ts";

describe("readEnvironment", () => {
  it("reads the metering time scale, 1 when unset", () => {
    expect(readEnvironment({ HOME: "/h" }).meteringTimeScale).toBe(1);
    expect(readEnvironment({ HOME: "/h", UNITFLEET_METERING_TIME_SCALE: "60" }).meteringTimeScale).toBe(60);
  });

  it("refuses a scale that is not a number from 1 to 3600, naming the variable", () => {
    for (const bad of ["fast", "0", "-2", "10000"]) {
      let error: unknown;
      try {
        readEnvironment({ HOME: "/h", UNITFLEET_METERING_TIME_SCALE: bad });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).problems?.[0]?.path).toBe("UNITFLEET_METERING_TIME_SCALE");
    }
  });
});
