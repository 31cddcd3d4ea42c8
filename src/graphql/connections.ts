// Relay connections over the domain's keyset pages: forward pagination (first/after).
import { GraphQLError } from "graphql";
import { afterCursor, cursorFor, type Page } from "../db/pagination.js";
import { ValidationError } from "../errors.js";

export interface ConnectionArgs {
  first?: number | null | undefined;
  after?: string | null | undefined;
  last?: number | null | undefined;
  before?: string | null | undefined;
}

const MAX_PAGE_SIZE = 100;
const MAX_CURSOR_LENGTH = 200;

/**
 * A bad connection argument: a client error in the response's `errors` (code BAD_USER_INPUT,
 * `argumentName` naming it), not the masked "Unexpected error." a plain thrown error becomes.
 * (Non-integers and values beyond 32 bits never get here: GraphQL's Int refuses them first.)
 */
const badArgument = (argumentName: keyof ConnectionArgs, message: string) =>
  new GraphQLError(`Invalid argument "${argumentName}": ${message}`, {
    extensions: { code: "BAD_USER_INPUT", argumentName },
  });

/** Relay args -> the domain's page query. */
export function pageArgs(args: ConnectionArgs): { limit: number; cursor?: string } {
  if (args.last != null) throw badArgument("last", "only forward pagination (first/after) is supported");
  if (args.before != null) throw badArgument("before", "only forward pagination (first/after) is supported");
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE)
    throw badArgument("first", `must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${first}`);
  if (args.after) {
    // Checked here, so a bad cursor is the caller's error too (the domain would throw a plain one).
    if (args.after.length > MAX_CURSOR_LENGTH) throw badArgument("after", "not a cursor from this API");
    try {
      afterCursor(args.after);
    } catch (e) {
      if (e instanceof ValidationError) throw badArgument("after", "not a cursor from this API");
      throw e;
    }
  }
  return { limit: first, ...(args.after ? { cursor: args.after } : {}) };
}

/** A domain page -> a Relay connection; every edge's cursor continues after that edge. */
export async function toConnection<T extends { createdAt: Date; id: string }, N>(
  page: Page<T>,
  node: (row: T) => N | Promise<N>,
  args: ConnectionArgs,
) {
  const edges = await Promise.all(page.data.map(async (row) => ({ cursor: cursorFor(row), node: await node(row) })));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.next_cursor !== null,
      hasPreviousPage: Boolean(args.after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}
