// A client written only from the REST contract (/work/shared/spec/async-render-api.txt, the
// "async render API" article): plain fetch, the contract's routes and field names, nothing from
// src/ and no project helper beyond booting the stack and creating organisations with keys (and
// suspending one, the operator's action). If the server drifts from the contract, this file is
// where an integrator's program would break.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

let stack: Stack;
let key: string;
let templateId: string;

// The contract's statuses; terminal ones end polling.
const TERMINAL = ["complete", "failed"];

// A template to render. The contract assumes one exists ("tpl_..."); making it is the one call
// here that the contract does not describe (docs/templates.md does).
const CARD = {
  name: "Contract card",
  width: 120,
  height: 60,
  background: "#0f172a",
  layers: [{ type: "text", name: "title", x: 4, y: 4, width: 112, height: 40, text: "Hi", color: "#ffffff" }],
};

async function call(
  method: string,
  path: string,
  body?: unknown,
  apiKey = key,
): Promise<{ status: number; body: any }> {
  const res = await fetch(stack.baseUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

/** "Poll poll_url until status is a terminal value" (the contract; no fixed sleeps here). */
const poll = (pollUrl: string, done = (b: any) => TERMINAL.includes(b.status)) =>
  until(
    async () => (await call("GET", pollUrl)).body,
    (b) => done(b),
    { what: `${pollUrl} to reach a terminal status` },
  );

/** The contract's complete response, field by field. */
function expectComplete(job: any, jobId: string) {
  expect(job).toMatchObject({ job_id: jobId, status: "complete" });
  expect(typeof job.output_url).toBe("string");
  expect(job.render_ms).toBeGreaterThanOrEqual(0);
  expect(new Date(job.created_at).toISOString()).toBe(job.created_at);
  expect(new Date(job.completed_at).toISOString()).toBe(job.completed_at);
}

/** "Read output_url": it is the image. */
async function expectImage(url: string) {
  const res = await fetch(new URL(url, stack.baseUrl));
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^image\//);
}

/** The contract's default answer: 202 with job_id, status pending, poll_url. */
function expectAccepted(res: { status: number; body: any }) {
  expect(res.status).toBe(202);
  expect(res.body.job_id).toMatch(/^clx_/);
  expect(res.body.status).toBe("pending");
  expect(res.body.poll_url).toBe(`/api/v1/create/${res.body.job_id}`);
}

beforeAll(async () => {
  stack = await startStack({ RATE_LIMIT_MAX: "0", SYNC_TIMEOUT_MS: "20000" });
  key = (await stack.createOrg(1000)).apiKey;
  const created = await call("POST", "/api/v1/templates", CARD);
  expect(created.status).toBe(201);
  templateId = created.body.template_id;
});
afterAll(async () => {
  await stack?.stop();
});

describe("the contract, as a client reads it", () => {
  it("POST /api/v1/create: 202, then poll poll_url until complete, then read output_url", async () => {
    const accepted = await call("POST", "/api/v1/create", {
      template_id: templateId,
      modifications: [{ name: "title", text: "Contract" }],
    });
    expectAccepted(accepted);
    const job = await poll(accepted.body.poll_url);
    expectComplete(job, accepted.body.job_id);
    expect(job.template_id).toBe(templateId);
    await expectImage(job.output_url);
  });

  it("?sync=true: 200 with the completed render inline", async () => {
    const res = await call("POST", "/api/v1/create?sync=true", { template_id: templateId });
    expect(res.status).toBe(200);
    expectComplete(res.body, res.body.job_id);
    await expectImage(res.body.output_url);
  });

  it("POST /api/v1/studio/create-and-render: 202 + poll, and ?sync=true inline", async () => {
    const { name: _name, ...design } = CARD;
    const accepted = await call("POST", "/api/v1/studio/create-and-render", { design });
    expectAccepted(accepted);
    expectComplete(await poll(accepted.body.poll_url), accepted.body.job_id);

    const sync = await call("POST", "/api/v1/studio/create-and-render?sync=true", { design });
    expect(sync.status).toBe(200);
    expectComplete(sync.body, sync.body.job_id);
    await expectImage(sync.body.output_url);
  });

  it("POST /api/v1/design-groups/create: 202 + poll; a complete group is read through output_url", async () => {
    const other = (await call("POST", "/api/v1/templates", { ...CARD, width: 60, height: 120 })).body.template_id;
    const accepted = await call("POST", "/api/v1/design-groups/create", { template_ids: [templateId, other] });
    expectAccepted(accepted);
    const job = await poll(accepted.body.poll_url);
    expectComplete(job, accepted.body.job_id);
    await expectImage(job.output_url);
    // Every output of the group, the first being output_url (docs/api.md, where the contract is silent).
    expect(job.output_urls).toHaveLength(2);
    expect(job.output_urls[0]).toBe(job.output_url);
    for (const url of job.output_urls) await expectImage(url);
  });

  it('402 with {"error":"Insufficient balance"} when the balance is exhausted, and no job', async () => {
    const poor = (await stack.createOrg(0)).apiKey;
    const tpl = (await call("POST", "/api/v1/templates", CARD, poor)).body.template_id;
    const res = await call("POST", "/api/v1/create", { template_id: tpl }, poor);
    expect(res.status).toBe(402);
    expect(res.body.error).toBe("Insufficient balance");
    expect(res.body.reason).toBe("insufficient_balance");
  });

  it("402 with the same error text for a suspended account", async () => {
    const org = await stack.createOrg(1000);
    const tpl = (await call("POST", "/api/v1/templates", CARD, org.apiKey)).body.template_id;
    // The operator's action (dunning), done through the harness like creating the organisation.
    await stack.app.ctx.prisma.organization.update({ where: { id: org.orgId }, data: { status: "SUSPENDED" } });
    for (const [path, body] of [
      ["/api/v1/create", { template_id: tpl }],
      ["/api/v1/create?sync=true", { template_id: tpl }],
      ["/api/v1/design-groups/create", { template_ids: [tpl] }],
    ] as const) {
      const res = await call("POST", path, body, org.apiKey);
      expect(res.status, path).toBe(402);
      expect(res.body.error, path).toBe("Insufficient balance");
      expect(res.body.reason, path).toBe("suspended");
    }
  });

  describe("Studio export routes: the async 202 shape", () => {
    let receiver: Server;
    let receiverUrl: string;
    const received: string[] = [];

    beforeAll(async () => {
      // The webhook destination: any HTTP endpoint that answers 2xx.
      receiver = createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          received.push(req.headers["content-type"] ?? "");
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    });
    afterAll(async () => {
      await new Promise((resolve) => receiver?.close(resolve));
    });

    it("{ok:true, async:true, job_id}: no outputUrl until it completes; the job is polled as usual", async () => {
      const res = await call("POST", "/api/v1/studio/export/webhook", {
        template_id: templateId,
        url: receiverUrl,
        async: true,
      });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ ok: true, async: true, job_id: expect.stringMatching(/^clx_/) });
      expect(res.body.outputUrl).toBeUndefined();
      // "Store result.job_id; poll": the render completes and send_to_status follows it.
      const job = await poll(
        `/api/v1/create/${res.body.job_id}`,
        (b) => b.status === "failed" || ["delivered", "failed"].includes(b.send_to_status),
      );
      expectComplete(job, res.body.job_id);
      expect(job.send_to_status).toBe("delivered");
      // The contract names no body for the destination: one delivery arrived, that is all it promises.
      expect(received).toHaveLength(1);
    });
  });
});
