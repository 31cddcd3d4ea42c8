// The render request as the code panel shows it: curl, the REST JSON body and the GraphQL
// mutation. Every value put into the curl command is shell-quoted and every GraphQL string is a
// JSON string literal, so a copied command does what it says whatever the values hold. The API
// key is never in it: `$TEMPLIFIED_KEY` stays outside the quotes, for the shell to expand.

/** One shell word for `value`: single quotes, with each `'` written as `'\''`. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A GraphQL string literal (GraphQL's escapes are JSON's). */
const graphqlString = (value: string) => JSON.stringify(value);

export type SnippetTab = "curl" | "rest" | "graphql";

/** GraphQL enum values are names; anything else would not be one. */
const enumValue = (value: string) => (/^[_A-Za-z][_0-9A-Za-z]*$/.test(value) ? value : graphqlString(value));

export function renderSnippets(origin: string, templateId: string, format: string): Record<SnippetTab, string> {
  const body = { template_id: templateId, format };
  return {
    curl: [
      `curl -s ${shellQuote(`${origin}/api/v1/create`)} \\`,
      `  -H "Authorization: Bearer $TEMPLIFIED_KEY" \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d ${shellQuote(JSON.stringify(body))}`,
      `# 202 {"job_id":"clx_…","status":"pending","poll_url":"/api/v1/create/clx_…"}`,
    ].join("\n"),
    rest: [
      `POST ${origin}/api/v1/create`,
      `Authorization: Bearer $TEMPLIFIED_KEY`,
      ``,
      JSON.stringify(body, null, 2),
    ].join("\n"),
    graphql: [
      `# POST ${origin}/graphql  (Authorization: Bearer $TEMPLIFIED_KEY)`,
      `mutation {`,
      `  createRender(input: { templateId: ${graphqlString(templateId)}, format: ${enumValue(format)} }) {`,
      `    __typename`,
      `    ... on Job { id status outputUrl }`,
      `    ... on Error { message }`,
      `  }`,
      `}`,
      `# then: subscription { jobStatus(jobId: "<id>") { status outputUrl } }`,
    ].join("\n"),
  };
}
