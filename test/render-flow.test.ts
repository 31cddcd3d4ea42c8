// The foundation end to end: template -> 202 -> poll -> complete -> the image, over real HTTP,
// PostgreSQL and Redis; and a render that fails ends failed, refunded. Each storage backend (local
// disk, and S3 on a loopback server) passes the same tests.
import { existsSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { socialCard, startImageServer, type ImageServer } from "./helpers/fixtures.js";
import { readPixels, readPixelsAt } from "./helpers/pixels.js";
import { STORAGE_BACKENDS, startStack, waitForFinal, type Stack } from "./helpers/stack.js";

const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let stack: Stack;
let images: ImageServer;
let org: { orgId: string; apiKey: string };
let templateId: string;

describe.each(STORAGE_BACKENDS)("%s storage", (storage) => {
  beforeAll(async () => {
    stack = await startStack({}, undefined, { storage });
    images = await startImageServer();
    org = await stack.createOrg(1000);
    const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard);
    expect(res.status).toBe(201);
    templateId = res.body.template_id;
  });

  afterAll(async () => {
    await stack?.stop();
    await images?.close();
  });

  describe("templates", () => {
    it("creates a template (201, tpl_ id) and reads it back", async () => {
      expect(templateId).toMatch(/^tpl_[a-z0-9]{24}$/);
      const res = await stack.api(org.apiKey, "GET", `/api/v1/templates/${templateId}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        template_id: templateId,
        name: "Social card",
        width: 1200,
        height: 630,
        version: 1,
      });
      expect(res.body.layers.map((l: { name: string }) => l.name)).toEqual(socialCard.layers.map((l) => l.name));
      expect(res.body.layers.map((l: { name: string }) => l.name)).toEqual(
        expect.arrayContaining(["photo", "title", "subtitle"]),
      );
    });

    it("rejects an invalid document with 400 naming each JSON path", async () => {
      const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", {
        width: 0,
        height: 630,
        layers: [{ type: "text", name: "t", width: 10, height: 10, color: "red" }],
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toContain("width");
      expect(res.body.error).toContain("layers[0].color");
    });
  });

  describe("POST /api/v1/create then poll", () => {
    it("answers 202 with the contract's body, then completes with a decodable image of the template's size", async () => {
      const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        modifications: [
          { name: "title", text: "Hello from the test suite" },
          { name: "photo", image_url: `${images.url}/photo.jpg` },
        ],
        format: "png",
      });
      expect(accepted.status).toBe(202);
      expect(Object.keys(accepted.body).sort()).toEqual(["job_id", "poll_url", "status"]);
      expect(accepted.body.job_id).toMatch(/^clx_[a-z0-9]{24}$/);
      expect(accepted.body.status).toBe("pending");
      expect(accepted.body.poll_url).toBe(`/api/v1/create/${accepted.body.job_id}`);

      const done = await waitForFinal(stack, org.apiKey, accepted.body.job_id);
      expect(Object.keys(done)).toEqual([
        "job_id",
        "status",
        "template_id",
        "output_url",
        "render_ms",
        "created_at",
        "completed_at",
      ]);
      expect(done).toMatchObject({ job_id: accepted.body.job_id, status: "complete", template_id: templateId });
      expect(done.output_url).toBe(`${stack.app.ctx.config.PUBLIC_BASE_URL}/renders/${done.job_id}.png`);
      expect(done.created_at).toMatch(ISO_MS_UTC);
      expect(done.completed_at).toMatch(ISO_MS_UTC);
      expect(Number.isInteger(done.render_ms)).toBe(true);

      // The output is where the backend keeps it, and only there: on S3, no file on this disk.
      expect(existsSync(path.join(stack.app.ctx.config.STORAGE_DIR, `${done.job_id}.png`))).toBe(storage === "disk");
      const image = await fetch(done.output_url);
      expect(image.status).toBe(200);
      expect(image.headers.get("content-type")).toBe("image/png");
      const bytes = Buffer.from(await image.arrayBuffer());
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["png", 1200, 630]);
      // The photo layer (left part) shows the fetched orange image; the right side the background.
      const { at: px } = await readPixels(bytes);
      const [r, g, b] = px(270, 600) as [number, number, number];
      expect(r).toBeGreaterThan(230);
      expect(g).toBeGreaterThan(100);
      expect(g).toBeLessThan(160);
      expect(b).toBeLessThan(30);
      expect(px(1190, 620)).toEqual([0x0f, 0x17, 0x2a]);
    });

    it.each(["jpeg", "webp"] as const)("renders %s", async (format) => {
      const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId, format });
      expect(accepted.status).toBe(202);
      const done = await waitForFinal(stack, org.apiKey, accepted.body.job_id);
      expect(done.status).toBe("complete");
      const bytes = Buffer.from(await (await fetch(done.output_url)).arrayBuffer());
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([format, 1200, 630]);
    });

    it("hides a layer and recolours text through modifications", async () => {
      const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        modifications: [
          { name: "photo", hide: true },
          { name: "accent", color: "#00ff00" },
        ],
      });
      const done = await waitForFinal(stack, org.apiKey, accepted.body.job_id);
      const { at: px } = await readPixelsAt(done.output_url);
      expect(px(270, 300)).toEqual([0x0f, 0x17, 0x2a]); // photo hidden: background shows
      expect(px(640, 100)).toEqual([0, 255, 0]); // accent bar recoloured
    });

    it("charges one render per accepted job, and the ledger sums to the balance", async () => {
      const before = await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: org.orgId } });
      const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId });
      await waitForFinal(stack, org.apiKey, accepted.body.job_id);
      const balance = await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
      expect(balance).toBe(before.balanceCents - stack.app.ctx.prices.standardCents);
    });
  });

  describe("a render that fails", () => {
    it.each([
      ["an unreachable image", "/missing.jpg", /404/],
      ["an undecodable image", "/broken.jpg", /photo/],
    ])("ends failed with its error for %s, and is refunded", async (_what, route, message) => {
      const before = await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: org.orgId } });
      const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        modifications: [{ name: "photo", image_url: `${images.url}${route}` }],
      });
      expect(accepted.status).toBe(202);
      const done = await waitForFinal(stack, org.apiKey, accepted.body.job_id);
      expect(done.status).toBe("failed");
      expect(done.error).toMatch(message);
      expect(done.output_url).toBeUndefined();
      expect(done.completed_at).toMatch(ISO_MS_UTC);
      const after = await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
      expect(after).toBe(before.balanceCents);
      const rows = await stack.app.ctx.prisma.ledgerEntry.findMany({ where: { jobId: done.job_id } });
      expect(rows.map((r) => r.kind).sort()).toEqual(["CHARGE", "REFUND"]);
    });
  });
});
