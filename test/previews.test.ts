// Previews (POST /api/v1/previews, GraphQL Query.preview): a document or a saved template rendered
// inline by the render workers — no job, no ledger entry, no stored output, balance unchanged —
// with the same pixels as a render, its own rate limit, and the renders' validation.
import { readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { Queue } from "bullmq";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PreviewFailedError, TemplifiedClient } from "../src/client/index.js";
import { socialCard, startImageServer, type ImageServer } from "./helpers/fixtures.js";
import { gqlHttp } from "./helpers/graphql-clients.js";
import { startImageHost } from "./helpers/image-host.js";
import { readPixels } from "./helpers/pixels.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

let stack: Stack;
let images: ImageServer;
let org: { orgId: string; apiKey: string };
let templateId: string;

/** POST /api/v1/previews, the answer's bytes as they came. */
async function preview(s: Stack, apiKey: string | null, body: unknown) {
  const res = await fetch(`${s.baseUrl}/api/v1/previews`, {
    method: "POST",
    headers: {
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const json = res.headers.get("content-type")?.startsWith("application/json")
    ? (JSON.parse(bytes.toString("utf8")) as { error: string; details?: { path: string; message: string }[] })
    : null;
  return { status: res.status, headers: res.headers, bytes, json };
}

const withPhoto = (url: string, extra: Record<string, unknown> = {}) => ({
  ...socialCard,
  layers: socialCard.layers.map((l) => (l.name === "photo" ? { ...l, image_url: url, ...extra } : l)),
});
const cardWithPhoto = () => withPhoto(`${images.url}/photo.jpg`);

/** A small document, quick to render. */
const tiny = { width: 40, height: 20, background: "#336699", layers: [] };

/** What a preview must never leave behind, for one organisation. */
async function traces(orgId: string) {
  const prisma = stack.app.ctx.prisma;
  const [jobs, ledger, org] = await Promise.all([
    prisma.job.count({ where: { orgId } }),
    prisma.ledgerEntry.count({ where: { orgId } }),
    prisma.organization.findUniqueOrThrow({ where: { id: orgId } }),
  ]);
  const stored = await readdir(stack.app.ctx.config.STORAGE_DIR, { recursive: true }).catch(() => []);
  return { jobs, ledger, balance: org.balanceCents, stored: stored.length };
}

const PREVIEW_QUERY = `query ($input: PreviewInput!) {
  preview(input: $input) {
    __typename
    ... on Preview { dataUrl contentType width height renderMs notes }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;

/** The image of a GraphQL preview's data: URL. */
function decodeDataUrl(dataUrl: string): { type: string; bytes: Buffer } {
  const m = /^data:(image\/[a-z]+);base64,(.+)$/.exec(dataUrl);
  expect(m, dataUrl.slice(0, 40)).not.toBeNull();
  return { type: m![1]!, bytes: Buffer.from(m![2]!, "base64") };
}

beforeAll(async () => {
  stack = await startStack();
  images = await startImageServer();
  org = await stack.createOrg(1000);
  const tpl = await stack.api(org.apiKey, "POST", "/api/v1/templates", cardWithPhoto());
  expect(tpl.status).toBe(201);
  templateId = tpl.body.template_id;
});

afterAll(async () => {
  await stack?.stop();
  await images?.close();
});

describe("REST previews", () => {
  it("renders a document inline at scale 0.5 and 1: a decodable image of the right size, no-store", async () => {
    for (const scale of [0.5, 1]) {
      const res = await preview(stack, org.apiKey, { document: cardWithPhoto(), scale });
      expect(res.status, res.json?.error).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/png");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-render-ms")).toMatch(/^\d+$/);
      expect(res.headers.get("x-preview-notes")).toBeNull();
      const meta = await sharp(res.bytes).metadata();
      expect(meta).toMatchObject({ format: "png", width: 1200 * scale, height: 630 * scale });
    }
  });

  it("renders a saved template with modifications, as the same document would", async () => {
    const modifications = [{ name: "title", text: "Previewed, not rendered" }];
    const byTemplate = await preview(stack, org.apiKey, { template_id: templateId, modifications, scale: 0.5 });
    expect(byTemplate.status, byTemplate.json?.error).toBe(200);
    expect(await sharp(byTemplate.bytes).metadata()).toMatchObject({ width: 600, height: 315 });
    const byDocument = await preview(stack, org.apiKey, { document: cardWithPhoto(), modifications, scale: 0.5 });
    const unmodified = await preview(stack, org.apiKey, { template_id: templateId, scale: 0.5 });
    const [a, b, c] = await Promise.all([byTemplate, byDocument, unmodified].map((r) => readPixels(r.bytes)));
    expect(a!.data.equals(b!.data)).toBe(true);
    expect(a!.data.equals(c!.data)).toBe(false);
  });

  it("has the pixels of a real render of the same document", async () => {
    const modifications = [{ name: "subtitle", text: "Same pixels" }];
    const job = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId, modifications });
    expect(job.status).toBe(202);
    const done = await waitForFinal(stack, org.apiKey, job.body.job_id);
    expect(done.status, done.error).toBe("complete");
    const rendered = Buffer.from(await (await fetch(done.output_url)).arrayBuffer());
    const previewed = await preview(stack, org.apiKey, { template_id: templateId, modifications });
    expect(previewed.status).toBe(200);
    const [r, p] = await Promise.all([
      readPixels(rendered, { alpha: true }),
      readPixels(previewed.bytes, { alpha: true }),
    ]);
    expect([p.width, p.height]).toEqual([r.width, r.height]);
    expect(p.data.equals(r.data)).toBe(true);
  });

  it("creates no job, no ledger entry and no stored output, and leaves the balance unchanged", async () => {
    const before = await traces(org.orgId);
    for (const format of ["png", "jpeg", "webp"] as const) {
      const res = await preview(stack, org.apiKey, { document: cardWithPhoto(), format, scale: 0.5, quality: 70 });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(`image/${format}`);
      expect((await sharp(res.bytes).metadata()).format).toBe(format);
    }
    expect((await preview(stack, org.apiKey, { template_id: templateId, scale: 0.3 })).status).toBe(200);
    const gql = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, { input: { templateId, scale: 0.2 } });
    expect(gql.body.data.preview.__typename).toBe("Preview");
    expect(await traces(org.orgId)).toEqual(before);
    // Nothing left in Redis either: the bytes were taken, the BullMQ job removed.
    const counts = new Queue("previews", {
      connection: { url: stack.app.ctx.config.REDIS_URL },
      prefix: stack.queuePrefix,
    });
    expect(await counts.getJobCounts("waiting", "active", "completed", "failed")).toEqual({
      waiting: 0,
      active: 0,
      completed: 0,
      failed: 0,
    });
    await counts.close();
    expect(await stack.app.ctx.redis.keys(`${stack.queuePrefix}:preview-result:*`)).toEqual([]);
  });

  it("answers 400 naming the field for an invalid document or body, as templates and renders do", async () => {
    const bad = await preview(stack, org.apiKey, { document: { ...socialCard, width: 0 } });
    expect(bad.status).toBe(400);
    expect(bad.json!.error).toContain("document.width");
    expect(bad.json!.details).toEqual([expect.objectContaining({ path: "document.width" })]);

    const font = await preview(stack, org.apiKey, {
      document: {
        ...tiny,
        layers: [{ type: "text", name: "t", width: 10, height: 10, text: "x", font_family: "Nope" }],
      },
    });
    expect(font.status).toBe(400);
    expect(font.json!.details).toEqual([
      expect.objectContaining({ path: "document.layers[0].font_family", message: expect.stringContaining("Nope") }),
    ]);

    const both = await preview(stack, org.apiKey, { document: tiny, template_id: templateId });
    expect(both.status).toBe(400);
    expect(both.json!.error).toContain("give either document or template_id");
    expect((await preview(stack, org.apiKey, {})).status).toBe(400);

    const scale = await preview(stack, org.apiKey, { document: tiny, scale: 2 });
    expect(scale.status).toBe(400);
    expect(scale.json!.error).toContain("scale");

    const layer = await preview(stack, org.apiKey, {
      template_id: templateId,
      modifications: [{ name: "nope", text: "x" }],
    });
    expect(layer.status).toBe(400);
    expect(layer.json!.details![0]!.path).toBe("modifications[0].name");
  });

  it("answers 404 for an unknown template and 401 without a valid key", async () => {
    const missing = await preview(stack, org.apiKey, { template_id: "tpl_nope" });
    expect(missing.status).toBe(404);
    expect(missing.json!.error).toBe("template tpl_nope not found");
    const other = await stack.createOrg(100);
    expect((await preview(stack, other.apiKey, { template_id: templateId })).status).toBe(404);
    expect((await preview(stack, null, { document: tiny })).status).toBe(401);
    expect((await preview(stack, "tk_live_not_a_key", { document: tiny })).status).toBe(401);
  });

  it("answers 422 with the render's error when an image cannot be fetched", async () => {
    const res = await preview(stack, org.apiKey, { document: withPhoto(`${images.url}/missing.jpg`), scale: 0.5 });
    expect(res.status).toBe(422);
    expect(res.json!.error).toMatch(/404/);
    const gql = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, {
      input: { document: withPhoto(`${images.url}/broken.jpg`), scale: 0.5 },
    });
    expect(gql.body.data.preview).toMatchObject({ __typename: "PreviewFailedError", message: expect.any(String) });
  });

  it("draws a remove_background photo as it is, and says so", async () => {
    const res = await preview(stack, org.apiKey, {
      document: withPhoto(`${images.url}/photo.jpg`, { remove_background: true }),
      scale: 0.5,
    });
    expect(res.status, res.json?.error).toBe(200);
    expect(res.headers.get("x-preview-notes")).toBe(
      'image layer "photo": background not removed in previews (it is in renders)',
    );
    const plain = await preview(stack, org.apiKey, { document: cardWithPhoto(), scale: 0.5 });
    expect((await readPixels(res.bytes)).data.equals((await readPixels(plain.bytes)).data)).toBe(true);
  });

  it("renders with the organisation's uploaded fonts", async () => {
    const woff = readFileSync(path.join(import.meta.dirname, "fixtures/fonts/Lobster-Regular.woff"));
    const up = await fetch(`${stack.baseUrl}/api/v1/fonts`, {
      method: "POST",
      headers: { authorization: `Bearer ${org.apiKey}`, "content-type": "font/woff" },
      body: new Uint8Array(woff),
    });
    expect(up.status).toBe(201);
    const card = (family: string) => ({
      width: 300,
      height: 80,
      background: "#ffffff",
      layers: [
        {
          type: "text",
          name: "t",
          x: 10,
          y: 10,
          width: 280,
          height: 60,
          text: "Hello",
          font_family: family,
          font_size: 40,
          color: "#000000",
        },
      ],
    });
    const lobster = await preview(stack, org.apiKey, { document: card("Lobster") });
    const inter = await preview(stack, org.apiKey, { document: card("Inter") });
    expect(lobster.status, lobster.json?.error).toBe(200);
    const [a, b] = [await readPixels(lobster.bytes, { grey: true }), await readPixels(inter.bytes, { grey: true })];
    const differing = a.data.reduce((n, v, i) => n + (Math.abs(v - b.data[i]!) > 64 ? 1 : 0), 0);
    expect(differing).toBeGreaterThan(200); // a different face, not a fallback
  });
});

describe("what a free preview is not", () => {
  it("is at most 1 megapixel: a larger asked size is drawn at the largest scale that fits", async () => {
    const big = { width: 2000, height: 2000, background: "#336699", layers: [] };
    const res = await preview(stack, org.apiKey, { document: big, format: "jpeg" });
    expect(res.status, res.json?.error).toBe(200);
    expect(await sharp(res.bytes).metadata()).toMatchObject({ width: 1000, height: 1000 });
    // The reference card (0.76 MP) previews whole; a smaller asked scale is kept.
    const card = await preview(stack, org.apiKey, { document: tiny, scale: 0.5 });
    expect(await sharp(card.bytes).metadata()).toMatchObject({ width: 20, height: 10 });
    const gql = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, { input: { document: big } });
    expect(gql.body.data.preview).toMatchObject({ __typename: "Preview", width: 1000, height: 1000 });
  });

  it("is refused with the renders' 402 to a suspended or spent organisation, creating nothing", async () => {
    const spent = await stack.createOrg(0);
    const res = await preview(stack, spent.apiKey, { document: tiny });
    expect(res.status).toBe(402);
    expect(res.json).toEqual({ error: "Insufficient balance", reason: "insufficient_balance" });
    const suspended = await stack.createOrg(100);
    await stack.app.ctx.prisma.organization.update({ where: { id: suspended.orgId }, data: { status: "SUSPENDED" } });
    const refused = await preview(stack, suspended.apiKey, { document: tiny });
    expect(refused.status).toBe(402);
    expect(refused.json).toEqual({ error: "Insufficient balance", reason: "suspended" });
    const gql = await gqlHttp(stack, suspended.apiKey, PREVIEW_QUERY, { input: { document: tiny } });
    expect(gql.body.data.preview).toMatchObject({
      __typename: "AccountSuspendedError",
      message: "Insufficient balance",
    });
    expect(await traces(suspended.orgId)).toMatchObject({ jobs: 0, balance: 100 });
  });

  it("is not worked on past the API's deadline: the worker's render stops then and stores nothing", async () => {
    const quick = await startStack({ PREVIEW_TIMEOUT_MS: "500" });
    const host = await startImageHost(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: "#00f" } })
        .png()
        .toBuffer(),
    );
    try {
      const k = (await quick.createOrg(100)).apiKey;
      const res = await preview(quick, k, { document: withPhoto(`${host.url}/never.png`), scale: 0.2 });
      expect(res.status).toBe(503);
      // The worker itself gave the download up (its budget ended at the deadline), well before the
      // image fetch's own timeout (IMAGE_FETCH_TIMEOUT_MS, 10 s) or RENDER_TIMEOUT_MS (15 s) would.
      expect(host.requests).toEqual(["/never.png"]);
      await until(
        () => host.held(),
        (n) => n === 0,
        { timeout: 3000, what: "the worker to abandon the held image download" },
      );
      const left = await quick.app.ctx.redis.keys(`${quick.queuePrefix}:preview-result:*`);
      expect(left).toEqual([]);
    } finally {
      await host.close();
      await quick.stop();
    }
  });
});

describe("OpenAPI", () => {
  it("documents POST /api/v1/previews: the image types for 200, the shared error shape for errors", async () => {
    const doc = (await stack.api(null, "GET", "/openapi.json")).body;
    const op = doc.paths["/api/v1/previews"].post;
    expect(op.operationId).toBe("createPreview");
    expect(Object.keys(op.responses["200"].content)).toEqual(["image/png", "image/jpeg", "image/webp"]);
    expect(Object.keys(op.responses["200"].headers)).toEqual(
      expect.arrayContaining(["x-render-ms", "x-preview-notes"]),
    );
    for (const status of ["400", "401", "404", "422", "429", "503"])
      expect(op.responses[status].content["application/json"].schema, status).toBeDefined();
  });
});

describe("the published client", () => {
  it("preview() returns the bytes, content type, render time and notes; 422 is PreviewFailedError", async () => {
    const client = new TemplifiedClient({ baseUrl: stack.baseUrl, apiKey: org.apiKey, webSocketImpl: null });
    const image = await client.preview({
      template_id: templateId,
      modifications: [{ name: "photo", remove_background: true }],
      format: "webp",
      scale: 0.5,
    });
    expect(image.content_type).toBe("image/webp");
    expect(image.render_ms).toBeGreaterThanOrEqual(0);
    expect(image.notes).toEqual(['image layer "photo": background not removed in previews (it is in renders)']);
    expect(await sharp(image.bytes).metadata()).toMatchObject({ format: "webp", width: 600, height: 315 });
    await expect(client.preview({ document: withPhoto(`${images.url}/missing.jpg`) as never })).rejects.toBeInstanceOf(
      PreviewFailedError,
    );
    await client.close();
  });
});

describe("GraphQL previews", () => {
  it("answers a Preview with the image as a data: URL, by document and by template id", async () => {
    const byDoc = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, {
      input: { document: cardWithPhoto(), scale: 0.5, format: "jpeg", quality: 80 },
    });
    expect(byDoc.body.errors).toBeUndefined();
    const p = byDoc.body.data.preview;
    expect(p).toMatchObject({ __typename: "Preview", contentType: "image/jpeg", width: 600, height: 315, notes: [] });
    expect(p.renderMs).toBeGreaterThanOrEqual(0);
    const image = decodeDataUrl(p.dataUrl);
    expect(image.type).toBe("image/jpeg");
    expect(await sharp(image.bytes).metadata()).toMatchObject({ format: "jpeg", width: 600, height: 315 });

    const byTemplate = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, {
      input: { templateId, modifications: [{ name: "title", text: "GraphQL" }] },
    });
    expect(byTemplate.body.data.preview).toMatchObject({ __typename: "Preview", width: 1200, height: 630 });
    const rest = await preview(stack, org.apiKey, {
      template_id: templateId,
      modifications: [{ name: "title", text: "GraphQL" }],
    });
    expect(decodeDataUrl(byTemplate.body.data.preview.dataUrl).bytes.equals(rest.bytes)).toBe(true);

    const noted = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, {
      input: { templateId, modifications: [{ name: "photo", removeBackground: true }], scale: 0.2 },
    });
    expect(noted.body.data.preview.notes).toEqual([
      'image layer "photo": background not removed in previews (it is in renders)',
    ]);
  });

  it("answers ValidationError and NotFoundError as data", async () => {
    const invalid = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, { input: { document: { ...tiny, width: 0 } } });
    expect(invalid.body.data.preview.__typename).toBe("ValidationError");
    expect(invalid.body.data.preview.fields[0].path).toBe("input.document.width");
    const neither = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, { input: {} });
    expect(neither.body.data.preview).toMatchObject({
      __typename: "ValidationError",
      message: expect.stringContaining("give either document or template_id"),
    });
    const missing = await gqlHttp(stack, org.apiKey, PREVIEW_QUERY, { input: { templateId: "tpl_nope" } });
    expect(missing.body.data.preview).toMatchObject({
      __typename: "NotFoundError",
      message: "template tpl_nope not found",
    });
  });
});

describe("limits", () => {
  let limited: Stack;
  let key: string;
  beforeAll(async () => {
    limited = await startStack({
      PREVIEW_RATE_LIMIT_MAX: "3",
      PREVIEW_RATE_LIMIT_WINDOW_MS: "60000",
      PREVIEW_MAX_IN_FLIGHT: "1",
    });
    key = (await limited.createOrg(1000)).apiKey;
  });
  afterAll(() => limited?.stop());

  it("caps previews in flight per key (429), then the preview bucket per window (429 with Retry-After)", async () => {
    // One preview held in flight by an image host that answers when told: a second one is refused.
    const host = await startImageHost(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } })
        .png()
        .toBuffer(),
    );
    try {
      const first = preview(limited, key, { document: withPhoto(`${host.url}/held.png`), scale: 0.2 });
      await host.waitForHeld(1);
      const second = await preview(limited, key, { document: tiny });
      expect(second.status).toBe(429);
      expect(second.json!.error).toContain("previews in flight");
      expect(second.headers.get("retry-after")).toBe("1");
      host.release();
      expect((await first).status).toBe(200);
    } finally {
      await host.close();
    }
    // Three previews per window: the two above, one more, then 429.
    expect((await preview(limited, key, { document: tiny })).status).toBe(200);
    const over = await preview(limited, key, { document: tiny });
    expect(over.status).toBe(429);
    expect(over.json!.error).toMatch(/^Rate limit exceeded: 3 previews per 60 s/);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(over.headers.get("ratelimit-limit")).toBe("3");
    // GraphQL shares the bucket: a RATE_LIMITED error, as other rate limits are.
    const gql = await gqlHttp(limited, key, PREVIEW_QUERY, { input: { document: tiny } });
    expect(gql.body.errors[0].extensions.code).toBe("RATE_LIMITED");
    // Renders are not limited by it.
    expect((await limited.api(key, "GET", "/api/v1/templates")).status).toBe(200);
  });

  it("does not wait behind renders: none of the organisation's render slots, nor the render queue", async () => {
    // One render slot for the organisation and one job in flight per worker: a render held by its
    // image host fills both, and a second render waits for admission.
    const busy = await startStack({ RENDER_ORG_SLOTS: "1", RENDER_CONCURRENCY: "1" });
    const host = await startImageHost(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: "#0f0" } })
        .png()
        .toBuffer(),
    );
    try {
      const { orgId, apiKey } = await busy.createOrg(1000);
      const tpl = await busy.api(apiKey, "POST", "/api/v1/templates", withPhoto(`${host.url}/held.png`));
      const jobs = [
        await busy.api(apiKey, "POST", "/api/v1/create", { template_id: tpl.body.template_id, scale: 0.2 }),
        await busy.api(apiKey, "POST", "/api/v1/create", { template_id: tpl.body.template_id, scale: 0.2 }),
      ];
      await host.waitForHeld(1);
      const res = await preview(busy, apiKey, { document: tiny });
      expect(res.status, res.json?.error).toBe(200);
      const statuses = await busy.app.ctx.prisma.job.findMany({ where: { orgId }, select: { status: true } });
      expect(statuses.map((j) => j.status).sort()).toEqual(["pending", "processing"]);
      host.release();
      for (const job of jobs) expect((await waitForFinal(busy, apiKey, job.body.job_id)).status).toBe("complete");
    } finally {
      await host.close();
      await busy.stop();
    }
  });

  it("answers 503 when no render worker answers in PREVIEW_TIMEOUT_MS, and leaves nothing queued", async () => {
    const apiOnly = await startStack({ PREVIEW_TIMEOUT_MS: "300" }, { api: true, worker: false });
    try {
      const k = (await apiOnly.createOrg(100)).apiKey;
      const res = await preview(apiOnly, k, { document: tiny });
      expect(res.status).toBe(503);
      expect(res.json).toEqual({ error: "no render worker answered the preview in 300 ms" });
      const q = new Queue("previews", {
        connection: { url: apiOnly.app.ctx.config.REDIS_URL },
        prefix: apiOnly.queuePrefix,
      });
      expect(await q.getJobCounts("waiting")).toEqual({ waiting: 0 });
      await q.close();
    } finally {
      await apiOnly.stop();
    }
  });
});
