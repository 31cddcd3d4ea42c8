// What operators and integrators rely on around the API: OpenAPI generated from the validating
// schemas (and no route without one), the reference page, Prometheus metrics, the queue
// dashboard behind a credential, and a request id that follows a job.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

let stack: Stack;
let org: { orgId: string; apiKey: string };

beforeAll(async () => {
  stack = await startStack({ ADMIN_PASSWORD: "operator-secret", RATE_LIMIT_MAX: "0" });
  org = await stack.createOrg(100);
});
afterAll(() => stack?.stop());

// POST routes that take no body.
const NO_BODY = new Set([
  "/api/v1/create/:job_id/redeliver",
  "/api/v1/webhooks/secret/rotate",
  "/api/v1/signed-urls/secret/rotate",
]);

describe("OpenAPI", () => {
  it("is OpenAPI 3.1 and documents every REST route; every route validates its params and body with a schema", async () => {
    const res = await stack.api(null, "GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const table = (
      stack.app.server as unknown as {
        routeTable: { method: string | string[]; url: string; schema?: Record<string, unknown> }[];
      }
    ).routeTable;
    const rest = table.filter((r) => r.url.startsWith("/api/v1/"));
    expect(rest.length).toBeGreaterThan(30);
    const problems: string[] = [];
    for (const route of rest) {
      for (const method of [route.method].flat()) {
        if (method === "HEAD") continue;
        const openapiPath = route.url.replace(/:(\w+)/g, "{$1}");
        if (!res.body.paths[openapiPath]?.[method.toLowerCase()])
          problems.push(`${method} ${route.url} missing from openapi.json`);
        if (route.url.includes(":") && !route.schema?.params)
          problems.push(`${method} ${route.url} has no params schema`);
        if (
          (method === "POST" || method === "PUT") &&
          !route.schema?.body &&
          !NO_BODY.has(route.url) &&
          route.url !== "/api/v1/fonts"
        ) {
          problems.push(`${method} ${route.url} has no body schema`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The schemas are the validating zod schemas: e.g. the create body names its fields.
    const create = res.body.paths["/api/v1/create"].post.requestBody.content["application/json"].schema;
    expect(create.required).toContain("template_id");
    expect(Object.keys(create.properties)).toEqual(
      expect.arrayContaining(["template_id", "modifications", "format", "webhook_url", "send_to"]),
    );
  });

  it("serves an interactive reference at /docs", async () => {
    const page = await fetch(`${stack.baseUrl}/docs`, { redirect: "follow" });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/swagger/i);
  });
});

describe("metrics", () => {
  it("exposes request counts and latencies by route, jobs by status, queue depth, render time and balance refusals", async () => {
    const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body.template_id;
    const job = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl });
    await waitForFinal(stack, org.apiKey, job.body.job_id);
    const poor = await stack.createOrg(0);
    const poorTpl = (await stack.api(poor.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body
      .template_id;
    expect((await stack.api(poor.apiKey, "POST", "/api/v1/create", { template_id: poorTpl })).status).toBe(402);
    const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    expect(text).toMatch(/templified_http_requests_total\{method="POST",route="\/api\/v1\/create",status="202"\} \d+/);
    expect(text).toMatch(
      /templified_http_request_duration_seconds_bucket\{le="0.005",method="POST",route="\/api\/v1\/create",status="202"\}/,
    );
    expect(text).toMatch(/templified_jobs\{status="complete"\} \d+/);
    expect(text).toMatch(/templified_queue_jobs\{queue="render",state="waiting"\} \d+/);
    expect(text).toMatch(/templified_render_duration_seconds_count\{format="png"\} [1-9]/);
    expect(text).toMatch(/templified_balance_refusals_total\{reason="insufficient_balance"\} [1-9]/);
  });
});

describe("queue dashboard", () => {
  it("is behind the operator credential", async () => {
    expect((await fetch(`${stack.baseUrl}/admin/queues`)).status).toBe(401);
    const wrong = await fetch(`${stack.baseUrl}/admin/queues`, {
      headers: { authorization: `Basic ${Buffer.from("admin:nope").toString("base64")}` },
    });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`${stack.baseUrl}/admin/queues`, {
      headers: { authorization: `Basic ${Buffer.from("admin:operator-secret").toString("base64")}` },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/<html/i);
  });

  it("is not mounted without ADMIN_PASSWORD", async () => {
    const plain = await startStack({}, { api: true, worker: false });
    try {
      expect((await fetch(`${plain.baseUrl}/admin/queues`)).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});

describe("request ids", () => {
  it("echoes X-Request-Id (or makes one) and records it with the job, for the render and delivery logs", async () => {
    const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body.template_id;
    const res = await stack.api(
      org.apiKey,
      "POST",
      "/api/v1/create",
      { template_id: tpl },
      { "x-request-id": "req-trace-42" },
    );
    expect(res.headers.get("x-request-id")).toBe("req-trace-42");
    const job = await stack.app.ctx.prisma.job.findUniqueOrThrow({ where: { id: res.body.job_id } });
    expect((job.input as { request_id: string }).request_id).toBe("req-trace-42");
    const generated = await stack.api(org.apiKey, "GET", "/api/v1/billing");
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
