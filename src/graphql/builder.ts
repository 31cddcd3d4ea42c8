// The one Pothos builder, with its plugins: scope-auth (every root field needs an API key,
// checked before any resolver runs), errors (mutations return typed error unions), validation
// (arguments checked with zod), relay (cursor connections). Each module of src/graphql/types adds
// its types here, one module per type as in Pothos's complex-app example; schema.ts imports them.
//
// No Prisma plugin: GraphQL types are built from the domain's views (src/jobs/view.ts, ...), the
// same objects REST returns, so the two skins cannot drift apart and no resolver reads the
// database behind the domain's back.
import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import ValidationPlugin from "@pothos/plugin-validation";
import { GraphQLError } from "graphql";
import type { Principal } from "../auth/api-keys.js";
import type { AppContext } from "../context.js";
import { ValidationError } from "../errors.js";

export interface GraphQLContext {
  app: AppContext;
  /** The API key's organisation; null for an anonymous request (introspection only). */
  principal: Principal | null;
  /** The HTTP request's id (logs follow a job from it). */
  requestId?: string | undefined;
}

const unauthenticated = () =>
  new GraphQLError(
    "Missing API key: send Authorization: Bearer <api key> (connectionParams.authorization over WebSocket)",
    {
      extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
    },
  );

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  AuthScopes: { authenticated: boolean };
  Scalars: { DateTime: { Input: Date; Output: string }; JSON: { Input: unknown; Output: unknown } };
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, ValidationPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({ authenticated: ctx.principal !== null }),
    // Subscriptions are refused when they start, not on their first event.
    authorizeOnSubscribe: true,
    unauthorizedError: () => unauthenticated(),
  },
  errors: { defaultTypes: [], unsafelyHandleInputErrors: true },
  validation: {
    // Argument problems surface as the same ValidationError the domain throws.
    validationError: (result) => {
      const issue = result.issues[0];
      const path = (issue?.path ?? []).map((p) => (typeof p === "object" ? p.key : p)) as (string | number)[];
      return new ValidationError(result.issues.map((i) => i.message).join("; "), path);
    },
  },
  relay: { nodeQueryOptions: false, nodesQueryOptions: false, cursorType: "String" },
});

// Every root field needs an authenticated caller; introspection (__schema) stays open so
// GraphiQL can show the schema before a key is entered.
builder.queryType({ authScopes: { authenticated: true } });
builder.mutationType({ authScopes: { authenticated: true } });
builder.subscriptionType({ authScopes: { authenticated: true } });

/** The caller's principal; root fields are behind the `authenticated` scope, so it is there. */
export function principalOf(ctx: GraphQLContext): Principal {
  if (!ctx.principal) throw unauthenticated();
  return ctx.principal;
}
