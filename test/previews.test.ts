// Previews (POST /api/v1/previews, GraphQL Query.preview): a document or a saved template rendered
// inline by the render workers — no job, no ledger entry, no stored output, balance unchanged.
import { readdir } from "node:fs/promises";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { socialCard, startImageServer, type ImageServer } from "./helpers/fixtures.js";
import { startStack, type Stack } from "./helpers/stack.js";

let stack: Stack;
let images: ImageServer;
let org: { orgId: string; apiKey: string };

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

const cardWithPhoto = () => ({
  ...socialCard,
  layers: socialCard.layers.map((l) => (l.name === "photo" ? { ...l, image_url: `${images.url}/photo.jpg` } : l)),
});

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

beforeAll(async () => {
  stack = await startStack();
  images = await startImageServer();
  org = await stack.createOrg(1000);
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
      expect(Number(res.headers.get("x-render-ms"))).toBeGreaterThanOrEqual(0);
      expect(res.headers.get("x-preview-notes")).toBeNull();
      const meta = await sharp(res.bytes).metadata();
      expect(meta).toMatchObject({ format: "png", width: 1200 * scale, height: 630 * scale });
    }
  });

  it("creates no job, no ledger entry and no stored output, and leaves the balance unchanged", async () => {
    const before = await traces(org.orgId);
    for (const format of ["png", "jpeg", "webp"] as const) {
      const res = await preview(stack, org.apiKey, { document: cardWithPhoto(), format, scale: 0.5 });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(`image/${format}`);
    }
    expect(await traces(org.orgId)).toEqual(before);
  });
});
