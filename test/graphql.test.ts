// GraphQL on the same server: the checked-in SDL is current, and queries read the same job the
// REST API shows, scoped to the caller's organisation.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printedSchema } from "../src/graphql/schema.js";
import { socialCard } from "./helpers/fixtures.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

let stack: Stack;
let org: { orgId: string; apiKey: string };

beforeAll(async () => {
  stack = await startStack();
  org = await stack.createOrg(500);
});
afterAll(() => stack?.stop());

const gql = (apiKey: string | null, query: string, variables: Record<string, unknown> = {}) =>
  stack.api(apiKey, "POST", "/graphql", { query, variables });

describe("schema.graphql", () => {
  it("matches the code-first schema (run `npm run schema:print` after changing it)", () => {
    const checkedIn = readFileSync(path.join(import.meta.dirname, "../schema.graphql"), "utf8");
    expect(checkedIn).toBe(printedSchema());
  });
});

describe("queries", () => {
  it("job(id) returns the REST view's data, camelCased", async () => {
    const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl, format: "jpeg" });
    const rest = await waitForFinal(stack, org.apiKey, accepted.body.job_id);
    const res = await gql(org.apiKey, "query($id: ID!) { job(id: $id) { id status templateId outputUrl renderMs error createdAt completedAt } }", {
      id: rest.job_id,
    });
    expect(res.status).toBe(200);
    expect(res.body.data.job).toEqual({
      id: rest.job_id,
      status: "complete",
      templateId: tpl,
      outputUrl: rest.output_url,
      renderMs: rest.render_ms,
      error: null,
      createdAt: rest.created_at,
      completedAt: rest.completed_at,
    });
    // Another organisation sees nothing.
    const other = await stack.createOrg(0);
    const hidden = await gql(other.apiKey, "query($id: ID!) { job(id: $id) { id } }", { id: rest.job_id });
    expect(hidden.body.data.job).toBeNull();
  });

  it("viewer shows the organisation's balance and status", async () => {
    const res = await gql(org.apiKey, "{ viewer { organization { id balanceCents status } } }");
    const balance = (await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: org.orgId } })).balanceCents;
    expect(res.body.data.viewer.organization).toEqual({ id: org.orgId, balanceCents: balance, status: "ACTIVE" });
  });

  it("refuses an anonymous caller with UNAUTHENTICATED", async () => {
    const res = await gql(null, "{ viewer { organization { id } } }");
    expect(res.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(res.body.data).toBeNull();
  });

  it("serves GraphiQL to a browser at GET /graphql", async () => {
    const res = await fetch(`${stack.baseUrl}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("GraphiQL");
  });
});
