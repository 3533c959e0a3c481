import { describe, expect, it } from "vitest";
import { fleetShapes } from "../../core/planning/fleet-generator.ts";
import { planGenerateCommand, shapeHelp, shapesInHelp } from "./generate-command.ts";

describe("plan generate --help", () => {
  it("lists exactly the generator's shapes, without loading the generator to declare the flag", () => {
    expect([...shapesInHelp]).toEqual([...fleetShapes]);
    const shape = planGenerateCommand().options.find((o) => o.long === "--shape");
    expect(shape?.description).toBe(`the kind of fleet: ${fleetShapes.join(", ")}`);
  });

  it("says what every shape is, in the help text", () => {
    let help = "";
    const command = planGenerateCommand().configureOutput({ writeOut: (text) => (help += text) });
    command.outputHelp();
    const described = [...help.matchAll(/^ {2}([a-z-]+) {2,}\S/gm)].map((m) => m[1]);
    expect(described).toEqual([...fleetShapes]);
    expect(help).toContain(shapeHelp);
    expect(help).toContain("--shape gpu-mixed-owned");
  });
});
