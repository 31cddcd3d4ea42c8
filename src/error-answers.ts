// How each error a caller can cause is answered, in one table for both skins: the REST status
// (the body is {"error": message}, plus `details` for a ValidationError: src/http/errors.ts) and
// the GraphQL code (extensions.code of an error outside a result union: src/graphql/error-codes.ts;
// inside a union the error is its own type, whose description names the REST status:
// src/graphql/types/errors.ts). An error not listed here is not the caller's fault: REST answers
// 500 and GraphQL "Unexpected error.", and the details go to the log only.
import { RateLimitedError } from "./auth/rate-limiter.js";
import { AccountSuspendedError, InsufficientBalanceError } from "./billing/errors.js";
import { IdempotencyConflictError } from "./billing/idempotency.js";
import { NotFoundError, ValidationError } from "./errors.js";
import { PreviewFailedError, PreviewUnavailableError } from "./previews/errors.js";

export interface ErrorAnswer {
  httpStatus: number;
  graphqlCode: string;
}

type ErrorClass = abstract new (...args: never[]) => Error;

const ERROR_ANSWERS = new Map<ErrorClass, ErrorAnswer>([
  [ValidationError, { httpStatus: 400, graphqlCode: "BAD_USER_INPUT" }],
  [InsufficientBalanceError, { httpStatus: 402, graphqlCode: "INSUFFICIENT_BALANCE" }],
  [AccountSuspendedError, { httpStatus: 402, graphqlCode: "ACCOUNT_SUSPENDED" }],
  [NotFoundError, { httpStatus: 404, graphqlCode: "NOT_FOUND" }],
  [IdempotencyConflictError, { httpStatus: 422, graphqlCode: "IDEMPOTENCY_CONFLICT" }],
  [RateLimitedError, { httpStatus: 429, graphqlCode: "RATE_LIMITED" }],
  [PreviewFailedError, { httpStatus: 422, graphqlCode: "PREVIEW_FAILED" }],
  [PreviewUnavailableError, { httpStatus: 503, graphqlCode: "PREVIEW_UNAVAILABLE" }],
]);

/** The answer for a thrown error, or undefined when it is not one the caller caused. */
export function errorAnswerOf(err: unknown): ErrorAnswer | undefined {
  for (const [errorClass, answer] of ERROR_ANSWERS) if (err instanceof errorClass) return answer;
  return undefined;
}

/** The answer for an error class of the table (for documentation, e.g. GraphQL descriptions). */
export function errorAnswerFor(errorClass: ErrorClass): ErrorAnswer {
  const answer = ERROR_ANSWERS.get(errorClass);
  if (!answer) throw new Error(`${errorClass.name} has no entry in ERROR_ANSWERS`);
  return answer;
}
