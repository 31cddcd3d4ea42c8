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
    const res = await gql(
      org.apiKey,
      "query($id: ID!) { job(id: $id) { id status templateId outputUrl renderMs error createdAt completedAt } }",
      {
        id: rest.job_id,
      },
    );
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
    const balance = (await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: org.orgId } }))
      .balanceCents;
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

describe("mutations and their typed errors", () => {
  const CREATE = `mutation($input: CreateRenderInput!, $key: String) {
    createRender(input: $input, idempotencyKey: $key) {
      __typename
      ... on Job { id status templateId }
      ... on Error { message }
      ... on ValidationError { fields { path message } }
      ... on InsufficientBalanceError { reason }
      ... on AccountSuspendedError { reason }
    }
  }`;

  it("createRender: the job, or each error union member", async () => {
    const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    const ok = await gql(org.apiKey, CREATE, {
      input: { templateId: tpl, modifications: [{ name: "title", text: "Hi" }] },
      key: "gql-1",
    });
    expect(ok.body.data.createRender).toMatchObject({ __typename: "Job", status: "pending", templateId: tpl });
    const replay = await gql(org.apiKey, CREATE, {
      input: { templateId: tpl, modifications: [{ name: "title", text: "Hi" }] },
      key: "gql-1",
    });
    expect(replay.body.data.createRender.id).toBe(ok.body.data.createRender.id);

    const conflict = await gql(org.apiKey, CREATE, { input: { templateId: tpl }, key: "gql-1" });
    expect(conflict.body.data.createRender.__typename).toBe("IdempotencyConflictError");

    const invalid = await gql(org.apiKey, CREATE, {
      input: { templateId: tpl, scale: 9, modifications: [{ name: "nope", text: "x" }] },
    });
    expect(invalid.body.data.createRender.__typename).toBe("ValidationError");
    expect(invalid.body.data.createRender.fields.map((f: { path: string }) => f.path)).toEqual(["input.scale"]);
    const unknownLayer = await gql(org.apiKey, CREATE, {
      input: { templateId: tpl, modifications: [{ name: "nope", text: "x" }] },
    });
    expect(unknownLayer.body.data.createRender).toMatchObject({
      __typename: "ValidationError",
      fields: [{ path: "modifications[0].name" }],
    });

    const missing = await gql(org.apiKey, CREATE, { input: { templateId: "tpl_missing" } });
    expect(missing.body.data.createRender.__typename).toBe("NotFoundError");

    const poor = await stack.createOrg(0);
    const poorTpl = (await stack.api(poor.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    const broke = await gql(poor.apiKey, CREATE, { input: { templateId: poorTpl } });
    expect(broke.body.data.createRender).toEqual({
      __typename: "InsufficientBalanceError",
      message: "Insufficient balance",
      reason: "insufficient_balance",
    });

    await stack.app.ctx.prisma.organization.update({ where: { id: poor.orgId }, data: { status: "SUSPENDED" } });
    const suspended = await gql(poor.apiKey, CREATE, { input: { templateId: poorTpl } });
    // The contract's one message for both refusals; the type and `reason` (as in REST's body) say which.
    expect(suspended.body.data.createRender).toEqual({
      __typename: "AccountSuspendedError",
      message: "Insufficient balance",
      reason: "suspended",
    });
    expect(await stack.app.ctx.prisma.job.count({ where: { orgId: poor.orgId } })).toBe(0);
  });

  it("createStudioRender and createDesignGroup call the same domain as their REST routes", async () => {
    const studio = await gql(
      org.apiKey,
      `mutation { createStudioRender(input: { name: "S", design: { width: 12, height: 12 }, format: png }) { __typename ... on Job { id templateId status } } }`,
    );
    expect(studio.body.data.createStudioRender).toMatchObject({ __typename: "Job", status: "pending" });
    const tpl = studio.body.data.createStudioRender.templateId;
    expect((await stack.api(org.apiKey, "GET", `/api/v1/templates/${tpl}`)).body.name).toBe("S");
    const group = await gql(
      org.apiKey,
      `mutation($ids: [String!]) { createDesignGroup(input: { templateIds: $ids }) { __typename ... on Job { id } ... on ValidationError { fields { path } } } }`,
      { ids: [tpl, tpl] },
    );
    expect(group.body.data.createDesignGroup.__typename).toBe("Job");
    const done = await waitForFinal(stack, org.apiKey, group.body.data.createDesignGroup.id);
    const read = await gql(
      org.apiKey,
      `query($id: ID!) { job(id: $id) { status items { templateId status outputUrl } } }`,
      { id: done.job_id },
    );
    expect(read.body.data.job.status).toBe("complete");
    expect(read.body.data.job.items).toHaveLength(2);
    const invalid = await gql(
      org.apiKey,
      `mutation { createDesignGroup(input: {}) { __typename ... on ValidationError { fields { path } } } }`,
    );
    expect(invalid.body.data.createDesignGroup).toEqual({
      __typename: "ValidationError",
      fields: [{ path: "input.design_group_id" }],
    });
  });

  it("templates: create, update (a new version), read, list, delete, with typed errors", async () => {
    const CREATE_T = `mutation($doc: JSON!) { createTemplate(name: "G", document: $doc) { __typename ... on Template { id version } ... on ValidationError { fields { path } } } }`;
    const created = await gql(org.apiKey, CREATE_T, { doc: { width: 10, height: 10 } });
    expect(created.body.data.createTemplate.__typename).toBe("Template");
    const id = created.body.data.createTemplate.id;
    const invalid = await gql(org.apiKey, CREATE_T, { doc: { width: 0, height: 10 } });
    expect(invalid.body.data.createTemplate).toEqual({
      __typename: "ValidationError",
      fields: [{ path: "document.width" }],
    });

    const UPDATE = `mutation($id: ID!, $doc: JSON!) { updateTemplate(id: $id, document: $doc) { __typename ... on Template { version width } } }`;
    expect((await gql(org.apiKey, UPDATE, { id, doc: { width: 20, height: 10 } })).body.data.updateTemplate).toEqual({
      __typename: "Template",
      version: 2,
      width: 20,
    });
    expect(
      (await gql(org.apiKey, UPDATE, { id: "tpl_missing", doc: { width: 20, height: 10 } })).body.data.updateTemplate
        .__typename,
    ).toBe("NotFoundError");

    const read = await gql(
      org.apiKey,
      `query($id: ID!) { template(id: $id) { id version document } templates(first: 1) { edges { node { id } } pageInfo { hasNextPage } } }`,
      { id },
    );
    expect(read.body.data.template).toMatchObject({ id, version: 2, document: { width: 20, height: 10 } });
    expect(read.body.data.templates.edges[0].node.id).toBe(id);

    const DELETE = `mutation($id: ID!) { deleteTemplate(id: $id) { __typename ... on DeletedTemplate { id } } }`;
    expect((await gql(org.apiKey, DELETE, { id })).body.data.deleteTemplate).toEqual({
      __typename: "DeletedTemplate",
      id,
    });
    expect((await gql(org.apiKey, DELETE, { id })).body.data.deleteTemplate.__typename).toBe("NotFoundError");
  });

  it("jobs: a connection, newest first, filtered by status and template", async () => {
    const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body.template_id;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl })).body.job_id);
    for (const id of ids) await waitForFinal(stack, org.apiKey, id);
    const Q = `query($t: String, $after: String) { jobs(first: 2, templateId: $t, status: complete, after: $after) { edges { node { id status } } pageInfo { hasNextPage endCursor } } }`;
    const p1 = await gql(org.apiKey, Q, { t: tpl });
    expect(p1.body.data.jobs.edges.map((e: any) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(p1.body.data.jobs.pageInfo.hasNextPage).toBe(true);
    const p2 = await gql(org.apiKey, Q, { t: tpl, after: p1.body.data.jobs.pageInfo.endCursor });
    expect(p2.body.data.jobs.edges.map((e: any) => e.node.id)).toEqual([ids[0]]);
    expect(p2.body.data.jobs.pageInfo.hasNextPage).toBe(false);
  });
});

describe("authentication and protection", () => {
  it("a bad key is refused with 401 before anything runs; no key may only introspect", async () => {
    const bad = await gql("tk_live_wrong", "{ viewer { organization { id } } }");
    expect(bad.status).toBe(401);
    expect(bad.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    const intro = await gql(null, "{ __schema { queryType { name } } }");
    expect(intro.body.data.__schema.queryType.name).toBe("Query");
    const anon = await gql(null, 'mutation { deleteTemplate(id: "tpl_x") { __typename } }');
    expect(anon.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
  });

  it("limits query depth, and can switch introspection off", async () => {
    const strict = await startStack(
      { GRAPHQL_MAX_DEPTH: "3", GRAPHQL_INTROSPECTION: "false" },
      { api: true, worker: false },
    );
    try {
      const o = await strict.createOrg(0);
      const deep = await strict.api(o.apiKey, "POST", "/graphql", {
        query: "{ viewer { organization { ledger { edges { node { id } } } } } }",
      });
      expect(deep.body.errors[0].message).toMatch(/depth/i);
      const intro = await strict.api(o.apiKey, "POST", "/graphql", { query: "{ __schema { types { name } } }" });
      expect(intro.body.errors[0].message).toMatch(/introspection/i);
      const shallow = await strict.api(o.apiKey, "POST", "/graphql", { query: "{ viewer { organization { id } } }" });
      expect(shallow.body.data.viewer.organization.id).toBe(o.orgId);
    } finally {
      await strict.stop();
    }
  });
});
