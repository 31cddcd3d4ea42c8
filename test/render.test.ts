// The renderer, for real: sharp renders, images fetched over HTTP from a local server, pixels read
// back with sharp. No mocks.
import { createServer, type Server } from "node:http";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPublicAddress } from "../src/net/address-policy.js";
import {
  configureImageCache,
  contentTypeFor,
  fetchImage,
  fontFileFor,
  layoutTextLayer,
  RenderError,
  renderTemplate,
  type RenderOptions,
  type UploadedFontFace,
} from "../src/render/index.js";
import { TemplateDocument, TextLayer, type OutputFormat } from "../src/templates/document.js";
import { expectColor, readPixels } from "./helpers/pixels.js";
import { pngWithHeader } from "./helpers/png.js";

const PHOTO_RGB = [32, 128, 255] as const;
let photo: Buffer;
let server: Server;
let base: string;
let refusedBase: string;
let bomb: Buffer;
let portrait: Buffer;
let counted = 0;

/**
 * A valid PNG of width x height 1-bit grey pixels, all black: deflate squeezes the ~112 MB of
 * rows for 30000x30000 into ~110 KB, and decoding it would need 900 megapixels.
 */
function decompressionBomb(width: number, height: number): Buffer {
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8))); // filter byte 0 + zero bits
  return pngWithHeader(width, height, 1, 0, zlib.deflateSync(rows, { level: 9 }));
}

beforeAll(async () => {
  configureImageCache({ ttlMs: 0 }); // every render fetches: the error tests need real requests
  // A 2000x1500 JPEG: solid blue with a 200 px orange band at the top (to check cover cropping).
  photo = await sharp({
    create: {
      width: 2000,
      height: 1500,
      channels: 3,
      background: { r: PHOTO_RGB[0], g: PHOTO_RGB[1], b: PHOTO_RGB[2] },
    },
  })
    .composite([
      { input: { create: { width: 2000, height: 200, channels: 3, background: "#ff8000" } }, left: 0, top: 0 },
    ])
    .jpeg({ quality: 90 })
    .toBuffer();
  const big = Buffer.alloc(2 * 1024 * 1024, 7);
  bomb = decompressionBomb(30_000, 30_000);
  // 300x600: red, white (with a black dot) and blue bands of 200 px, to see which part cover keeps.
  portrait = await sharp({ create: { width: 300, height: 600, channels: 3, background: "#ffffff" } })
    .composite([
      { input: { create: { width: 300, height: 200, channels: 3, background: "#ff0000" } }, left: 0, top: 0 },
      { input: { create: { width: 300, height: 200, channels: 3, background: "#0000ff" } }, left: 0, top: 400 },
    ])
    .png()
    .toBuffer();
  server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/photo.jpg")
      res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo);
    else if (url === "/broken.jpg") res.writeHead(200, { "content-type": "image/jpeg" }).end("this is not a jpeg");
    else if (url === "/huge-declared") res.writeHead(200, { "content-length": big.length }).end(big);
    else if (url === "/huge-chunked") {
      res.writeHead(200, { "content-type": "image/jpeg" }); // no Content-Length: the cap must hold while streaming
      let sent = 0;
      const pump = () => {
        while (sent < big.length) {
          sent += 64 * 1024;
          if (!res.write(big.subarray(0, 64 * 1024))) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
      res.on("error", () => {});
    } else if (url === "/slow") {
      /* never answers */
    } else if (url.startsWith("/redirect/")) {
      const hops = Number(url.split("/")[2]);
      res.writeHead(302, { location: hops > 1 ? `/redirect/${hops - 1}` : "/photo.jpg" }).end();
    } else if (url === "/to-ftp") res.writeHead(302, { location: "ftp://127.0.0.1/photo.jpg" }).end();
    else if (url === "/gigapixel.svg") {
      res
        .writeHead(200, { "content-type": "image/svg+xml" })
        .end('<svg xmlns="http://www.w3.org/2000/svg" width="10000" height="6000"/>');
    } else if (url.startsWith("/counted.jpg")) {
      counted++;
      res.writeHead(200, { "content-type": "image/jpeg", "content-length": photo.length }).end(photo);
    } else if (url === "/bomb.png")
      res.writeHead(200, { "content-type": "image/png", "content-length": bomb.length }).end(bomb);
    else if (url === "/portrait.png") res.writeHead(200, { "content-type": "image/png" }).end(portrait);
    else if (url.startsWith("/redirect-to?")) {
      res.writeHead(302, { location: new URL(url, "http://x").searchParams.get("u") ?? "/" }).end();
    } else res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: bind, note it, close.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  refusedBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  configureImageCache();
});

const LOCAL: Omit<RenderOptions, "format"> = { allowPrivateNetworks: true };

function doc(input: unknown): TemplateDocument {
  return TemplateDocument.parse(input);
}

const pixels = (buffer: Buffer) => readPixels(buffer);

async function renderError(input: TemplateDocument, opts: Partial<RenderOptions> = {}): Promise<RenderError> {
  const err = await renderTemplate(input, { format: "png", ...LOCAL, ...opts }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RenderError);
  return err as RenderError;
}

const BG = [0x10, 0x20, 0x30] as const;
const card = () =>
  doc({
    width: 800,
    height: 400,
    background: "#102030",
    layers: [
      // Partly off-canvas to the left: x -100..300.
      {
        type: "image",
        name: "photo",
        x: -100,
        y: 50,
        width: 400,
        height: 300,
        fit: "cover",
        image_url: `${base}/photo.jpg`,
      },
      {
        type: "rect",
        name: "box",
        x: 450,
        y: 40,
        width: 300,
        height: 100,
        fill: "#ff0000",
        radius: 20,
        stroke_color: "#00ff00",
        stroke_width: 6,
      },
      { type: "rect", name: "ghost", x: 0, y: 360, width: 800, height: 40, fill: "#ffff00", hidden: true },
      {
        type: "text",
        name: "title",
        x: 420,
        y: 180,
        width: 360,
        height: 120,
        text: "Hello",
        font_size: 48,
        font_weight: 700,
        color: "#ffffff",
        align: "center",
        vertical_align: "middle",
      },
    ],
  });

describe("renderTemplate: a card with every layer type", () => {
  it.each(["png", "jpeg", "webp"] as OutputFormat[])(
    "renders %s with the right size, format and content type",
    async (format) => {
      const out = await renderTemplate(card(), { format, ...LOCAL });
      expect(out).toMatchObject({ width: 800, height: 400, format, contentType: contentTypeFor(format) });
      const meta = await sharp(out.buffer).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([format, 800, 400]);
    },
  );

  it("draws background, rect fill and stroke, the photo, and centred text inside its box", async () => {
    const out = await renderTemplate(card(), { format: "png", ...LOCAL });
    const px = await pixels(out.buffer);
    expectColor(px.at(790, 390), BG, 0); // background
    expectColor(px.at(10, 20), BG, 0); // above the photo
    expectColor(px.at(600, 90), [255, 0, 0], 0); // rect fill
    expectColor(px.at(452, 90), [0, 255, 0], 0); // stroke, drawn inside the box edge
    expectColor(px.at(447, 90), BG, 0); // ... and not outside it
    expectColor(px.at(451, 41), BG, 0); // rounded corner
    expectColor(px.at(150, 250), PHOTO_RGB, 8); // inside the photo (cover keeps the centre)
    expectColor(px.at(2, 250), PHOTO_RGB, 8); // the on-canvas part of a layer that starts off-canvas
    expectColor(px.at(310, 250), BG, 0); // right of the photo box
    expectColor(px.at(400, 380), BG, 0); // the hidden layer drew nothing

    const box = { x0: 420, y0: 180, x1: 780, y1: 300 };
    const ink = px.inkBox(BG, 200, box);
    expect(ink.count).toBeGreaterThan(300);
    expect(Math.abs((ink.minX + ink.maxX) / 2 - 600)).toBeLessThanOrEqual(4); // centred horizontally
    expect(Math.abs((ink.minY + ink.maxY) / 2 - 240)).toBeLessThanOrEqual(12); // and roughly vertically
    // No text ink around the box (the rect is above it, the photo to the left).
    const around = px.inkBox(BG, 60, { x0: 320, y0: 150, x1: 800, y1: 360 });
    expect(around.minX).toBeGreaterThanOrEqual(box.x0);
    expect(around.maxX).toBeLessThan(box.x1);
    expect(around.minY).toBeGreaterThanOrEqual(box.y0);
    expect(around.maxY).toBeLessThan(box.y1);
  });

  it("fits images: cover crops, contain letterboxes with transparency, fill stretches", async () => {
    const layout = (fit: string) =>
      doc({
        width: 300,
        height: 300,
        background: "#000000",
        layers: [
          { type: "image", name: "photo", x: 0, y: 0, width: 300, height: 300, fit, image_url: `${base}/photo.jpg` },
        ],
      });
    const cover = await pixels((await renderTemplate(layout("cover"), { format: "png", ...LOCAL })).buffer);
    // 4:3 cropped to 1:1 keeps the full height, so the band keeps its 200/1500 share (40 px).
    expectColor(cover.at(150, 20), [255, 128, 0], 10);
    expectColor(cover.at(150, 60), PHOTO_RGB, 8);
    const contain = await pixels((await renderTemplate(layout("contain"), { format: "png", ...LOCAL })).buffer);
    expectColor(contain.at(150, 10), [0, 0, 0], 0); // letterbox shows the background
    expectColor(contain.at(150, 200), PHOTO_RGB, 8);
    const fill = await pixels((await renderTemplate(layout("fill"), { format: "png", ...LOCAL })).buffer);
    expectColor(fill.at(150, 20), [255, 128, 0], 10);
    expectColor(fill.at(150, 290), PHOTO_RGB, 8);
  });

  it("fills an image layer without a URL with its placeholder colour, and applies opacity", async () => {
    const out = await renderTemplate(
      doc({
        width: 100,
        height: 50,
        background: "#000000",
        layers: [
          { type: "image", name: "slot", x: 0, y: 0, width: 50, height: 50, placeholder_color: "#cbd5e1" },
          { type: "rect", name: "half", x: 50, y: 0, width: 50, height: 50, fill: "#ffffff", opacity: 0.5 },
        ],
      }),
      { format: "png" },
    );
    const px = await pixels(out.buffer);
    expectColor(px.at(25, 25), [0xcb, 0xd5, 0xe1], 0);
    expectColor(px.at(75, 25), [128, 128, 128], 1);
  });

  it("keeps transparency in PNG when the background is transparent, and flattens JPEG onto white", async () => {
    const input = doc({ width: 20, height: 20, background: "#00000000", layers: [] });
    const png = await renderTemplate(input, { format: "png" });
    expect((await readPixels(png.buffer, { alpha: true })).at(0, 0)[3]).toBe(0);
    const jpeg = await pixels((await renderTemplate(input, { format: "jpeg" })).buffer);
    expectColor(jpeg.at(10, 10), [255, 255, 255], 2);
  });

  it("crops layers that lie partly or wholly outside the canvas instead of failing", async () => {
    const out = await renderTemplate(
      doc({
        width: 200,
        height: 100,
        background: "#000000",
        layers: [
          { type: "rect", name: "off", x: 5000, y: 5000, width: 100, height: 100, fill: "#ffffff" },
          {
            type: "rect",
            name: "huge",
            x: -5000,
            y: 50,
            width: 10000,
            height: 10000,
            fill: "#00ff00",
            radius: 40,
            stroke_color: "#ff0000",
            stroke_width: 4,
          },
          { type: "image", name: "corner", x: 150, y: -80, width: 200, height: 150, image_url: `${base}/photo.jpg` },
          {
            type: "text",
            name: "edge",
            x: -30,
            y: 0,
            width: 300,
            height: 50,
            text: "Overflowing text at the edge",
            font_size: 30,
            color: "#ffffff",
          },
        ],
      }),
      { format: "png", ...LOCAL },
    );
    const px = await pixels(out.buffer);
    expectColor(px.at(100, 80), [0, 255, 0], 0);
    expectColor(px.at(190, 40), PHOTO_RGB, 8);
  });
});

describe("text layers", () => {
  const textDoc = (layer: Record<string, unknown>, size = { width: 600, height: 300 }) =>
    doc({
      ...size,
      background: "#000000",
      layers: [
        { type: "text", name: "t", x: 50, y: 50, width: 500, height: 200, color: "#ffffff", font_size: 40, ...layer },
      ],
    });
  const inkOf = async (layer: Record<string, unknown>) =>
    (await pixels((await renderTemplate(textDoc(layer), { format: "png" })).buffer)).inkBox([0, 0, 0], 120);

  it("aligns left, centre and right within the box", async () => {
    const left = await inkOf({ text: "Align", align: "left" });
    const center = await inkOf({ text: "Align", align: "center" });
    const right = await inkOf({ text: "Align", align: "right" });
    expect(left.minX).toBeGreaterThanOrEqual(50);
    expect(left.minX).toBeLessThanOrEqual(54);
    expect(right.maxX).toBeLessThan(550);
    expect(right.maxX).toBeGreaterThanOrEqual(545);
    expect(Math.abs((center.minX + center.maxX) / 2 - 300)).toBeLessThanOrEqual(3);
    // Same glyphs, just moved.
    expect(center.maxX - center.minX).toBe(left.maxX - left.minX);
  });

  it("aligns top, middle and bottom, with a baseline that does not depend on the glyphs", async () => {
    const top = await inkOf({ text: "Ace", vertical_align: "top", line_height: 1 });
    const middle = await inkOf({ text: "Ace", vertical_align: "middle", line_height: 1 });
    const bottom = await inkOf({ text: "Ace", vertical_align: "bottom", line_height: 1 });
    const lower = await inkOf({ text: "ace", vertical_align: "top", line_height: 1 });
    // Top: the cap height sits below the line box top (ascender space), not glued to the box edge.
    expect(top.minY).toBeGreaterThan(52);
    expect(top.minY).toBeLessThan(70);
    expect(lower.maxY).toBe(top.maxY); // same baseline for "ace" and "Ace"
    expect(lower.minY).toBeGreaterThan(top.minY);
    expect(bottom.maxY).toBeLessThan(250);
    expect(bottom.maxY).toBeGreaterThan(250 - 20); // descent space below the baseline
    expect(Math.abs(middle.maxY - (top.maxY + bottom.maxY) / 2)).toBeLessThanOrEqual(1);
  });

  it("wraps to the box width and never draws outside the box (overflow is cropped)", async () => {
    const text = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
    for (const vertical_align of ["top", "middle", "bottom"]) {
      const out = await renderTemplate(
        doc({
          width: 400,
          height: 300,
          background: "#000000",
          layers: [
            {
              type: "text",
              name: "t",
              x: 50,
              y: 50,
              width: 300,
              height: 100,
              text,
              font_size: 40,
              color: "#ffffff",
              vertical_align,
            },
          ],
        }),
        { format: "png" },
      );
      const ink = (await pixels(out.buffer)).inkBox([0, 0, 0], 30);
      expect(ink.count).toBeGreaterThan(500);
      expect(ink.minX).toBeGreaterThanOrEqual(50);
      expect(ink.maxX).toBeLessThan(350);
      expect(ink.minY).toBeGreaterThanOrEqual(50);
      expect(ink.maxY).toBeLessThan(150);
    }
  });

  it("renders markup in user text literally: no injection, no error", async () => {
    const plain = await inkOf({ text: "x", line_height: 1 });
    const text = '<span size="100000">x</span> & <b>bold</b> \u0001 "quoted" it\'s &amp;';
    const injected = await inkOf({ text, font_size: 14, line_height: 1 });
    expect(injected.count).toBeGreaterThan(plain.count);
    // All on one line at 14 px: the 100000 (about 98 pt) span was not applied.
    expect(injected.maxY - injected.minY).toBeLessThan(20);
    expect(injected.maxX - injected.minX).toBeGreaterThan(300); // the tags were drawn as characters
  });

  it("draws nothing for empty text, and handles blank lines, tabs and tight line heights", async () => {
    const empty = await inkOf({ text: "" });
    expect(empty.count).toBe(0);
    const blank = await inkOf({ text: "   \n  " });
    expect(blank.count).toBe(0);
    const tight = await inkOf({ text: "gyp\ngyp\tq", line_height: 0.5 });
    expect(tight.count).toBeGreaterThan(100);
  });

  it("uses the shipped fonts: each family and weight renders, and they differ", async () => {
    const widths = new Map<string, number>();
    for (const font_family of ["Inter", "Noto Serif", "JetBrains Mono"]) {
      const regular = await inkOf({ text: "Hamburgefonstiv", font_family, font_weight: 400 });
      const bold = await inkOf({ text: "Hamburgefonstiv", font_family, font_weight: 700 });
      expect(regular.count).toBeGreaterThan(200);
      expect(bold.count, `${font_family} bold has more ink`).toBeGreaterThan(regular.count * 1.1);
      widths.set(font_family, regular.maxX - regular.minX);
    }
    expect(new Set(widths.values()).size, JSON.stringify([...widths])).toBe(3);
  });

  it("draws text in its colour with opacity", async () => {
    const out = await renderTemplate(
      doc({
        width: 200,
        height: 100,
        background: "#000000",
        layers: [
          {
            type: "text",
            name: "t",
            x: 0,
            y: 0,
            width: 200,
            height: 100,
            text: "IIII",
            font_weight: 700,
            font_size: 80,
            color: "#ff0000",
            opacity: 0.5,
          },
        ],
      }),
      { format: "png" },
    );
    const px = await pixels(out.buffer);
    let max = [0, 0, 0];
    for (let y = 0; y < 100; y++) for (let x = 0; x < 200; x++) if (px.at(x, y)[0]! > max[0]!) max = px.at(x, y);
    expectColor(max, [128, 0, 0], 2);
  });
});

describe("image fetching errors", () => {
  const photoDoc = (url: string) =>
    doc({
      width: 100,
      height: 100,
      layers: [{ type: "image", name: "photo", x: 0, y: 0, width: 100, height: 100, image_url: url }],
    });

  it("rejects an HTTP 404 with a clear message", async () => {
    const err = await renderError(photoDoc(`${base}/missing.jpg`));
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toBe(`image layer "photo": could not fetch ${base}/missing.jpg: HTTP 404`);
    expect(err.retryable).toBe(false);
  });

  it("rejects a refused connection", async () => {
    const err = await renderError(photoDoc(`${refusedBase}/photo.jpg`));
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toMatch(
      /^image layer "photo": could not fetch http:\/\/127\.0\.0\.1:\d+\/photo\.jpg: connection refused$/,
    );
    expect(err.retryable).toBe(true);
  });

  it("rejects bytes that are not an image", async () => {
    const err = await renderError(photoDoc(`${base}/broken.jpg`));
    expect(err.code).toBe("IMAGE_DECODE_FAILED");
    expect(err.message).toMatch(
      /^image layer "photo": the image at http:\/\/127\.0\.0\.1:\d+\/broken\.jpg could not be decoded/,
    );
  });

  it("rejects bodies over the byte limit, declared or streamed", async () => {
    for (const path of ["/huge-declared", "/huge-chunked"]) {
      const err = await renderError(photoDoc(`${base}${path}`), { maxImageBytes: 1024 * 1024 });
      expect(err.code).toBe("IMAGE_TOO_LARGE");
      expect(err.message).toMatch(
        /image layer "photo": could not fetch .*: response is .*more than the 1048576-byte limit/,
      );
    }
  });

  it("rejects images over the pixel limit", async () => {
    const err = await renderError(photoDoc(`${base}/gigapixel.svg`));
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.message).toMatch(/10000x6000 pixels, more than the 50-megapixel limit/);
  });

  it("times out", async () => {
    // /slow never answers: an error at all is the timeout's, and the message says so.
    const err = await renderError(photoDoc(`${base}/slow`), { fetchTimeoutMs: 300 });
    expect(err.message).toMatch(/could not fetch .*\/slow: timed out after 300 ms$/);
  });

  it("follows up to 3 redirects, and no more", async () => {
    const ok = await renderTemplate(photoDoc(`${base}/redirect/3`), { format: "png", ...LOCAL });
    expectColor((await pixels(ok.buffer)).at(50, 80), PHOTO_RGB, 8);
    const err = await renderError(photoDoc(`${base}/redirect/4`));
    expect(err.message).toMatch(/could not fetch .*\/redirect\/4: more than 3 redirects$/);
    const ftp = await renderError(photoDoc(`${base}/to-ftp`));
    expect(ftp.message).toMatch(/unsupported protocol ftp:/);
  });

  it("refuses private addresses unless allowPrivateNetworks is set", async () => {
    const err = await renderError(photoDoc(`${base}/photo.jpg`), { allowPrivateNetworks: false });
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toBe(`image layer "photo": could not fetch ${base}/photo.jpg: address 127.0.0.1 is not public`);
    expect(err.retryable).toBe(false);
    const byName = await renderError(photoDoc(`http://localhost:1/photo.jpg`), { allowPrivateNetworks: false });
    expect(byName.message).toMatch(/address (127\.0\.0\.1|::1) is not public \(resolved from localhost\)/);
    for (const url of [
      "http://[::ffff:127.0.0.1]:1/x.png",
      "http://[::1]:1/x.png",
      "http://169.254.169.254/latest",
      "http://0x7f000001/x",
    ]) {
      await expect(fetchImage(url)).rejects.toThrow(/is not public/);
    }
  });

  it("classifies addresses", () => {
    const notPublic = [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "100.127.255.255",
      "0.0.0.0",
      "224.0.0.1",
      "239.255.255.250",
      "255.255.255.255",
      "240.0.0.1",
      "192.0.2.1",
      "198.18.0.1",
      "198.51.100.7",
      "203.0.113.9",
      "192.0.0.8",
      "::",
      "::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:10.0.0.1",
      "::127.0.0.1",
      "fe80::1",
      "fe80::1%eth0",
      "fc00::1",
      "fd12:3456::1",
      "ff02::1",
      "2001:db8::1",
      "2001::1",
      "2002:7f00:1::",
      "64:ff9b::10.0.0.1",
      "fec0::1",
      "not an ip",
    ];
    const isPublic = [
      "8.8.8.8",
      "1.1.1.1",
      "172.32.0.1",
      "100.128.0.1",
      "93.184.215.14",
      "2606:4700:4700::1111",
      "2a00:1450:4001::200e",
      "::ffff:8.8.8.8",
      "64:ff9b::8.8.8.8",
      "2002:808:808::",
    ];
    for (const ip of notPublic) expect(isPublicAddress(ip), ip).toBe(false);
    for (const ip of isPublic) expect(isPublicAddress(ip), ip).toBe(true);
  });

  it("reports an invalid document as RENDER_FAILED", async () => {
    const err = await renderError({ width: 0, height: 10, background: "#fff", layers: [] });
    expect(err.code).toBe("RENDER_FAILED");
    expect(err.message).toMatch(/^invalid template document/);
  });
});

describe("safe fetching: refused addresses", () => {
  const photoDoc = (url: string) =>
    doc({
      width: 100,
      height: 100,
      layers: [{ type: "image", name: "photo", x: 0, y: 0, width: 100, height: 100, image_url: url }],
    });
  const port = () => new URL(base).port;

  it.each([
    ["loopback", () => `http://127.0.0.1:${port()}/photo.jpg`, "address 127.0.0.1 is not public"],
    ["a private address", () => "http://10.0.0.1/photo.jpg", "address 10.0.0.1 is not public"],
    [
      "cloud metadata (link-local)",
      () => "http://169.254.169.254/latest/meta-data/",
      "address 169.254.169.254 is not public",
    ],
    ["CGNAT", () => "http://100.64.0.1/photo.jpg", "address 100.64.0.1 is not public"],
    ["IPv6 loopback", () => `http://[::1]:${port()}/photo.jpg`, "address ::1 is not public"],
    [
      "IPv4-mapped IPv6 loopback",
      () => `http://[::ffff:127.0.0.1]:${port()}/photo.jpg`,
      "address ::ffff:7f00:1 is not public",
    ],
    ["a decimal IPv4 literal", () => `http://2130706433:${port()}/photo.jpg`, "address 127.0.0.1 is not public"],
  ])("refuses %s before connecting, with a clear error", async (_what, url, reason) => {
    // The reason is the address check's: a connection tried to 10.0.0.1 would end in a timeout
    // instead, and one to the local server would not be refused at all.
    const err = await renderError(photoDoc(url()), { allowPrivateNetworks: false });
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^image layer "photo": could not fetch http:\/\/\S+: /);
    expect(err.message.endsWith(`: ${reason}`), err.message).toBe(true);
  });

  it("refuses a host name that resolves to a private address", async () => {
    const err = await renderError(photoDoc(`http://localhost:${port()}/photo.jpg`), { allowPrivateNetworks: false });
    expect(err.code).toBe("IMAGE_FETCH_FAILED");
    expect(err.message).toMatch(
      /^image layer "photo": could not fetch http:\/\/localhost:\d+\/photo\.jpg: address (127\.0\.0\.1|::1) is not public \(resolved from localhost\)$/,
    );
    // With a resolver of our own: every address a name resolves to is checked.
    const lookup = async () => [{ address: "192.168.1.20", family: 4 }];
    await expect(fetchImage("http://images.example.com/a.png", { lookup })).rejects.toThrow(
      "could not fetch http://images.example.com/a.png: address 192.168.1.20 is not public (resolved from images.example.com)",
    );
  });

  it("re-checks the address of every redirect target", async () => {
    // The test server (127.0.0.1) is let through by exact address; nothing else private is.
    // Each hop is resolved (with the lookup option for names) and checked again.
    const lookup = async (host: string) => [
      { address: host === "internal.example.com" ? "10.1.2.3" : "203.0.113.7", family: 4 },
    ];
    const opts = { allowAddresses: ["127.0.0.1"], lookup };
    const ok = await fetchImage(`${base}/redirect/2`, opts);
    expect(ok.finalUrl).toBe(`${base}/photo.jpg`); // redirects to an allowed address are followed
    const hop = (target: string) => `${base}/redirect-to?u=${encodeURIComponent(target)}`;
    const cases: [string, string][] = [
      [`http://127.0.0.2:${port()}/photo.jpg`, "address 127.0.0.2 is not public"],
      [`http://[::1]:${port()}/photo.jpg`, "address ::1 is not public"],
      ["http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is not public"],
      ["http://internal.example.com/photo.jpg", "address 10.1.2.3 is not public (resolved from internal.example.com)"],
    ];
    for (const [target, reason] of cases) {
      const err = await fetchImage(hop(target), opts).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, target).toBeInstanceOf(RenderError);
      expect((err as RenderError).message).toBe(`could not fetch ${hop(target)}: ${reason}`);
      expect((err as RenderError).retryable).toBe(false);
    }
    // Without the exception, the server itself is refused at the first hop.
    await expect(fetchImage(`${base}/photo.jpg`, { lookup })).rejects.toThrow(/address 127\.0\.0\.1 is not public$/);
  });

  it("refuses a decompression bomb from its header, before decoding it", async () => {
    expect(bomb.length).toBeLessThan(200 * 1024);
    // The size in the message is the header's: decoding 900 megapixels would fail differently.
    const err = await renderError(photoDoc(`${base}/bomb.png`));
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      `image layer "photo": the image at ${base}/bomb.png is 30000x30000 pixels, more than the 50-megapixel limit`,
    );
  });
});

/** Rows of the ink (pixels differing from bg) grouped into bands separated by blank rows. */
function inkBands(px: Awaited<ReturnType<typeof pixels>>, bg: readonly number[], threshold = 120) {
  const bands: { top: number; bottom: number }[] = [];
  let open: { top: number; bottom: number } | undefined;
  for (let y = 0; y < px.height; y++) {
    const ink = px.inkBox(bg, threshold, { x0: 0, y0: y, x1: px.width, y1: y + 1 }).count > 0;
    if (ink && !open) open = { top: y, bottom: y };
    else if (ink && open) open.bottom = y;
    else if (!ink && open) {
      bands.push(open);
      open = undefined;
    }
  }
  if (open) bands.push(open);
  return bands;
}

/** Column groups of ink within rows [y0, y1): [x0, x1, top, bottom] each, left to right. */
function inkBlobs(px: Awaited<ReturnType<typeof pixels>>, bg: readonly number[], y0: number, y1: number) {
  const blobs: [number, number, number, number][] = [];
  let cur: [number, number, number, number] | undefined;
  for (let x = 0; x < px.width; x++) {
    const col = px.inkBox(bg, 120, { x0: x, y0, x1: x + 1, y1 });
    if (col.count > 0) {
      if (cur) {
        cur[1] = x;
        cur[2] = Math.min(cur[2], col.minY);
        cur[3] = Math.max(cur[3], col.maxY);
      } else cur = [x, x, col.minY, col.maxY];
    } else if (cur) {
      blobs.push(cur);
      cur = undefined;
    }
  }
  if (cur) blobs.push(cur);
  return blobs;
}

describe("text fitting", () => {
  const LONG =
    "Templified renders images from templates: every layer, every font, every pixel, in milliseconds per card";
  const layer = (extra: Record<string, unknown>) =>
    ({
      type: "text",
      name: "t",
      x: 20,
      y: 20,
      width: 360,
      height: 160,
      color: "#ffffff",
      line_height: 1.5,
      text: LONG,
      ...extra,
    }) as const;
  const render = async (extra: Record<string, unknown>) =>
    pixels(
      (
        await renderTemplate(doc({ width: 400, height: 200, background: "#000000", layers: [layer(extra)] }), {
          format: "png",
        })
      ).buffer,
    );

  it("auto_fit shrinks long text to the largest size that fits the box and max_lines", async () => {
    const fit = TextLayer.parse(layer({ font_size: 60, min_font_size: 10, auto_fit: true, max_lines: 3 }));
    const laid = await layoutTextLayer(fit, 360, 160);
    expect(laid.fontSize).toBeLessThan(60);
    expect(laid.fontSize).toBeGreaterThan(20);
    expect(laid.lines).toHaveLength(3);
    expect(laid.truncated).toBe(false);
    expect(laid.lines.join(" ")).toBe(LONG);
    // One pixel larger, it would not fit in three lines.
    const bigger = await layoutTextLayer({ ...fit, auto_fit: false, font_size: laid.fontSize + 1 }, 360, 160);
    expect(bigger.truncated).toBe(true);

    const px = await render({ font_size: 60, min_font_size: 10, auto_fit: true, max_lines: 3 });
    const bands = inkBands(px, [0, 0, 0]);
    expect(bands).toHaveLength(3);
    const ink = px.inkBox([0, 0, 0], 30);
    expect(ink.minX).toBeGreaterThanOrEqual(20);
    expect(ink.maxX).toBeLessThan(380);
    expect(ink.minY).toBeGreaterThanOrEqual(20);
    expect(ink.maxY).toBeLessThan(180);
    // Line pitch = font size x line height.
    expect(Math.abs(bands[1]!.bottom - bands[0]!.bottom - laid.lineHeightPx)).toBeLessThanOrEqual(1.5);
  });

  it("auto_fit keeps font_size when the text already fits", async () => {
    const laid = await layoutTextLayer(
      TextLayer.parse(layer({ text: "Short", font_size: 60, auto_fit: true })),
      360,
      160,
    );
    expect(laid).toMatchObject({ fontSize: 60, lines: ["Short"], truncated: false });
  });

  it("max_lines keeps that many lines, the last one ending in an ellipsis", async () => {
    const laid = await layoutTextLayer(TextLayer.parse(layer({ font_size: 24, max_lines: 2 })), 360, 160);
    expect(laid.lines).toHaveLength(2);
    expect(laid.truncated).toBe(true);
    expect(laid.lines[1]!.endsWith("\u2026")).toBe(true);

    const px = await render({ font_size: 24, max_lines: 2 });
    const bands = inkBands(px, [0, 0, 0]);
    expect(bands).toHaveLength(2);
    // The last three glyphs of the last line are the ellipsis: three equal dots on the baseline.
    const last = bands[1]!;
    const dots = inkBlobs(px, [0, 0, 0], last.top, last.bottom + 1).slice(-3);
    expect(dots).toHaveLength(3);
    for (const [x0, x1, top, bottom] of dots) {
      expect(x1 - x0).toBeLessThanOrEqual(5);
      expect(bottom - top).toBeLessThanOrEqual(5);
      expect(Math.abs(bottom - dots[0]![3])).toBeLessThanOrEqual(1);
    }
    expect(dots[0]![3]).toBeGreaterThan(last.bottom - 8); // sitting on the baseline, not floating
  });

  it("text that cannot fit is cut at the last line that fits, with an ellipsis, never outside its box", async () => {
    for (const extra of [{ font_size: 40 }, { font_size: 40, auto_fit: true, min_font_size: 36 }]) {
      const px = await render({ ...extra, height: 130 });
      // 40 px x 1.5 = 60 px lines: two fit in 130 px.
      expect(inkBands(px, [0, 0, 0])).toHaveLength(2);
      const ink = px.inkBox([0, 0, 0], 30);
      expect(ink.minY).toBeGreaterThanOrEqual(20);
      expect(ink.maxY).toBeLessThan(150);
      expect(ink.maxX).toBeLessThan(380);
    }
    const laid = await layoutTextLayer(TextLayer.parse(layer({ font_size: 40, height: 130 })), 360, 130);
    expect(laid.lines).toHaveLength(2);
    expect(laid.lines[1]!.endsWith("\u2026")).toBe(true);
  });

  it("applies letter spacing in pixels and line height as a multiple of the font size", async () => {
    const width = async (letter_spacing: number) => {
      const px = await render({ text: "IIIII", font_size: 40, letter_spacing });
      const ink = px.inkBox([0, 0, 0], 120);
      return ink.maxX - ink.minX;
    };
    const plain = await width(0);
    expect(Math.abs((await width(10)) - plain - 40)).toBeLessThanOrEqual(1); // 4 gaps of 10 px
    expect(Math.abs((await width(-2)) - plain + 8)).toBeLessThanOrEqual(1);
    for (const line_height of [1, 2]) {
      const bands = inkBands(await render({ text: "I\nI", font_size: 30, line_height }), [0, 0, 0]);
      expect(bands).toHaveLength(2);
      expect(Math.abs(bands[1]!.top - bands[0]!.top - 30 * line_height)).toBeLessThanOrEqual(1);
    }
  });

  it("transforms case, fills the box with background_color, and draws italics and weights differently", async () => {
    const upper = await render({ text: "Hello World", text_transform: "uppercase", font_size: 30 });
    const literal = await render({ text: "HELLO WORLD", font_size: 30 });
    expect(upper.inkBox([0, 0, 0], 30)).toEqual(literal.inkBox([0, 0, 0], 30));
    const lower = await render({ text: "Hello World", text_transform: "lowercase", font_size: 30 });
    expect(lower.inkBox([0, 0, 0], 30)).toEqual(
      (await render({ text: "hello world", font_size: 30 })).inkBox([0, 0, 0], 30),
    );

    const boxed = await render({ text: "x", font_size: 20, background_color: "#336699", height: 100 });
    expectColor(boxed.at(21, 21), [0x33, 0x66, 0x99], 0);
    expectColor(boxed.at(378, 118), [0x33, 0x66, 0x99], 0);
    expectColor(boxed.at(19, 60), [0, 0, 0], 0);
    expectColor(boxed.at(200, 121), [0, 0, 0], 0);

    const ink = async (extra: Record<string, unknown>) =>
      (await render({ text: "Hamburgefonstiv", font_size: 30, ...extra })).inkBox([0, 0, 0], 120);
    const regular = await ink({});
    expect((await ink({ font_style: "italic" })).count).not.toBe(regular.count);
    const counts = [];
    for (const font_weight of [100, 300, 500, 700, 900]) counts.push((await ink({ font_weight })).count);
    expect(counts, "heavier weights have more ink").toEqual([...counts].sort((a, b) => a - b));
    // JetBrains Mono has no 900: the nearest (800) is used.
    expect(await ink({ font_family: "JetBrains Mono", font_weight: 900 })).toEqual(
      await ink({ font_family: "JetBrains Mono", font_weight: 800 }),
    );
  });
});

describe("fonts uploaded by the organisation", () => {
  let dir: string;
  let fonts: UploadedFontFace[];
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "templified-font-test-"));
    const file = path.join(dir, "brand.ttf");
    copyFileSync(fontFileFor("JetBrains Mono", 400), file);
    fonts = [{ family: "Brand Mono", weight: 400, style: "normal", file, internalFamily: "JetBrains Mono" }];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const textPixels = async (
    font_family: string,
    opts: Partial<RenderOptions> = {},
    extra: Record<string, unknown> = {},
  ) => {
    const out = await renderTemplate(
      doc({
        width: 500,
        height: 80,
        background: "#000000",
        layers: [
          {
            type: "text",
            name: "t",
            x: 10,
            y: 10,
            width: 480,
            height: 60,
            text: "Brand font 0123 iiii",
            font_size: 36,
            color: "#ffffff",
            font_family,
            ...extra,
          },
        ],
      }),
      { format: "png", ...opts },
    );
    return (await readPixels(out.buffer, { alpha: true })).data.toString("base64");
  };

  it("renders an uploaded face by its family: same ink as the font it is, not Inter's", async () => {
    const brand = await textPixels("Brand Mono", { fonts });
    expect(brand).toBe(await textPixels("JetBrains Mono"));
    expect(brand).not.toBe(await textPixels("Inter"));
    // Nearest weight within the uploaded family (only 400 was uploaded).
    expect(await textPixels("Brand Mono", { fonts }, { font_weight: 700 })).toBe(brand);
    // Uploaded faces come before the shipped ones.
    expect(await textPixels("Inter", { fonts: [{ ...fonts[0]!, family: "Inter" }] })).toBe(brand);
  });

  it("fails with RENDER_FAILED for a family that is neither uploaded nor shipped", async () => {
    const input = doc({
      width: 100,
      height: 50,
      layers: [{ type: "text", name: "x", width: 100, height: 50, text: "hi", font_family: "Foo" }],
    });
    const err = await renderError(input);
    expect(err.code).toBe("RENDER_FAILED");
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('text layer "x": font family "Foo" is not available');
    // Without the organisation's fonts, its family is unknown too.
    const brand = await renderError(doc({ ...input, layers: [{ ...input.layers[0]!, font_family: "Brand Mono" }] }));
    expect(brand.message).toBe('text layer "x": font family "Brand Mono" is not available');
  });
});

describe("output options and backgrounds", () => {
  const photoCard = () =>
    doc({
      width: 300,
      height: 200,
      background: "#102030",
      layers: [
        { type: "image", name: "photo", x: 0, y: 0, width: 300, height: 200, image_url: `${base}/photo.jpg` },
        {
          type: "text",
          name: "t",
          x: 10,
          y: 10,
          width: 280,
          height: 60,
          text: "Quality",
          font_size: 40,
          color: "#ffffff",
        },
      ],
    });

  it("quality changes the JPEG (and WebP) size", async () => {
    for (const format of ["jpeg", "webp"] as const) {
      const low = await renderTemplate(photoCard(), { format, quality: 20, ...LOCAL });
      const high = await renderTemplate(photoCard(), { format, quality: 95, ...LOCAL });
      expect(high.buffer.length, format).toBeGreaterThan(low.buffer.length * 1.5);
    }
    const err = await renderError(photoCard(), { format: "jpeg", quality: 0 });
    expect(err.message).toBe("quality must be an integer from 1 to 100, not 0");
  });

  it("scale 2 renders at twice the size (text drawn at 2x, not upscaled)", async () => {
    const one = await renderTemplate(photoCard(), { format: "png", ...LOCAL });
    const two = await renderTemplate(photoCard(), { format: "png", scale: 2, ...LOCAL });
    expect([two.width, two.height]).toEqual([600, 400]);
    const meta = await sharp(two.buffer).metadata();
    expect([meta.width, meta.height]).toEqual([600, 400]);
    const ink1 = (await pixels(one.buffer)).inkBox(PHOTO_RGB, 300, { x0: 0, y0: 0, x1: 300, y1: 80 });
    const ink2 = (await pixels(two.buffer)).inkBox(PHOTO_RGB, 300, { x0: 0, y0: 0, x1: 600, y1: 160 });
    expect(Math.abs(ink2.maxX - ink2.minX - 2 * (ink1.maxX - ink1.minX))).toBeLessThanOrEqual(3);
    const half = await renderTemplate(photoCard(), { format: "png", scale: 0.5, ...LOCAL });
    expect([half.width, half.height]).toEqual([150, 100]);
    expect((await renderError(photoCard(), { scale: 5 })).message).toBe("scale must be from 0.1 to 4, not 5");
  });

  it("keeps a transparent background transparent in PNG and WebP, and puts JPEG on white", async () => {
    const input = doc({
      width: 60,
      height: 40,
      background: "transparent",
      layers: [{ type: "rect", name: "r", x: 0, y: 0, width: 30, height: 40, fill: "#ff0000" }],
    });
    for (const format of ["png", "webp"] as const) {
      const out = await renderTemplate(input, { format });
      const px = await readPixels(out.buffer, { alpha: true });
      expect(px.channels).toBe(4);
      expect(px.at(45, 20)[3], `${format} empty pixel`).toBe(0);
      expect(px.at(10, 20)[3], `${format} drawn pixel`).toBe(255);
    }
    const jpeg = await pixels((await renderTemplate(input, { format: "jpeg" })).buffer);
    expectColor(jpeg.at(45, 20), [255, 255, 255], 2);
    expectColor(jpeg.at(10, 20), [255, 0, 0], 8);
  });

  it("draws linear gradients in the CSS directions", async () => {
    const at = async (angle: number) => {
      const out = await renderTemplate(
        doc({
          width: 100,
          height: 100,
          background: {
            type: "linear_gradient",
            angle,
            stops: [
              { color: "#ff0000", offset: 0 },
              { color: "#0000ff", offset: 1 },
            ],
          },
        }),
        { format: "png" },
      );
      const px = await pixels(out.buffer);
      return {
        top: px.at(50, 0),
        bottom: px.at(50, 99),
        left: px.at(0, 50),
        right: px.at(99, 50),
        centre: px.at(50, 50),
      };
    };
    const down = await at(180);
    expectColor(down.top, [254, 0, 1], 2);
    expectColor(down.bottom, [1, 0, 254], 2);
    expectColor(down.left, down.right, 0);
    expectColor(down.centre, [128, 0, 128], 2);
    const right = await at(90);
    expectColor(right.left, [254, 0, 1], 2);
    expectColor(right.right, [1, 0, 254], 2);
    const up = await at(0);
    expectColor(up.bottom, [254, 0, 1], 2);
    // 45 degrees: towards the top-right corner, which gets exactly the last colour.
    const diag = await pixels(
      (
        await renderTemplate(
          doc({
            width: 100,
            height: 50,
            background: {
              type: "linear_gradient",
              angle: 45,
              stops: [
                { color: "#ff0000", offset: 0 },
                { color: "#0000ff", offset: 1 },
              ],
            },
          }),
          { format: "png" },
        )
      ).buffer,
    );
    expectColor(diag.at(99, 0), [2, 0, 253], 3);
    expectColor(diag.at(0, 49), [253, 0, 2], 3);
  });

  it("draws an image background, fitted to the canvas", async () => {
    const out = await renderTemplate(
      doc({ width: 200, height: 150, background: { type: "image", image_url: `${base}/photo.jpg` } }),
      { format: "png", ...LOCAL },
    );
    const px = await pixels(out.buffer);
    expectColor(px.at(100, 5), [255, 128, 0], 10); // the orange band at the top of the photo
    expectColor(px.at(100, 100), PHOTO_RGB, 8);
    const err = await renderError(
      doc({ width: 20, height: 20, background: { type: "image", image_url: `${base}/missing.jpg` } }),
    );
    expect(err.message).toBe(`background image: could not fetch ${base}/missing.jpg: HTTP 404`);
  });

  it("cover keeps the part of the image the focal point selects, and radius rounds the corners", async () => {
    const band = async (focal_y: number) => {
      const out = await renderTemplate(
        doc({
          width: 100,
          height: 100,
          background: "#00ff00",
          layers: [
            {
              type: "image",
              name: "p",
              x: 0,
              y: 0,
              width: 100,
              height: 100,
              image_url: `${base}/portrait.png`,
              focal_y,
            },
          ],
        }),
        { format: "png", ...LOCAL },
      );
      return (await pixels(out.buffer)).at(50, 50);
    };
    expectColor(await band(0), [255, 0, 0], 4); // top third
    expectColor(await band(1), [0, 0, 255], 4); // bottom third
    expectColor(await band(0.5), [255, 255, 255], 4);
    const rounded = await pixels(
      (
        await renderTemplate(
          doc({
            width: 100,
            height: 100,
            background: "#00ff00",
            layers: [
              {
                type: "image",
                name: "p",
                x: 0,
                y: 0,
                width: 100,
                height: 100,
                image_url: `${base}/photo.jpg`,
                radius: 50,
              },
            ],
          }),
          { format: "png", ...LOCAL },
        )
      ).buffer,
    );
    expectColor(rounded.at(2, 2), [0, 255, 0], 0); // outside the circle
    expectColor(rounded.at(50, 60), PHOTO_RGB, 8);
  });

  it("rotates layers clockwise about their centre, beyond their box", async () => {
    const out = await renderTemplate(
      doc({
        width: 100,
        height: 100,
        background: "#000000",
        layers: [{ type: "rect", name: "bar", x: 10, y: 45, width: 80, height: 10, fill: "#ffffff", rotation: 90 }],
      }),
      { format: "png" },
    );
    const px = await pixels(out.buffer);
    expectColor(px.at(50, 15), [255, 255, 255], 0); // now vertical, outside its (horizontal) box
    expectColor(px.at(15, 50), [0, 0, 0], 0);
    const tilted = await pixels(
      (
        await renderTemplate(
          doc({
            width: 100,
            height: 100,
            background: "#000000",
            layers: [
              {
                type: "text",
                name: "t",
                x: 0,
                y: 40,
                width: 100,
                height: 20,
                text: "\u2588\u2588\u2588\u2588\u2588\u2588",
                font_size: 20,
                color: "#ffffff",
                rotation: 45,
              },
            ],
          }),
          { format: "png" },
        )
      ).buffer,
    );
    const ink = tilted.inkBox([0, 0, 0], 200);
    expect(ink.maxY - ink.minY).toBeGreaterThan(30); // the text line now runs diagonally
  });
});

describe("image cache", () => {
  afterAll(() => configureImageCache({ ttlMs: 0 }));

  it("downloads and decodes a photo once for a batch, concurrent renders included", async () => {
    configureImageCache({}); // the default: on
    const card = (i: number) =>
      doc({
        width: 300,
        height: 200,
        layers: [
          { type: "image", name: "photo", x: 0, y: 0, width: 150, height: 200, image_url: `${base}/counted.jpg?v=1` },
          {
            type: "image",
            name: "thumb",
            x: 160,
            y: 10,
            width: 60,
            height: 60,
            image_url: `${base}/counted.jpg?v=1`,
            radius: 30,
          },
          { type: "text", name: "t", x: 160, y: 100, width: 140, height: 60, text: `Card ${i}` },
        ],
      });
    counted = 0;
    const outs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => renderTemplate(card(i), { format: "jpeg", ...LOCAL })),
    );
    await renderTemplate(card(7), { format: "jpeg", ...LOCAL });
    expect(outs).toHaveLength(6);
    expect(counted).toBe(1); // one download for 7 renders and two boxes
    // The cache never lets a render skip its own checks: without allowPrivateNetworks it is refused.
    const err = await renderError(card(8), { allowPrivateNetworks: false });
    expect(err.message).toMatch(/address 127\.0\.0\.1 is not public$/);
    expect(counted).toBe(1);
  });
});
