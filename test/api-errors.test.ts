// Every client error the foundation promises: the right 4xx, a JSON {"error"} naming what was
// wrong, nothing created, never a 500.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { socialCard } from "./helpers/fixtures.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

let stack: Stack;
let org: { orgId: string; apiKey: string };
let templateId: string;

beforeAll(async () => {
  stack = await startStack({ BODY_LIMIT_BYTES: "65536" });
  org = await stack.createOrg(1000);
  templateId = (await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
});
afterAll(() => stack?.stop());

const jobCount = (orgId: string) => stack.app.ctx.prisma.job.count({ where: { orgId } });

describe("authentication", () => {
  it("401 without a key", async () => {
    const res = await stack.api(null, "POST", "/api/v1/create", { template_id: templateId });
    expect(res.status).toBe(401);
    expect(res.body.error).toMatch(/Authorization: Bearer/);
  });

  it("401 for an unknown key, and for a malformed header", async () => {
    expect((await stack.api("tk_live_nope", "GET", "/api/v1/create/clx_x")).status).toBe(401);
    const res = await stack.api(null, "GET", `/api/v1/templates/${templateId}`, undefined, {
      authorization: "Basic abc",
    });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: expect.any(String) });
  });
});

describe("bad input", () => {
  it("400 for malformed JSON", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", "{not json");
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/JSON/);
  });

  it("400 naming a missing field", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", { modifications: [] });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain("template_id");
  });

  it("400 naming a wrongly typed field deep in the body", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      modifications: [{ name: "title", text: 42 }],
      format: "gif",
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain("modifications[0].text");
    expect(res.body.error).toContain("format");
  });

  it("400 for an unknown layer, listing the template's layers", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      modifications: [{ name: "headline", text: "x" }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain('unknown layer "headline"');
    expect(res.body.error).toContain('"title"');
    expect(res.body.error).toContain('"subtitle"');
  });

  it("400 for a modification that does not fit the layer type", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      modifications: [{ name: "photo", text: "x" }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain("modifications[0].text");
  });

  it("413 for a body over the limit", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      pad: "x".repeat(70_000),
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(/larger than/);
  });

  it("415 for a content type other than JSON", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", "template_id=x", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(res.status).toBe(415);
    expect(res.body.error).toMatch(/application\/json/);
    const text = await stack.api(org.apiKey, "POST", "/api/v1/create", JSON.stringify({ template_id: templateId }), {
      "content-type": "text/plain",
    });
    expect(text.status).toBe(415);
  });

  it("nothing was created by any refused request", async () => {
    expect(await jobCount(org.orgId)).toBe(0);
    await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
  });
});

describe("not found", () => {
  it("404 for an unknown job", async () => {
    const res = await stack.api(org.apiKey, "GET", "/api/v1/create/clx_doesnotexist");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "job not found" });
  });

  it("404 (never 403) for another organisation's job and template", async () => {
    const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId });
    expect(accepted.status).toBe(202);
    const other = await stack.createOrg(1000);
    const res = await stack.api(other.apiKey, "GET", accepted.body.poll_url);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "job not found" });
    expect((await stack.api(other.apiKey, "GET", `/api/v1/templates/${templateId}`)).status).toBe(404);
    // ... and cannot render it either.
    const render = await stack.api(other.apiKey, "POST", "/api/v1/create", { template_id: templateId });
    expect(render.status).toBe(404);
    expect(await jobCount(other.orgId)).toBe(0);
    await waitForFinal(stack, org.apiKey, accepted.body.job_id);
  });

  it("404 JSON for an unknown route", async () => {
    const res = await stack.api(org.apiKey, "GET", "/api/v1/nope");
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/No route/);
  });
});

describe("402 before anything is created", () => {
  it("insufficient balance: the contract's exact body; no job, no ledger row, no queue entry", async () => {
    const poor = await stack.createOrg(0);
    const tpl = (await stack.api(poor.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    const res = await stack.api(poor.apiKey, "POST", "/api/v1/create", { template_id: tpl });
    expect(res.status).toBe(402);
    expect(res.body).toEqual({ error: "Insufficient balance", reason: "insufficient_balance" });
    expect(await jobCount(poor.orgId)).toBe(0);
    expect(await stack.app.ctx.prisma.ledgerEntry.count({ where: { orgId: poor.orgId } })).toBe(0);
    expect(await stack.app.ctx.renderQueue.queue.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });
  });

  it('a suspended organisation gets 402 with the contract\'s same text, and reason "suspended"', async () => {
    const suspended = await stack.createOrg(1000);
    const tpl = (await stack.api(suspended.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    await stack.app.ctx.prisma.organization.update({ where: { id: suspended.orgId }, data: { status: "SUSPENDED" } });
    const res = await stack.api(suspended.apiKey, "POST", "/api/v1/create", { template_id: tpl });
    expect(res.status).toBe(402);
    expect(res.body).toEqual({ error: "Insufficient balance", reason: "suspended" });
    expect(await jobCount(suspended.orgId)).toBe(0);
    await expectLedgerBalanced(stack.app.ctx.prisma, suspended.orgId);
  });
});

describe("health", () => {
  it("200 {status: ok} when the database and Redis answer", async () => {
    const res = await stack.api(null, "GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });
});
