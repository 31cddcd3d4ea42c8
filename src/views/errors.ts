// Every error answer's body, as a zod schema: the REST routes document it (src/http/responses.ts)
// and the published client infers its error type from it. Imports zod only.
import { z } from "zod";

/** One problem of a 400, with its JSON path. */
export const FieldError = z.object({ path: z.string(), message: z.string() });

/**
 * The one error shape (src/http/errors.ts). Loose: the health check's 503 adds `status`, and a
 * schema that stripped such fields would hide them.
 */
export const ErrorBody = z.looseObject({
  error: z.string(),
  details: z.array(FieldError).optional().meta({ description: "Validation errors only: one entry per problem." }),
  reason: z.enum(["insufficient_balance", "suspended"]).optional().meta({
    description: '402 only: why the render cannot be paid for (the message is "Insufficient balance" for both).',
  }),
});
