// Sync mode, Studio create-and-render and design groups, over the real stack.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startImageHost, type ImageHost } from "./helpers/image-host.js";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

let stack: Stack;
let org: { orgId: string; apiKey: string };
let images: ImageHost;
let slowUrl: string;

const small = (w: number, h: number, extra: object[] = []) => ({
  width: w,
  height: h,
  background: "#224466",
  layers: [
    { type: "image", name: "photo", x: 0, y: 0, width: w, height: h },
    { type: "text", name: "title", x: 0, y: 0, width: w, height: h, text: "hi" },
    ...extra,
  ],
});

beforeAll(async () => {
  // A sync request that misses its completion waits SYNC_TIMEOUT_MS and answers 202: long enough
  // that a render on a loaded machine never does, short enough to fail the test quickly.
  stack = await startStack({ RATE_LIMIT_MAX: "0", SYNC_TIMEOUT_MS: "15000", RENDER_CONCURRENCY: "4" });
  org = await stack.createOrg(100_000);
  // An image host that holds /held/* until the test releases it (and answers 404 for "missing").
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#00ff00" } })
    .png()
    .toBuffer();
  images = await startImageHost(png, { holding: false, statusFor: (path) => (path.includes("missing") ? 404 : 200) });
  slowUrl = images.url;
});
afterAll(async () => {
  await stack?.stop();
  await images?.close();
});

async function template(doc: object): Promise<string> {
  const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", doc);
  expect(res.status).toBe(201);
  return res.body.template_id;
}

async function imageSize(url: string): Promise<[number, number]> {
  const meta = await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).metadata();
  return [meta.width, meta.height];
}

describe("?sync=true", () => {
  it("answers 200 with the complete job inline: the poll body", async () => {
    const tpl = await template(small(40, 20));
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create?sync=true", { template_id: tpl, format: "jpeg" });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("complete");
    const poll = await stack.api(org.apiKey, "GET", `/api/v1/create/${res.body.job_id}`);
    expect(res.body).toEqual(poll.body);
    expect(await imageSize(res.body.output_url)).toEqual([40, 20]);
  });

  it("answers 200 with status failed and the error when the render fails in the window", async () => {
    const tpl = await template(small(40, 20));
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create?sync=true", {
      template_id: tpl,
      modifications: [{ name: "photo", image_url: `${slowUrl}/missing.png` }],
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("failed");
    expect(res.body.error).toMatch(/404/);
  });

  it("falls back to 202 past SYNC_TIMEOUT_MS, and the job completes later", async () => {
    const quick = await startStack({ SYNC_TIMEOUT_MS: "300", RATE_LIMIT_MAX: "0" });
    try {
      const o = await quick.createOrg(10);
      const tpl = (await quick.api(o.apiKey, "POST", "/api/v1/templates", small(40, 20))).body.template_id;
      // The photo is held until after the answer: the render cannot finish inside the window.
      images.hold();
      const res = await quick.api(o.apiKey, "POST", "/api/v1/create?sync=true", {
        template_id: tpl,
        modifications: [{ name: "photo", image_url: `${slowUrl}/held/a.png` }],
      });
      expect(res.status).toBe(202);
      expect(Object.keys(res.body).sort()).toEqual(["job_id", "poll_url", "status"]);
      // The 202 says what the job is: once the worker is fetching the photo it is processing. The
      // same request replayed by its Idempotency-Key waits on that same job, provably in flight.
      const key = `sync-processing-${res.body.job_id}`;
      const first = await quick.api(
        o.apiKey,
        "POST",
        "/api/v1/create",
        { template_id: tpl, modifications: [{ name: "photo", image_url: `${slowUrl}/held/processing.png` }] },
        { "idempotency-key": key },
      );
      await until(
        () => images.requests,
        (r) => r.includes("/held/processing.png"),
        { what: "the worker fetching the held photo" },
      );
      const replayed = await quick.api(
        o.apiKey,
        "POST",
        "/api/v1/create?sync=true",
        { template_id: tpl, modifications: [{ name: "photo", image_url: `${slowUrl}/held/processing.png` }] },
        { "idempotency-key": key },
      );
      expect(replayed.status).toBe(202);
      expect(replayed.body).toEqual({
        job_id: first.body.job_id,
        status: "processing",
        poll_url: `/api/v1/create/${first.body.job_id}`,
      });
      images.release();
      expect((await waitForFinal(quick, o.apiKey, res.body.job_id)).status).toBe("complete");
      expect((await waitForFinal(quick, o.apiKey, first.body.job_id)).status).toBe("complete");
    } finally {
      images.release();
      await quick.stop();
    }
  });

  it(
    "never misses a completion: 200 sync requests against fast renders all answer 200 complete",
    { timeout: 120_000 },
    async () => {
      const tpl = await template({ width: 16, height: 16, background: "#101010" });
      const statuses: string[] = [];
      for (let round = 0; round < 50; round++) {
        const batch = await Promise.all(
          Array.from({ length: 4 }, () =>
            stack.api(org.apiKey, "POST", "/api/v1/create?sync=true", { template_id: tpl }),
          ),
        );
        for (const r of batch) statuses.push(`${r.status} ${r.body.status}`);
      }
      expect(statuses).toHaveLength(200);
      expect(new Set(statuses)).toEqual(new Set(["200 complete"]));
    },
  );

  it("a client that leaves while waiting loses nothing: the job completes and is charged once", async () => {
    const o = await stack.createOrg(10);
    const tpl = (await stack.api(o.apiKey, "POST", "/api/v1/templates", small(40, 20))).body.template_id;
    const abort = new AbortController();
    images.hold();
    try {
      const request = fetch(`${stack.baseUrl}/api/v1/create?sync=true`, {
        method: "POST",
        headers: { authorization: `Bearer ${o.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          template_id: tpl,
          modifications: [{ name: "photo", image_url: `${slowUrl}/held/b.png` }],
        }),
        signal: abort.signal,
      });
      // The photo was asked for: the job is accepted and rendering, the client still waiting.
      await until(() => images.requests.includes("/held/b.png"), Boolean, { what: "the worker to fetch the photo" });
      abort.abort();
      await expect(request).rejects.toThrow();
    } finally {
      images.release();
    }
    // The request is gone but the job exists and runs.
    const job = await stack.app.ctx.prisma.job.findFirstOrThrow({ where: { orgId: o.orgId } });
    expect((await waitForFinal(stack, o.apiKey, job.id)).status).toBe("complete");
    expect(await stack.app.ctx.prisma.ledgerEntry.count({ where: { jobId: job.id, kind: "CHARGE" } })).toBe(1);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, o.orgId)).toBe(9);
  });
});

describe("POST /api/v1/studio/create-and-render", () => {
  it("saves the design as a template, renders it (202), and the template renders again by id", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/studio/create-and-render", {
      design: { name: "From Studio", ...small(60, 30) },
      modifications: [{ name: "title", text: "Studio" }],
      format: "webp",
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: "pending", poll_url: `/api/v1/create/${res.body.job_id}` });
    expect(res.body.template_id).toMatch(/^tpl_/);
    const done = await waitForFinal(stack, org.apiKey, res.body.job_id);
    expect(done).toMatchObject({ status: "complete", template_id: res.body.template_id });
    expect(await imageSize(done.output_url)).toEqual([60, 30]);
    const saved = await stack.api(org.apiKey, "GET", `/api/v1/templates/${res.body.template_id}`);
    expect(saved.body).toMatchObject({ name: "From Studio", width: 60, height: 30, version: 1 });
    const again = await stack.api(org.apiKey, "POST", "/api/v1/create?sync=true", {
      template_id: res.body.template_id,
    });
    expect(again.body.status).toBe("complete");
  });

  it("answers inline with ?sync=true, and refuses an invalid design (400, path under design) or an unpaid one (402) creating nothing", async () => {
    const sync = await stack.api(org.apiKey, "POST", "/api/v1/studio/create-and-render?sync=true", {
      design: small(20, 20),
    });
    expect(sync.status).toBe(200);
    expect(sync.body.status).toBe("complete");
    expect(sync.body.template_id).toMatch(/^tpl_/);

    const invalid = await stack.api(org.apiKey, "POST", "/api/v1/studio/create-and-render", {
      design: { width: 0, height: 10 },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toContain("design.width");

    const poor = await stack.createOrg(0);
    const refused = await stack.api(poor.apiKey, "POST", "/api/v1/studio/create-and-render", { design: small(20, 20) });
    expect(refused.status).toBe(402);
    expect(await stack.app.ctx.prisma.template.count({ where: { orgId: poor.orgId } })).toBe(0);
    expect(await stack.app.ctx.prisma.job.count({ where: { orgId: poor.orgId } })).toBe(0);
  });
});

describe("design groups", () => {
  it("CRUD at /api/v1/design-groups", async () => {
    const a = await template(small(10, 10));
    const b = await template(small(20, 10));
    const created = await stack.api(org.apiKey, "POST", "/api/v1/design-groups", {
      name: "Campaign",
      template_ids: [a, b],
    });
    expect(created.status).toBe(201);
    const id = created.body.design_group_id;
    expect(id).toMatch(/^dgr_/);
    expect((await stack.api(org.apiKey, "GET", `/api/v1/design-groups/${id}`)).body).toMatchObject({
      name: "Campaign",
      template_ids: [a, b],
    });
    const updated = await stack.api(org.apiKey, "PUT", `/api/v1/design-groups/${id}`, {
      name: "Campaign 2",
      template_ids: [b],
    });
    expect(updated.body).toMatchObject({ name: "Campaign 2", template_ids: [b] });
    const list = await stack.api(org.apiKey, "GET", "/api/v1/design-groups?limit=100");
    expect(list.body.data.map((g: { design_group_id: string }) => g.design_group_id)).toContain(id);
    const bad = await stack.api(org.apiKey, "POST", "/api/v1/design-groups", {
      name: "x",
      template_ids: [a, "tpl_nope"],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("template_ids[1]");
    expect((await stack.api(org.apiKey, "DELETE", `/api/v1/design-groups/${id}`)).status).toBe(204);
    expect((await stack.api(org.apiKey, "GET", `/api/v1/design-groups/${id}`)).status).toBe(404);
  });

  it("renders three templates of different sizes: one group job, three outputs of the right sizes", async () => {
    const ids = [
      await template(small(30, 30)),
      await template(small(20, 40)),
      await template(small(60, 20, [{ type: "rect", name: "only_here", width: 5, height: 5 }])),
    ];
    const group = (await stack.api(org.apiKey, "POST", "/api/v1/design-groups", { name: "Sizes", template_ids: ids }))
      .body.design_group_id;
    const before = await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
    // `sync` is ignored for groups: always 202.
    const res = await stack.api(org.apiKey, "POST", "/api/v1/design-groups/create?sync=true", {
      design_group_id: group,
      modifications: [
        { name: "title", text: "Launch" },
        { name: "only_here", color: "#ff0000" },
      ],
      format: "png",
    });
    expect(res.status).toBe(202);
    expect(Object.keys(res.body).sort()).toEqual(["job_id", "poll_url", "status"]);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId)).toBe(before - 3); // charged at once
    const done = await waitForFinal(stack, org.apiKey, res.body.job_id);
    expect(done).toMatchObject({ job_id: res.body.job_id, status: "complete", design_group_id: group });
    // Items, and output_urls, follow the group's template order; output_url is the first template's.
    expect(done.items.map((i: { template_id: string }) => i.template_id)).toEqual(ids);
    expect(done.output_urls).toEqual(done.items.map((i: { output_url: string }) => i.output_url));
    expect(done.output_url).toBe(done.output_urls[0]);
    expect(done.render_ms).toBe(done.items.reduce((sum: number, i: { render_ms: number }) => sum + i.render_ms, 0));
    const sizes = new Map<string, [number, number]>();
    for (const item of done.items) {
      expect(item).toMatchObject({ status: "complete", error: null });
      expect(item.job_id).toMatch(/^clx_/);
      expect(item.render_ms).toBeGreaterThanOrEqual(0);
      sizes.set(item.template_id, await imageSize(item.output_url));
    }
    expect(ids.map((id) => sizes.get(id))).toEqual([
      [30, 30],
      [20, 40],
      [60, 20],
    ]);
  });

  it("a group with one failing item ends failed, the other outputs present, only the failed item refunded", async () => {
    const o = await stack.createOrg(10);
    const tpl = async (doc: object) =>
      (await stack.api(o.apiKey, "POST", "/api/v1/templates", doc)).body.template_id as string;
    const good = await tpl({ width: 10, height: 10, layers: [{ type: "rect", name: "box", width: 5, height: 5 }] });
    const bad = await tpl({
      width: 10,
      height: 10,
      layers: [{ type: "image", name: "photo", width: 5, height: 5, image_url: `${slowUrl}/missing.png` }],
    });
    const res = await stack.api(o.apiKey, "POST", "/api/v1/design-groups/create", { template_ids: [good, bad] });
    expect(res.status).toBe(202);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, o.orgId)).toBe(8);
    const done = await waitForFinal(stack, o.apiKey, res.body.job_id);
    expect(done.status).toBe("failed");
    expect(done.error).toBe("1 of 2 items failed");
    // Like a failed render: no output at the top; the complete item keeps its own.
    expect(done).not.toHaveProperty("output_url");
    expect(done).not.toHaveProperty("output_urls");
    const byTemplate = Object.fromEntries(done.items.map((i: { template_id: string }) => [i.template_id, i]));
    expect(byTemplate[good]).toMatchObject({ status: "complete", error: null });
    expect((await fetch(byTemplate[good].output_url)).status).toBe(200);
    expect(byTemplate[bad]).toMatchObject({ status: "failed", output_url: null });
    expect(byTemplate[bad].error).toMatch(/404/);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, o.orgId)).toBe(9); // one refund
    const refunds = await stack.app.ctx.prisma.ledgerEntry.findMany({ where: { orgId: o.orgId, kind: "REFUND" } });
    expect(refunds.map((r) => r.jobId)).toEqual([byTemplate[bad].job_id]);
  });

  it("402 for a group the balance cannot fully pay, with nothing created", async () => {
    const o = await stack.createOrg(2);
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await stack.api(o.apiKey, "POST", "/api/v1/templates", small(10, 10))).body.template_id);
    const res = await stack.api(o.apiKey, "POST", "/api/v1/design-groups/create", { template_ids: ids });
    expect(res.status).toBe(402);
    expect(res.body).toEqual({ error: "Insufficient balance", reason: "insufficient_balance" });
    expect(await stack.app.ctx.prisma.job.count({ where: { orgId: o.orgId } })).toBe(0);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, o.orgId)).toBe(2);
  });

  it("refuses a modification that no template of the group has, and needs exactly one of design_group_id / template_ids", async () => {
    const a = await template(small(10, 10));
    const res = await stack.api(org.apiKey, "POST", "/api/v1/design-groups/create", {
      template_ids: [a],
      modifications: [{ name: "nowhere", text: "x" }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain('unknown layer "nowhere"');
    const sendTo = await stack.api(org.apiKey, "POST", "/api/v1/design-groups/create", {
      template_ids: [a],
      send_to: { type: "webhook", url: "http://127.0.0.1:9/never" },
    });
    expect(sendTo.status).toBe(400);
    expect(sendTo.body.details).toEqual([{ path: "send_to", message: expect.stringContaining("not supported") }]);
    expect(sendTo.body.error).toContain("send_to");
    const neither = await stack.api(org.apiKey, "POST", "/api/v1/design-groups/create", {});
    expect(neither.status).toBe(400);
    expect(neither.body.error).toContain("design_group_id or template_ids");
  });
});
