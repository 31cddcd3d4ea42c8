// Relay connections over the domain's keyset pages: forward pagination (first/after).
import { cursorFor, type Page } from "../db/pagination.js";
import { ValidationError } from "../jobs/errors.js";

export interface ConnectionArgs {
  first?: number | null | undefined;
  after?: string | null | undefined;
  last?: number | null | undefined;
  before?: string | null | undefined;
}

/** Relay args -> the domain's page query. */
export function pageArgs(args: ConnectionArgs): { limit: number; cursor?: string } {
  if (args.last != null || args.before != null) throw new ValidationError("only forward pagination (first/after) is supported", ["last"]);
  const first = args.first ?? 20;
  if (first < 1 || first > 100) throw new ValidationError("first must be between 1 and 100", ["first"]);
  return { limit: first, ...(args.after ? { cursor: args.after } : {}) };
}

/** A domain page -> a Relay connection; every edge's cursor continues after that edge. */
export async function toConnection<T extends { createdAt: Date; id: string }, N>(page: Page<T>, node: (row: T) => N | Promise<N>, args: ConnectionArgs) {
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
