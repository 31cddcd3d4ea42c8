// The Idempotency-Key header of the requests that create (and charge for) jobs.
import type { FastifyRequest } from "fastify";
import { IDEMPOTENCY_KEY_RULE, IdempotencyKey } from "../billing/idempotency-key.js";
import { HttpError } from "./errors.js";

/** The header's key; undefined without one, 400 when it is not a valid key (or sent twice). */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers["idempotency-key"];
  if (value === undefined) return undefined;
  const key = IdempotencyKey.safeParse(value);
  if (!key.success) throw new HttpError(400, `Invalid Idempotency-Key header: ${IDEMPOTENCY_KEY_RULE}`);
  return key.data;
}
