// Errors outside a result union (queries, subscriptions, refusals before execution): a caller's
// error becomes a GraphQLError with its message and the code of the one error table
// (src/error-answers.ts), e.g. NOT_FOUND, RATE_LIMITED; anything else is left to masking.
import { GraphQLError, type GraphQLErrorOptions } from "graphql";
import { RateLimitedError } from "../auth/rate-limiter.js";
import { BalanceRefusedError } from "../billing/errors.js";
import { errorAnswerOf } from "../error-answers.js";

/** The GraphQLError for a caller's error, or undefined for one that is ours. `at` keeps a located error's place. */
export function graphqlErrorOf(err: unknown, at?: GraphQLError): GraphQLError | undefined {
  const answer = errorAnswerOf(err);
  if (!answer) return undefined;
  const extensions = {
    code: answer.graphqlCode,
    ...(err instanceof RateLimitedError ? { retryAfterSeconds: err.decision.resetSeconds } : {}),
    ...(err instanceof BalanceRefusedError ? { reason: err.reason } : {}),
  };
  const located: GraphQLErrorOptions = at
    ? { nodes: at.nodes, source: at.source, positions: at.positions, path: at.path }
    : {};
  return new GraphQLError((err as Error).message, { ...located, extensions });
}
