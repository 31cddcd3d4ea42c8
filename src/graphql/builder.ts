// The one Pothos builder. Every schema module adds its types to it; schema.ts imports them all.
import SchemaBuilder from "@pothos/core";
import type { Principal } from "../auth/api-keys.js";
import type { AppContext } from "../context.js";

export interface GraphQLContext {
  app: AppContext;
  /** The API key's organisation; null for an anonymous request. */
  principal: Principal | null;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: { DateTime: { Input: Date; Output: string } };
}>({ defaultFieldNullability: false });

builder.queryType({});

builder.scalarType("DateTime", {
  description: "ISO 8601 date-time in UTC with milliseconds, as in the REST API",
  serialize: (value) => value,
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError("DateTime must be an ISO 8601 string");
    return date;
  },
});
