// The one parser for an API key as clients send it: REST's Authorization header, GraphQL over
// HTTP and SSE, and graphql-ws's connectionParams.authorization all go through here, so one
// key has one spelling everywhere (for authentication and for its rate-limit bucket alike).
//
// Accepted: "Bearer <key>" with the scheme in any case and any surrounding whitespace, or the
// bare key (convenient in connectionParams). The key itself is case-sensitive: another spelling
// of it is another (unknown) key.
const BEARER = /^\s*(?:bearer\s+)?(\S+)\s*$/i;

/** The API key in an Authorization value, or null when there is none. */
export function parseApiKey(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const key = BEARER.exec(value)?.[1];
  // "Bearer" alone is a scheme with no key, not a key called "Bearer".
  if (!key || /^bearer$/i.test(key)) return null;
  return key;
}
