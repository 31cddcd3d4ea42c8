// Background removal as a render feature, end to end over real HTTP, PostgreSQL and Redis:
// remove_background on an image layer of a template and in a modification (REST and GraphQL), the
// cut-out drawn with the canvas showing where the photo's background was, its price on top of the
// render (charged in the accept, refunded with a failed render), a modification on a layer of the
// wrong type refused, a batch with one photo removing it once, and sync mode falling back to 202.
// The model itself (its masks, their quality) is tested in background-removal.test.ts.
import { createServer, type Server } from "node:http";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backgroundRemovalStats } from "../src/render/background-removal.js";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { socialCard } from "./helpers/fixtures.js";
import { gqlHttp } from "./helpers/graphql-clients.js";
import { readPixelsAt } from "./helpers/pixels.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

/** Where the photo's background is, and where its subject is, in the photo and on the card (1:1). */
const BG_POINT = { x: 40, y: 40 };
const SUBJECT_POINT = { x: 300, y: 315 };
const SUBJECT = [220, 38, 38]; // #dc2626
const PHOTO_BG = [226, 232, 240]; // #e2e8f0
const CARD_BG = [15, 23, 42]; // the social card's gradient near its top-left corner (#0f172a)

/**
 * A 600x630 photo (the card's photo box, so `cover` maps it 1:1): a red disc, the subject, on a
 * pale background with a faint texture of lines. `shift` moves the disc, so each variant is new
 * content for the engine's cache.
 */
function photo(shift = 0, format: "png" | "jpeg" = "png"): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="630">
    <defs><pattern id="t" width="12" height="12" patternUnits="userSpaceOnUse">
      <path d="M0 12 L12 0" stroke="#cbd5e1" stroke-width="1"/></pattern></defs>
    <rect width="600" height="630" fill="#e2e8f0"/><rect width="600" height="630" fill="url(#t)"/>
    <circle cx="${300 + shift}" cy="315" r="170" fill="#dc2626"/></svg>`;
  const image = sharp(Buffer.from(svg));
  return (format === "png" ? image.png() : image.jpeg({ quality: 92 })).toBuffer();
}

let stack: Stack;
let server: Server;
let host: string;
let org: { orgId: string; apiKey: string };
let cardId: string;
const files = new Map<string, Buffer>();
const prices = () => stack.app.ctx.prices;
const balanceOf = async (orgId: string) =>
  (await stack.app.ctx.prisma.organization.findUniqueOrThrow({ where: { id: orgId } })).balanceCents;

beforeAll(async () => {
  files.set("/subject.png", await photo());
  files.set("/subject-gql.jpg", await photo(4, "jpeg"));
  files.set("/subject-template.png", await photo(8));
  files.set("/batch.png", await photo(12));
  files.set("/sync.png", await photo(16));
  files.set("/hidden.png", await photo(20));
  files.set("/broken.jpg", Buffer.from("this is not a jpeg"));
  // A PNG whose header is fine and whose pixels are cut off: the engine meets the damage.
  const whole = await photo(24);
  files.set("/truncated.png", whole.subarray(0, Math.floor(whole.length / 3)));
  server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (!body) return void res.writeHead(404).end("not found");
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  stack = await startStack({ RATE_LIMIT_MAX: "0", PRICE_CENTS_BACKGROUND_REMOVAL: "4" });
  org = await stack.createOrg(1000);
  const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard);
  expect(res.status).toBe(201);
  cardId = res.body.template_id;
});

afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => server?.close(resolve));
});

async function render(body: Record<string, unknown>, apiKey = org.apiKey) {
  const accepted = await stack.api(apiKey, "POST", "/api/v1/create", body);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return waitForFinal(stack, apiKey, accepted.body.job_id);
}

async function chargeOf(jobId: string): Promise<number> {
  const row = await stack.app.ctx.prisma.ledgerEntry.findFirstOrThrow({ where: { jobId, kind: "CHARGE" } });
  return -row.amountCents;
}

const near = (a: readonly number[], b: readonly number[], tolerance = 24) =>
  b.every((v, i) => Math.abs(a[i]! - v) <= tolerance);

describe("the social card with remove_background in a modification (REST)", () => {
  it("draws the cut-out subject: the card shows where the photo's background was; charged render + removal", async () => {
    const before = await balanceOf(org.orgId);
    const cut = await render({
      template_id: cardId,
      modifications: [{ name: "photo", image_url: `${host}/subject.png`, remove_background: true }],
    });
    expect(cut.status, cut.error).toBe("complete");
    const plain = await render({
      template_id: cardId,
      modifications: [{ name: "photo", image_url: `${host}/subject.png` }],
    });
    expect(plain.status, plain.error).toBe("complete");

    const withRemoval = await readPixelsAt(cut.output_url);
    const without = await readPixelsAt(plain.output_url);
    // The subject is drawn either way.
    expect(near(withRemoval.at(SUBJECT_POINT.x, SUBJECT_POINT.y), SUBJECT)).toBe(true);
    expect(near(without.at(SUBJECT_POINT.x, SUBJECT_POINT.y), SUBJECT)).toBe(true);
    // The photo's background: drawn without removal, the card's own background with it.
    expect(near(without.at(BG_POINT.x, BG_POINT.y), PHOTO_BG)).toBe(true);
    expect(near(withRemoval.at(BG_POINT.x, BG_POINT.y), CARD_BG)).toBe(true);

    // Price: the render plus one removal, in the job's one CHARGE row; the ledger sums to the balance.
    const standard = prices().standardCents;
    expect(await chargeOf(cut.job_id)).toBe(standard + 4);
    expect(await chargeOf(plain.job_id)).toBe(standard);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId)).toBe(before - 2 * standard - 4);
  });

  it("refuses remove_background on a text layer with 400 naming the layer, charging nothing", async () => {
    const before = await balanceOf(org.orgId);
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: cardId,
      modifications: [{ name: "title", remove_background: true }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain('"title"');
    expect(res.body.error).toContain("remove_background");
    expect(await balanceOf(org.orgId)).toBe(before);
  });

  it("does not charge a removal for a layer that is not drawn (hidden by a modification)", async () => {
    const done = await render({
      template_id: cardId,
      modifications: [{ name: "photo", image_url: `${host}/hidden.png`, remove_background: true, hide: true }],
    });
    expect(done.status, done.error).toBe("complete");
    expect(await chargeOf(done.job_id)).toBe(prices().standardCents);
  });

  it("shows the removal's price in GET /api/v1/billing", async () => {
    const res = await stack.api(org.apiKey, "GET", "/api/v1/billing");
    expect(res.status).toBe(200);
    expect(res.body.prices.background_removal_cents).toBe(4);
  });
});

describe("a template whose image layer has remove_background: true", () => {
  it("renders the subject on a transparent canvas with the background transparent", async () => {
    const tpl = await stack.api(org.apiKey, "POST", "/api/v1/templates", {
      width: 600,
      height: 630,
      background: "transparent",
      layers: [
        {
          type: "image",
          name: "photo",
          width: 600,
          height: 630,
          image_url: `${host}/subject-template.png`,
          remove_background: true,
        },
      ],
    });
    expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
    expect(tpl.body.layers[0].remove_background).toBe(true);
    const done = await render({ template_id: tpl.body.template_id, format: "png" });
    expect(done.status, done.error).toBe("complete");
    const px = await readPixelsAt(done.output_url, { alpha: true });
    expect(px.at(SUBJECT_POINT.x + 8, SUBJECT_POINT.y)[3]).toBeGreaterThan(200);
    expect(px.at(BG_POINT.x, BG_POINT.y)[3]).toBeLessThan(40);
    expect(await chargeOf(done.job_id)).toBe(prices().standardCents + 4);
    // The modification turns it off again: the whole photo, opaque, at the render's price alone.
    const off = await render({
      template_id: tpl.body.template_id,
      modifications: [{ name: "photo", remove_background: false }],
    });
    expect(off.status, off.error).toBe("complete");
    expect((await readPixelsAt(off.output_url, { alpha: true })).at(BG_POINT.x, BG_POINT.y)[3]).toBe(255);
    expect(await chargeOf(off.job_id)).toBe(prices().standardCents);
  });
});

describe("GraphQL", () => {
  it("createRender with removeBackground in a modification renders the cut-out and charges it", async () => {
    const res = await gqlHttp(
      stack,
      org.apiKey,
      `mutation($input: CreateRenderInput!) {
        createRender(input: $input) { __typename ... on Job { id } ... on Error { message } }
      }`,
      {
        input: {
          templateId: cardId,
          modifications: [{ name: "photo", imageUrl: `${host}/subject-gql.jpg`, removeBackground: true }],
        },
      },
    );
    expect(res.body.data.createRender.__typename, JSON.stringify(res.body)).toBe("Job");
    const done = await waitForFinal(stack, org.apiKey, res.body.data.createRender.id);
    expect(done.status, done.error).toBe("complete");
    const px = await readPixelsAt(done.output_url);
    expect(near(px.at(BG_POINT.x, BG_POINT.y), CARD_BG)).toBe(true);
    expect(near(px.at(SUBJECT_POINT.x + 4, SUBJECT_POINT.y), SUBJECT)).toBe(true);
    expect(await chargeOf(done.job_id)).toBe(prices().standardCents + 4);

    const viewer = await gqlHttp(
      stack,
      org.apiKey,
      "{ viewer { organization { prices { backgroundRemovalCents } } } }",
    );
    expect(viewer.body.data.viewer.organization.prices.backgroundRemovalCents).toBe(4);
  });
});

describe("failures", () => {
  it.each([
    ["not an image", "/broken.jpg", /could not be decoded/],
    // Its header passes; decoding it for the model fails, in the engine.
    ["a PNG cut off after its header", "/truncated.png", /: background removal: .*could not be decoded/],
  ])("%s with remove_background fails cleanly, refunded in full; the worker goes on", async (_what, route, message) => {
    const before = await balanceOf(org.orgId);
    const done = await render({
      template_id: cardId,
      modifications: [{ name: "photo", image_url: `${host}${route}`, remove_background: true }],
    });
    expect(done.status).toBe("failed");
    expect(done.error).toContain('image layer "photo"');
    expect(done.error).toMatch(message);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId)).toBe(before);
    // The worker still renders.
    const next = await render({ template_id: cardId, modifications: [{ name: "title", text: "Still here" }] });
    expect(next.status, next.error).toBe("complete");
  });
});

describe("a batch with one photo", () => {
  it("removes its background once", async () => {
    const runs = backgroundRemovalStats().modelRuns;
    const accepted = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        stack.api(org.apiKey, "POST", "/api/v1/create", {
          template_id: cardId,
          modifications: [
            { name: "photo", image_url: `${host}/batch.png`, remove_background: true },
            { name: "title", text: `Card ${i}` },
          ],
        }),
      ),
    );
    for (const a of accepted) expect(a.status).toBe(202);
    const done = await Promise.all(accepted.map((a) => waitForFinal(stack, org.apiKey, a.body.job_id)));
    for (const d of done) expect(d.status, d.error).toBe("complete");
    expect(backgroundRemovalStats().modelRuns - runs).toBe(1);
  });
});

describe("sync mode", () => {
  it("falls back to 202 when the removal outlasts SYNC_TIMEOUT_MS, and the job completes later", async () => {
    // A window far shorter than a removal (the model's run alone takes a few hundred ms).
    const quick = await startStack({ RATE_LIMIT_MAX: "0", SYNC_TIMEOUT_MS: "20" });
    try {
      const o = await quick.createOrg(100);
      const tpl = (await quick.api(o.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
      const res = await quick.api(o.apiKey, "POST", "/api/v1/create?sync=true", {
        template_id: tpl,
        modifications: [{ name: "photo", image_url: `${host}/sync.png`, remove_background: true }],
      });
      expect(res.status).toBe(202);
      expect(Object.keys(res.body).sort()).toEqual(["job_id", "poll_url", "status"]);
      const done = await waitForFinal(quick, o.apiKey, res.body.job_id);
      expect(done.status, done.error).toBe("complete");
    } finally {
      await quick.stop();
    }
  });
});
