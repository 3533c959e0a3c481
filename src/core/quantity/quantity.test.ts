import { describe, expect, it } from "vitest";
import { formatBytes, formatCores, parseQuantity } from "./quantity.ts";

function value(text: string | number): number {
  const parsed = parseQuantity(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe("parseQuantity", () => {
  it("reads cpu in cores and millicores", () => {
    expect(value("500m")).toBeCloseTo(0.5);
    expect(value("4")).toBe(4);
    expect(value("0.25")).toBe(0.25);
    expect(value(2)).toBe(2);
  });

  it("reads binary and decimal memory suffixes", () => {
    expect(value("1Gi")).toBe(1073741824);
    expect(value("64Mi")).toBe(67108864);
    expect(value("1G")).toBe(1e9);
    expect(value("1.5Gi")).toBe(1.5 * 2 ** 30);
    expect(value("128974848")).toBe(128974848);
    expect(value("129e6")).toBe(129e6);
  });

  it("refuses what is not a quantity, with the reason", () => {
    for (const bad of ["", "lots", "1GB", "Gi", "1 Gi", "-1"]) {
      const parsed = parseQuantity(bad);
      expect(parsed.ok, bad).toBe(false);
    }
    const parsed = parseQuantity("16GB");
    expect(parsed).toEqual({ ok: false, reason: expect.stringContaining("16GB") });
  });
});

describe("formatting", () => {
  it("prints bytes in binary units and cores like kubectl", () => {
    expect(formatBytes(64 * 2 ** 30)).toBe("64Gi");
    expect(formatBytes(1.5 * 2 ** 30)).toBe("1.5Gi");
    expect(formatBytes(512)).toBe("512");
    expect(formatCores(0.5)).toBe("500m");
    expect(formatCores(16)).toBe("16");
  });
});
