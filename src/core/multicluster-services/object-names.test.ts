import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { derivedServiceName, importedSliceStem } from "./object-names.ts";

const dns1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const label = fc.stringMatching(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);

describe("derivedServiceName", () => {
  it("reads as the import, and is the same every time", () => {
    expect(derivedServiceName("shop", "cart")).toBe("mcs-cart-l42ke4iz2f");
    expect(derivedServiceName("shop", "cart")).toBe(derivedServiceName("shop", "cart"));
  });

  it("is a DNS-1035 label of at most 63 characters for any Service name, distinct per namespace/name", () => {
    fc.assert(
      fc.property(label, label, label, (namespace, a, b) => {
        const name = derivedServiceName(namespace, a);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(dns1035);
        if (a !== b) expect(derivedServiceName(namespace, b)).not.toBe(name);
        expect(derivedServiceName(`${namespace}x`, a)).not.toBe(name);
      }),
    );
  });

  it("keeps two long names that share their first 48 characters apart", () => {
    const stem = "a".repeat(55);
    expect(derivedServiceName("shop", `${stem}-one`)).not.toBe(derivedServiceName("shop", `${stem}-two`));
    expect(derivedServiceName("shop", `${stem}-one`)).toHaveLength(63);
  });
});

describe("importedSliceStem", () => {
  it("leaves room for an index of three digits, and differs per source cluster and endpoint group", () => {
    fc.assert(
      fc.property(label, label, label, (namespace, name, cluster) => {
        const stem = importedSliceStem(namespace, name, cluster, "IPv4|http/TCP/8080/");
        expect(`${stem}-999`.length).toBeLessThanOrEqual(63);
        expect(`${stem}-0`).toMatch(dns1035);
        expect(importedSliceStem(namespace, name, `${cluster}x`, "IPv4|http/TCP/8080/")).not.toBe(stem);
        expect(importedSliceStem(namespace, name, cluster, "IPv6|http/TCP/8080/")).not.toBe(stem);
      }),
    );
  });
});
