// The two refusals of a debit: the API's 402. In a module of their own, importing nothing, so that
// the error-answer table and both APIs can import them without pulling in the billing queries.
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
