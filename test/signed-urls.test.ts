// Signed render URLs over the real stack: created with a key, fetched without one, rendered and
// charged once however often (and however concurrently) they are fetched, refused when altered.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signRenderUrl } from "../src/client/index.js";
import { startImageHost, type ImageHost } from "./helpers/image-host.js";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { startStack, type Stack } from "./helpers/stack.js";
import { SIGNED_RETRY_AFTER_MS } from "../src/signed-urls/render.js";

let stack: Stack;
let images: ImageHost;

const card = {
  width: 60,
  height: 30,
  background: "#224466",
  layers: [{ type: "text", name: "title", x: 0, y: 0, width: 60, height: 30, text: "hi" }],
};

beforeAll(async () => {
  stack = await startStack({ RATE_LIMIT_MAX: "0", SYNC_TIMEOUT_MS: "15000" });
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#00ff00" } })
    .png()
    .toBuffer();
  images = await startImageHost(png, { holding: false, statusFor: (path) => (path.includes("missing") ? 404 : 200) });
});
afterAll(async () => {
  await stack?.stop();
  await images?.close();
});

const prisma = () => stack.app.ctx.prisma;

async function orgWithTemplate(balanceCents = 10_000, doc: object = card) {
  const org = await stack.createOrg(balanceCents);
  const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", doc);
  expect(res.status).toBe(201);
  return { ...org, templateId: res.body.template_id as string };
}

async function signedUrl(apiKey: string, body: object): Promise<string> {
  const res = await stack.api(apiKey, "POST", "/api/v1/signed-urls", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.url;
}

/** What the organisation was charged for: its jobs and CHARGE rows. */
async function counts(orgId: string) {
  return {
    jobs: await prisma().job.count({ where: { orgId } }),
    charges: await prisma().ledgerEntry.count({ where: { orgId, kind: "CHARGE" } }),
  };
}

async function get(url: string, headers: Record<string, string> = {}, method = "GET") {
  const res = await fetch(url, { method, headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString()) };
}

describe("creating a signed URL", () => {
  it("answers 201 with a URL on this server's signed path; the same body gives the same URL", async () => {
    const org = await orgWithTemplate();
    const body = { template_id: org.templateId, modifications: [{ name: "title", text: "Hello" }], format: "png" };
    const url = await signedUrl(org.apiKey, body);
    expect(url).toMatch(
      new RegExp(`^https?://[^/]+/signed/v1/${org.orgId}/${org.templateId}\\.png\\?m=[A-Za-z0-9_-]+&s=[0-9a-f]{64}$`),
    );
    expect(await signedUrl(org.apiKey, body)).toBe(url);
    // Nothing rendered or charged yet.
    expect(await counts(org.orgId)).toEqual({ jobs: 0, charges: 0 });
  });

  it("refuses webhook_url and send_to (400), an unknown template (404); the secret is encrypted at rest", async () => {
    const org = await orgWithTemplate();
    const hook = await stack.api(org.apiKey, "POST", "/api/v1/signed-urls", {
      template_id: org.templateId,
      webhook_url: "https://example.com/hook",
    });
    expect(hook.status).toBe(400);
    expect(hook.body.error).toMatch(/webhook_url/);
    const missing = await stack.api(org.apiKey, "POST", "/api/v1/signed-urls", { template_id: "tpl_nope" });
    expect(missing.status).toBe(404);
    const secret = await stack.api(org.apiKey, "GET", "/api/v1/signed-urls/secret");
    expect(secret.status).toBe(200);
    expect(secret.body).toMatchObject({ org_id: org.orgId, previous_secret_expires_at: null });
    expect(secret.body.signing_secret).toMatch(/^urlsec_/);
    const stored = await prisma().organization.findUniqueOrThrow({ where: { id: org.orgId } });
    expect(stored.urlSigningSecret).toMatch(/^v1:/);
    expect(stored.urlSigningSecret).not.toContain(secret.body.signing_secret);
  });
});

describe("fetching a signed URL", () => {
  it("renders on the first GET, serves the stored image afterwards: one job, one charge", async () => {
    const org = await orgWithTemplate();
    const url = await signedUrl(org.apiKey, { template_id: org.templateId, format: "png" });
    const first = await get(url);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("image/png");
    expect(first.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(first.headers.get("etag")).toMatch(/^"[0-9a-f]{64}"$/);
    expect(Number(first.headers.get("content-length"))).toBe(first.bytes.length);
    expect((await sharp(first.bytes).metadata()).width).toBe(60);

    const second = await get(url);
    expect(second.status).toBe(200);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    expect(second.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
    await expectLedgerBalanced(prisma(), org.orgId);

    // If-None-Match: 304 without a body; HEAD: the headers without a body.
    const cached = await get(url, { "if-none-match": first.headers.get("etag")! });
    expect(cached.status).toBe(304);
    expect(cached.bytes.length).toBe(0);
    const head = await get(url, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(head.bytes.length).toBe(0);
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
  });

  it("concurrent first GETs render once and charge once", async () => {
    const org = await orgWithTemplate();
    const url = await signedUrl(org.apiKey, {
      template_id: org.templateId,
      modifications: [{ name: "title", text: "race" }],
      format: "webp",
    });
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(url)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    for (const a of answers) expect(a.bytes.equals(answers[0]!.bytes)).toBe(true);
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
  });

  it("keeps serving without rendering after the idempotency window, from the record if the copy is gone", async () => {
    const org = await orgWithTemplate();
    const url = await signedUrl(org.apiKey, { template_id: org.templateId, format: "jpeg" });
    expect((await get(url)).status).toBe(200);
    // As if 24 hours had passed (keys forgotten) and the stored copy were lost.
    await prisma().idempotencyKey.deleteMany({ where: { orgId: org.orgId } });
    const etag = (await get(url)).headers.get("etag")!;
    const copy = `signed/${etag.slice(1, -1)}.jpeg`;
    await stack.app.ctx.storage.delete(copy);
    expect(await stack.app.ctx.storage.get(copy)).toBeNull();
    const again = await get(url);
    expect(again.status).toBe(200);
    expect(again.headers.get("content-type")).toBe("image/jpeg");
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
  });

  it("renders once more, charged once more, when retention deleted the job's output and the copy is gone", async () => {
    const org = await orgWithTemplate();
    const url = await signedUrl(org.apiKey, { template_id: org.templateId });
    const first = await get(url);
    expect(first.status).toBe(200);
    const copy = `signed/${first.headers.get("etag")!.slice(1, -1)}.png`;
    // The copy lost by hand, and the job's output swept by retention (as src/storage/retention.ts leaves it).
    const [job] = await prisma().job.findMany({ where: { orgId: org.orgId } });
    await stack.app.ctx.storage.delete(copy);
    await stack.app.ctx.storage.delete(job!.outputKey!);
    await prisma().job.update({ where: { id: job!.id }, data: { outputDeletedAt: new Date() } });
    const [again, racing] = await Promise.all([get(url), get(url)]);
    expect([again.status, racing.status]).toEqual([200, 200]);
    expect(again.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(await counts(org.orgId)).toEqual({ jobs: 2, charges: 2 });
    expect((await get(url)).status).toBe(200);
    expect(await counts(org.orgId)).toEqual({ jobs: 2, charges: 2 });
  });

  it("renders once more when the job's output is missing before retention marked it (the copy gone too)", async () => {
    const org = await orgWithTemplate();
    const url = await signedUrl(org.apiKey, { template_id: org.templateId, format: "webp" });
    const first = await get(url);
    expect(first.status).toBe(200);
    const [job] = await prisma().job.findMany({ where: { orgId: org.orgId } });
    // Both files gone, the row unmarked: a sweep that deleted and has not marked yet, or a loss.
    await stack.app.ctx.storage.delete(`signed/${first.headers.get("etag")!.slice(1, -1)}.webp`);
    await stack.app.ctx.storage.delete(job!.outputKey!);
    const again = await get(url);
    expect(again.status).toBe(200);
    expect(again.headers.get("content-type")).toBe("image/webp");
    expect(await counts(org.orgId)).toEqual({ jobs: 2, charges: 2 });
  });

  it("a URL built offline with the client's signRenderUrl is the server's and renders", async () => {
    const org = await orgWithTemplate();
    const { body: secret } = await stack.api(org.apiKey, "GET", "/api/v1/signed-urls/secret");
    const modifications = [{ name: "title", text: "offline", color: "#ff0000" }];
    const offline = await signRenderUrl({
      baseUrl: stack.baseUrl,
      orgId: secret.org_id,
      secret: secret.signing_secret,
      template_id: org.templateId,
      format: "png",
      modifications,
      scale: 1,
    });
    // The server builds its URLs on PUBLIC_BASE_URL (localhost here): the rest is the same.
    const served = new URL(await signedUrl(org.apiKey, { template_id: org.templateId, modifications }));
    expect(offline).toBe(`${stack.baseUrl}${served.pathname}${served.search}`);
    expect((await get(offline)).status).toBe(200);
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
  });
});

it("the by-hand recipe in docs/api.md builds the same URL as signRenderUrl", async () => {
  const { createHmac } = await import("node:crypto");
  const [orgId, templateId, secret] = ["org_abc", "tpl_def", "urlsec_xyz"];
  const modifications = [{ text: "Hi", name: "title" }];
  // As docs/api.md shows it:
  const sorted = (v: any): any =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sorted(v[k])]),
          )
        : v;
  const path = `/signed/v1/${orgId}/${encodeURIComponent(templateId)}.png`;
  const m = Buffer.from(JSON.stringify(sorted({ modifications }))).toString("base64url");
  const s = createHmac("sha256", secret).update(`${path}?m=${m}`).digest("hex");
  expect(`https://t.example${path}?m=${m}&s=${s}`).toBe(
    await signRenderUrl({ baseUrl: "https://t.example", orgId, secret, template_id: templateId, modifications }),
  );
});

describe("refusals", () => {
  it("403 for an altered, unsigned or foreign-signed URL, and nothing is created", async () => {
    const org = await orgWithTemplate();
    const other = await orgWithTemplate();
    const url = new URL(
      await signedUrl(org.apiKey, {
        template_id: org.templateId,
        modifications: [{ name: "title", text: "paid" }],
      }),
    );
    const m = url.searchParams.get("m")!;
    const s = url.searchParams.get("s")!;
    const changedM = Buffer.from(JSON.stringify({ modifications: [{ name: "title", text: "free" }] }), "utf8").toString(
      "base64url",
    );
    const { body: foreign } = await stack.api(other.apiKey, "GET", "/api/v1/signed-urls/secret");
    const foreignSigned = new URL(
      await signRenderUrl({
        baseUrl: stack.baseUrl,
        orgId: org.orgId,
        secret: foreign.signing_secret,
        template_id: org.templateId,
        modifications: [{ name: "title", text: "paid" }],
      }),
    );
    const base = `${url.origin}${url.pathname}`;
    const tampered = [
      `${base}?m=${changedM}&s=${s}`,
      `${base}?m=${m}&s=${s.replace(/^./, (c) => (c === "0" ? "1" : "0"))}`,
      `${base}?m=${m}`,
      `${base}?m=${m}&s=${s}&extra=1`,
      `${url.origin}${url.pathname.replace(".png", ".jpeg")}?m=${m}&s=${s}`,
      foreignSigned.toString(),
    ];
    for (const t of tampered) {
      const res = await get(t);
      expect(res.status, t).toBe(403);
      expect(res.json().error).toEqual(expect.any(String));
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    expect(await counts(org.orgId)).toEqual({ jobs: 0, charges: 0 });
    // An unknown organisation answers as a wrong signature does: ids cannot be probed.
    const nobody = await get(`${url.origin}/signed/v1/org_nobody/${org.templateId}.png?m=${m}&s=${s}`);
    expect(nobody.status).toBe(403);
    expect(nobody.json().error).toBe("the signature does not match this URL");
  });

  it("400 for a correctly signed but invalid input, nothing charged", async () => {
    const org = await orgWithTemplate();
    const { body: secret } = await stack.api(org.apiKey, "GET", "/api/v1/signed-urls/secret");
    const url = await signRenderUrl({
      baseUrl: stack.baseUrl,
      orgId: org.orgId,
      secret: secret.signing_secret,
      template_id: org.templateId,
      modifications: [{ name: "title", font_size: -5 }],
    });
    const res = await get(url);
    expect(res.status).toBe(400);
    expect(res.json().error).toMatch(/m\.modifications\[0\]\.font_size/);
    expect(await counts(org.orgId)).toEqual({ jobs: 0, charges: 0 });
  });

  it("402 on the first GET when the balance cannot pay, and nothing is created", async () => {
    const org = await orgWithTemplate(0);
    const url = await signedUrl(org.apiKey, { template_id: org.templateId });
    const res = await get(url);
    expect(res.status).toBe(402);
    expect(res.json().error).toBe("Insufficient balance");
    expect(await counts(org.orgId)).toEqual({ jobs: 0, charges: 0 });
    expect(await prisma().signedRender.count({ where: { orgId: org.orgId } })).toBe(0);
  });

  it("a failed render answers 502 (no reason for strangers) and is refunded; retried at most once a minute", async () => {
    const org = await orgWithTemplate(10_000, {
      ...card,
      layers: [{ type: "image", name: "photo", x: 0, y: 0, width: 60, height: 30 }],
    });
    const url = await signedUrl(org.apiKey, {
      template_id: org.templateId,
      modifications: [{ name: "photo", image_url: `${images.url}/missing.png` }],
    });
    const res = await get(url);
    expect(res.status).toBe(502);
    const [failed] = await prisma().job.findMany({ where: { orgId: org.orgId } });
    // Why (the image host's 404) is the organisation's to read on the job, not the stranger's.
    expect(res.json()).toEqual({ error: expect.stringMatching(/^render failed/), job_id: failed!.id });
    expect(JSON.stringify(res.json())).not.toMatch(/404|missing/);
    expect(failed!.error).toMatch(/404/);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const refunds = () => prisma().ledgerEntry.count({ where: { orgId: org.orgId, kind: "REFUND" } });
    expect(await refunds()).toBe(1);
    // Within the minute: the same 502, and nothing rendered or charged again, however many ask.
    const soon = await Promise.all([get(url), get(url), get(url)]);
    expect(soon.map((a) => a.status)).toEqual([502, 502, 502]);
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
    // A minute later (the failure backdated): the next GETs try again, once for all of them.
    await prisma().job.update({
      where: { id: failed!.id },
      data: { completedAt: new Date(Date.now() - SIGNED_RETRY_AFTER_MS - 1000) },
    });
    const again = await Promise.all([get(url), get(url), get(url)]);
    expect(again.map((a) => a.status)).toEqual([502, 502, 502]);
    expect(await counts(org.orgId)).toEqual({ jobs: 2, charges: 2 });
    expect(await refunds()).toBe(2);
    await expectLedgerBalanced(prisma(), org.orgId);
  });
});

describe("a render that outlasts the wait", () => {
  it("answers 503 with Retry-After while rendering, then the image; still one job", async () => {
    const quick = await startStack({ RATE_LIMIT_MAX: "0", SYNC_TIMEOUT_MS: "300" });
    const held = await startImageHost(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } })
        .png()
        .toBuffer(),
    );
    try {
      const org = await quick.createOrg(10_000);
      const tpl = await quick.api(org.apiKey, "POST", "/api/v1/templates", {
        ...card,
        layers: [{ type: "image", name: "photo", x: 0, y: 0, width: 60, height: 30 }],
      });
      const created = await quick.api(org.apiKey, "POST", "/api/v1/signed-urls", {
        template_id: tpl.body.template_id,
        modifications: [{ name: "photo", image_url: `${held.url}/slow.png` }],
      });
      const url = new URL(created.body.url);
      const local = `${quick.baseUrl}${url.pathname}${url.search}`;
      const waiting = await get(local);
      expect(waiting.status).toBe(503);
      expect(waiting.headers.get("retry-after")).toBe("2");
      expect(waiting.headers.get("cache-control")).toBe("no-store");
      await held.waitForHeld(1);
      held.release();
      await expect.poll(async () => (await get(local)).status).toBe(200);
      const jobs = await quick.app.ctx.prisma.job.count({ where: { orgId: org.orgId } });
      expect(jobs).toBe(1);
    } finally {
      await held.close();
      await quick.stop();
    }
  });
});

describe("rotating the signing secret", () => {
  it("old URLs keep working during the grace, fail after it; new URLs use the new secret", async () => {
    const org = await orgWithTemplate();
    const old = await signedUrl(org.apiKey, { template_id: org.templateId });
    const rotated = await stack.api(org.apiKey, "POST", "/api/v1/signed-urls/secret/rotate");
    expect(rotated.status).toBe(200);
    expect(rotated.body.previous_secret_expires_at).toEqual(expect.any(String));
    const fresh = await signedUrl(org.apiKey, { template_id: org.templateId });
    expect(fresh).not.toBe(old);
    expect((await get(old)).status).toBe(200);
    // Same content, new signature: served from the same render.
    expect((await get(fresh)).status).toBe(200);
    expect(await counts(org.orgId)).toEqual({ jobs: 1, charges: 1 });
    // The grace ends.
    await prisma().organization.update({
      where: { id: org.orgId },
      data: { previousUrlSigningSecretExpiresAt: new Date(Date.now() - 1000) },
    });
    expect((await get(old)).status).toBe(403);
    expect((await get(fresh)).status).toBe(200);
  });
});
