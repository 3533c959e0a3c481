import { describe, expect, it } from "vitest";
import { fleetShapes } from "../../core/planning/fleet-generator.ts";
import { planGenerateCommand, shapesInHelp } from "./generate-command.ts";

describe("plan generate --help", () => {
  it("lists exactly the generator's shapes, without loading the generator to declare the flag", () => {
    expect([...shapesInHelp]).toEqual([...fleetShapes]);
    const shape = planGenerateCommand().options.find((o) => o.long === "--shape");
    expect(shape?.description).toBe(`how pods are sized: ${fleetShapes.join(", ")}`);
  });
});
