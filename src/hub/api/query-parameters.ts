/** Query parameters several routes read, as zod schemas of the string the URL carries. */
import { z } from "zod";

/** `limit` as Kubernetes takes it: a whole number, 0 meaning no limit (undefined). */
export const limitParameter = z.string().transform((value, ctx) => {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(limit)) {
    ctx.addIssue({ code: "custom", message: `must be a whole number, not "${value}"` });
    return z.NEVER;
  }
  return limit === 0 ? undefined : limit;
});

/** `dryRun=All` asks for the change to be checked, not made. */
export const dryRunParameter = z
  .string()
  .optional()
  .transform((value) => value === "All");
