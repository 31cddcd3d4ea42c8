// Domain errors: each maps to one client-facing outcome in REST (status code) and GraphQL
// (typed error). Nothing here knows about HTTP.
export class NotFoundError extends Error {}

export class ValidationError extends Error {
  constructor(
    message: string,
    readonly path: (string | number)[] = [],
  ) {
    super(message);
  }
}

export { InsufficientBalanceError, AccountSuspendedError } from "../billing/charges.js";
