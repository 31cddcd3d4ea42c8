// The two refusals of a debit: the API's 402. In a module of their own, importing nothing, so that
// src/jobs/errors.ts can re-export them without pulling in the billing queries (an import cycle
// through src/db/pagination.ts otherwise).
export class InsufficientBalanceError extends Error {
  constructor() {
    super("Insufficient balance");
  }
}

export class AccountSuspendedError extends Error {
  constructor() {
    super("Account suspended: update the payment method to resume rendering");
  }
}
