import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cidr,
  cidrContains,
  cidrContainsAddress,
  cidrSize,
  cidrsOverlap,
  firstFreeBlock,
  formatAddress,
  formatCidr,
  mergeCidrs,
  parseAddress,
  parseCidr,
} from "./cidr.ts";

describe("parseCidr", () => {
  it("reads IPv4 and IPv6 blocks and writes them canonically", () => {
    expect(formatCidr(cidr("10.0.0.0/8"))).toBe("10.0.0.0/8");
    expect(formatCidr(cidr("0.0.0.0/0"))).toBe("0.0.0.0/0");
    expect(formatCidr(cidr("FD00:0010:0000:0000:0000:0000:0000:0000/48"))).toBe("fd00:10::/48");
    expect(formatCidr(cidr("2001:db8:0:0:1:0:0:0/96"))).toBe("2001:db8:0:0:1::/96");
    expect(formatCidr(cidr("::/0"))).toBe("::/0");
    expect(formatCidr(cidr("::ffff:10.0.0.0/104"))).toBe("::ffff:a00:0/104");
    expect(cidrSize(cidr("10.0.0.0/15"))).toBe(131_072n);
    expect(cidrSize(cidr("fd00::/64"))).toBe(2n ** 64n);
  });

  it("refuses host bits set, naming the block it probably means", () => {
    const parsed = parseCidr("10.0.0.1/8");
    expect(parsed).toEqual({
      ok: false,
      reason: '"10.0.0.1/8" has host bits set: the block is 10.0.0.0/8 (a single address is 10.0.0.1/32)',
    });
    expect(parseCidr("fd00::1/64")).toMatchObject({
      ok: false,
      reason: expect.stringContaining("fd00::/64"),
    });
  });

  it("refuses what is not a block, saying why", () => {
    const reasons: Record<string, string> = {
      "10.0.0.0": "prefix length",
      "10.0.0.0/33": "from 0 to 32",
      "10.0.0.0/08": "from 0 to 32",
      "10.0.0/8": "four numbers",
      "10.0.256.0/24": "0 to 255",
      "10.01.0.0/16": "leading zero",
      "fd00::/129": "from 0 to 128",
      "fd00:::/64": "hexadecimal",
      "fd00::1::/64": "only once",
      "fd00:1:2:3:4:5:6:7:8/64": "eight groups",
      "fe80::%eth0/64": "zone",
      "/8": "four numbers",
    };
    for (const [text, reason] of Object.entries(reasons))
      expect(parseCidr(text), text).toMatchObject({ ok: false, reason: expect.stringContaining(reason) });
  });

  it("round-trips every address through text (RFC 5952 for IPv6)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }),
        (v6, v4) => {
          const six = parseAddress(formatAddress("IPv6", v6));
          const four = parseAddress(formatAddress("IPv4", v4));
          expect(six).toEqual({ ok: true, address: { family: "IPv6", value: v6 } });
          expect(four).toEqual({ ok: true, address: { family: "IPv4", value: v4 } });
        },
      ),
    );
    expect(formatAddress("IPv6", 0x20010db8000000000001000000000001n)).toBe("2001:db8::1:0:0:1");
    expect(formatAddress("IPv6", 0x20010db8000000010000000000000000n)).toBe("2001:db8:0:1::");
    expect(formatAddress("IPv6", 1n)).toBe("::1");
  });
});

describe("containment and overlap", () => {
  it("nests aligned blocks and keeps families apart", () => {
    expect(cidrContains(cidr("10.0.0.0/8"), cidr("10.1.0.0/16"))).toBe(true);
    expect(cidrContains(cidr("10.1.0.0/16"), cidr("10.0.0.0/8"))).toBe(false);
    expect(cidrsOverlap(cidr("10.1.0.0/16"), cidr("10.0.0.0/8"))).toBe(true);
    expect(cidrsOverlap(cidr("10.1.0.0/16"), cidr("10.2.0.0/16"))).toBe(false);
    expect(cidrsOverlap(cidr("0.0.0.0/0"), cidr("::/0"))).toBe(false);
    expect(cidrContainsAddress(cidr("fd00::/8"), { family: "IPv6", value: 0xfd12n << 112n })).toBe(true);
  });
});

describe("firstFreeBlock", () => {
  it("gives the lowest aligned block that avoids every used one", () => {
    const within = cidr("10.0.0.0/14");
    expect(formatCidr(firstFreeBlock(within, 16, [])!)).toBe("10.0.0.0/16");
    expect(formatCidr(firstFreeBlock(within, 16, [cidr("10.0.3.0/24")])!)).toBe("10.1.0.0/16");
    expect(formatCidr(firstFreeBlock(within, 15, [cidr("10.1.0.0/16")])!)).toBe("10.2.0.0/15");
    expect(firstFreeBlock(within, 15, [cidr("10.1.0.0/16"), cidr("10.2.0.0/24")])).toBeUndefined();
    expect(firstFreeBlock(within, 13, [])).toBeUndefined();
    expect(formatCidr(firstFreeBlock(cidr("fd00::/48"), 56, [cidr("fd00::/56")])!)).toBe("fd00:0:0:100::/56");
  });
});

describe("mergeCidrs", () => {
  it("merges nodes' ranges into the fewest blocks", () => {
    const nodes = ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24", "10.244.5.0/24"];
    expect(mergeCidrs(nodes.map(cidr)).map(formatCidr)).toEqual(["10.244.0.0/22", "10.244.5.0/24"]);
    expect(mergeCidrs([cidr("10.0.0.0/8"), cidr("10.1.0.0/16"), cidr("fd00::/64")]).map(formatCidr)).toEqual([
      "10.0.0.0/8",
      "fd00::/64",
    ]);
    expect(mergeCidrs([cidr("10.0.0.1/32"), cidr("10.0.0.2/32")]).map(formatCidr)).toEqual([
      "10.0.0.1/32",
      "10.0.0.2/32",
    ]);
  });
});
