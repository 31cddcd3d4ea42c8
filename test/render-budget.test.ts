// Render budgets: what a document may ask for (output size, layer pixels, both growing with scale²)
// is refused at validation with a 400 naming the limit; what is only known while rendering
// (source image pixels, SVG) is refused by the renderer; a render over its time budget
// (RENDER_TIMEOUT_MS) fails within it, refunded once, and the worker goes on; and a render's
// memory does not grow with its number of layers (measured in a child process).
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import zlib from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  configureImageCache,
  MAX_RENDER_SOURCE_PIXELS,
  MAX_SVG_BYTES,
  RenderError,
  renderTemplate,
  type RenderOptions,
} from "../src/render/index.js";
import {
  layerCoverage,
  MAX_LAYER_PIXELS,
  MAX_OUTPUT_PIXELS,
  pixelWork,
  renderBudgetProblem,
  TemplateDocument,
} from "../src/templates/document.js";
import { expectLedgerBalanced } from "./helpers/ledger.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const BUDGET_MS = 1500;
/** Queue pick-up, status writes and polling on a shared 2-core machine: generous. */
const MARGIN_MS = 3500;

// ---------------------------------------------------------------------------------------------
// Images served on loopback

/**
 * An SVG of 688 bytes that librsvg needs ~10 s to draw at 1000x1000 (measured; one tile, so
 * sharp's timeout cannot interrupt it): three chains of turbulence, a wide blur and a dilation
 * over a filter region nine times the box.
 */
function expensiveSvg(chains = 3, size = 1000): string {
  let primitives = "";
  for (let i = 0; i < chains; i++) {
    primitives += `<feTurbulence baseFrequency="0.05" numOctaves="50" result="t${i}"/><feGaussianBlur in="t${i}" stdDeviation="300"/><feMorphology radius="200" operator="dilate"/>`;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">` +
    `<filter id="f" x="-1" y="-1" width="3" height="3">${primitives}</filter>` +
    `<rect width="${size}" height="${size}" fill="red" filter="url(#f)"/></svg>`
  );
}

/** 10x10, left half red, right half transparent. */
const SMALL_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="10" fill="#ff0000"/></svg>';

let images: http.Server;
let imageBase: string;
const routes = new Map<string, { type: string; body: Buffer; delayMs?: number }>();

beforeAll(async () => {
  const photo = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: "#2080ff" } })
    .composite([
      { input: { create: { width: 800, height: 1200, channels: 3, background: "#ff8000" } }, left: 0, top: 0 },
    ])
    .jpeg()
    .toBuffer();
  // 7000x7000 = 49 megapixels: under the per-image limit, a quarter of the per-render one.
  const huge = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: "#00aa00" } })
    .jpeg({ quality: 50 })
    .toBuffer();
  // 4100x4000 = 16.4 megapixels of AVIF: over the AVIF/HEIF limit (decoding costs ~18 bytes a pixel).
  const avif = await sharp({ create: { width: 4100, height: 4000, channels: 3, background: "#123456" } })
    .avif({ effort: 0, quality: 20 })
    .toBuffer();
  const set = (route: string, type: string, body: string | Buffer, delayMs?: number) =>
    routes.set(route, {
      type,
      body: typeof body === "string" ? Buffer.from(body) : body,
      ...(delayMs ? { delayMs } : {}),
    });
  set("/photo.jpg", "image/jpeg", photo);
  set("/slow-photo.jpg", "image/jpeg", photo, 400);
  set("/huge.jpg", "image/jpeg", huge);
  set("/big.avif", "image/avif", avif);
  set("/expensive.svg", "image/svg+xml", expensiveSvg());
  set("/small.svg", "image/svg+xml", SMALL_SVG);
  set(
    "/padded.svg",
    "image/svg+xml",
    `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><!--${"x".repeat(MAX_SVG_BYTES)}--></svg>`,
  );
  set("/small.svgz", "image/svg+xml", zlib.gzipSync(SMALL_SVG));
  // Declares 100x100 (10,000 source pixels) and embeds a 12000x12000 PNG: ~576 MB once librsvg
  // decodes it, whatever the declared size says.
  const bomb = await sharp({ create: { width: 12000, height: 12000, channels: 3, background: "#777777" } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  set(
    "/embedded-bomb.svg",
    "image/svg+xml",
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100"><image width="100" height="100" xlink:href="data:image/png;base64,${bomb.toString("base64")}"/></svg>`,
  );
  images = http.createServer((req, res) => {
    const route = routes.get((req.url ?? "").replace(/\?.*$/, ""));
    if (!route) return void res.writeHead(404).end();
    const send = () =>
      res.writeHead(200, { "content-type": route.type, "content-length": route.body.length }).end(route.body);
    if (route.delayMs) setTimeout(send, route.delayMs);
    else send();
  });
  await new Promise<void>((resolve) => images.listen(0, "127.0.0.1", resolve));
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
});

afterAll(async () => {
  images?.closeAllConnections();
  await new Promise<void>((resolve) => (images ? images.close(() => resolve()) : resolve()));
});

const LOCAL: Partial<RenderOptions> = { allowPrivateNetworks: true };

async function renderError(doc: unknown, opts: Partial<RenderOptions> = {}): Promise<RenderError> {
  try {
    await renderTemplate(doc as TemplateDocument, { format: "png", ...LOCAL, ...opts });
  } catch (err) {
    expect(err).toBeInstanceOf(RenderError);
    return err as RenderError;
  }
  throw new Error("the render succeeded");
}

const rect = (name: string, over: Record<string, unknown> = {}) => ({
  type: "rect",
  name,
  x: 0,
  y: 0,
  width: 100,
  height: 100,
  fill: "#ff000080",
  ...over,
});
const fullLayers = (n: number, w: number, h: number) =>
  Array.from({ length: n }, (_, i) => rect(`l${i}`, { width: w, height: h }));

/** SVG rasteriser processes (svg-child.mjs) that are children of this process. */
function svgChildren(): number {
  let n = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("svg-child.mjs")) n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------

describe("pixel budgets at validation", () => {
  const issues = (doc: unknown) => {
    const r = TemplateDocument.safeParse(doc);
    return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  };

  it("refuses many full-canvas layers on the largest canvas, naming the limit", () => {
    const hostile = { width: 5000, height: 5000, layers: fullLayers(200, 5000, 5000) };
    expect(issues(hostile)).toEqual([
      {
        path: "layers",
        message: expect.stringMatching(
          /^the layers cover 5000 megapixels of canvas in total .* more than the 400-megapixel limit on layer pixels/,
        ),
      },
    ]);
    // 16 full 25-megapixel layers are exactly the limit; one more is over it.
    expect(issues({ width: 5000, height: 5000, layers: fullLayers(16, 5000, 5000) })).toEqual([]);
    expect(issues({ width: 5000, height: 5000, layers: fullLayers(17, 5000, 5000) })[0]?.message).toMatch(
      /425 megapixels/,
    );
  });

  it("counts what a layer can cover on the canvas, not its box: many small layers pass, few huge ones are clipped", () => {
    // 200 layers of 1000x1000: 200 megapixels.
    expect(issues({ width: 5000, height: 5000, layers: fullLayers(200, 1000, 1000) })).toEqual([]);
    // Boxes of 10000x10000 cover at most the 25-megapixel canvas each.
    const huge = { width: 5000, height: 5000, layers: fullLayers(16, 10_000, 10_000) };
    expect(pixelWork(huge, 1).layers).toBe(400_000_000);
    expect(issues(huge)).toEqual([]);
    // A box off the canvas covers nothing; one half on covers half.
    expect(layerCoverage({ x: 5000, y: 0, width: 5000, height: 5000, rotation: 0 }, 5000, 5000)).toBe(0);
    expect(layerCoverage({ x: -2500, y: 0, width: 5000, height: 5000, rotation: 0 }, 5000, 5000)).toBe(12_500_000);
    // Rotated: its bounds count (45 degrees: a 100x100 box's bounds are ~141x141).
    expect(layerCoverage({ x: 1000, y: 1000, width: 100, height: 100, rotation: 45 }, 5000, 5000)).toBeCloseTo(
      20_000,
      -1,
    );
    expect(layerCoverage({ x: 1000, y: 1000, width: 100, height: 50, rotation: 90 }, 5000, 5000)).toBeCloseTo(5_000, 6);
  });

  it("counts a text layer's raster, not only the canvas it covers: huge type in thin off-canvas strips is refused", () => {
    // Found by review: 200 strips 10 px high, 10000 px wide, mostly off a 10x10 canvas, with
    // 1000-px type: each covers 100 px of canvas but Pango draws a 10000 x 1200 px line.
    const strip = (i: number) => ({
      type: "text",
      name: `t${i}`,
      x: -4995,
      y: 0,
      width: 10_000,
      height: 10,
      font_size: 1000,
      text: "W".repeat(50),
    });
    const hostile = { width: 10, height: 10, layers: Array.from({ length: 200 }, (_, i) => strip(i)) };
    expect(issues(hostile)[0]).toMatchObject({
      path: "layers",
      message: expect.stringMatching(/a text layer at least the lines it draws/),
    });
    // An ordinary card's text stays far inside the budget.
    const card = {
      width: 1200,
      height: 630,
      layers: [{ type: "text", name: "title", x: 60, y: 60, width: 1080, height: 200, font_size: 72, text: "Hello" }],
    };
    expect(issues(card)).toEqual([]);
    expect(pixelWork(card, 1).layers).toBeLessThan(1_000_000);
  });

  it("counts hidden and transparent layers too (a modification can show them)", () => {
    const layers = fullLayers(17, 5000, 5000).map((l, i) => ({
      ...l,
      hidden: i % 2 === 0,
      opacity: i % 3 === 0 ? 0 : 1,
    }));
    expect(issues({ width: 5000, height: 5000, layers })[0]?.path).toBe("layers");
  });

  it("scale multiplies the canvas and the layers' pixels (by scale²), and the problem names scale", () => {
    const canvasOnly = { width: 2000, height: 2000, layers: [] };
    expect(renderBudgetProblem(canvasOnly, 3)).toBeNull(); // 6000x6000 = 36 MP
    expect(renderBudgetProblem(canvasOnly, 4)).toEqual({
      path: ["scale"],
      message: `the output would be 8000x8000 pixels at scale 4, more than the ${MAX_OUTPUT_PIXELS / 1e6}-megapixel output limit`,
    });
    expect(renderBudgetProblem({ width: 5000, height: 5000, layers: [] }, 1.3)?.path).toEqual(["scale"]); // 6500x6500 = 42 MP
    // The card with all 200 layers over the whole canvas: 151 MP at scale 1, 605 MP at scale 2.
    const card = { width: 1200, height: 630, layers: fullLayers(200, 1200, 630) };
    expect(renderBudgetProblem(card, 1)).toBeNull();
    expect(renderBudgetProblem(card, 2)).toEqual({
      path: ["scale"],
      message: expect.stringMatching(/604\.8 megapixels .* at scale 2 .*400-megapixel limit on layer pixels/),
    });
    expect(renderBudgetProblem(card, 0.5)).toBeNull();
    expect(MAX_LAYER_PIXELS).toBe(400_000_000);
  });

  it("the renderer applies the same limits (a job accepted before they existed meets them there)", async () => {
    const err = await renderError({ width: 2000, height: 2000 }, { scale: 4 });
    expect(err.code).toBe("RENDER_FAILED");
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/8000x8000 pixels at scale 4, more than the 40-megapixel output limit/);
  });
});

describe("budgets while rendering", () => {
  beforeAll(() => configureImageCache({ ttlMs: 0 }));
  afterAll(() => configureImageCache());

  it("refuses images whose declared sizes add up to more than the per-render limit, before decoding the last", async () => {
    const huge = `${imageBase}/huge.jpg`;
    const layers = Array.from({ length: 5 }, (_, i) => ({
      type: "image",
      name: `p${i}`,
      x: i * 20,
      y: 0,
      width: 20 + i,
      height: 20,
      image_url: huge,
    }));
    const err = await renderError({ width: 200, height: 50, layers });
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.message).toBe(
      `image layer "p4": the image at ${huge}: with the images before it, this render would decode 245 megapixels of source images, ` +
        `more than the ${MAX_RENDER_SOURCE_PIXELS / 1e6}-megapixel limit per render`,
    );
    // Four of them are fine.
    const ok = await renderTemplate({ width: 200, height: 50, layers: layers.slice(0, 4) } as never, {
      format: "png",
      ...LOCAL,
    });
    expect(ok.width).toBe(200);
  });

  it("refuses AVIF over its own (lower) pixel limit from the header", async () => {
    const err = await renderError({
      width: 50,
      height: 50,
      layers: [{ type: "image", name: "photo", width: 50, height: 50, image_url: `${imageBase}/big.avif` }],
    });
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.message).toBe(
      `image layer "photo": the image at ${imageBase}/big.avif is 4100x4000 pixels, more than the 16-megapixel limit for AVIF/HEIF images`,
    );
  });

  it("draws SVG in a child process at the box size (crisp, not its declared 10x10 upscaled)", async () => {
    const out = await renderTemplate(
      {
        width: 400,
        height: 400,
        background: "#ffffff",
        layers: [
          {
            type: "image",
            name: "logo",
            x: 0,
            y: 0,
            width: 400,
            height: 400,
            fit: "fill",
            image_url: `${imageBase}/small.svg`,
          },
        ],
      } as never,
      { format: "png", ...LOCAL },
    );
    const { data } = await sharp(out.buffer).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...data.subarray((y * 400 + x) * 3, (y * 400 + x) * 3 + 3)];
    expect(at(198, 200)).toEqual([255, 0, 0]); // upscaled from 10 px, these two would be blended
    expect(at(201, 200)).toEqual([255, 255, 255]);
    await expect.poll(svgChildren).toBe(0);
  });

  it("refuses compressed SVG and SVG over the byte limit", async () => {
    const svgz = await renderError({
      width: 50,
      height: 50,
      layers: [{ type: "image", name: "logo", width: 50, height: 50, image_url: `${imageBase}/small.svgz` }],
    });
    expect(svgz.code).toBe("IMAGE_DECODE_FAILED");
    expect(svgz.message).toMatch(/compressed SVG \(svgz\) is not accepted/);
    const big = await renderError({
      width: 50,
      height: 50,
      layers: [{ type: "image", name: "logo", width: 50, height: 50, image_url: `${imageBase}/padded.svg` }],
    });
    expect(big.code).toBe("IMAGE_TOO_LARGE");
    expect(big.message).toMatch(/is an SVG of \d+ bytes, more than the 1048576-byte limit for SVG images/);
  });

  it("stops an SVG whose drawing needs more memory than SVG_MAX_RSS_BYTES (an embedded image), as too large", async () => {
    const err = await renderError({
      width: 100,
      height: 100,
      layers: [{ type: "image", name: "logo", width: 100, height: 100, image_url: `${imageBase}/embedded-bomb.svg` }],
    });
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/drawing the SVG needed more than 512 MiB of memory/);
    await expect.poll(svgChildren).toBe(0);
  });

  it("ends a render over its time budget within it, and kills the SVG rasteriser", async () => {
    const started = Date.now();
    const err = await renderError(
      {
        width: 1000,
        height: 1000,
        layers: [{ type: "image", name: "art", width: 1000, height: 1000, image_url: `${imageBase}/expensive.svg` }],
      },
      { timeoutMs: BUDGET_MS },
    );
    const elapsed = Date.now() - started;
    expect(err.code).toBe("RENDER_TIMEOUT");
    expect(err.retryable).toBe(false);
    expect(err.message).toBe("render exceeded the 1.5 s budget (RENDER_TIMEOUT_MS)");
    expect(elapsed).toBeLessThan(BUDGET_MS + MARGIN_MS);
    await expect.poll(svgChildren).toBe(0);
  });

  it("composites in layer order whichever layer is ready first", async () => {
    // The slow photo (400 ms) under a quick opaque rect: the rect must end on top.
    const out = await renderTemplate(
      {
        width: 100,
        height: 100,
        layers: [
          {
            type: "image",
            name: "slow",
            x: 0,
            y: 0,
            width: 100,
            height: 100,
            image_url: `${imageBase}/slow-photo.jpg`,
          },
          rect("top", { x: 25, y: 25, width: 50, height: 50, fill: "#00ff00" }),
          { type: "image", name: "fast", x: 0, y: 0, width: 20, height: 20, image_url: `${imageBase}/photo.jpg` },
        ],
      } as never,
      { format: "png", ...LOCAL },
    );
    const { data } = await sharp(out.buffer).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3)];
    expect(at(50, 50)).toEqual([0, 255, 0]);
    at(90, 90).forEach((v, i) => expect(Math.abs(v - [32, 128, 255][i]!)).toBeLessThanOrEqual(3)); // the photo (JPEG)
  });
});

// ---------------------------------------------------------------------------------------------
// Memory: a heavy stack that the limits allow, rendered in a child process whose peak RSS is read

/**
 * `n` layers, each covering the whole canvas: photos (cover, rotated, translucent), text with a
 * background, rotated ellipses, stroked rounded rects, translucent plain rects, on a gradient.
 * The old renderer kept every overlay until the end: about one canvas per layer (2000x2000 with
 * 100 layers: +2267 MiB).
 */
function heavyStack(photoUrl: string, W: number, H: number, n: number): TemplateDocument {
  const layers = Array.from({ length: n }, (_, i) => {
    const base = { name: `layer${i}`, x: 0, y: 0, width: W, height: H };
    switch (i % 6) {
      case 0:
        return { ...base, type: "image", image_url: `${photoUrl}?${i}`, fit: "cover", opacity: 0.8 };
      case 1:
        return {
          ...base,
          type: "text",
          text: `Layer ${i} `.repeat(40),
          font_size: 160,
          color: "#ffffff",
          background_color: "#0f172a40",
          align: "center",
        };
      case 2:
        return { ...base, type: "ellipse", fill: "#f9731680", rotation: 10 };
      case 3:
        return {
          ...base,
          type: "rect",
          fill: "#22c55e",
          radius: 300,
          stroke_color: "#ffffff",
          stroke_width: 40,
          opacity: 0.5,
        };
      case 4:
        return { ...base, type: "image", image_url: `${photoUrl}?${i}`, fit: "contain", rotation: 5 };
      default:
        return { ...base, type: "rect", fill: "#3b82f640" };
    }
  });
  return TemplateDocument.parse({
    width: W,
    height: H,
    background: {
      type: "linear_gradient",
      angle: 135,
      stops: [
        { color: "#0f172a", offset: 0 },
        { color: "#db2777", offset: 1 },
      ],
    },
    layers,
  });
}

interface ChildReport {
  baselineRss: number;
  peakRss: number;
  elapsedMs?: number;
  width?: number;
  error?: string;
}

async function renderInChild(document: TemplateDocument, options: RenderOptions): Promise<ChildReport> {
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", "test/helpers/render-rss-child.ts"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(JSON.stringify({ document, options }));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim().split("\n").pop()!) as ChildReport;
}

const MiB = 1024 * 1024;

describe("memory", () => {
  it("93 full-canvas layers (~all the layer pixels allowed) stay within the README's budget: 8 x canvas bytes + 512 MiB over the warm process", async () => {
    // 93, not 100: a full-canvas text layer counts the lines Pango draws past its box too.
    const doc = heavyStack(`${imageBase}/photo.jpg`, 2000, 2000, 93);
    expect(pixelWork(doc, 1).layers).toBeLessThanOrEqual(MAX_LAYER_PIXELS); // allowed, just
    expect(pixelWork(doc, 1).layers).toBeGreaterThan(0.98 * MAX_LAYER_PIXELS);
    expect(renderBudgetProblem(doc, 1)).toBeNull();
    const report = await renderInChild(doc, { format: "png", allowPrivateNetworks: true, timeoutMs: 120_000 });
    expect(report.error).toBeUndefined();
    expect(report.width).toBe(2000);
    const canvasBytes = 2000 * 2000 * 4;
    const growth = report.peakRss - report.baselineRss;
    // For the record (the README quotes these): growth in MiB and in canvases.
    console.log(
      `heavy stack: peak RSS ${Math.round(report.peakRss / MiB)} MiB, +${Math.round(growth / MiB)} MiB over the warm process (${(growth / canvasBytes).toFixed(1)} canvases), ${report.elapsedMs} ms`,
    );
    expect(growth).toBeLessThan(8 * canvasBytes + 512 * MiB);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// The real API and worker

describe("API and worker", () => {
  let stack: Stack;
  let org: { orgId: string; apiKey: string };
  let templateId: string;

  beforeAll(async () => {
    stack = await startStack({ RENDER_TIMEOUT_MS: String(BUDGET_MS), IMAGE_CACHE_TTL_MS: "0", RATE_LIMIT_MAX: "0" });
    org = await stack.createOrg(1000);
    const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", {
      name: "Art",
      width: 1000,
      height: 1000,
      layers: [{ type: "image", name: "art", x: 0, y: 0, width: 1000, height: 1000 }],
    });
    expect(res.status).toBe(201);
    templateId = res.body.template_id;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("refuses a hostile layer stack with 400 naming the limit", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", {
      width: 5000,
      height: 5000,
      layers: fullLayers(200, 5000, 5000),
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/layers: the layers cover 5000 megapixels .*400-megapixel limit on layer pixels/);
    expect(res.body.details).toEqual([
      { path: "layers", message: expect.stringContaining("400-megapixel limit on layer pixels") },
    ]);
  });

  it("refuses a render whose scale takes it over a limit, naming scale, and charges nothing", async () => {
    const big = await stack.api(org.apiKey, "POST", "/api/v1/templates", {
      width: 2000,
      height: 2000,
      layers: fullLayers(50, 2000, 2000),
    });
    expect(big.status).toBe(201); // 200 layer megapixels
    const before = await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
    const output = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: big.body.template_id,
      scale: 4,
    });
    expect(output.status).toBe(400);
    expect(output.body.details).toEqual([
      {
        path: "scale",
        message: "the output would be 8000x8000 pixels at scale 4, more than the 40-megapixel output limit",
      },
    ]);
    const layers = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: big.body.template_id,
      scale: 1.5,
    });
    expect(layers.status).toBe(400);
    expect(layers.body.details).toEqual([
      {
        path: "scale",
        message: expect.stringMatching(
          /^the layers cover 450 megapixels of canvas in total at scale 1\.5 .*400-megapixel limit/,
        ),
      },
    ]);
    expect(await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId)).toBe(before);
  });

  it("fails a render over RENDER_TIMEOUT_MS within the budget, naming it; refunded once, not retried; the worker goes on", async () => {
    const prisma = stack.app.ctx.prisma;
    const before = await expectLedgerBalanced(prisma, org.orgId);
    const started = Date.now();
    const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      modifications: [{ name: "art", image_url: `${imageBase}/expensive.svg` }],
    });
    expect(accepted.status).toBe(202);
    const done = await waitForFinal(stack, org.apiKey, accepted.body.job_id, 30_000);
    const elapsed = Date.now() - started;
    expect(done.status).toBe("failed");
    expect(done.error).toBe("render exceeded the 1.5 s budget (RENDER_TIMEOUT_MS)");
    expect(elapsed, `${elapsed} ms from accept to failed`).toBeLessThan(BUDGET_MS + MARGIN_MS);
    // Refunded exactly once; one attempt (a budget overrun is not retried).
    const rows = await prisma.ledgerEntry.findMany({ where: { jobId: done.job_id } });
    expect(rows.map((r) => r.kind).sort()).toEqual(["CHARGE", "REFUND"]);
    expect(await expectLedgerBalanced(prisma, org.orgId)).toBe(before);
    const job = await prisma.job.findUniqueOrThrow({ where: { id: done.job_id } });
    expect(job.attempts).toBe(1);
    await expect.poll(svgChildren).toBe(0);

    // The worker is alive and renders the next job (an SVG that is cheap).
    const next = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      modifications: [{ name: "art", image_url: `${imageBase}/small.svg` }],
    });
    const ok = await waitForFinal(stack, org.apiKey, next.body.job_id, 30_000);
    expect(ok.status).toBe("complete");
    // Still exactly one refund for the failed job, after everything settled.
    expect(await prisma.ledgerEntry.count({ where: { jobId: done.job_id, kind: "REFUND" } })).toBe(1);
  });
});
