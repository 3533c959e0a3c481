/**
 * Zod fields for the names and values Kubernetes users write: DNS labels, label keys and values, label maps,
 * quantities. Each failure carries the message of the rule it breaks, at its own path.
 */
import { z } from "zod";
import { parseQuantity } from "../quantity/quantity.ts";
import { dnsLabelProblem, labelKeyProblem, labelValueProblem } from "./names.ts";

/** A string checked by a rule that returns its problem, or undefined when the value is fine. */
export const checkedString = (check: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** A DNS label (RFC 1123), as Kubernetes object names are. */
export const dnsName = checkedString((v) => dnsLabelProblem(v));

/** A label value. */
export const labelValue = checkedString(labelValueProblem);

/** A map of labels: every key and value checked, each problem at its key. */
export const labelMap = z.record(z.string(), z.string()).superRefine((map, ctx) => {
  for (const [key, value] of Object.entries(map)) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) ctx.addIssue({ code: "custom", path: [key], message: problem });
  }
});

const utf8 = new TextEncoder();

/** The most bytes all annotations of one object may take, keys and values together, as in Kubernetes. */
export const maxAnnotationBytes = 262_144;

/** A map of annotations: every key a valid label key, and all of them together at most 256 KiB. */
export const annotationMap = z.record(z.string(), z.string()).superRefine((map, ctx) => {
  let bytes = 0;
  for (const [key, value] of Object.entries(map)) {
    const problem = labelKeyProblem(key);
    if (problem) ctx.addIssue({ code: "custom", path: [key], message: problem });
    bytes += utf8.encode(key).length + utf8.encode(value).length;
  }
  if (bytes > maxAnnotationBytes)
    ctx.addIssue({
      code: "custom",
      message: `may take at most ${maxAnnotationBytes} bytes in all (has ${bytes})`,
    });
});

/** A Kubernetes quantity ("500m", "64Gi", or a number) that is at least `min` (default 0). */
export const quantityAtLeast = (min = 0, exclusive = false) =>
  z
    .union([z.string(), z.number()])
    .superRefine((value, ctx) => {
      const parsed = parseQuantity(value);
      if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
      else if (exclusive ? parsed.value <= min : parsed.value < min)
        ctx.addIssue({
          code: "custom",
          message: exclusive ? `must be more than ${min}` : "must not be negative",
        });
    })
    .describe('A Kubernetes quantity: "500m", "2", "64Gi", or a number.');
