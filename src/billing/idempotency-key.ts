// What an idempotency key may be, for every skin that takes one (the REST Idempotency-Key header,
// GraphQL's idempotencyKey argument): 1 to 255 printable ASCII characters without spaces, as
// Stripe allows. What a key does is src/billing/idempotency.ts.
import { z } from "zod";

export const IDEMPOTENCY_KEY_RULE = "1 to 255 printable ASCII characters without spaces";

export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, IDEMPOTENCY_KEY_RULE);
