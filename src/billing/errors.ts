// The two refusals of a debit: the API's 402. In a module of their own, importing nothing, so that
// the error-answer table and both APIs can import them without pulling in the billing queries.
//
// The contract shows one 402 body, {"error":"Insufficient balance"}, for an exhausted balance and
// a suspended account alike, so both carry that message; `reason` says which, and REST
// (src/http/errors.ts) and GraphQL (src/graphql/types/errors.ts, src/graphql/error-codes.ts) both
// read it from here.

/** Why a render was refused with 402, as both APIs spell it. */
export type BalanceRefusalReason = "insufficient_balance" | "suspended";

export abstract class BalanceRefusedError extends Error {
  abstract readonly reason: BalanceRefusalReason;

  constructor() {
    super("Insufficient balance");
  }
}

export class InsufficientBalanceError extends BalanceRefusedError {
  readonly reason = "insufficient_balance";
}

/** The organisation is suspended (an operator's `org suspend`): a payment-method update resumes it. */
export class AccountSuspendedError extends BalanceRefusedError {
  readonly reason = "suspended";
}
