import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame } from "../../protocol/codec.ts";
import { goldenMessages } from "../../protocol/golden.ts";

/** The golden `usage.hours` frame with its body changed by `change`, as the hub's decoder sees it. */
function decodeChanged(change: (body: Record<string, unknown>) => void) {
  const frame = JSON.parse(encodeFrame(goldenMessages["usage.hours"])) as { body: Record<string, unknown> };
  change(frame.body);
  return decodeFrame(JSON.stringify(frame));
}

const workload = (body: Record<string, unknown>) => (body.workloads as Array<Record<string, unknown>>)[0]!;

describe("the usage.hours message", () => {
  it("travels as metadata", () => {
    expect(goldenMessages["usage.hours"].class).toBe("metadata");
    expect(decodeChanged(() => {}).ok).toBe(true);
  });

  it.each([
    [
      "a record of another cluster",
      (b: Record<string, unknown>) => {
        workload(b).cluster = "fra-pay-prod";
      },
      'body.workloads[0].cluster: must be the message\'s cluster "fra-shop-prod"',
    ],
    [
      "an hour that does not start on the hour",
      (b: Record<string, unknown>) => {
        workload(b).hour = "2026-12-03T14:30:00Z";
      },
      "body.workloads[0].hour: must be the start of an hour in UTC",
    ],
    [
      "a day that does not exist",
      (b: Record<string, unknown>) => {
        workload(b).hour = "2026-02-30T14:00:00Z";
      },
      "body.workloads[0].hour: must be a real date and hour",
    ],
    [
      "more samples than minutes in an hour",
      (b: Record<string, unknown>) => {
        workload(b).samples = 61;
      },
      "body.workloads[0].samples",
    ],
    [
      "allocated below the request",
      (b: Record<string, unknown>) => {
        workload(b).cpu = { request: 10, usage: 5, allocated: 9 };
      },
      "body.workloads[0].cpu.allocated: allocated (the sum of max(request, usage) per minute) cannot be below",
    ],
    [
      "a negative amount",
      (b: Record<string, unknown>) => {
        workload(b).loadBalancers = -1;
      },
      "body.workloads[0].loadBalancers",
    ],
    [
      "a fractional amount",
      (b: Record<string, unknown>) => {
        workload(b).storage = { standard: 1.5 };
      },
      "body.workloads[0].storage.standard",
    ],
    [
      "a workload not named KIND/NAME",
      (b: Record<string, unknown>) => {
        workload(b).workload = "storefront";
      },
      "body.workloads[0].workload: must be KIND/NAME",
    ],
    [
      "an unknown source",
      (b: Record<string, unknown>) => {
        b.source = "prometheus";
      },
      "body.source",
    ],
    [
      "more than 500 records",
      (b: Record<string, unknown>) => {
        b.workloads = Array.from({ length: 300 }, () => workload(b));
        b.nodes = Array.from({ length: 201 }, () => (b.nodes as unknown[])[0]);
      },
      "body.workloads: at most 500 records (workloads and nodes) per message",
    ],
  ])("is refused with %s, naming the field", (_what, change, message) => {
    const decoded = decodeChanged(change);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) {
      expect(decoded.rejection.code).toBe("malformed");
      expect(decoded.rejection.message).toContain(message);
    }
  });
});
