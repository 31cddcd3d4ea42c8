import { GraphQLError } from "graphql";
import type { Principal } from "../auth/api-keys.js";
import type { GraphQLContext } from "./builder.js";

/** The caller's principal, or an UNAUTHENTICATED error (the GraphQL counterpart of 401). */
export function requirePrincipal(ctx: GraphQLContext): Principal {
  if (!ctx.principal) {
    throw new GraphQLError("Missing or invalid API key: send Authorization: Bearer <api key>", {
      extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
    });
  }
  return ctx.principal;
}
